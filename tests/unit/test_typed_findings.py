"""Findings are typed end to end: `Finding` objects (verifier/findingmodel.py) from the checks through the
verify result, the gate and the renderers; JSON only at the edge. A mechanical check that no layer past the
checks annotates findings as a dict, and the edge itself: a report file's findings read back as the same
Finding objects, in the same bytes the report always had, and a wrong one is a one-line error. The same
for the one stage figure another layer reads field by field: module-imports' import failures."""
from __future__ import annotations

import ast
import dataclasses
import json
import typing
from pathlib import Path

import pytest

from verifier.checks.validate import validate
from verifier.course.discovery import load_course
from verifier.findingmodel import Finding, Location, When, finding_from_json
from verifier.pipeline.gate import Blocker, decide
from verifier.render.reportfiles import ReportFileError, read_report
from verifier.results import IMPORT_FAILURES, ImportFailure, PythonResult, StageResult, VerifyResult, result_from_json

REPO = Path(__file__).resolve().parents[2]
PAST_THE_CHECKS = ("pipeline", "render", "bench", "cli")
UNTYPED = ("Dict", "dict", "Mapping", "MutableMapping", "Any", "object")   # what a findings annotation must not say


def _annotated(tree: ast.AST):
    """(name, annotation node, line) of every annotated parameter, return, field and variable."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args
            for arg in args.posonlyargs + args.args + args.kwonlyargs + [args.vararg, args.kwarg]:
                if arg is not None and arg.annotation is not None:
                    yield arg.arg, arg.annotation, arg.lineno
            if node.returns is not None:
                yield node.name, node.returns, node.lineno
        elif isinstance(node, ast.AnnAssign):
            target = node.target
            name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
            yield name, node.annotation, node.lineno


def untyped_findings(source: str, filename: str):
    """`file:line name: annotation` for each findings annotation that says a dict or Any."""
    out = []
    for name, annotation, line in sorted(_annotated(ast.parse(source, filename)), key=lambda found: found[2]):
        if "finding" not in name.lower():
            continue
        text = ast.unparse(annotation)
        words = set(text.replace("[", " ").replace("]", " ").replace(",", " ").replace(".", " ").split())
        if words & set(UNTYPED):
            out.append(f"{filename}:{line} {name}: {text}")
    return out


def test_no_layer_past_the_checks_annotates_findings_as_a_dict():
    offenders = []
    for folder in PAST_THE_CHECKS:
        for path in sorted((REPO / "verifier" / folder).rglob("*.py")):
            offenders += untyped_findings(path.read_text(encoding="utf-8"), str(path.relative_to(REPO)))
    assert offenders == [], "findings cross the layers as Finding objects, not dicts:\n" + "\n".join(offenders)


def test_the_annotation_check_can_fail():
    """The check is not vacuous: each way findings used to cross the layers is caught."""
    bad = ("def blame(stage, findings: List[Dict[str, object]]) -> None: ...\n"
           "class Blocker:\n    finding: Optional[Dict[str, Any]] = None\n"
           "def _headline(finding: Mapping[str, Any]) -> str: ...\n"
           "def read(raw) -> typing.Any:\n    all_findings: list[dict] = []\n")
    assert [line.split(" ", 1)[1] for line in untyped_findings(bad, "bad.py")] == [
        "findings: List[Dict[str, object]]", "finding: Optional[Dict[str, Any]]", "finding: Mapping[str, Any]",
        "all_findings: list[dict]"]
    assert untyped_findings("def f(findings: List[Finding], canary_findings: List[CanaryFinding]): ...", "ok.py") == []


def test_the_result_and_the_gate_hold_finding_objects():
    assert typing.get_type_hints(VerifyResult)["findings"] == typing.List[Finding]
    assert typing.get_type_hints(Blocker)["finding"] == typing.Optional[Finding]


def _sample() -> list:
    """Findings with every field set: a waiver, a notebook cell, grouped locations with `when`."""
    grouped = Finding("TT206", "02_autograd", "modules/02_autograd/autograd.ipynb", 4, "2 statements on lines 4–5",
                      "export it", cell=3, details=["line 4: x", "line 5: y"], related=("01_tensor",),
                      pythons=("3.9",), locations=(
                          Location("02_autograd", "modules/02_autograd/autograd.ipynb", 4, 3, "import a",
                                   When.IMPORT, "tinytorch.core.autograd"),
                          Location("02_autograd", "modules/02_autograd/autograd.ipynb", 5, 3, "import b",
                                   When.CALL, "tinytorch.core.autograd", "Function.apply")))
    waived = Finding("TT118", "01_tensor", "modules/01_tensor/module.yaml", 7, "component x", "define it",
                     waived="lands in the next release")
    return [grouped, waived, Finding("TT204", "course", None, None, "cycle é → 模块", "break it")]


def _written(findings, tmp_path) -> Path:
    result = VerifyResult("/c", "0.1.0", ["3.12"], strict=True, started="2026-12-06T00:00:00+00:00")
    result.findings = findings
    path = tmp_path / "verify.json"
    path.write_text(json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8")  # as render/terminal writes it
    return path


def test_a_report_file_reads_back_the_same_finding_objects(tmp_path):
    findings = _sample()
    back = read_report(_written(findings, tmp_path)).result.findings
    assert all(type(f) is Finding for f in back) and back == findings
    assert back[0].when is When.IMPORT and back[0].locations[1].when is When.CALL and not back[1].is_error
    again = result_from_json(json.loads(json.dumps(VerifyResult("/c", "0.1", [], True, "now", findings=findings)
                                                   .to_json())))
    assert [b.code for b in decide(again).blockers if b.code] == ["TT206", "TT204"]   # the waived one never blocks


def test_the_report_json_of_findings_is_what_it_always_was(tmp_path):
    """Byte-compatible: the findings of a report are each finding's dataclasses.asdict, as the pipeline
    wrote them when it carried dicts (reports written before read the same, and tools reading them too)."""
    findings = _sample()
    data = json.loads(_written(findings, tmp_path).read_text(encoding="utf-8"))
    assert json.dumps(data["findings"], indent=2) == json.dumps([dataclasses.asdict(f) for f in findings], indent=2)


def test_real_validation_findings_survive_the_report(tmp_path, corpus_trees):
    """Every finding of a real upstream tree (locations, cells, `when`) reads back equal."""
    tree = corpus_trees["4246c759"]
    findings = validate(load_course(tree)).findings
    assert len(findings) > 10 and any(loc.when for f in findings for loc in f.locations)
    assert read_report(_written(findings, tmp_path)).result.findings == findings


def test_an_old_report_without_the_newer_finding_fields_reads(tmp_path):
    """A report written before findings had locations, pythons and waivers (the keys absent)."""
    path = _written([], tmp_path)
    data = json.loads(path.read_text(encoding="utf-8"))
    data["findings"] = [{"code": "TT201", "module": "03_layers", "path": "modules/03_layers/layers.py", "line": 9,
                         "issue": "imports 02_activations", "fix": "declare it", "cell": None, "details": [],
                         "related": ["02_activations"], "severity": "error"}]
    path.write_text(json.dumps(data), encoding="utf-8")
    (finding,) = read_report(path).result.findings
    assert finding == Finding("TT201", "03_layers", "modules/03_layers/layers.py", 9, "imports 02_activations",
                              "declare it", related=("02_activations",))


@pytest.mark.parametrize("change, said", [
    (lambda f: f.update(code="TT999"), "findings[0].code: 'TT999' is not a finding code this verifier knows"),
    (lambda f: f["locations"][0].update(when="sometimes"), "findings[0].locations[0].when: 'sometimes' is not one"),
    (lambda f: f.update(related="01_tensor"), "findings[0].related: expected a list, found text"),
    (lambda f: f.pop("fix"), "findings[0].fix: missing"),
    (lambda f: f.update(waived=True), "findings[0].waived: expected text, found true/false"),
])
def test_a_wrong_finding_in_a_report_is_one_line_naming_the_place(tmp_path, change, said):
    path = _written(_sample(), tmp_path)
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data["findings"][0])
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ReportFileError) as raised:
        read_report(path)
    assert said in raised.value.message and "\n" not in raised.value.message


@pytest.mark.parametrize("change, said", [   # each kind of bad field, read by finding_from_json's one table reader
    (lambda f: f.pop("fix"), "findings[1].fix: missing"),
    (lambda f: f.update(issue=None), "findings[1].issue: missing"),
    (lambda f: f.update(module=7), "findings[1].module: expected text, found a number"),
    (lambda f: f.update(line="9"), "findings[1].line: expected a whole number, found text"),
    (lambda f: f.update(cell=True), "findings[1].cell: expected a whole number, found true/false"),
    (lambda f: f.update(line=4.5), "findings[1].line: expected a whole number, found a number"),
    (lambda f: f.update(related="01_tensor"), "findings[1].related: expected a list, found text"),
    (lambda f: f.update(details=["ok", 3]), "findings[1].details[1]: expected text, found a number"),
    (lambda f: f.update(waived=True), "findings[1].waived: expected text, found true/false"),
    (lambda f: f.update(code="TT999"), "findings[1].code: 'TT999' is not a finding code this verifier knows"),
    (lambda f: f["locations"].append("line 9"), "findings[1].locations[2]: expected an object, found text"),
    (lambda f: f["locations"][1].pop("module"), "findings[1].locations[1].module: missing"),
    (lambda f: f["locations"][0].update(when="sometimes"),
     "findings[1].locations[0].when: 'sometimes' is not one of import, call"),
])
def test_the_finding_reader_names_the_bad_field_in_one_line(change, said):
    """result_from_json without the report file's shape check in front: the reader itself says what is wrong."""
    data = json.loads(json.dumps(VerifyResult("/c", "0.1", [], True, "now", findings=_sample()[1::-1]).to_json()))
    change(data["findings"][1])
    with pytest.raises(ValueError) as raised:
        result_from_json(data)
    assert said in str(raised.value) and "\n" not in str(raised.value)


def test_the_finding_reader_gives_absent_or_null_optional_fields_their_defaults():
    raw = {"code": "TT201", "module": "03_layers", "path": None, "issue": "i", "fix": "f", "details": None,
           "locations": [{"module": "03_layers", "what": None, "when": None}]}
    finding = finding_from_json(raw)
    assert finding == Finding("TT201", "03_layers", None, None, "i", "f",
                              locations=(Location("03_layers", None, None),))
    assert finding.details == [] and finding.locations[0].what == ""


# ---- the typed stage figure read across layers: module-imports' import failures (runner -> triage)

def _imports_report(tmp_path, failures) -> Path:
    result = VerifyResult("/c", "0.1.0", ["3.12"], strict=True, started="2026-12-06T00:00:00+00:00")
    stage = StageResult("module-imports", "failed", figures={"modules": 2, "failed": 1, IMPORT_FAILURES: failures})
    result.pythons = [PythonResult("3.12", stages=[stage])]
    path = tmp_path / "verify.json"
    path.write_text(json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8")
    return path


def test_import_failures_read_back_as_records_in_the_bytes_they_always_had(tmp_path):
    failures = [ImportFailure("tinytorch.core.activations", "03_activations", "02_autograd",
                              "modules/02_autograd/autograd.py", 7, "NameError: x"),
                ImportFailure("tinytorch.core.losses", None, None, None, None, "printed 'hi'", side_effect=True)]
    path = _imports_report(tmp_path, failures)
    stage = read_report(path).result.pythons[0].stage("module-imports")
    assert stage is not None and stage.import_failures == failures
    stored = json.loads(path.read_text(encoding="utf-8"))["pythons"][0]["stages"][0]["figures"][IMPORT_FAILURES]
    assert stored == [{"target": "tinytorch.core.activations", "module": "03_activations", "blamed": "02_autograd",
                       "path": "modules/02_autograd/autograd.py", "line": 7, "error": "NameError: x",
                       "side_effect": False},      # the keys runner/imports.py wrote as a dict before
                      {"target": "tinytorch.core.losses", "module": None, "blamed": None, "path": None, "line": None,
                       "error": "printed 'hi'", "side_effect": True}]


def test_a_wrong_import_failure_in_a_report_is_one_line(tmp_path):
    path = _imports_report(tmp_path, [ImportFailure("tinytorch.core.x", line=3)])
    data = json.loads(path.read_text(encoding="utf-8"))
    data["pythons"][0]["stages"][0]["figures"][IMPORT_FAILURES][0]["line"] = "three"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ReportFileError) as raised:
        read_report(path)
    assert "figures.import_failures[0].line: expected a number, found text" in raised.value.message
