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
  - a screenshot is written to build/flame-example.png (and to
    docs/flame-example.png with CONCTRACE_UPDATE_DOCS=1, for the README).

Chromium missing is a failure: `make deps` installs it.
"""

import base64
import fcntl
import json
import os
import select
import shutil
import signal
import struct
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "build" / "tests" / "flame_svg_tool"
WIDTH = 1200
PAD = 10                       # XPAD of flame_svg.c
FULL = WIDTH - 2 * PAD
CDP_TIMEOUT = 10.0             # any one DevTools reply or event

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


def chromium_binary():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("chromium is not installed: run `make deps` (scripts/install-deps.sh)",
                pytrace=False)


class Browser:
    """Headless Chromium and one page, over the DevTools pipe (fd 3 in, fd 4
    out, NUL-terminated JSON)."""

    def __init__(self, profile):
        to_r, self.to_w = os.pipe()
        self.from_r, from_w = os.pipe()

        def wire_fds():
            # above 4 first, so neither dup2 overwrites the other's source
            a = fcntl.fcntl(to_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(from_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [chromium_binary(), "--headless", "--no-sandbox", "--disable-gpu",
             "--remote-debugging-pipe", "--no-first-run", "--no-default-browser-check",
             "--disable-extensions", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--metrics-recording-only",
             f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(profile / "chromium.log", "wb"),
            preexec_fn=wire_fds, close_fds=False, start_new_session=True)
        os.close(to_r)
        os.close(from_w)
        self.buf = b""
        self.next_id = 0
        self.pending = []          # messages read, not yet consumed
        self.events = []           # every event seen, for the error checks
        self.session = None

    # ---- protocol ----

    def send(self, method, params=None, session=True):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self.to_w, json.dumps(msg).encode() + b"\0")
        return self.next_id

    def _read_message(self, deadline):
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.from_r], [], [], left)[0]:
                raise AssertionError("chromium: no DevTools message in time")
            chunk = os.read(self.from_r, 1 << 20)
            if not chunk:
                raise AssertionError("chromium closed the DevTools pipe")
            self.buf += chunk
        raw, self.buf = self.buf.split(b"\0", 1)
        msg = json.loads(raw)
        if "method" in msg:
            self.events.append(msg)
        return msg

    def wait(self, pred, what, timeout=CDP_TIMEOUT):
        for i, msg in enumerate(self.pending):
            if pred(msg):
                return self.pending.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            msg = self._read_message(deadline)
            if pred(msg):
                return msg
            self.pending.append(msg)

    def result(self, msg_id):
        msg = self.wait(lambda m: m.get("id") == msg_id, f"reply {msg_id}")
        assert "error" not in msg, f"DevTools: {msg['error']}"
        return msg["result"]

    def call(self, method, params=None, session=True):
        return self.result(self.send(method, params, session))

    def event(self, method):
        return self.wait(lambda m: m.get("method") == method, method)

    def js(self, expr):
        """The value of a JavaScript expression in the page."""
        r = self.call("Runtime.evaluate", {"expression": expr, "returnByValue": True})
        assert "exceptionDetails" not in r, r["exceptionDetails"]
        return r["result"].get("value")

    # ---- page ----

    def open_page(self):
        target = self.call("Target.createTarget", {"url": "about:blank"}, session=False)
        self.session = self.call("Target.attachToTarget",
                                 {"targetId": target["targetId"], "flatten": True},
                                 session=False)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")

    def mouse(self, kind, x, y, button="none", clicks=0):
        self.call("Input.dispatchMouseEvent",
                  {"type": kind, "x": x, "y": y, "button": button, "clickCount": clicks})

    def click(self, x, y):
        self.mouse("mouseMoved", x, y)
        self.mouse("mousePressed", x, y, "left", 1)
        self.mouse("mouseReleased", x, y, "left", 1)

    def errors(self):
        """Console errors and uncaught exceptions seen so far."""
        out = []
        for e in self.events:
            p = e.get("params", {})
            if e["method"] == "Runtime.exceptionThrown":
                out.append(p["exceptionDetails"].get("exception", {}).get(
                    "description", p["exceptionDetails"].get("text")))
            elif e["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append(" ".join(str(a.get("value", a.get("description")))
                                    for a in p.get("args", [])))
            elif e["method"] == "Log.entryAdded" and p["entry"]["level"] == "error":
                out.append(p["entry"]["text"])
        return out

    def close(self):
        try:
            self.send("Browser.close", session=False)
            self.proc.wait(timeout=5)
        except Exception:
            pass
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)   # its own session: only ours
            self.proc.wait()
        os.close(self.to_w)
        os.close(self.from_r)


@pytest.fixture
def browser(tmp_path):
    profile = tmp_path / "profile"
    profile.mkdir()
    b = Browser(profile)
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


def png_size(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


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

    # the README's picture: the whole graph, the detail line showing
    shot = base64.b64decode(browser.call("Page.captureScreenshot", {"format": "png"})["data"])
    assert png_size(shot) == (WIDTH, height)
    assert len(shot) > 10000, "a blank page compresses to almost nothing"
    (ROOT / "build").mkdir(exist_ok=True)
    (ROOT / "build" / "flame-example.png").write_bytes(shot)
    if os.environ.get("CONCTRACE_UPDATE_DOCS") == "1":
        (ROOT / "docs").mkdir(exist_ok=True)
        (ROOT / "docs" / "flame-example.png").write_bytes(shot)

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
