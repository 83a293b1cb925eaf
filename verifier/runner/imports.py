"""The module-imports stage: every exported module of the installed package is imported on its
own, in its own fresh process, so one broken module hides no other — and an import with a side
effect (a file created, output printed) is caught and blamed on the module that did it.

Each import runs `python -I -c <probe> <module>` from an empty temporary directory (also its
HOME), sandboxed like the scenarios (timeout, memory limit, own process group). The probe taps
stdout/stderr and installs an audit hook, so the first write and the first file opened for
writing are recorded with the stack that did them; it reports on one `TITO_IMPORT {json}` line.
Afterwards the directory must still be empty and nothing else may have been printed.

On POSIX the plain imports of one Python share one process (SERVER): it first imports `preload` —
the modules outside the course package that the package's modules import at module level, found
statically in the installed files (runner/preload.py: NumPy, and standard-library modules such as
zipfile, json, hashlib, tempfile), never a module of the course package itself — then forks one child
per module, each with its own empty folder, HOME and output files, running the same probe, judged the
same way, with the same timeout and memory limit. What is shared is only those imports; each child
still runs every course module's code fresh, so the verdicts are those of a process per module:
a module that uses `json` or NumPy without importing it still fails with a NameError (an import binds
a name in the module that runs it, not in the server); one importing a module that is not installed
still fails (a preload that cannot be imported is skipped); a course module's own print or file is
still caught and blamed. A preload's own side effects happen in the server, before the probe's taps
and audit hook exist, so they are never blamed on the course; a preload whose import prints or leaves
a file (a standard-library module the probe would blame on the course) is not shared (see SERVER).
A module the server gave no report for gets a process of its own, as on Windows.

A package whose `__init__` imports every module (star-imports) makes every plain import run
every module. So a module whose plain import fails or has a side effect is imported once more
with its parent packages present but not executed ("isolated"): when that is clean, the module
itself is fine and the fault is reported on the parent package's own entry.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from ..results import FAILED, IMPORT_FAILURES, PASSED, Attribution, ImportFailure, StageResult
from .attribution import attribute_message, attribute_traceback
from .envs import Venv, clean_env
from .processes import DEFAULT_MEMORY_MB, Completed, current_meter, metered, run

REPORT_PREFIX = "TITO_IMPORT "
IMPORT_TIMEOUT = 60.0
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

# Runs inside the venv (never imports the verifier). argv: module name, "plain" or "isolated".
PROBE = r'''
import importlib, importlib.util, json, os, sys, traceback
_real_err = sys.stderr
_events = []

def _stack():
    frames = list(traceback.walk_stack(None))[::-1]
    return "".join('  File "%s", line %d, in %s\n' % (f.f_code.co_filename, n, f.f_code.co_name)
                   for f, n in frames)

def _note(kind, what):
    if len(_events) < 50:
        _events.append({"kind": kind, "what": what, "stack": _stack()})

class _Tap:
    def __init__(self, stream, name):
        self._stream, self._name = stream, name
    def write(self, text):
        if text and not _busy:
            _note("printed", "%s: %r" % (self._name, text.strip()[:80]))
        return self._stream.write(text)
    def __getattr__(self, attr):
        return getattr(self._stream, attr)

_WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
_CREATE = ("os.mkdir", "os.rename", "os.replace", "os.symlink", "os.link", "shutil.copyfile",
           "shutil.copytree", "shutil.make_archive")
_busy = False

def _audit(event, args):
    if _busy:
        return
    if event == "open":
        path, mode, flags = (tuple(args) + (None, None, None))[:3]
        if (isinstance(mode, str) and set(mode) & set("wax+")) or \
                (mode is None and isinstance(flags, int) and flags & _WRITE):
            _note("wrote", "opened for writing: %s" % (path,))
    elif event in _CREATE:
        _note("created", "%s %s" % (event, args[0] if args else ""))

def _stub_parents(name):
    parts = name.split(".")
    for i in range(1, len(parts)):
        parent = ".".join(parts[:i])
        spec = importlib.util.find_spec(parent)
        module = importlib.util.module_from_spec(spec)  # present, but its __init__ is not run
        sys.modules[parent] = module
        if i > 1:
            setattr(sys.modules[".".join(parts[:i - 1])], parts[i - 1], module)

name, mode = sys.argv[1], sys.argv[2]
report = {"ok": True, "error": "", "traceback": ""}
if mode == "isolated":
    _stub_parents(name)
sys.addaudithook(_audit)
sys.stdout, sys.stderr = _Tap(sys.stdout, "stdout"), _Tap(sys.stderr, "stderr")
try:
    importlib.import_module(name)
except BaseException as exc:
    _busy = True
    text = ("%s: %s" % (type(exc).__name__, exc)).strip().splitlines() or [type(exc).__name__]
    report.update(ok=False, error=text[0][:240], traceback=traceback.format_exc())
_busy = True
report["events"] = _events
try:
    sys.stdout.flush()
except Exception:
    pass
_real_err.write("\n" + "TITO_IMPORT " + json.dumps(report) + "\n")
_real_err.flush()
os._exit(0 if report["ok"] else 1)
'''


# Runs inside the venv (never imports the verifier): the plain probes of every module, each in a child
# forked from this process. argv: work folder, timeout per module, PROBE, jobs [[module, mode]], preload.
# Each child gets its own empty folder (also its HOME) and its own stdout/stderr files, and runs PROBE
# exactly as `python -c PROBE module mode` would; this process only imports the modules of `preload`
# first (runner/preload.py: what the package imports from outside itself), so they are imported once per
# Python instead of once per module. One whose import prints or leaves a file in the folder (also HOME)
# ends the server with a `TITO_NOISY "name"` line before any fork: it is then run again without that
# module, whose side effect each child then sees and judges as alone.
SERVER = r'''
import json, os, signal, sys, time
base, timeout, probe = sys.argv[1], float(sys.argv[2]), sys.argv[3]
jobs, preload = json.loads(sys.argv[4]), json.loads(sys.argv[5])
sink_path = os.path.join(base, ".preload-output")
sink = os.open(sink_path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
saved = os.dup(1), os.dup(2)
os.dup2(sink, 1)
os.dup2(sink, 2)
noisy = None
for name in preload:
    try:
        __import__(name)
    except BaseException:
        pass  # a module that needs it fails in its own child, as it would alone
    sys.stdout.flush()
    sys.stderr.flush()
    if os.fstat(sink).st_size or os.listdir(base) != [".preload-output"]:
        noisy = name  # it printed or left a file (cwd and HOME are `base`): a child must see that itself
        break
os.dup2(saved[0], 1)
os.dup2(saved[1], 2)
for fd in saved + (sink,):
    os.close(fd)
if noisy is not None:
    print("TITO_NOISY " + json.dumps(noisy), flush=True)
    os._exit(3)
os.remove(sink_path)
code = compile(probe, "<string>", "exec")
for number, (module, mode) in enumerate(jobs):
    folder = os.path.join(base, str(number))
    here = os.path.join(folder, "here")
    os.makedirs(here)
    sys.stdout.flush()
    sys.stderr.flush()
    began = time.monotonic()
    pid = os.fork()
    if pid == 0:
        try:
            os.chdir(here)
            os.environ["HOME"] = here
            for fd, name in ((1, "out"), (2, "err")):
                opened = os.open(os.path.join(folder, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                os.dup2(opened, fd)
                os.close(opened)
            sys.argv = ["-c", module, mode]
            exec(code, {"__name__": "__main__", "__builtins__": __builtins__})
        finally:
            os._exit(70)
    fired, nap, status = 0.0, 0.001, 0
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        now = time.monotonic()
        if not fired and now - began > timeout:
            fired = now
            os.kill(pid, signal.SIGABRT)  # faulthandler (inherited) prints where the import was stuck
        elif fired and now - fired > 2.0:
            os.kill(pid, signal.SIGKILL)
        time.sleep(nap)
        nap = min(nap * 2, 0.02)
    print("TITO_FORKED " + json.dumps({"number": number, "returncode": os.waitstatus_to_exitcode(status),
                                       "timed_out": bool(fired), "seconds": time.monotonic() - began}), flush=True)
'''
FORKED_PREFIX = "TITO_FORKED "
NOISY_PREFIX = "TITO_NOISY "


@dataclass
class ModuleImport:
    """What importing one module alone did."""
    module: str                                # "tinytorch.core.tensor"
    ok: bool = True
    error: str = ""                            # one line: the exception, or the side effect
    side_effects: List[str] = field(default_factory=list)
    attribution: Optional[Attribution] = None
    seconds: float = 0.0
    log: str = ""

    def describe(self) -> str:
        """One line for verify.json: the error and the student's file:line."""
        blame = self.attribution
        if blame is None:
            return self.error
        where = f"{blame.path}:{blame.line}" if blame.line else blame.path
        return f"{self.error} — {blame.module} ({where})"


_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line \d+')


def _course_did_it(stack: str, package: str) -> bool:
    """Whether the innermost installed-code frame of a recorded print or write is the course's own
    package (and not a third-party library it imported, whose first import may cache or print)."""
    installed = [m["file"] for m in map(_FRAME.match, stack.splitlines())
                 if m and ("site-packages" in m["file"] or "dist-packages" in m["file"])]
    if not installed:
        return True  # nothing installed on the stack: keep the event (attributed by the fallback)
    return f"/{package}/" in installed[-1].replace("\\", "/")


def _left_in(here: Path) -> List[str]:
    return sorted(str(p.relative_to(here)) + ("/" if p.is_dir() else "") for p in here.rglob("*"))


def _probe(venv: Venv, module: str, mode: str, package: str, targets: Dict[str, str],
           memory_mb: int, timeout: float) -> ModuleImport:
    here = Path(tempfile.mkdtemp(prefix="tito-import-"))
    try:
        completed = run([venv.python, "-I", "-X", "faulthandler", "-c", PROBE, module, mode], cwd=here,
                        env=clean_env({"HOME": str(here), **ONE_THREAD}),
                        timeout=timeout, memory_mb=memory_mb, dump_on_timeout=True)
        left = _left_in(here)
    finally:
        shutil.rmtree(here, ignore_errors=True)
    return _judge(module, completed, left, package, targets, timeout)


def _judge(module: str, completed: Completed, left: List[str], package: str, targets: Dict[str, str],
           timeout: float) -> ModuleImport:
    """What one probe's output, exit and left-behind files say about importing `module` alone."""
    outcome = ModuleImport(module, seconds=completed.seconds)
    report: Dict[str, Any] = {}  # the probe's JSON report
    stderr_lines = []
    for line in completed.stderr.splitlines():
        if line.startswith(REPORT_PREFIX):
            try:
                report = json.loads(line[len(REPORT_PREFIX):])
            except ValueError:
                pass
        else:
            stderr_lines.append(line)
    stderr = "\n".join(stderr_lines).strip()
    stdout = completed.stdout.strip()
    fallback = attribute_message(module, targets)
    if completed.timed_out or not report:
        outcome.ok = False
        outcome.error = f"import timed out after {timeout:.0f} s" if completed.timed_out else \
            f"the import ended the process (exit code {completed.returncode})"
        outcome.log = completed.tail(30)
        outcome.attribution = attribute_traceback(completed.stderr, package) or fallback
        return outcome
    if not report.get("ok"):
        outcome.ok = False
        outcome.error = str(report.get("error", ""))
        text = str(report.get("traceback", ""))
        outcome.log = text[-3000:]
        outcome.attribution = attribute_traceback(text, package) or \
            attribute_message(outcome.error + "\n" + text, targets) or fallback
        return outcome
    if left:
        outcome.side_effects.append(f"created {', '.join(left[:5])}{' …' if len(left) > 5 else ''} in the "
                                    "current directory")
    if stdout:
        outcome.side_effects.append(f"printed to stdout: {stdout.splitlines()[0][:80]!r}")
    if stderr:
        outcome.side_effects.append(f"printed to stderr: {stderr.splitlines()[-1][:80]!r}")
    if outcome.side_effects:
        outcome.ok = False
        outcome.error = "import-time side effect: " + "; ".join(outcome.side_effects)
        events = [e for e in report.get("events", []) if isinstance(e, dict)]
        # blame the event that matches what was seen: a write for files, a print for output
        wanted = ("wrote", "created") if left else ("printed",)
        ordered = [e for e in events if e.get("kind") in wanted] + [e for e in events if e.get("kind") not in wanted]
        for event in ordered:
            what = str(event.get("what", ""))
            if "__pycache__" in what or what.split(": ")[-1].isdigit() or \
                    not _course_did_it(str(event.get("stack", "")), package):
                continue  # Python's own bytecode cache, or a library the module imports: not the module's code
            found = attribute_traceback(str(event.get("stack", "")), package)
            if found:
                outcome.attribution = found
                break
        if outcome.attribution is None and ordered:
            # every recorded print or write came from third-party code (a library's first-import
            # cache or notice, e.g. a font cache): not the course's side effect
            outcome.ok, outcome.error, outcome.side_effects = True, "", []
            return outcome
        outcome.attribution = outcome.attribution or fallback
        outcome.log = (stdout + "\n" + stderr).strip()[-2000:]
    return outcome


def _noisy_preload(stdout: str) -> Optional[str]:
    """The preloaded module whose import printed or left a file (SERVER ended before forking), if any."""
    for line in stdout.splitlines():
        if line.startswith(NOISY_PREFIX):
            try:
                return str(json.loads(line[len(NOISY_PREFIX):]))
            except ValueError:
                return None
    return None


def _forked_plain_probes(venv: Venv, modules: Sequence[str], package: str, targets: Dict[str, str],
                         memory_mb: int, timeout: float, preload: Sequence[str]) -> Dict[str, ModuleImport]:
    """The plain probe of every module, each in its own child forked from one process per Python that
    imported `preload` first (SERVER); judged exactly like a probe of its own process. A module without
    a report (the server died, the run stopped) is missing from the answer: it gets a process of its own."""
    base = Path(tempfile.mkdtemp(prefix="tito-imports-"))
    found: Dict[str, ModuleImport] = {}
    try:
        jobs = [[module, "plain"] for module in modules]
        shared = list(preload)
        while True:
            server = run([venv.python, "-I", "-X", "faulthandler", "-c", SERVER, str(base), str(timeout), PROBE,
                          json.dumps(jobs), json.dumps(shared)], cwd=base,
                         env=clean_env({"HOME": str(base), **ONE_THREAD}),
                         timeout=(timeout + 5.0) * len(jobs) + 30.0, memory_mb=memory_mb)
            noisy = _noisy_preload(server.stdout)
            if noisy not in shared:
                break
            shared.remove(noisy)  # no child was forked: only its own side effect is in the folder
            shutil.rmtree(base, ignore_errors=True)
            base.mkdir()
        for line in server.stdout.splitlines():
            if not line.startswith(FORKED_PREFIX):
                continue
            try:
                record = json.loads(line[len(FORKED_PREFIX):])
                number, module = int(record["number"]), modules[int(record["number"])]
            except (ValueError, KeyError, IndexError, TypeError):
                continue
            folder = base / str(number)
            streams = [(folder / name).read_text(encoding="utf-8", errors="replace")
                       if (folder / name).is_file() else "" for name in ("out", "err")]
            timed_out = bool(record.get("timed_out"))
            child = Completed(server.args + [module], None if timed_out else record.get("returncode"), streams[0],
                              streams[1], float(record.get("seconds") or 0.0), timed_out)
            found[module] = _judge(module, child, _left_in(folder / "here"), package, targets, timeout)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return found


def import_module_alone(venv: Venv, module: str, package: str, targets: Dict[str, str],
                        memory_mb: int = DEFAULT_MEMORY_MB, timeout: float = IMPORT_TIMEOUT,
                        cancelled: Optional[threading.Event] = None,
                        plain: Optional[ModuleImport] = None) -> ModuleImport:
    """Import `module` in a fresh process (or take `plain`, its forked probe); when that fails only
    through a parent package's `__init__` (the isolated import is clean), the module itself passes."""
    if cancelled is not None and cancelled.is_set():
        return ModuleImport(module, ok=False, error="not imported: the run was interrupted")
    plain = plain or _probe(venv, module, "plain", package, targets, memory_mb, timeout)
    if plain.ok or "." not in module or (cancelled is not None and cancelled.is_set()):
        return plain
    isolated = _probe(venv, module, "isolated", package, targets, memory_mb, timeout)
    isolated.seconds += plain.seconds
    return isolated


def _importable(modules: Sequence[str], expected: Sequence[str]) -> List[str]:
    """What to import: every module the wheel holds, and every module the export promised — one the
    wheel does not ship then fails exactly as it would for a student."""
    return list(modules) + [dotted for dotted in expected if dotted not in modules]


def _side_effect_owners(outcomes: Sequence[ModuleImport], targets: Dict[str, str]) -> List[ModuleImport]:
    """One side effect, one entry: when importing several modules runs the same statement (a print
    in autograd runs for every module that imports autograd), keep the module whose own code it is."""
    by_place: Dict[str, List[ModuleImport]] = {}
    for outcome in outcomes:
        blame = outcome.attribution
        place = f"{blame.path}:{blame.line}" if blame is not None else outcome.module
        by_place.setdefault(place, []).append(outcome)
    owners = []
    for group in by_place.values():
        blamed = group[0].attribution
        own = [o for o in group if blamed is not None and targets.get(o.module) == blamed.module]
        owners.append(own[0] if own else min(group, key=lambda o: o.module))
    return sorted(owners, key=lambda o: o.module)


def _failure_record(outcome: ModuleImport, targets: Dict[str, str]) -> ImportFailure:
    blame = outcome.attribution
    return ImportFailure(outcome.module, targets.get(outcome.module), blame.module if blame else None,
                         blame.path if blame else None, blame.line if blame else None, outcome.error,
                         bool(outcome.side_effects))


def import_stage(venv: Venv, modules: Sequence[str], package: str, targets: Dict[str, str],
                 memory_mb: int = DEFAULT_MEMORY_MB, jobs: Optional[int] = None,
                 timeout: float = IMPORT_TIMEOUT, cancelled: Optional[threading.Event] = None,
                 preload: Sequence[str] = ()) -> StageResult:
    """Every module alone, a few at a time; never raises for a module's failure. Once `cancelled`
    is set (Ctrl-C, SIGTERM), no further import starts. `targets` ({dotted module: course module})
    also names the modules the export promised, so a module the wheel lost is a failed import.

    Figures: `failed_modules` {module: error — course module (file:line)} for imports that raise;
    `side_effects` {module: what it did — course module (file:line)}, one entry per statement."""
    stage = StageResult("module-imports")
    wanted = _importable(modules, sorted(targets))
    if not wanted:
        stage.status, stage.detail = FAILED, f"the wheel holds no module of package {package}"
        stage.figures = {"modules": 0, "failed": 0, "side_effects": {}, "failed_modules": {}}
        stage.fix = "make the wheel ship the package (see the build stage's findings)"
        return stage
    workers = jobs or max(1, min(4, os.cpu_count() or 2))
    began = time.monotonic()
    meter = current_meter()
    forked = _forked_plain_probes(venv, wanted, package, targets, memory_mb, timeout, preload) \
        if hasattr(os, "fork") and not (cancelled is not None and cancelled.is_set()) else {}

    def one(module: str) -> ModuleImport:
        with metered(meter) if meter is not None else nullcontext():
            return import_module_alone(venv, module, package, targets, memory_mb, timeout, cancelled,
                                       plain=forked.get(module))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        outcomes = list(pool.map(one, wanted))
    raised = [o for o in outcomes if not o.ok and not o.side_effects]
    effects = _side_effect_owners([o for o in outcomes if o.side_effects], targets)
    failed = raised + effects
    stage.seconds = round(time.monotonic() - began, 2)
    missing = [m for m in wanted if m not in modules]
    stage.figures = {"modules": len(outcomes), "failed": len(raised), "not_in_wheel": missing,
                     "side_effects": {o.module: o.describe() for o in effects},
                     "failed_modules": {o.module: o.describe() for o in raised},
                     # typed, for the reports' root causes: which course module's code raised
                     IMPORT_FAILURES: [_failure_record(o, targets) for o in failed]}
    if not failed:
        stage.status, stage.detail = PASSED, f"{len(outcomes)} modules import alone, without side effects"
        return stage
    stage.status = FAILED
    parts = []
    if raised:
        parts.append(f"{len(raised)} of {len(outcomes)} modules fail to import alone"
                     + (f" ({len(missing)} not in the wheel)" if missing else ""))
    if effects:
        parts.append(f"{len(effects)} import-time side effect(s)")
    stage.detail = "; ".join(parts) + ": " + \
        "; ".join(f"{o.module} ({o.error})" for o in failed[:3]) + (" …" if len(failed) > 3 else "")
    blamed = [o.attribution for o in failed if o.attribution is not None]
    # the lowest-numbered module: later modules build on it, so it is the likeliest root cause
    stage.attribution = min(blamed, key=lambda a: a.module) if blamed else None
    stage.log = "\n\n".join(f"== {o.module}: {o.error}\n{o.log}" for o in failed)[-6000:]
    stage.fix = "make importing each module free of errors and side effects (no files written, nothing printed)"
    if missing:
        stage.fix = "make the wheel ship every exported module (see the build stage's findings); " + stage.fix
    return stage
