"""Spectrum-based fault localisation (verifier/runner/spectrum.py) on hand-made spectra: Ochiai's ranking
and its ties, installed lines mapped back through export markers, the bounded passing sample, and the
rule that a clean run (or a failure with a traceback into the package) reruns nothing."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from verifier.results import FAILED, PASSED, Attribution, PythonResult, StageResult
from verifier.runner import spectrum
from verifier.runner.scenarios import Scenario
from verifier.runner.spectrum import (
    CourseTest,
    Spectrum,
    Suspect,
    blame_for,
    choose_passing,
    classify,
    evidence_module,
    map_coverage,
    named_directly,
    needs_spectrum,
    node_id,
    ochiai,
    rank,
)

ORDER = {"01_tensor": 1, "02_autograd": 2, "04_layers": 4, "11_attention": 11}
FAILING = {"f1", "f2"}
PASSING = {"p1", "p2", "p3", "p4"}


def line(module: str, function: str, number: int = 10):
    return (module, f"modules/{module}/{module.split('_', 1)[1]}.py", number, function)


def test_ochiai_formula():
    assert ochiai(2, 0, 2) == 1.0
    assert ochiai(1, 3, 2) == pytest.approx(1 / math.sqrt(2 * 4))
    assert ochiai(0, 5, 2) == 0.0 and ochiai(1, 0, 0) == 0.0


def test_the_function_only_failing_runs_execute_ranks_first():
    coverage = {
        line("01_tensor", "Tensor.__init__"): FAILING | PASSING,          # everything runs it: not suspicious
        line("02_autograd", "no_grad.__exit__"): set(FAILING),           # must fire: every failure, no pass
        line("04_layers", "Linear.forward"): {"f1", "p1", "p2"},
        line("11_attention", "MultiHeadAttention.forward"): {"p3"},     # only passing runs: must not appear
    }
    ranked = rank(coverage, FAILING, PASSING, ORDER)
    assert [s.function for s in ranked] == ["no_grad.__exit__", "Tensor.__init__", "Linear.forward"]
    assert ranked[0] == Suspect("02_autograd", "modules/02_autograd/autograd.py", 10, "no_grad.__exit__", 1.0, 2, 0)
    assert all(s.module != "11_attention" for s in ranked)


def test_a_function_scores_by_its_most_suspicious_line():
    coverage = {
        line("04_layers", "Linear.__init__", 375): FAILING | PASSING,    # the function runs everywhere ...
        line("04_layers", "Linear.__init__", 378): set(FAILING),         # ... its xavier branch only in failures
        line("11_attention", "MultiHeadAttention.forward", 250): FAILING | {"p1"},
    }
    top = rank(coverage, FAILING, PASSING, ORDER)[0]
    assert (top.function, top.line, top.score) == ("Linear.__init__", 378, 1.0)


def test_ties_go_to_fewer_passing_runs_then_the_higher_numbered_module():
    # (ef=1, ep=0) and (ef=2, ep=2) both score 1/sqrt(2): the one with fewer passing executions first
    coverage = {line("04_layers", "Linear.forward"): {"f1", "f2", "p1", "p2"},
                line("01_tensor", "Tensor.sum"): {"f1"}}
    ranked = rank(coverage, FAILING, PASSING, ORDER)
    assert ranked[0].score == ranked[1].score and ranked[0].function == "Tensor.sum"
    # the same spectrum in two modules: the later module's code first
    same = {line("04_layers", "Linear.__init__"): set(FAILING),
            line("11_attention", "MultiHeadAttention.__init__"): set(FAILING)}
    assert [s.module for s in rank(same, FAILING, PASSING, ORDER)] == ["11_attention", "04_layers"]


def test_no_failing_run_no_suspect():
    assert rank({line("01_tensor", "Tensor.__init__"): set(PASSING)}, set(), PASSING, ORDER) == []


def test_installed_lines_map_back_through_the_markers(tmp_path: Path):
    package = tmp_path / "tinytorch" / "core"
    package.mkdir(parents=True)
    installed = package / "autograd.py"
    installed.write_text(
        "__all__ = ['no_grad']\n"                                   # 1: module level: no per-run evidence
        "\n"
        "# %% modules/02_autograd/autograd.py:96 (cell 4)\n"        # 3
        "class no_grad:\n"                                          # 4 -> source 96
        "    prev = True\n"                                         # 5: class body, not a function
        "    def __exit__(self, *exc):\n"                           # 6: the def runs at import
        "        if exc[0] is None:\n"                              # 7 -> source 99
        "            return False\n", encoding="utf-8")
    mapped = map_coverage({str(installed): {"1": ["t"], "5": ["t"], "6": ["t"], "7": ["t", "u"]}})
    assert mapped == {("02_autograd", "modules/02_autograd/autograd.py", 99, "no_grad.__exit__"): {"t", "u"}}


def test_node_ids_follow_the_test_files(tmp_path: Path):
    (tmp_path / "tests" / "unit").mkdir(parents=True)
    (tmp_path / "tests" / "unit" / "test_x.py").write_text("", encoding="utf-8")
    assert node_id(tmp_path, "tests.unit.test_x::test_a[1-2]") == "tests/unit/test_x.py::test_a[1-2]"
    assert node_id(tmp_path, "tests.unit.test_x.TestY::test_b") == "tests/unit/test_x.py::TestY::test_b"
    assert node_id(tmp_path, "tests.unit.test_gone::test_c") is None


def test_the_passing_sample_is_bounded_and_covers_every_failing_file():
    cases = [CourseTest(f"tests.unit.test_{name}::test_{i}", False, seconds=0.1)
             for name in ("a", "b", "c") for i in range(50)]
    cases += [CourseTest("tests.unit.test_c::test_failing", True), CourseTest("tests.unit.test_b::test_failing", True),
              CourseTest("tests.unit.test_a::test_slow", False, seconds=30.0)]
    failing = [c for c in cases if c.failed]
    chosen = choose_passing(cases, failing, ["tests.unit.test_a"], limit=12)
    assert len(chosen) == 12 and not any(c.failed for c in chosen)
    files = [c.test_id.partition("::")[0] for c in chosen]
    assert {"tests.unit.test_a", "tests.unit.test_b", "tests.unit.test_c"} <= set(files)
    spread = choose_passing(cases, [], [], limit=200)
    assert CourseTest("tests.unit.test_a::test_slow", False, seconds=30.0) not in spread  # slow and not near


def _python(*stages: StageResult) -> PythonResult:
    python = PythonResult("3.11")
    python.stages = list(stages)
    return python


SCENARIOS = [Scenario("transformer", Path("transformer.py"), 60.0, ("layers", "attention"))]


def test_a_clean_run_or_a_traced_failure_needs_no_rerun():
    assert needs_spectrum(_python(StageResult("course-tests", PASSED), StageResult("transformer", PASSED)),
                          SCENARIOS) == []
    traced = StageResult("transformer", FAILED, attribution=Attribution("11_attention", "a.py", 3, "f"))
    assert needs_spectrum(_python(traced), SCENARIOS) == []
    imports = StageResult("module-imports", FAILED)        # not a test or scenario: never rerun
    assert needs_spectrum(_python(imports), SCENARIOS) == []


def test_failures_blamed_without_a_traceback_need_it():
    by_message = StageResult("transformer", FAILED,
                             attribution=Attribution("11_attention", "tinytorch.core.attention", None, how="message"))
    by_units = StageResult("course-tests", FAILED, attribution=Attribution("01_tensor", "t.py", None,
                                                                            how="course tests"))
    assert needs_spectrum(_python(by_message, by_units), SCENARIOS) == [by_message, by_units]


def test_a_clean_python_starts_no_coverage_rerun(monkeypatch):
    from verifier.pipeline import pytasks

    def forbidden(*args, **kwargs):
        raise AssertionError("a clean run must not rerun anything under coverage")
    monkeypatch.setattr(pytasks, "localise", forbidden)
    tasks = object.__new__(pytasks.PythonTasks)
    tasks.scenarios = SCENARIOS
    tasks._localise(pytasks.PythonRun(_python(StageResult("transformer", PASSED)), Path("."),
                                      venv=spectrum.Venv(Path("."))))


def test_the_blame_names_the_function_line_and_the_next_two():
    ranked = [Suspect("04_layers", "modules/04_layers/layers.py", 378, "Linear.__init__", 0.53, 4, 10),
              Suspect("11_attention", "modules/11_attention/attention.py", 253, "MultiHeadAttention.forward",
                      0.5, 1, 0),
              Suspect("02_autograd", "modules/02_autograd/autograd.py", 158, "Function.__init_subclass__", 0.5, 1, 0),
              Suspect("12_transformer", "modules/12_transformer/transformer.py", 1, "GPT.forward", 0.4, 1, 1)]
    blame = Spectrum(ranked, 4, 80).attribution()
    assert blame is not None and blame.how == "spectrum" and blame.module == "04_layers"
    text = blame.describe()
    assert text.startswith("suspected (coverage of failing vs passing tests): 04_layers "
                           "(modules/04_layers/layers.py:378, in Linear.__init__); next: 11_attention")
    assert "02_autograd" in text and "12_transformer" not in text
    assert Spectrum([], 1, 0).attribution() is None


def test_at_equal_score_the_function_a_failing_test_calls_outranks_one_reached_through_an_operator():
    # GPT.generate (called by the failing test) and _getitem (reached by `seq[:, -n:]`): same spectrum
    coverage = {line("12_transformer", "GPT.generate", 357): {"f1", "p1"},
                line("02_autograd", "_getitem", 410): {"f1", "p2"}}
    failing = {"f1"}
    flipped_order = {"12_transformer": 1, "02_autograd": 2}  # the module tie alone would put _getitem first
    assert rank(coverage, failing, PASSING, flipped_order)[0].function == "_getitem"
    ranked = rank(coverage, failing, PASSING, flipped_order, direct={"model", "generate"})
    assert [s.function for s in ranked] == ["GPT.generate", "_getitem"] and ranked[0].direct
    # must not fire: a higher score still wins over a named function
    coverage[line("02_autograd", "_getitem", 410)] = {"f1"}
    assert rank(coverage, failing, PASSING, ORDER, direct={"generate"})[0].function == "_getitem"


def test_a_dunder_method_is_named_through_its_class():
    assert named_directly("Linear.__init__", {"Linear", "layer"})
    assert not named_directly("Tensor.__getitem__", {"x", "seq"})
    assert named_directly("GPT.generate", {"model", "generate"}) and not named_directly("_getitem", {"generate"})


class _Module:
    def __init__(self, number: int, name: str) -> None:
        self.number, self.name, self.key = number, name, f"{number:02d}_{name}"


class _Course:
    modules = [_Module(1, "tensor"), _Module(2, "autograd"), _Module(4, "layers")]


def test_the_evidence_is_the_lowest_module_whose_own_unit_tests_fail_again():
    runs = {"tests/unit/test_layers.py::test_xavier", "tests/unit/test_autograd.py::test_no_grad",
            "tests/integration/test_tensor_autograd.py::test_chain", "scenario:transformer"}
    assert evidence_module(_Course(), runs).key == "02_autograd"  # type: ignore[arg-type, union-attr]
    assert evidence_module(_Course(), {"tests/integration/test_x.py::test_y"}) is None  # type: ignore[arg-type]


RANKED = [Suspect("06_losses", "modules/06_losses/losses.py", 90, "CrossEntropyFunction.forward", 0.67, 2, 1),
          Suspect("04_layers", "modules/04_layers/layers.py", 378, "Linear.__init__", 0.55, 4, 9),
          Suspect("11_attention", "modules/11_attention/attention.py", 253, "MultiHeadAttention.forward", 0.5, 1, 0)]


def test_a_course_tests_blame_whose_unit_tests_fail_again_keeps_its_module():
    stage = StageResult("transformer", FAILED, attribution=Attribution("04_layers", "modules/04_layers/layers.py",
                                                                        None, how="course tests"))
    layers = _Module(4, "layers")
    blame = blame_for(stage, Spectrum(list(RANKED), 4, 500), layers)  # type: ignore[arg-type]
    assert blame is not None and (blame.module, blame.line, blame.function) == ("04_layers", 378, "Linear.__init__")
    assert blame.describe().endswith("next: 06_losses (modules/06_losses/losses.py:90, in "
                                     "CrossEntropyFunction.forward); 11_attention (modules/11_attention/attention.py:"
                                     "253, in MultiHeadAttention.forward)")
    # no failing run executed the evidence's module: the old blame stays (None: nothing replaces it)
    assert blame_for(stage, Spectrum(RANKED[:1], 4, 500), layers) is None  # type: ignore[arg-type]
    # its unit tests passed in the rerun (the failures depended on test order): the spectrum's top replaces it
    assert blame_for(stage, Spectrum(list(RANKED), 4, 500), None).module == "06_losses"  # type: ignore[union-attr]
    # a scenario blamed by the class its message names: the unit-test evidence names the module for it too
    by_message = StageResult("transformer", FAILED,
                             attribution=Attribution("11_attention", "tinytorch.core.attention", None, how="message"))
    assert blame_for(by_message, Spectrum(list(RANKED), 4, 500), layers).module == "04_layers"  # type: ignore
    assert blame_for(by_message, Spectrum(RANKED[:1], 4, 500), layers).module == "06_losses"  # type: ignore
    # an inference with no unit test failing again: replaced by the top suspect
    inferred = StageResult("course-tests", FAILED, attribution=Attribution("02_autograd", "a.py", None, how="inferred"))
    assert blame_for(inferred, Spectrum(list(RANKED), 4, 500), None).module == "06_losses"  # type: ignore


def test_the_rerun_runs_failing_tests_last_and_skips_the_rest_of_the_suite_past_its_budget(tmp_path: Path):
    """The launcher's plan, with a stand-in for coverage.py (the unit venv has none): the failing tests run
    last in the plan's order, and past the budget (0 s here) only the kept sample and the failures run."""
    (tmp_path / "coverage.py").write_text(
        "class _Data:\n    def measured_files(self):\n        return []\n"
        "class Coverage:\n    def __init__(self, **kw): pass\n    def start(self): pass\n    def stop(self): pass\n"
        "    def switch_context(self, name): pass\n    def get_data(self): return _Data()\n", encoding="utf-8")
    (tmp_path / "tests").mkdir()
    body = "".join(f"def test_{n}():\n    open('order.txt', 'a').write('{n} ')\n" for n in "abcdef")
    (tmp_path / "tests" / "test_x.py").write_text(body, encoding="utf-8")
    (tmp_path / "launch.py").write_text(spectrum.LAUNCHER, encoding="utf-8")
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    plan = {"keep": ["tests/test_x.py::test_c"], "last": ["tests/test_x.py::test_e", "tests/test_x.py::test_b"],
            "cpu": 0.0, "wall": 1000.0}
    (tmp_path / "plan.json").write_text(json.dumps(plan), encoding="utf-8")
    env = {"PYTHONPATH": str(tmp_path), "TITO_MEASURE": str(tmp_path),
           "TITO_SPECTRUM_PLAN": str(tmp_path / "plan.json")}
    subprocess.run([sys.executable, "launch.py", "out.json", "pytest", "tests", "-q", "-p", "no:cacheprovider",
                    "-c", "pytest.ini", "--rootdir", "."], cwd=tmp_path, env=env, capture_output=True, timeout=120)
    assert (tmp_path / "order.txt").read_text().split() == ["c", "e", "b"]
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["cut"] == 3 and sorted(out["outcomes"]) == ["tests/test_x.py::test_b", "tests/test_x.py::test_c",
                                                          "tests/test_x.py::test_e"]
    plan.update(cpu=1000.0)  # within the budget: every test runs, the failures still last
    (tmp_path / "plan.json").write_text(json.dumps(plan), encoding="utf-8")
    (tmp_path / "order.txt").unlink()
    subprocess.run([sys.executable, "launch.py", "out.json", "pytest", "tests", "-q", "-p", "no:cacheprovider",
                    "-c", "pytest.ini", "--rootdir", "."], cwd=tmp_path, env=env, capture_output=True, timeout=120)
    assert (tmp_path / "order.txt").read_text().split() == ["a", "c", "d", "f", "e", "b"]


def test_a_test_outside_the_selection_failing_counts_one_that_passed_before_does_not():
    outcomes = {"explain": "failed", "outside": "failed", "leaked": "failed", "fine": "passed", "flipped": "passed"}
    before = {"explain": True, "leaked": False, "fine": False, "flipped": True}
    failing, passing, left_out = classify(outcomes, before)
    assert failing == {"explain", "outside"} and passing == {"fine", "flipped"} and left_out == 1
