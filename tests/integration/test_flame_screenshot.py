# SPDX-License-Identifier: MIT
"""scripts/flame-screenshot (issue 19): docs/outputs.md's flame graph picture is a
real run's, made by the script, not a synthetic example.

The script runs conctrace --flame on a bundled server under --load, renders
the SVG in headless Chromium and writes a PNG that names, in a tEXt chunk,
the command it came from. Here it runs for real, and docs/flame-example.png
must carry the same signature (rerun the script to refresh it).
"""

import subprocess
import sys
from pathlib import Path

from test_conctrace import needs_root

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "flame-screenshot"
sys.path.insert(0, str(ROOT / "scripts"))
from chromium_cdp import png_size, png_text  # noqa: E402  (scripts/ is no package)


def test_screenshot_of_a_real_run(tmp_path):
    needs_root()
    out = tmp_path / "flame.png"
    proc = subprocess.run([str(SCRIPT), "--server", "threaded_echo", "--load", "-c 20 -n 200",
                           "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    print(proc.stdout)
    shot = out.read_bytes()
    width, height = png_size(shot)
    assert width == 1200 and 200 <= height <= 1200, (width, height)
    assert len(shot) > 10000, "a blank page compresses to almost nothing"
    source = png_text(shot).get("Source", "")
    assert source.startswith("scripts/flame-screenshot: sudo ./conctrace "), source
    assert "--flame cpu" in source and "servers/threaded_echo" in source, source


def test_bad_usage_exits_2(tmp_path):
    proc = subprocess.run([str(SCRIPT), "--server", "no_such_server", "--out",
                           str(tmp_path / "x.png")], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "servers/no_such_server is not built" in proc.stderr
    assert not (tmp_path / "x.png").exists()


def test_docs_picture_is_the_scripts():
    shot = (ROOT / "docs" / "flame-example.png").read_bytes()
    assert png_size(shot)[0] == 1200
    source = png_text(shot).get("Source", "")
    assert source.startswith("scripts/flame-screenshot: "), \
        "docs/flame-example.png was not made by scripts/flame-screenshot: rerun it"
    page = (ROOT / "docs" / "outputs.md").read_text()
    assert "(flame-example.png)" in page and "scripts/flame-screenshot" in page
