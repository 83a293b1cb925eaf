"""Precision and recall of `tinytorch-verifier package validate` against measured ground truth on the real TinyTorch
snapshots in ../shared/corpus (unpacked into tmp_path, never into the repository): the package modules
with an import-time install-breaking finding must be exactly those whose `import` fails in a fresh venv,
every import-time install-breaking finding must name a module that really fails, and the number of
install-breaking findings (import-time / call-time) is pinned.

The truth and how it was measured: tests/fixtures/corpus_truth.py.

Skips with a reason when the corpus is absent.
"""
from __future__ import annotations

import tarfile
from pathlib import Path
from typing import Dict, Set

import pytest
from corpus_truth import CORPUS, FAILING, MEASURED
from helpers import NO_CORPUS

from verifier.checks.findings import Impact, When
from verifier.checks.validate import validate
from verifier.course.discovery import load_course

# committed package files the truth's export deletes (so it never imported them): TT240 on
# tinytorch/utils/data/__init__.py (`from .dataloader import *`, no dataloader.py) is outside MEASURED
OUTSIDE_MEASURED: Dict[str, Set[str]] = {
    "ce776937": set(),
    "4246c759": {"tinytorch.utils.data"},
    "52e1cf6f": {"tinytorch.utils.data"},
}

# install-breaking findings, (at import, only at a call), as measured with this verifier
BREAKING: Dict[str, tuple] = {
    "ce776937": (5, 0),   # TT220 matplotlib, TT220 psutil, TT211 training (8 lines), TT233 training x2
    "4246c759": (6, 4),   # TT250, TT220 numpy (18 modules), TT233 x3, TT240 at import; TT233 x3, TT207 at a call
    "52e1cf6f": (4, 3),   # TT233 benchmark x2, TT233 tinygpt, TT240 import; TT233 x3 call
}

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(),
                                reason=NO_CORPUS)


def _unpack(commit: str, tmp_path: Path) -> Path:
    archive = CORPUS / f"tinytorch-{commit}.tar.gz"
    if not archive.is_file():
        pytest.skip(f"{archive} is absent")
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path)  # noqa: S202 — our own corpus
    roots = [p for p in tmp_path.iterdir() if p.is_dir()]
    return roots[0] if len(roots) == 1 else tmp_path


@pytest.mark.parametrize("commit", sorted(FAILING))
def test_import_time_findings_match_measured_import_failures(commit, tmp_path):
    report = validate(load_course(_unpack(commit, tmp_path)))
    breaking = [f for f in report.findings if f.waived is None and f.impact is Impact.INSTALL_BREAKING]
    at_import = [f for f in breaking if f.when is When.IMPORT]
    flagged = {loc.target for f in at_import for loc in f.locations if loc.when is When.IMPORT and loc.target}
    # recall and precision over the modules the truth measured
    assert flagged & MEASURED[commit] == FAILING[commit], report.render_text()
    assert flagged - MEASURED[commit] == OUTSIDE_MEASURED[commit]
    # precision per finding: every import-time install-breaking finding names a module that really fails
    for finding in at_import:
        targets = {loc.target for loc in finding.locations if loc.when is When.IMPORT}
        assert targets & (FAILING[commit] | OUTSIDE_MEASURED[commit]), finding
    assert (len(at_import), len(breaking) - len(at_import)) == BREAKING[commit], report.render_text()
