"""The HTML status page opens offline in a real browser: headless Chromium renders it to a PNG."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from verifier.pipeline.gate import decide
from verifier.render.formats import render_html

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(BROWSER is None, reason="no Chromium on this machine (.ci/run installs it)")
def test_status_page_renders_in_headless_chromium(tmp_path, result):
    r = result()
    page = tmp_path / "report.html"
    page.write_text(render_html(r, decide(r)), encoding="utf-8")
    shot = tmp_path / "report.png"
    done = subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                           "--no-first-run", "--disable-background-networking", "--disable-component-update",
                           "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
                           f"--screenshot={shot}", "--window-size=1200,900", page.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert shot.is_file(), done.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000  # a real page, not a blank one


@pytest.mark.skipif(BROWSER is None, reason="no Chromium on this machine (.ci/run installs it)")
def test_first_screen_is_above_the_fold_at_1400x900(tmp_path, result):
    """The verdict and the root causes fit in a 1400×900 window: Chromium lays the page out and a probe
    (added to a copy; the report itself has no script) writes the first screen's bottom into the title."""
    r = result()
    from verifier.findingmodel import Finding
    r.findings = [Finding("TT118", "01_tensor", "m.yaml", n, "component missing", "x") for n in range(60)]
    cnn = r.pythons[1].stage("cnn")
    cnn.status, cnn.detail = "failed", "cannot import tinytorch"
    from verifier.results import Attribution
    cnn.attribution = Attribution("02_autograd", "modules/02_autograd/autograd.py", 7)
    page = render_html(r, decide(r))
    first = page[page.index("id='first-screen'"):page.index("</section>")]
    assert "Ready for release: NO" in first and "02_autograd" in first and "TT118" not in first
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", "<script>var s=document.getElementById('first-screen');"
                                  "document.title='bottom='+Math.round(s.getBoundingClientRect().bottom);"
                                  "</script></body>"), encoding="utf-8")
    done = subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,900", "--dump-dom",
                           probe.as_uri()], capture_output=True, text=True, timeout=120)
    title = done.stdout.split("<title>")[1].split("</title>")[0]
    assert title.startswith("bottom=") and int(title.split("=")[1]) <= 900, title
    shot = tmp_path / "first.png"
    subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    f"--user-data-dir={tmp_path / 'profile2'}", f"--screenshot={shot}", "--window-size=1400,900",
                    (tmp_path / "probe.html").as_uri()], capture_output=True, text=True, timeout=120)
    assert shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.skipif(BROWSER is None, reason="no Chromium on this machine (.ci/run installs it)")
def test_since_and_canary_sections_render_in_headless_chromium(tmp_path, result):
    """With `--baseline` and `--canary` the page (ratio chart included) still lays out: the speed chart is
    drawn at its SVG width, the sections come after the first screen."""
    from since_results import blocked_result
    r = blocked_result(result)
    page = render_html(r, decide(r))
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", "<script>var c=document.querySelector('#speed-ratios svg')"
                                  ".getBoundingClientRect(),f=document.getElementById('first-screen')"
                                  ".getBoundingClientRect(),s=document.getElementById('since').getBoundingClientRect();"
                                  "document.title=[Math.round(c.width),Math.round(c.height),s.top>f.bottom].join(',');"
                                  "</script></body>"), encoding="utf-8")
    done = subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,900", "--dump-dom",
                           probe.as_uri()], capture_output=True, text=True, timeout=120)
    width, height, below = done.stdout.split("<title>")[1].split("</title>")[0].split(",")
    assert int(width) > 600 and int(height) > 3 * 24 and below == "true"
