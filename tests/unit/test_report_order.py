"""The reports' order (pipeline/triage.py): what a student meets first, one line per cause, dependent
failures under the module that takes them down, nothing dropped; a clean run's report keeps its substance."""
from __future__ import annotations

from verifier.findingmodel import Finding
from verifier.pipeline.gate import decide
from verifier.pipeline.triage import Tier, triage
from verifier.render.formats import first_screen, render_html, render_markdown
from verifier.results import IMPORT_FAILURES, Attribution, ImportFailure


def _metadata(module: str, line: int) -> Finding:
    return Finding("TT118", module, f"modules/{module}/module.yaml", line, f"component x{line} is not defined",
                   "define it")


def _broken(result):
    """02_autograd's import raises; 03_activations fails through it; two scenarios fail because of it."""
    r = result()
    r.findings = [_metadata("01_tensor", n) for n in range(3, 40)]
    imports = r.pythons[1].stage("imports")
    imports.status, imports.detail = "failed", "ImportError in tinytorch"
    imports.attribution = Attribution("02_autograd", "modules/02_autograd/autograd.py", 7)
    cnn = r.pythons[1].stage("cnn")
    cnn.status, cnn.detail = "failed", "cannot import tinytorch"
    cnn.attribution = Attribution("03_activations", "modules/02_autograd/autograd.py", 7)
    from verifier.results import StageResult
    r.pythons[1].stages.insert(2, StageResult("module-imports", "failed", figures={
        "modules": 3, "failed": 2, IMPORT_FAILURES: [
            ImportFailure("tinytorch.core.autograd", "02_autograd", "02_autograd", "modules/02_autograd/autograd.py",
                          7, "NameError: x"),
            ImportFailure("tinytorch.core.activations", "03_activations", "02_autograd",
                          "modules/02_autograd/autograd.py", 7, "NameError: x")]},
        attribution=Attribution("02_autograd", "modules/02_autograd/autograd.py", 7)))
    return r


def test_student_facing_cause_leads_and_collapses_its_dependents(result):
    r = _broken(result)
    decision = decide(r)
    tri = triage(r, decision)
    first = tri.causes[0]
    assert first.tier == Tier.STUDENT and first.module == "02_autograd"
    assert first.takes_down == ["02_autograd", "03_activations"]
    assert first.dependents == ["imports", "cnn"]               # not blockers of their own
    assert [c.tier for c in tri.causes] == sorted(c.tier for c in tri.causes)
    # nothing dropped: every blocker is an item of exactly one cause
    assert sorted(i for c in tri.causes for i in c.items) == sorted(b.describe() for b in decision.blockers)
    metadata = tri.tier(Tier.METADATA)
    assert len(metadata) == 1 and metadata[0].count == 37      # one line per module and code, with its count
    screen = first_screen(r, decision, tri)
    assert len(screen) <= 25 and "Python 3.12: NO" in "\n".join(screen) and "Python 3.9: YES" in "\n".join(screen)
    assert "1. 02_autograd:" in "\n".join(screen)
    assert not any("TT118" in line for line in screen[:screen.index(next(x for x in screen if "1. 02_autograd" in x))])
    rows = {row.module: row for row in tri.modules}
    assert rows["01_tensor"].verdict == "metadata only"
    assert rows["03_activations"].imports_alone == "fails via 02_autograd"
    assert tri.validated == (1, 3)                              # metadata findings do not un-validate a module


def test_metadata_is_collapsed_in_markdown_and_html(result):
    r = _broken(result)
    decision = decide(r)
    markdown = render_markdown(r, decision)
    assert markdown.index("02_autograd") < markdown.index("TT118")
    assert "<details><summary>metadata and policy" in markdown
    page = render_html(r, decision)
    assert page.index("id='first-screen'") < page.index("<details class='tier'><summary>metadata and policy")
    assert "<script" not in page


def test_clean_report_keeps_its_substance(result):
    r = result()
    decision = decide(r)
    tri = triage(r, decision)
    assert tri.causes == [] and [a.usable for a in tri.pythons] == [True, True]
    markdown = render_markdown(r, decision)
    for kept in ("| Ready for release | **YES** |", "| Build | **SUCCESS** |", "| Integration tests | **PASS** |",
                 "## Installation and integration per Python", "## Student usability", "## Build artifacts"):
        assert kept in markdown
    assert "Blocking" not in markdown and "Fix first" not in markdown
    assert "Next: hand off: `tinytorch-verifier package report --bundle DIR`" in markdown
