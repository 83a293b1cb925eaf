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
