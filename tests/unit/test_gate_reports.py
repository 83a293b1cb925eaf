"""The release gate and the report formats, on synthetic verify results."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree

from verifier.findingmodel import Finding
from verifier.pipeline.gate import decide
from verifier.render.formats import render_html, render_junit, render_markdown
from verifier.render.status import render
from verifier.results import Attribution, result_from_json


def test_clean_result_is_ready(result):
    decision = decide(result())
    assert decision.ready and decision.blockers == []


def test_failed_scenario_blocks_naming_module_and_python(result):
    r = result()
    cnn = r.pythons[1].stage("cnn")
    cnn.status, cnn.detail = "failed", "test accuracy 0.11 < 0.95"
    cnn.attribution = Attribution("10_spatial", "modules/10_spatial/spatial.py", 212, "Conv2d.backward")
    decision = decide(r)
    assert not decision.ready and decision.modules_to_fix == ["10_spatial"]
    (blocker,) = decision.blockers
    assert blocker.category == "scenario failed" and blocker.python == "3.12"
    assert "modules/10_spatial/spatial.py:212" in blocker.describe()


def test_missing_python_and_cycles_and_breaking_api_block(result):
    r = result()
    r.pythons[0].missing = "no interpreter for 3.9 found; looked in: PATH"
    r.findings = [Finding("TT204", "03_activations", None, None,
                          "dependency cycle 03_activations -> 09_autograd -> 03_activations", "x"),
                  Finding("TT202", "05_dense", None, None, "unused", "")]   # a warning: never blocks
    api = r.stages[1]
    api.status, api.detail = "failed", "breaking change: tinytorch.core.dense.Sequential removed"
    categories = sorted(b.category for b in decide(r).blockers)
    assert categories == ["Python not verified", "breaking API change", "circular dependency"]


def test_interrupted_run_is_not_ready(result):
    assert not decide(result(interrupted=True)).ready


def test_junit_has_a_case_per_check_and_scenario_python(result):
    r = result()
    r.pythons[0].stage("imports").status = "failed"
    root = ElementTree.fromstring(render_junit(r).split("\n", 1)[1])
    cases = list(root.iter("testcase"))
    assert len(cases) == 4 + 2 * 5
    failed = [c for c in cases if c.find("failure") is not None]
    assert [(c.get("classname"), c.get("name")) for c in failed] == [("py3.9", "imports")]


def test_markdown_html_and_json_carry_the_handoff(result):
    r = result()
    r.stages[1].figures = {"added": ["tinytorch.core.dense.MLP"], "breaking": []}
    decision = decide(r)
    markdown = render_markdown(r, decision)
    assert "| Ready for release | **YES** |" in markdown
    assert "| Modules validated | **17/17 (no install-breaking or student-facing failure)** |" in markdown
    assert "cnn: passed; test_accuracy 0.98" in markdown
    assert "- added `tinytorch.core.dense.MLP`" in markdown
    page = render_html(r, decision)
    assert page.startswith("<!doctype html>") and "Ready for release: YES" in page and "<script" not in page
    assert "<svg" in page and ">02_autograd</text>" in page  # the dependency graph, inline
    data = json.loads(render(r, "json"))
    assert data["ready"] is True and result_from_json(data).to_json()["pythons"] == r.to_json()["pythons"]


def test_locked_and_latest_runs_are_compared_per_python(result):
    from verifier.render.status import compare_runs
    locked, latest = result(), result()
    latest.pythons[1].numpy_version = "2.6.0"
    rows = compare_runs(locked, latest)
    assert rows == [("3.9", "2.0.2", "2.0.2", "passed", "passed"), ("3.12", "2.0.2", "2.6.0", "passed", "passed")]


def _status_screen(r) -> str:
    import io

    from rich.console import Console

    from verifier.render.status import print_status
    out = io.StringIO()
    print_status(r, decide(r), Console(file=out, width=200, color_system=None))
    return out.getvalue()


def test_a_partial_run_is_never_a_release_verdict_but_passes_on_what_it_ran(result):
    decision = decide(result(partial="Pythons 3.12 not run"))
    assert not decision.ready and decision.blockers == [] and decision.passed
    assert decision.verdict == "PASS (partial: not a release verdict)"
    screen = _status_screen(result(partial="Pythons 3.12 not run"))
    assert "Result: PASS (partial: not a release verdict)" in screen
    assert "BLOCKING" not in screen and "Ready for release" not in screen
    assert "Pythons 3.12 not run" in screen
    assert "PASS (partial: not a release verdict)" in render_markdown(result(partial="x"), decide(result(partial="x")))


def test_a_failing_partial_run_says_fail_and_what_blocks(result):
    r = result(partial="only scenarios cnn")
    r.pythons[0].stage("cnn").status = "failed"
    decision = decide(r)
    assert decision.verdict == "FAIL" and not decision.passed
    screen = _status_screen(r)
    assert "Result: FAIL" in screen and "BLOCKING scenario failed" in screen
    assert "PASS" not in screen.split("Result:")[-1]


def test_a_full_run_still_says_ready_yes_or_no(result):
    assert "Ready for release: YES" in _status_screen(result())
    r = result()
    r.pythons[1].stage("cnn").status = "failed"
    assert "Ready for release: NO" in _status_screen(r)


def test_api_surface_includes_inherited_methods_and_flags_removals(tmp_path):
    from verifier.package.api import compare, module_surface
    path = tmp_path / "m.py"
    path.write_text("__all__ = ['Max', 'Avg']\nclass _Pool:\n    def __init__(self, k, stride=None): pass\n"
                    "    def forward(self, x): pass\nclass Max(_Pool):\n    pass\nclass Avg(_Pool):\n"
                    "    def forward(self, x, mask): pass\n")
    surface = module_surface(path)
    assert set(surface["Max"]["methods"]) == {"__init__", "forward"}
    diff = compare({"m": surface}, {"m": {"Max": surface["Max"]}})
    assert diff.breaking == ["m.Avg removed"]
    diff = compare({"m": {"Avg": {"kind": "class", "methods": {"forward": surface["Max"]["methods"]["forward"]}}}},
                   {"m": surface})
    assert diff.breaking == ["m.Avg.forward: new required parameter `mask`"]
