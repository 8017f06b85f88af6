# SPDX-License-Identifier: MIT
"""The SVG flame graph in a real browser: headless Chromium, driven through
the Chrome DevTools Protocol over --remote-debugging-pipe (stdlib only).

build/tests/flame_svg_tool turns a synthetic folded file into an SVG with the
same folded.c and flame_svg.c as conctrace; the page is then loaded from a
file:// URL with the network unused, and:
  - it renders with no console error and no script exception;
  - hovering a frame shows "name — value (share)" in the detail line;
  - a real mouse click on a frame zooms: that frame takes the full width,
    its children scale by the same factor, its siblings hide, its
    ancestors stay full width; "Reset zoom" restores every box;
  - Ctrl-F opens the search prompt; the answer highlights the matching
    frames and the matched share is the sum of their values over the total;
  - a screenshot of it is a PNG of the page's size, not blank.

The README's picture is a real run's, not this one's: scripts/flame-screenshot
(test_flame_screenshot.py).

Chromium missing is a failure: `make deps` installs it.
"""

import base64
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from chromium_cdp import Browser, png_size  # noqa: E402  (scripts/ is no package)

TOOL = ROOT / "build" / "tests" / "flame_svg_tool"
WIDTH = 1200
PAD = 10                       # XPAD of flame_svg.c
FULL = WIDTH - 2 * PAD

# What a connection of a threaded server is made of (synthetic values, in
# bytes): the shape of conctrace's memory composition view.
FOLDED = """\
threaded_echo;threaded;kernel;socket;TCP 2304
threaded_echo;threaded;kernel;socket;sock_inode_cache 768
threaded_echo;threaded;kernel;socket;dentry 192
threaded_echo;threaded;kernel;buffers;receive queue 4352
threaded_echo;threaded;kernel;buffers;send queue 1280
threaded_echo;threaded;kernel;thread;task_struct 9792
threaded_echo;threaded;kernel;thread;kernel stack 16384
threaded_echo;threaded;kernel;thread;pid 256
threaded_echo;threaded;kernel;epoll;eventpoll_epi 3
threaded_echo;threaded;user;thread stack;touched pages 12288
threaded_echo;threaded;user;heap;malloc arena 4096
threaded_echo;threaded;user;heap;request buffer 1024
"""
TOTAL = sum(int(line.rsplit(" ", 1)[1]) for line in FOLDED.splitlines())


@pytest.fixture
def browser(tmp_path):
    profile = tmp_path / "profile"
    profile.mkdir()
    try:
        b = Browser(profile)
    except FileNotFoundError as e:
        pytest.fail(str(e), pytrace=False)
    try:
        b.open_page()
        yield b
    finally:
        b.close()


@pytest.fixture
def svg(tmp_path):
    assert TOOL.is_file(), f"{TOOL} is not built: run `make {TOOL.relative_to(ROOT)}`"
    folded = tmp_path / "mem.folded"
    folded.write_text(FOLDED)
    out = tmp_path / "mem.svg"
    subprocess.run([str(TOOL), str(folded), str(out), "--unit", "bytes", "--palette", "mem",
                    "--title", "Memory of one connection: threaded_echo",
                    "--subtitle", "synthetic example; hover, click to zoom, Ctrl-F to search"],
                   check=True, timeout=10)
    return out


def frame(browser, name):
    """Box of the frame called name: {x, w, cls, title, cx, cy} (cx, cy: its
    centre on the page)."""
    return browser.js(f"""(() => {{
        const f = window.flame.frames.find(f => f.name === {json.dumps(name)});
        const r = f.rect.getBoundingClientRect();
        return {{ x: +f.rect.getAttribute('x'), w: +f.rect.getAttribute('width'),
                  cls: f.g.getAttribute('class') || '', title: f.title,
                  fill: f.rect.getAttribute('fill'), v: f.v,
                  cx: r.left + r.width / 2, cy: r.top + r.height / 2 }};
    }})()""")


def test_tool_rejects_bad_input(tmp_path):
    bad = tmp_path / "bad.folded"
    bad.write_text("main;read 12\nno value here\n")
    r = subprocess.run([str(TOOL), str(bad), str(tmp_path / "x.svg")],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 1
    assert "bad.folded:2: not" in r.stderr
    r = subprocess.run([str(TOOL), str(bad), str(tmp_path / "x.svg"), "--unit", "parsecs"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "unknown unit 'parsecs'" in r.stderr


def test_svg_in_chromium(browser, svg):
    import xml.dom.minidom
    xml.dom.minidom.parse(str(svg))            # well-formed, or raises

    height = int(xml.dom.minidom.parse(str(svg)).documentElement.getAttribute("height"))
    browser.call("Emulation.setDeviceMetricsOverride",
                 {"width": WIDTH, "height": height, "deviceScaleFactor": 1, "mobile": False})
    browser.call("Page.navigate", {"url": svg.as_uri()})
    browser.event("Page.loadEventFired")
    assert browser.js("document.documentElement.getAttribute('data-ready')") == "1", \
        "the page's script did not run to its end"
    # all, threaded_echo, threaded, kernel|user, 6 categories, 12 objects:
    # epoll and its eventpoll_epi (3 B, under 0.1%) are left out
    assert browser.js("window.flame.frames.length") == 1 + 1 + 1 + 2 + (6 - 1) + (12 - 1)
    assert browser.errors() == []

    # hover: the detail line names the frame, its value and its share
    kernel = frame(browser, "kernel")
    browser.mouse("mouseMoved", kernel["cx"], kernel["cy"])
    details = browser.js("document.getElementById('details').textContent")
    kernel_bytes = sum(int(l.rsplit(" ", 1)[1]) for l in FOLDED.splitlines() if ";kernel;" in l)
    assert details == f"kernel \u2014 {kernel_bytes / 1024:.1f}KiB " \
                      f"({100 * kernel_bytes / TOTAL:.2f}%)"

    # a picture: the whole graph, the detail line showing
    shot = base64.b64decode(browser.call("Page.captureScreenshot", {"format": "png"})["data"])
    assert png_size(shot) == (WIDTH, height)
    assert len(shot) > 10000, "a blank page compresses to almost nothing"

    # click zooms into "thread": it takes the full width, its children scale
    before = {n: frame(browser, n) for n in ("thread", "kernel stack", "socket", "kernel", "all")}
    thread = before["thread"]
    browser.click(thread["cx"], thread["cy"])
    after = {n: frame(browser, n) for n in before}
    assert browser.js("document.documentElement.getAttribute('data-zoom')") == "thread"
    assert after["thread"]["x"] == pytest.approx(PAD, abs=0.01)
    assert after["thread"]["w"] == pytest.approx(FULL, abs=0.01)
    scale = FULL / before["thread"]["w"]
    assert after["kernel stack"]["w"] == pytest.approx(before["kernel stack"]["w"] * scale, rel=1e-3)
    assert after["kernel stack"]["w"] == pytest.approx(FULL * 16384 / thread["v"], abs=0.01)
    assert "hide" in after["socket"]["cls"], "a sibling outside the zoom stays visible"
    for anc in ("kernel", "all"):
        assert "anc" in after[anc]["cls"] and after[anc]["w"] == pytest.approx(FULL, abs=0.01)
    assert browser.js("document.getElementById('unzoom').getAttribute('class')") == "ctl"

    # "Reset zoom" puts every box back
    r = browser.js("""(() => { const r = document.getElementById('unzoom')
                                .getBoundingClientRect();
                                return [r.left + r.width / 2, r.top + r.height / 2]; })()""")
    browser.click(*r)
    for name, box in before.items():
        now = frame(browser, name)
        assert now["x"] == pytest.approx(box["x"], abs=0.01) and \
            now["w"] == pytest.approx(box["w"], abs=0.01), name
        assert now["cls"] == "", name

    # Ctrl-F: the prompt, answered; matches highlighted, their share shown
    browser.send("Input.dispatchKeyEvent", {"type": "rawKeyDown", "key": "f", "code": "KeyF",
                                            "windowsVirtualKeyCode": 70, "modifiers": 2})
    dialog = browser.event("Page.javascriptDialogOpening")
    assert dialog["params"]["type"] == "prompt"
    browser.call("Page.handleJavaScriptDialog", {"accept": True, "promptText": "stack$"})
    matched = 16384 + 12288     # "kernel stack" and "thread stack"
    want = f"{100 * matched / TOTAL:.2f}"
    deadline = time.monotonic() + 5
    while browser.js("document.documentElement.getAttribute('data-matched')") != want:
        assert time.monotonic() < deadline, "search did not report the matched share"
        time.sleep(0.05)
    assert browser.js("document.getElementById('matched').textContent") == f"Matched: {want}%"
    assert frame(browser, "kernel stack")["fill"] == "rgb(230,0,230)"
    assert frame(browser, "thread stack")["fill"] == "rgb(230,0,230)"
    assert frame(browser, "thread")["fill"] != "rgb(230,0,230)"

    assert browser.errors() == []
