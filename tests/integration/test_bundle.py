"""`tinytorch-verifier package report --bundle DIR`: the hand-off folder from the last verify — every file its
index links exists, the verified artifacts are checked by sha256, the index renders in headless
Chromium, and a tampered or missing artifact is refused with one line."""
from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from verifier.cli.main import main
from verifier.course.discovery import load_course
from verifier.package.export import plan_export, write_package
from verifier.render.status import write_reports
from verifier.results import Attribution

COURSE = Path(__file__).resolve().parents[2] / "course"
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def _reports(tmp_path, r) -> Path:
    """A reports folder as `tinytorch-verifier package verify` leaves it: the four reports and dist/ with the
    sdist and wheel whose sha256 the result records (here a wheel zipped from a real export)."""
    export = tmp_path / "export"
    write_package(plan_export(load_course(COURSE)), export)
    reports = tmp_path / "reports"
    dist = reports / "dist"
    dist.mkdir(parents=True)
    wheel = dist / "tinytorch-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path in sorted((export / "tinytorch").rglob("*.py")):
            archive.write(path, path.relative_to(export).as_posix())
    sdist = dist / "tinytorch-0.1.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as archive:
        archive.add(export / "tinytorch", "tinytorch-0.1.0/tinytorch")
    r.course = str(COURSE)
    r.artifacts = [{"file": p.name, "bytes": p.stat().st_size, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
                   for p in (sdist, wheel)]
    for python in r.pythons:
        python.stages.insert(3, type(python.stages[0])("transformer", "passed", 30.0,
                                                         figures={"final_loss": 0.4, "perplexity": 1.5}))
    write_reports(r, reports)
    return reports


def _hrefs(page: str):
    return re.findall(r"href='([^']+)'", page)


def test_bundle_links_resolve_and_hold_the_verified_artifacts(tmp_path, result, capsys):
    reports = _reports(tmp_path, result())
    out = tmp_path / "bundle"
    assert main(["package", "report", "--reports", str(reports), "--bundle", str(out)]) == 0
    assert "index.html" in capsys.readouterr().out
    page = (out / "index.html").read_text()
    links = _hrefs(page)
    missing = [link for link in links if not (out / link).is_file()]
    assert links and not missing, missing
    present = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} - {"index.html"}
    assert present == set(links)  # nothing unlinked, nothing missing
    for name in ("reports/status.md", "reports/verify.json", "reports/junit.xml", "reports/report.html",
                 "validation.md", "dependency-graph.svg", "dependency-graph.mmd", "installation.md",
                 "usability.md", "api.md", "RELEASE_NOTES.md", "examples/cnn.py", "examples/transformer.py",
                 "dist/SHA256SUMS"):
        assert name in links, name
    sums = (out / "dist/SHA256SUMS").read_text().split()
    assert sums[0] == hashlib.sha256((out / "dist" / sums[1]).read_bytes()).hexdigest()
    assert "class `Tensor`" in (out / "api.md").read_text()
    usability = (out / "usability.md").read_text()
    assert "test_accuracy" in usability and "perplexity" in usability
    assert "Ready for release: YES" in page
    assert (out / "dependency-graph.mmd").read_text().startswith("graph LR")


def test_bundle_of_a_blocked_run_says_so_and_names_the_module(tmp_path, result):
    r = result()
    cnn = r.pythons[1].stage("cnn")
    cnn.status, cnn.detail = "failed", "test accuracy 0.11 < 0.95"
    cnn.attribution = Attribution("10_spatial", "modules/10_spatial/spatial.py", 212, "Conv2d.backward")
    reports = _reports(tmp_path, r)
    assert main(["package", "report", "--reports", str(reports), "--bundle", str(tmp_path / "b")]) == 0
    page = (tmp_path / "b/index.html").read_text()
    assert "Ready for release: NO" in page and "10_spatial" in page


def test_a_tampered_wheel_is_refused_in_one_line(tmp_path, result, capsys):
    reports = _reports(tmp_path, result())
    wheel = next((reports / "dist").glob("*.whl"))
    wheel.write_bytes(wheel.read_bytes() + b"x")
    assert main(["package", "report", "--reports", str(reports), "--bundle", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tinytorch-verifier: error:") and "not the verified file" in err
    assert len(err.strip().splitlines()) == 1
    wheel.unlink()
    assert main(["package", "report", "--reports", str(reports), "--bundle", str(tmp_path / "c")]) == 2
    assert "is not in" in capsys.readouterr().err


@pytest.mark.skipif(BROWSER is None, reason="no Chromium on this machine (.ci/run installs it)")
def test_bundle_index_renders_in_headless_chromium(tmp_path, result):
    reports = _reports(tmp_path, result())
    out = tmp_path / "bundle"
    assert main(["package", "report", "--reports", str(reports), "--bundle", str(out)]) == 0
    shot = tmp_path / "index.png"
    done = subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                           "--no-first-run", "--disable-background-networking", "--disable-component-update",
                           "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
                           f"--screenshot={shot}", "--window-size=1100,1300", (out / "index.html").as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert shot.is_file(), done.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_bundle_of_a_baseline_run_writes_release_notes_from_the_changes(tmp_path, result):
    """verify.json with a `baseline` (read back from the reports folder): RELEASE_NOTES.md has the four
    sections measured against that release, the index links it, and report.html has the ratio chart."""
    from since_results import blocked_result
    reports = _reports(tmp_path, blocked_result(result))
    out = tmp_path / "b"
    assert main(["package", "report", "--reports", str(reports), "--bundle", str(out)]) == 0
    notes = (out / "RELEASE_NOTES.md").read_text()
    headings = [line for line in notes.splitlines() if line.startswith("## ")]
    assert headings[:4] == ["## Breaking changes", "## Additions", "## Behaviour changes", "## Performance"]
    assert "10_spatial: Conv2d forward 190× slower than v0.1.0" in notes
    page = (out / "index.html").read_text()
    assert "RELEASE_NOTES.md" in _hrefs(page) and "release notes since v0.1.0" in page
    assert "id='speed-ratios'" in (out / "reports/report.html").read_text()
    assert "## Since v0.1.0" in (out / "reports/status.md").read_text()
