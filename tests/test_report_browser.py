"""report.html in a real headless Chromium at 1024 px: no console error, nothing wider than the
window, every image decoded.

Chromium opens a copy of the page with one measuring script added at the end of <body> (the
report itself has no script); the script writes its findings into the DOM, which Chromium
prints with --dump-dom. ./setup.sh installs Chromium (Debian's `chromium`) when run as root.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

WIDTH = 1024

_MEASURE = """
<script>
(function () {
  const width = document.documentElement.clientWidth;
  const wide = [];
  for (const el of document.querySelectorAll("body *")) {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && (r.right > width + 0.5 || el.scrollWidth > el.clientWidth + 1
                        && getComputedStyle(el).overflowX !== "visible")) {
      wide.push(el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + " right=" +
                Math.round(r.right));
    }
  }
  const images = Array.from(document.images);
  const broken = images.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt);
  const out = document.createElement("pre");
  out.id = "measured";
  out.textContent = JSON.stringify({
    width: width, pageWidth: document.documentElement.scrollWidth, wide: wide.slice(0, 20),
    images: images.length, broken: broken,
    headings: Array.from(document.querySelectorAll("h2")).map(h => h.textContent)});
  document.body.appendChild(out);
})();
</script>
"""


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("Chromium is not installed: ./setup.sh installs it (apt-get install chromium) "
                "when run as root")


def _render(chromium: str, page: Path, profile: Path) -> tuple[dict, str]:
    probe = page.with_name("measured.html")
    text = page.read_text(encoding="utf-8")
    probe.write_text(text.replace("</body>", _MEASURE + "</body>"), encoding="utf-8")
    result = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={profile}", f"--window-size={WIDTH},800",
         "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000", "--dump-dom",
         probe.as_uri()],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    found = re.search(r'<pre id="measured">(.*?)</pre>', result.stdout, re.S)
    assert found, "the measuring script did not run:\n" + result.stderr[-2000:]
    import html

    return json.loads(html.unescape(found.group(1))), result.stderr


@pytest.mark.slow
def test_report_renders_cleanly_in_chromium_at_1024_px(tmp_path_factory, tmp_path):
    from _presets import preset_run

    from pipeline.report import write_report

    chromium = _chromium()
    _, result = preset_run(tmp_path_factory.getbasetemp())
    page = write_report(result.model_dir)
    copy = tmp_path / "report.html"
    shutil.copy(page, copy)
    measured, log = _render(chromium, copy, tmp_path / "profile")

    console = [l for l in log.splitlines() if "CONSOLE" in l or "Uncaught" in l]
    assert not console, console
    assert measured["pageWidth"] <= measured["width"], measured
    assert not measured["wide"], measured["wide"]
    assert measured["images"] > 5 and not measured["broken"], measured
    assert "Misclassified evaluation images" in measured["headings"]
    assert "Per-class precision, recall and F1" in measured["headings"]

