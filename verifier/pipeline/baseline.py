"""`tinytorch-verifier verify --baseline REF`: the release candidate against an earlier release.

REF is a git ref of the repository holding the course (tag, branch, commit) or the path of an earlier
release's wheel. A git baseline is read with `git archive` into the run's private work folder (the
user's repository is only read: no checkout, no worktree), exported and built with the verifier's own
build code, once: the wheel is cached in the verifier's cache folder under the hash of the archived
course tree (git's tree id) and of the verifier's export/build code, so the next run reuses it.

Two comparisons, each a course-wide stage of the run:

* `baseline-api` — the public API read from both wheels (package/api.py): a removed name or an
  incompatible signature blocks unless RELEASE_NOTES.md names it (as against api.json); additions
  are listed.
* `baseline-speed` — a small per-operation benchmark (verifier/bench/ops.py: convolution, pooling,
  matmul, attention, layer norm, an optimizer step, an MLP training step, classes found by role) runs
  for baseline and candidate alternately (A B A B …, runner/interleave.py) on one Python, the newest of
  the run, both sides in one venv holding the candidate's dependencies, each child with one side's
  unpacked wheel first on sys.path. Per operation the ratio candidate/baseline is taken per round; an
  operation whose whole min–max spread is above the threshold (default 1.5×, `[tool.tinytorch]
  baseline-slowdown`) blocks and names the course module of the operation's class; a spread wholly
  below 1/threshold is reported as a speed-up.

A third leg, `baseline-behaviour` (pipeline/behaviour.py), reruns the scenarios against the baseline wheel
in the speed comparison's venv. And the lines of the student sources changed since a git baseline
(`changed_lines`: the module sources of `git archive REF` against the working tree, difflib per file)
let the coverage rerun of runner/spectrum.py blame a failure without a traceback on the changed lines
the failing test executed.
"""
from __future__ import annotations

import difflib
import hashlib
import os
import shutil
import statistics
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..cache import cache_dir
from ..course.discovery import Course, load_course
from ..errors import BaselineError, VerifierError
from ..ownership import RefusedTarget, check_replaceable, mark
from ..package.api import RELEASE_NOTES, compare, package_surface, unacknowledged
from ..package.build import build_wheel_from_source, sha256, stage_course
from ..package.export import plan_export
from ..package.locks import constraints_for
from ..results import FAILED, NOT_RUN, PASSED, Attribution, BaselineComparison, SpeedRow, StageResult
from ..runner.attribution import attribute_api
from ..runner.changed import ChangedLines
from ..runner.envs import Venv, choose_installer, create_venv
from ..runner.interleave import Measurement, Side, run_interleaved
from ..runner.interpreters import find_interpreter
from ..runner.processes import DEFAULT_MEMORY_MB, run

DEFAULT_SLOWDOWN = 1.5
DEFAULT_ROUNDS = 3
BENCH_SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "ops.py"   # a child script, never imported
BENCH_PREFIX = "TITO_OPS "
CACHE_FOLDER = "baseline-wheels"
CACHE_LAYOUT = 2  # in the key: 2 = folders carry the mark; unmarked ones of layout 1 are never at its paths
# the code a cached baseline wheel depends on besides the course tree: a change to it rebuilds
BUILDER_CODE = ("package", "course")
GIT_TIMEOUT = 60.0


@dataclass(frozen=True)
class BaselineSource:
    """What --baseline named, resolved before anything runs."""
    ref: str
    label: str                      # how the reports name it
    wheel: Optional[Path] = None    # a release wheel the user named
    repository: Optional[Path] = None
    commit: str = ""
    prefix: str = ""                # the course folder inside the repository ("" at its top)
    tree: str = ""                  # git's id of that folder at `commit`: the content key of the cache


@dataclass
class BaselineSides:
    """What the behaviour leg reuses from the speed comparison: its venv (the candidate installed) and
    the baseline wheel; None when they could not be made."""
    venv: Optional[Venv] = None
    wheel: Optional[Path] = None


def _git(repository: Path, *args: str) -> Tuple[bool, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}   # the user's repository, as it is
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    done = run(["git", "-C", str(repository), *args], env=env, timeout=GIT_TIMEOUT)
    text = done.stdout.strip() if done.ok else (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
    return done.ok, text


def resolve_baseline(ref: str, course_root: Path) -> BaselineSource:
    """The baseline REF names, checked: raises BaselineError (one line, exit 2) when it names nothing usable."""
    hint = "pass a tag, branch or commit of the course's git repository, or the path of a release wheel (.whl)"
    if not ref.strip() or ref.startswith("-"):
        raise BaselineError(f"--baseline {ref!r} is neither a git ref nor a wheel", hint=hint)
    if ref.endswith(".whl"):
        path = Path(ref).expanduser().resolve()
        if not path.is_file():
            raise BaselineError("baseline wheel not found", path, hint=hint)
        if not zipfile.is_zipfile(path):
            raise BaselineError("the baseline is not a wheel (not a zip archive)", path, hint=hint)
        return BaselineSource(ref, path.name, wheel=path)
    root = Path(course_root).resolve()
    inside, top = _git(root, "rev-parse", "--show-toplevel")
    if not inside:
        raise BaselineError(f"--baseline {ref}: the course is not in a git repository ({top})", root, hint=hint)
    found, commit = _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if not found:
        raise BaselineError(f"--baseline {ref}: no such tag, branch or commit in {top}", hint=hint)
    prefix = root.relative_to(Path(top).resolve()).as_posix()
    prefix = "" if prefix == "." else prefix
    has_tree, tree = _git(root, "rev-parse", "--verify", "--quiet", f"{commit}:{prefix}")
    if not has_tree:
        raise BaselineError(f"--baseline {ref}: the course folder {prefix or '.'} does not exist at {commit[:12]}",
                            hint=hint)
    return BaselineSource(ref, ref, repository=Path(top), commit=commit, prefix=prefix, tree=tree)


def slowdown_threshold(course: Course) -> float:
    """`[tool.tinytorch] baseline-slowdown` (its shape is checked when the course is loaded)."""
    value = course.pyproject.get("tool", {}).get("tinytorch", {}).get("baseline-slowdown", DEFAULT_SLOWDOWN)
    return float(value)


# ------------------------------------------------------------------------------- the baseline wheel

def _builder_fingerprint() -> str:
    digest = hashlib.sha256()
    verifier = Path(__file__).resolve().parents[1]
    for folder in BUILDER_CODE:
        for path in sorted((verifier / folder).glob("*.py")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _extract_tar(archive: Path, dest: Path) -> None:
    """`git archive` output unpacked without letting a member leave `dest` (links, absolute paths)."""
    with tarfile.open(archive) as tar:
        safe = getattr(tarfile, "data_filter", None)
        if safe is not None:
            tar.extractall(dest, filter=safe)
            return
        members = []
        for member in tar.getmembers():
            target = (dest / member.name).resolve()
            if member.issym() or member.islnk() or not (target == dest.resolve() or dest.resolve() in target.parents):
                continue
            members.append(member)
        tar.extractall(dest, members=members)  # noqa: S202 - members checked above


def unpack_wheel(wheel: Path, dest: Path) -> Path:
    """A pure-Python wheel is importable as unpacked; refuses a member that would leave `dest`."""
    dest.mkdir(parents=True)
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            target = (dest / name).resolve()
            if name.startswith("/") or dest.resolve() not in target.parents:
                raise BaselineError(f"the wheel holds a file outside its folder: {name}", wheel)
        archive.extractall(dest)
    return dest


def cache_folder(source: BaselineSource) -> Path:
    """Where a git baseline's wheel is kept: named by the course tree's content and the build code's."""
    key = hashlib.sha256(f"{CACHE_LAYOUT}\n{source.tree}\n{_builder_fingerprint()}".encode()).hexdigest()[:32]
    return cache_dir() / CACHE_FOLDER / key


def baseline_wheel(source: BaselineSource, work: Path) -> Tuple[Path, bool]:
    """(the baseline's wheel, whether it came from the cache). A git baseline is archived into
    `work`, exported and built once, then cached by content in a folder carrying tinytorch-verifier's mark;
    raises VerifierError when it cannot be, RefusedTarget when a folder of the user's (or a link) sits at
    the cache path — that folder is neither read nor replaced."""
    if source.wheel is not None:
        return source.wheel, True
    cached = cache_folder(source)
    check_replaceable(cached, "remove it, or point TITO_CACHE at another folder")
    wheels = sorted(cached.glob("*.whl")) if cached.is_dir() else []
    if len(wheels) == 1:
        return wheels[0], True
    wheel = _build_baseline(source, work)
    partial: Optional[Path] = None
    try:  # best effort: a read-only cache (or another run filling it now) only makes the next run slower
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix=f".{cached.name}.", dir=cached.parent))  # new: ours alone
        mark(partial)
        shutil.copy2(wheel, partial / wheel.name)
        shutil.rmtree(cached, ignore_errors=True)  # marked (checked above) and not holding one wheel: remade
        os.replace(partial, cached)
        return cached / wheel.name, False
    except OSError:
        if partial is not None:
            shutil.rmtree(partial, ignore_errors=True)
        return wheel, False


def _build_baseline(source: BaselineSource, work: Path) -> Path:
    """The wheel of the course at the baseline's commit: `git archive` into `work`, exported and built."""
    assert source.repository is not None
    archive = work / "baseline.tar"
    work.mkdir(parents=True, exist_ok=True)
    ok, why = _git(source.repository, "archive", "--format=tar", "-o", str(archive), source.commit,
                   "--", source.prefix or ".")
    if not ok:
        raise BaselineError(f"--baseline {source.ref}: git archive failed: {why}")
    tree = work / "baseline-tree"
    tree.mkdir()
    _extract_tar(archive, tree)
    course = load_course(tree / source.prefix if source.prefix else tree)
    plan = plan_export(course)
    stage = stage_course(course, plan, work / "baseline-stage")
    return build_wheel_from_source(stage, work / "baseline-dist")


# ------------------------------------------------------------------------------------ the comparisons

def course_module(package_module: str, targets: Dict[str, str]) -> str:
    """`tinytorch.core.spatial` -> `10_spatial` (the course module exporting it), else the package module."""
    probe = package_module
    while probe and probe not in targets:
        probe = probe.rpartition(".")[0]
    return targets.get(probe, package_module) if probe else package_module


def api_since(course: Course, comparison: BaselineComparison, old_dir: Path, new_dir: Path,
              targets: Dict[str, str]) -> StageResult:
    stage = StageResult("baseline-api", PASSED)
    diff = compare(package_surface(old_dir / course.package), package_surface(new_dir / course.package))
    blocking = unacknowledged(diff, course.root / RELEASE_NOTES)
    comparison.api_breaking, comparison.api_blocking, comparison.api_added = diff.breaking, blocking, diff.added
    stage.figures = {"added": diff.added, "breaking": diff.breaking, "unacknowledged": blocking}
    if blocking:
        stage.status = FAILED
        modules = sorted({course_module(diff.origin[c][0], targets) for c in blocking if c in diff.origin})
        stage.detail = f"since {comparison.label}: " + "; ".join(
            f"{course_module(diff.origin[c][0], targets) + ': ' if c in diff.origin else ''}{c}" for c in blocking)
        stage.fix = f"restore the API of {comparison.label} in {', '.join(modules) or 'the package'}, or name " \
                    f"each change in {RELEASE_NOTES}"
        stage.attribution = attribute_api(course, [diff.origin[c] for c in blocking if c in diff.origin], targets)
    else:
        stage.detail = f"since {comparison.label}: {len(diff.added)} names added, {len(diff.breaking)} " \
                       f"acknowledged breaking changes"
    return stage


def speed_rows(measurements: Sequence[Measurement], threshold: float, targets: Dict[str, str]
               ) -> Tuple[List[SpeedRow], Dict[str, str]]:
    """Per operation timed on both sides in a round: the median of the per-round ratios and their spread."""
    by_round: Dict[int, Dict[str, Dict[str, Any]]] = {}
    skipped: Dict[str, str] = {}
    for m in measurements:
        if m.report is None:
            continue
        by_round.setdefault(m.round, {})[m.side] = m.report
        for name, why in (m.report.get("skipped") or {}).items():
            skipped.setdefault(str(name), f"{m.side}: {why}")
    pairs: Dict[str, List[Tuple[float, float, str]]] = {}
    for sides in by_round.values():
        old, new = sides.get("baseline"), sides.get("candidate")
        if old is None or new is None:
            continue
        for name, timing in new.get("ops", {}).items():
            before = old.get("ops", {}).get(name)
            if before and before.get("seconds", 0) > 0:
                pairs.setdefault(name, []).append((before["seconds"], timing["seconds"], str(timing.get("module", ""))))
    rows = []
    for name, samples in pairs.items():
        ratios = [new / old for old, new, _ in samples]
        package_module = samples[0][2]
        row = SpeedRow(name, course_module(package_module, targets), package_module,
                       round(statistics.median(o for o, _, _ in samples) * 1000, 4),
                       round(statistics.median(n for _, n, _ in samples) * 1000, 4),
                       round(statistics.median(ratios), 3), round(min(ratios), 3), round(max(ratios), 3), len(samples))
        if row.ratio_min > threshold:
            row.verdict = "slower"
        elif row.ratio_max < 1 / threshold:
            row.verdict = "faster"
        skipped.pop(name, None)
        rows.append(row)
    return rows, skipped


def describe_ratio(row: SpeedRow, label: str) -> str:
    """`10_spatial: Conv2d forward 190× slower than v0.1.0 (3 rounds, 187–196×)`."""
    if row.verdict == "faster":
        return f"{row.module}: {row.operation} {1 / row.ratio:.1f}× faster than {label} " \
               f"({row.rounds} rounds, {1 / row.ratio_max:.1f}–{1 / row.ratio_min:.1f}×)"
    return f"{row.module}: {row.operation} {row.ratio:.{0 if row.ratio >= 10 else 1}f}× slower than {label} " \
           f"({row.rounds} rounds, {row.ratio_min:.{0 if row.ratio_min >= 10 else 1}f}–" \
           f"{row.ratio_max:.{0 if row.ratio_max >= 10 else 1}f}×)"


def speed_since(course: Course, comparison: BaselineComparison, sides: Sequence[Side], candidate_wheel: Path,
                version: str, work: Path, targets: Dict[str, str], rounds: int = DEFAULT_ROUNDS,
                latest: bool = False, memory_mb: int = DEFAULT_MEMORY_MB, installer: str = "uv",
                op_seconds: Optional[float] = None) -> Tuple[StageResult, Optional[Venv]]:
    """The speed comparison, and its venv (the candidate installed; None when it could not be made)."""
    stage = StageResult("baseline-speed", PASSED)
    comparison.python = version
    lookup = find_interpreter(version)
    if lookup.interpreter is None:
        stage.status, stage.detail = NOT_RUN, f"not run: {lookup.describe_missing()}"
        return stage, None
    used, _ = choose_installer(installer)
    venv = create_venv(lookup.interpreter.path, work / "bench-venv", installer=used, version=version)
    lock = constraints_for(course, version, latest)
    install = venv.install([str(candidate_wheel)], constraints=lock.pins if lock else None, installer=used)
    if not install.ok:
        stage.status, stage.detail = NOT_RUN, "not run: the candidate wheel did not install (see the install stage)"
        return stage, None
    arguments = ["--op-seconds", str(op_seconds)] if op_seconds else []
    measurements = run_interleaved(venv, BENCH_SCRIPT, sides, rounds, work, BENCH_PREFIX, arguments,
                                   memory_mb=memory_mb)
    rows, skipped = speed_rows(measurements, comparison.threshold, targets)
    comparison.speed, comparison.speed_skipped = rows, skipped
    failures = {m.side: m for m in measurements if m.report is None}
    for side, m in sorted(failures.items()):
        comparison.notes.append(f"the {side}'s benchmark failed in round {m.round + 1}: {m.failure}")
    slower = [r for r in rows if r.verdict == "slower"]
    faster = [r for r in rows if r.verdict == "faster"]
    stage.figures = {"python": version, "rounds": rounds, "threshold": comparison.threshold,
                     "operations": len(rows), "slower": [describe_ratio(r, comparison.label) for r in slower],
                     "faster": [describe_ratio(r, comparison.label) for r in faster]}
    timed_out = "candidate" in failures and failures["candidate"].completed.timed_out and "baseline" not in failures
    if slower or timed_out:
        stage.status = FAILED
        reasons = [describe_ratio(r, comparison.label) for r in slower]
        if timed_out:
            reasons.append(f"the candidate's benchmark timed out where {comparison.label}'s finished")
        stage.detail = "; ".join(reasons)
        first = min(slower, key=lambda r: -r.ratio) if slower else None
        if first is not None:
            module = next((m for m in course.modules if m.key == first.module), None)
            path = str(module.source.relative_to(course.root)) if module and module.source else first.module
            stage.attribution = Attribution(first.module, path, None, first.operation, how="baseline speed")
        stage.fix = f"make the operation as fast as in {comparison.label} again (compare the module's code with " \
                    f"{comparison.label}), or raise [tool.tinytorch] baseline-slowdown if the slowdown is intended"
    elif not rows:
        stage.status = FAILED
        stage.detail = f"no operation could be timed on both sides: {'; '.join(comparison.notes) or skipped}"
        stage.fix = "see the benchmark's failure above; run with --keep-work to inspect"
    else:
        stage.detail = f"{len(rows)} operations on Python {version}, {rounds} rounds: none slower than " \
                       f"{comparison.threshold}× {comparison.label}" + \
                       (f"; faster: {', '.join(r.operation for r in faster)}" if faster else "")
    return stage, venv


def baseline_stages(course: Course, source: BaselineSource, candidate_wheel: Path, version: str, work: Path,
                    targets: Dict[str, str], rounds: int = DEFAULT_ROUNDS, latest: bool = False,
                    memory_mb: int = DEFAULT_MEMORY_MB, installer: str = "uv",
                    op_seconds: Optional[float] = None
                    ) -> Tuple[List[StageResult], BaselineComparison, BaselineSides]:
    """Both comparisons with the baseline, as course-wide stages, their figures for the reports, and the
    venv and wheel the behaviour leg reuses."""
    comparison = BaselineComparison(source.ref, source.label, threshold=slowdown_threshold(course),
                                    candidate_sha256=sha256(candidate_wheel))
    try:
        old_wheel, cached = baseline_wheel(source, work)
    except VerifierError as exc:
        why = f"the baseline {source.label} could not be built: {exc}"
        comparison.notes.append(why)
        fix = exc.hint if isinstance(exc, RefusedTarget) else \
            "pass another --baseline (a ref whose course builds, or the release's wheel)"
        return [StageResult(name, FAILED, detail=why, fix=fix)
                for name in ("baseline-api", "baseline-speed")], comparison, BaselineSides()
    comparison.baseline_sha256 = sha256(old_wheel)
    comparison.notes.append(f"baseline wheel {old_wheel.name} ({'cached' if cached else 'built now'})")
    old_dir = unpack_wheel(old_wheel, work / "baseline-wheel")
    new_dir = unpack_wheel(candidate_wheel, work / "candidate-wheel")
    api = api_since(course, comparison, old_dir, new_dir, targets)
    speed, venv = speed_since(course, comparison, [Side("baseline", old_dir), Side("candidate", new_dir)],
                              candidate_wheel, version, work, targets, rounds, latest, memory_mb, installer, op_seconds)
    return [api, speed], comparison, BaselineSides(venv, old_wheel)


# ------------------------------------------------------------------------- lines changed since a git baseline

def _changed_in(old: Sequence[str], new: Sequence[str]) -> List[int]:
    """Lines of `new` (1-based) that differ from `old`: replaced and inserted lines, and for a deletion
    the lines on both sides of the gap (the code that now runs where the deleted lines ran)."""
    changed: set = set()
    for tag, _, _, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag in ("replace", "insert"):
            changed.update(range(j1 + 1, j2 + 1))
        elif tag == "delete":
            changed.update(n for n in (j1, j1 + 1) if 1 <= n <= len(new))
    return sorted(changed)


def changed_lines(source: BaselineSource, course: Course, work: Path) -> ChangedLines:
    """The student source lines changed since a git baseline, per course-relative path (a module added
    since counts whole). A wheel baseline has no sources: the result says so and holds no lines."""
    found = ChangedLines(source.label)
    if source.wheel is not None or source.repository is None:
        found.problem = f"blame by change needs a git ref as --baseline ({source.label} is a wheel: no sources)"
        return found
    folder = course.modules_dir.resolve().relative_to(course.root.resolve()).as_posix()
    inside = f"{source.prefix}/{folder}" if source.prefix else folder
    work.mkdir(parents=True, exist_ok=True)
    archive = work / "baseline-modules.tar"
    ok, why = _git(source.repository, "archive", "--format=tar", "-o", str(archive), source.commit, "--", inside)
    if not ok:
        found.problem = f"git archive {source.label} -- {inside} failed: {why}"
        return found
    tree = work / "baseline-modules"
    try:
        tree.mkdir()
        _extract_tar(archive, tree)
    except (OSError, tarfile.TarError) as exc:
        found.problem = f"could not unpack the baseline's modules: {exc}"
        return found
    old_root = tree / source.prefix if source.prefix else tree
    for module in course.modules:
        if module.source is None:
            continue
        relative = module.source.resolve().relative_to(course.root.resolve())
        try:
            new = module.source.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        before = old_root / relative
        try:
            old = before.read_text(encoding="utf-8").splitlines() if before.is_file() else []
        except (OSError, UnicodeDecodeError):
            old = []
        lines = _changed_in(old, new)
        if lines:
            found.lines[relative.as_posix()] = lines
    return found
