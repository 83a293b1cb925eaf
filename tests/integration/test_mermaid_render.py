"""`tinytorch-verifier package deps --format mermaid` renders: Mermaid (from npm) draws the course graph in headless
Chromium, and every module of the course appears as a node of the drawn SVG."""
from __future__ import annotations

import html
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MERMAID = Path(os.environ.get("MERMAID_JS", REPO / ".ci" / "node_modules" / "mermaid" / "dist" / "mermaid.min.js"))
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(BROWSER is None or not MERMAID.is_file(),
                    reason="needs Chromium and mermaid from npm (.ci/run installs both)")
def test_mermaid_output_renders_the_course_graph(tmp_path):
    text = subprocess.run([sys.executable, "-m", "verifier.cli", "package", "deps", "--format", "mermaid",
                           "--course", str(REPO / "course")], capture_output=True, text=True, check=True).stdout
    page = tmp_path / "graph.html"
    page.write_text(f"<html><body><pre class='mermaid'>{html.escape(text)}</pre>"
                    f"<script src='{MERMAID.as_uri()}'></script>"
                    "<script>mermaid.initialize({startOnLoad: true});</script></body></html>")
    dom = subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                          "--disable-background-networking", "--disable-component-update", "--disable-sync",
                          f"--user-data-dir={tmp_path / 'profile'}", "--allow-file-access-from-files",
                          "--virtual-time-budget=10000", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    assert "<svg" in dom and "Syntax error" not in dom, dom[-2000:]
    modules = sorted(p.name for p in (REPO / "course" / "modules").iterdir() if p.is_dir())
    drawn = [m for m in modules if f">{m}<" in dom]
    assert drawn == modules
