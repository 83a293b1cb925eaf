"""The result model of a verify run, shared by the runner (stage results), the pipeline, the reports
and the gate: the bottom layer beside errors.py, so every concern above can speak it.

Plain dataclasses that serialise to the JSON report; nothing here runs anything. Findings are typed
(findingmodel.Finding) from the checks to the renderers: `to_json` is where they become JSON, and
`result_from_json` turns them back into Findings when a report file is read.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from .findingmodel import Finding, finding_from_json

PASSED, FAILED, NOT_RUN, NOT_VERIFIED = "passed", "failed", "not run", "NOT VERIFIED"


@dataclass
class Attribution:
    """Where a failure comes from in the student's sources."""
    module: str                  # "10_spatial"
    path: str                    # course-relative source path
    line: Optional[int]
    function: str = ""
    how: str = "traceback"       # "traceback", "course tests", "message", "api", "inferred" (no traceback) or
    #                              "spectrum" (coverage of failing vs passing runs, runner/spectrum.py)
    # how == "spectrum": `suspects` the first three distinct modules ranked, `evidence` the next two suspects
    # how == "inferred": every suspect module, lowest-numbered first (`module` is the first), those whose
    # own unit tests passed (`cleared`, listed last), and the test's names that implicate them
    # how == "changed" (`--baseline`: student lines changed since `since` that the failing runs executed):
    # `evidence` the lines ("transformer.py:301–305"), `suspects` every module with such lines
    suspects: List[str] = field(default_factory=list)
    cleared: List[str] = field(default_factory=list)
    evidence: str = ""
    since: str = ""

    def describe(self) -> str:
        if self.how == "changed":
            others = [m for m in self.suspects if m != self.module]
            also = f"; also changed and executed: {', '.join(others)}" if others else ""
            return f"changed since {self.since} and executed by the failing test: {self.module} " \
                   f"({self.evidence}{', in ' + self.function if self.function else ''}){also}"
        if self.how == "spectrum":  # evidence: the next two suspects, described
            following = f"; next: {self.evidence}" if self.evidence else ""
            return f"suspected (coverage of failing vs passing tests): {self.module} ({self.path}:{self.line}, " \
                   f"in {self.function}){following}"
        if self.how == "inferred" and self.suspects:
            shown = [f"{m} (inferred from the test's imports{': ' + self.evidence if self.evidence else ''})"
                     if i == 0 else m for i, m in enumerate(self.suspects)]
            cleared = f"; their own unit tests pass: {', '.join(self.cleared)}" if self.cleared else ""
            return f"suspected: {', '.join(shown)}{cleared} — an inference, no traceback reaches the package"
        where = f"{self.path}:{self.line}" if self.line else self.path
        func = f", in {self.function}" if self.function else ""
        return f"breaking module: {self.module} ({where}{func})"


@dataclass
class ImportFailure:
    """One package module that failed to import alone (the module-imports stage, runner/imports.py): the
    package module, the course module that exports it, the course module (file:line) whose code raised or
    printed, and the error. Kept in the stage's figures under IMPORT_FAILURES, read by the reports' triage."""
    target: str                  # "tinytorch.core.activations"
    module: Optional[str] = None  # "03_activations": the course module that exports it
    blamed: Optional[str] = None  # "02_autograd": whose code raised (or printed)
    path: Optional[str] = None
    line: Optional[int] = None
    error: str = ""
    side_effect: bool = False    # it imported, but writing files or printing


IMPORT_FAILURES = "import_failures"   # the key of the module-imports figures holding ImportFailure records


@dataclass
class StageResult:
    name: str
    status: str = NOT_RUN
    seconds: float = 0.0
    detail: str = ""                       # one line: why it failed, or a summary
    # numbers and lists for the reports; JSON-shaped, except IMPORT_FAILURES (ImportFailure records)
    figures: Dict[str, Any] = field(default_factory=dict)
    attribution: Optional[Attribution] = None
    log: str = ""                          # tail of stdout/stderr for a failed stage
    peak_memory_mb: Optional[float] = None
    fix: str = ""

    @property
    def ok(self) -> bool:
        return self.status == PASSED

    @property
    def import_failures(self) -> List[ImportFailure]:
        """The typed import failures of a module-imports stage (none for another stage)."""
        return [f for f in self.figures.get(IMPORT_FAILURES) or () if isinstance(f, ImportFailure)]


@dataclass
class PythonResult:
    version: str
    interpreter: Optional[str] = None
    full_version: Optional[str] = None
    numpy_version: Optional[str] = None
    site_packages: Optional[str] = None
    tinytorch_file: Optional[str] = None
    stages: List[StageResult] = field(default_factory=list)
    missing: Optional[str] = None          # "no interpreter for 3.14 found; looked in: ..."

    @property
    def verified(self) -> bool:
        return self.missing is None and bool(self.stages) and all(s.ok for s in self.stages)

    @property
    def status(self) -> str:
        if self.missing is not None:
            return NOT_VERIFIED
        if self.stages and all(s.status == NOT_RUN for s in self.stages):
            return NOT_RUN  # nothing to install (no wheel), or --fail-fast stopped before this Python
        return PASSED if self.verified else FAILED

    def stage(self, name: str) -> Optional[StageResult]:
        return next((s for s in self.stages if s.name == name), None)


@dataclass
class SpeedRow:
    """One operation timed in the baseline and the candidate (`tinytorch-verifier verify --baseline`)."""
    operation: str               # "Conv2d forward"
    module: str                  # course module of the operation's class ("10_spatial"), else its package module
    package_module: str          # "tinytorch.core.spatial"
    baseline_ms: float           # fastest call, median over the rounds
    candidate_ms: float
    ratio: float                 # candidate / baseline time, median of the per-round ratios (> 1: slower)
    ratio_min: float
    ratio_max: float
    rounds: int
    verdict: str = "same"        # "slower" (blocks: the whole spread above the threshold), "faster", "same"


@dataclass
class BehaviourRow:
    """One number a student scenario computes (its "behaviour" figures), in the baseline and the candidate."""
    scenario: str                # "cnn"
    model: str                   # "cnn", "gpt", "mlp": the scenario's model
    measure: str                 # "accuracy", "final_loss", "forward.sum", "optimizer_error.Adam"
    baseline: float
    candidate: float
    tolerance: str               # "0.5 points", "5% relative", "1e-06 relative"
    changed: bool = False        # beyond the tolerance


@dataclass
class BaselineComparison:
    """The candidate against an earlier release: its exported API and its speed per operation."""
    ref: str                     # what the user named: a git ref or a wheel path
    label: str                   # how reports name it ("v0.1.0", "tinytorch-0.1.0-py3-none-any.whl")
    baseline_sha256: str = ""
    candidate_sha256: str = ""
    python: str = ""             # the Python the speed was measured on
    threshold: float = 1.5       # slowdown that blocks ([tool.tinytorch] baseline-slowdown)
    api_breaking: List[str] = field(default_factory=list)
    api_blocking: List[str] = field(default_factory=list)   # breaking and not acknowledged in RELEASE_NOTES.md
    api_added: List[str] = field(default_factory=list)
    speed: List[SpeedRow] = field(default_factory=list)
    speed_skipped: Dict[str, str] = field(default_factory=dict)  # operation -> why it was not compared
    notes: List[str] = field(default_factory=list)              # e.g. why the speed was not measured
    behaviour: List[BehaviourRow] = field(default_factory=list)  # scenario numbers, same seeds, same Python
    behaviour_skipped: Dict[str, str] = field(default_factory=dict)  # scenario -> why it was not compared
    behaviour_strict: bool = False  # --baseline-strict: a behaviour change blocks (else advisory)


@dataclass
class CanaryFinding:
    """A deprecation the package's own code causes on the newest Python and NumPy (`tinytorch-verifier
    verify --canary`)."""
    category: str                # "DeprecationWarning", "PendingDeprecationWarning", "FutureWarning"
    message: str                 # the warning's own words: what will break
    path: str                    # the student's source ("modules/01_tensor/tensor.py"), else the installed file
    line: Optional[int]
    module: str = ""             # course module ("01_tensor"), "" when the line has no export marker
    function: str = ""
    how: str = "attributed"      # "attributed" (the warning names the package's line) or "through <library>"
    raised_in: str = ""          # with "through": the library's file:line that warned
    seen_in: List[str] = field(default_factory=list)   # "scenario cnn", "course test tests/…::test_x", "import …"


@dataclass
class CanaryReport:
    """The canary leg: the newest Python of the matrix with the newest NumPy (pre-releases included),
    no lock, `-X dev`, the package's deprecation warnings as errors. Advisory unless `mode` is "block"."""
    mode: str = "warn"           # "warn" or "block"
    python: str = ""             # "3.13" (full version below)
    full_version: str = ""
    numpy_version: str = ""
    seconds: float = 0.0
    findings: List[CanaryFinding] = field(default_factory=list)
    failed_stages: List[str] = field(default_factory=list)  # "cnn: DeprecationWarning: …" (what else broke)
    missing: str = ""            # why the canary did not run ("" when it ran)

    @property
    def clean(self) -> bool:
        return not self.findings and not self.failed_stages and not self.missing


@dataclass
class VerifyResult:
    course: str
    course_version: str
    matrix: List[str]
    strict: bool
    started: str
    seconds: float = 0.0
    stages: List[StageResult] = field(default_factory=list)      # course-wide: export, validate, build
    pythons: List[PythonResult] = field(default_factory=list)
    artifacts: List[Dict[str, Any]] = field(default_factory=list)
    findings: List[Finding] = field(default_factory=list)    # validation's, typed; JSON only in to_json
    graph: Dict[str, List[str]] = field(default_factory=dict)   # module key -> modules it depends on
    interrupted: bool = False
    partial: str = ""            # why this run is not a full release check ("" for a full run)
    # per module: lines, complexity (package/metrics.py)
    code_metrics: List[Dict[str, Any]] = field(default_factory=list)
    jobs: int = 0                # tasks run at once (the pool's workers)
    utilisation: Optional[float] = None  # summed stage seconds / (wall seconds x jobs)
    # what `tinytorch-verifier package aggregate` / `compare` check before putting two reports side by side:
    course_name: str = ""        # the distribution's name ("tinytorch"); `course` is a path, per machine
    wheel_content_sha256: str = ""  # the wheel's files and contents, not its zip timestamps (see wheel_digest)
    platform: str = ""           # "linux-x86_64": a matrix has one report per (Python, platform, latest)
    latest: bool = False         # a --latest run (lock files ignored)
    aggregated: bool = False     # written by `tinytorch-verifier package aggregate`: never read back as a job's report
    baseline: Optional[BaselineComparison] = None  # `--baseline REF`: the comparison with an earlier release
    canary: Optional[CanaryReport] = None  # `--canary`: what the newest Python and NumPy will break

    @property
    def ok(self) -> bool:
        if self.interrupted or not all(s.ok for s in self.stages):
            return False
        for python in self.pythons:
            if python.missing is not None:
                if self.strict:
                    return False
            elif not python.verified:
                return False
        return any(p.verified for p in self.pythons)

    def to_json(self) -> Dict[str, Any]:
        data = dataclasses.asdict(self)
        data["ok"] = self.ok
        for finding in data["findings"]:   # the one place a finding becomes JSON: enums by their value
            for location in finding["locations"]:
                location["when"] = location["when"].value if location["when"] is not None else None
        for python, raw in zip(self.pythons, data["pythons"]):
            raw["status"] = python.status
        return data


def result_from_json(data: Dict[str, Any]) -> VerifyResult:
    """Rebuild a VerifyResult from its JSON report (for `tinytorch-verifier package status` and `report`)."""

    failure_fields = {f.name for f in dataclasses.fields(ImportFailure)}

    def stage(raw: Dict[str, Any]) -> StageResult:
        raw = dict(raw)
        blame = raw.pop("attribution", None)
        known = {f.name for f in dataclasses.fields(StageResult)}
        result = StageResult(**{k: v for k, v in raw.items() if k in known})
        result.attribution = Attribution(**blame) if blame else None
        failures = result.figures.get(IMPORT_FAILURES)
        if isinstance(failures, list):
            result.figures[IMPORT_FAILURES] = [ImportFailure(**{k: v for k, v in rec.items() if k in failure_fields})
                                               for rec in failures if isinstance(rec, dict)]
        return result

    pythons = []
    for raw in data.get("pythons", []):
        known = {f.name for f in dataclasses.fields(PythonResult)} - {"stages"}
        python = PythonResult(**{k: v for k, v in raw.items() if k in known})
        python.stages = [stage(s) for s in raw.get("stages", [])]
        pythons.append(python)
    known = {f.name for f in dataclasses.fields(VerifyResult)} - {"stages", "pythons", "baseline", "canary",
                                                                   "findings"}
    result = VerifyResult(**{k: v for k, v in data.items() if k in known})
    result.stages = [stage(s) for s in data.get("stages", [])]
    result.findings = [finding_from_json(raw, f"findings[{index}].")
                       for index, raw in enumerate(data.get("findings", []))]
    result.pythons = pythons
    raw_baseline = data.get("baseline")
    if isinstance(raw_baseline, dict):
        known = {f.name for f in dataclasses.fields(BaselineComparison)} - {"speed", "behaviour"}
        result.baseline = BaselineComparison(**{k: v for k, v in raw_baseline.items() if k in known})
        row_fields = {f.name for f in dataclasses.fields(SpeedRow)}
        result.baseline.speed = [SpeedRow(**{k: v for k, v in row.items() if k in row_fields})
                                 for row in raw_baseline.get("speed", []) if isinstance(row, dict)]
        behaviour_fields = {f.name for f in dataclasses.fields(BehaviourRow)}
        result.baseline.behaviour = [BehaviourRow(**{k: v for k, v in row.items() if k in behaviour_fields})
                                     for row in raw_baseline.get("behaviour", []) if isinstance(row, dict)]
    raw_canary = data.get("canary")
    if isinstance(raw_canary, dict):
        known = {f.name for f in dataclasses.fields(CanaryReport)} - {"findings"}
        result.canary = CanaryReport(**{k: v for k, v in raw_canary.items() if k in known})
        finding_fields = {f.name for f in dataclasses.fields(CanaryFinding)}
        result.canary.findings = [CanaryFinding(**{k: v for k, v in raw.items() if k in finding_fields})
                                  for raw in raw_canary.get("findings", []) if isinstance(raw, dict)]
    return result
