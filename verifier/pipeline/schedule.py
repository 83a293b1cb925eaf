"""The task scheduler of a verify run: (Python x stage) tasks with dependencies on a pool of worker
threads sized to the cores, so no core idles while work remains.

A task starts as soon as every task it comes `after` has finished (whatever its outcome: the task
itself decides whether its inputs exist). Among the ready tasks the one of highest static priority
starts first, ties broken by submission order, so the schedule is deterministic for given weights.
Weights are the durations of the previous run when known, else static estimates.

The priorities (`plan`): the classic critical-path list schedule ranks a task by its weight plus the
heaviest chain of tasks waiting on it. That rule is blind to the number of workers: when the graph is
several alike, independent groups of tasks (one chain per Python), it advances every group in
lock-step, so the long final tasks of all groups become ready together at the end and cannot be
packed on the few workers: one worker idles while the other finishes the last long task. Letting the
earlier-submitted groups run ahead staggers those long tasks, and the many short tasks of the later
groups fill the end. How far ahead pays depends on the weights and the worker count (too far and the
last group's chain runs alone at the end), so `plan` simulates the very list schedule the dispatcher
makes, on the weights, for a small fixed family of leads (0 = pure critical path, up to finishing
the groups one after the other) and keeps the one of smallest simulated makespan; pure critical path
is tried first and wins ties, so on paper no schedule gets worse. The simulation is a heap-driven
event loop: about 0.2 ms per rule for a hundred tasks. The run itself stays dynamic: a free worker
takes the ready task of highest priority, whatever the real durations turn out to be.

Cancellation: when `cancelled` is set no further task starts and `run` raises `Cancelled` once the
running tasks have returned (the caller kills their processes). An exception in a task stops the
dispatch the same way and is re-raised.
"""
from __future__ import annotations

import heapq
import queue
import threading
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from ..deps import digraph


class Cancelled(Exception):
    """The run was cancelled (Ctrl-C, SIGTERM, fail-fast of the whole run) before every task ran.

    Not a VerifierError: a control-flow signal from the scheduler and its tasks to Verification.run,
    which turns it into an interrupted result; nothing the user did wrong, it never reaches the CLI."""


@dataclass
class Task:
    key: str                                 # unique, e.g. "3.12/install"
    run: Callable[[], None]
    after: Tuple[str, ...] = ()              # keys of the tasks whose outputs this one needs
    weight: float = 1.0                      # expected seconds


@dataclass
class Dispatch:
    """One start decision, for tests: who started, and once that round of starts was done how many
    tasks ran and how many ready ones still waited (waiting while a worker is free is a bug)."""
    key: str
    at: float
    running: int
    ready_left: int


@dataclass
class ScheduleStats:
    workers: int
    wall: float = 0.0
    busy: float = 0.0                        # summed seconds of every task
    rule: str = "critical path"              # the priority rule `plan` chose
    planned: float = 0.0                     # its simulated makespan on the weights (seconds)
    dispatches: List[Dispatch] = field(default_factory=list)

    @property
    def order(self) -> List[str]:
        return [d.key for d in self.dispatches]

    @property
    def utilisation(self) -> float:
        return self.busy / (self.wall * self.workers) if self.wall > 0 and self.workers > 0 else 0.0


def _waiting(tasks: Sequence[Task]) -> Dict[str, List[str]]:
    """Per task: the tasks that come directly after it, each once; unknown keys and self-loops refused."""
    keys = {t.key for t in tasks}
    waiting: Dict[str, List[str]] = {t.key: [] for t in tasks}
    for task in tasks:
        for before in dict.fromkeys(task.after):
            if before not in keys:
                raise ValueError(f"task {task.key} comes after unknown task {before}")
            if before == task.key:
                raise ValueError(f"dependency cycle: task {task.key} comes after itself")
            waiting[before].append(task.key)
    return waiting


def critical_paths(tasks: Sequence[Task]) -> Dict[str, float]:
    """Per task: its weight plus the heaviest chain of tasks that (transitively) wait on it. The tasks
    are taken in the graph order of deps/digraph.py, waiting tasks first; a cycle is refused."""
    by_key = {t.key: t for t in tasks}
    waiting = _waiting(tasks)
    submitted = {t.key: i for i, t in enumerate(tasks)}
    try:
        ordered = digraph.order(waiting, rank=submitted.__getitem__)
    except digraph.GraphError as exc:
        raise ValueError(f"dependency cycle through tasks {' -> '.join(map(str, exc.cycle))}") from None
    rank: Dict[str, float] = {}
    for key in ordered:  # every task after the tasks waiting on it: their chains are known
        rank[key] = by_key[key].weight + max((rank[k] for k in waiting[key]), default=0.0)
    return rank


@dataclass(frozen=True)
class Simulation:
    """A list schedule on paper: when each task starts and when the last one ends (seconds)."""
    makespan: float
    starts: Dict[str, float]


def simulate(tasks: Sequence[Task], workers: int, priority: Mapping[str, float]) -> Simulation:
    """The schedule `run_tasks` makes when every task takes exactly its weight: whenever a worker is
    free it takes the ready task of highest priority (ties: submission order). Tasks ending at the
    same moment all release the tasks waiting on them before the next choice."""
    workers = max(1, workers)
    order = {t.key: i for i, t in enumerate(tasks)}
    weight = {t.key: max(0.0, t.weight) for t in tasks}
    waiting = _waiting(tasks)
    missing = {t.key: len(set(t.after)) for t in tasks}
    ready = [(-priority[k], order[k], k) for k in order if missing[k] == 0]
    heapq.heapify(ready)
    running: List[Tuple[float, int, str]] = []   # (end, submission order, key)
    starts: Dict[str, float] = {}
    now = 0.0
    while ready or running:
        while ready and len(running) < workers:
            _, _, key = heapq.heappop(ready)
            starts[key] = now
            heapq.heappush(running, (now + weight[key], order[key], key))
        now = running[0][0]
        while running and running[0][0] <= now:
            _, _, key = heapq.heappop(running)
            for later in waiting[key]:
                missing[later] -= 1
                if missing[later] == 0:
                    heapq.heappush(ready, (-priority[later], order[later], later))
    if len(starts) < len(tasks):
        raise ValueError(f"dependency cycle: {len(tasks) - len(starts)} tasks never become ready")
    return Simulation(now, starts)


# How far each group of tasks is lifted above the next-submitted group, as a fraction of the longest
# chain: 0 is pure critical path; 1 puts every task of a group before any of the next (one group after
# the other, each still in critical-path order). Doubling steps: the makespan is not monotonic in
# the lead, a coarse sweep finds the good region at the price of a few simulations.
GROUP_LEADS = (0.0, 1 / 64, 1 / 32, 1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0)


@dataclass(frozen=True)
class Plan:
    """The static priorities for `run_tasks`: the rule that gave them, its simulated makespan and pure
    critical path's, on the same weights."""
    rule: str
    priority: Dict[str, float]
    makespan: float
    critical_path_makespan: float


def plan(tasks: Sequence[Task], workers: int) -> Plan:
    """The priorities of the lead in GROUP_LEADS whose simulated makespan is smallest (see the module
    docstring); pure critical path on ties, with one worker or with one group of tasks."""
    rank = critical_paths(tasks)
    plain = simulate(tasks, workers, rank).makespan
    best = Plan("critical path", rank, plain, plain)
    groups = digraph.connected_groups({t.key: t.after for t in tasks}, [t.key for t in tasks])
    if workers < 2 or len(groups) < 2:
        return best  # one worker is never idle; one group leaves nothing to lead
    longest = max(rank.values())
    bound = max(longest, sum(max(0.0, t.weight) for t in tasks) / workers)  # no schedule ends sooner
    tolerance = 1e-9 * max(1.0, plain)   # float noise is no gain
    for lead in GROUP_LEADS[1:]:
        if best.makespan <= bound + tolerance:
            break
        lift = lead * longest
        priority = {key: rank[key] + lift * (len(groups) - 1 - number)
                    for number, group in enumerate(groups) for key in group}
        makespan = simulate(tasks, workers, priority).makespan
        if makespan < best.makespan - tolerance:
            best = Plan(f"critical path, each group of tasks {Fraction(lead)} of the longest chain ahead of the next",
                        priority, makespan, plain)
    return best


def run_tasks(tasks: Sequence[Task], workers: int, cancelled: Optional[threading.Event] = None,
              poll: float = 0.2, on_interrupt: Optional[Callable[[], None]] = None,
              drain: float = 120.0) -> ScheduleStats:
    """Run every task on `workers` threads, highest priority of `plan` first, each as soon as its
    inputs exist. Returns the schedule's figures; raises Cancelled or the first task's exception.
    A KeyboardInterrupt (Ctrl-C, SIGTERM) calls `on_interrupt` (which kills the running processes)
    and waits up to `drain` seconds for the running tasks to return before it propagates, so the
    caller may remove their work directories."""
    workers = max(1, workers)
    cancelled = cancelled or threading.Event()
    chosen = plan(tasks, workers)
    rank = chosen.priority
    order = {t.key: i for i, t in enumerate(tasks)}
    by_key = {t.key: t for t in tasks}
    missing = {t.key: set(t.after) for t in tasks}
    waiting = _waiting(tasks)
    ready: List[Tuple[float, int, str]] = []
    for task in tasks:
        if not task.after:
            heapq.heappush(ready, (-rank[task.key], order[task.key], task.key))
    done: "queue.Queue[Tuple[str, float, Optional[BaseException]]]" = queue.Queue()
    stats = ScheduleStats(workers, rule=chosen.rule, planned=chosen.makespan)
    began = time.monotonic()
    running = 0
    finished = 0
    failure: Optional[BaseException] = None

    def work(task: Task) -> None:
        start = time.monotonic()
        error: Optional[BaseException] = None
        try:
            task.run()
        except BaseException as exc:  # noqa: BLE001 - handed to the dispatcher, re-raised there
            error = exc
        done.put((task.key, time.monotonic() - start, error))

    while finished < len(tasks):
        stopping = failure is not None or cancelled.is_set()
        batch: List[str] = []
        while not stopping and ready and running < workers:
            _, _, key = heapq.heappop(ready)
            running += 1
            batch.append(key)
            threading.Thread(target=work, args=(by_key[key],), name=f"tito-{key}", daemon=True).start()
        at = round(time.monotonic() - began, 3)
        stats.dispatches += [Dispatch(key, at, running, len(ready)) for key in batch]
        if running == 0:
            break  # stopping, or nothing ready (cannot happen without a cycle, which critical_paths refuses)
        try:
            key, seconds, error = done.get(timeout=poll)
        except queue.Empty:
            continue
        except BaseException:
            cancelled.set()
            if on_interrupt is not None:
                on_interrupt()
            deadline = time.monotonic() + drain
            while running > 0 and time.monotonic() < deadline:
                try:
                    done.get(timeout=poll)
                    running -= 1
                except queue.Empty:
                    pass
            raise
        running -= 1
        finished += 1
        stats.busy += seconds
        if error is not None and failure is None:
            failure = error
        for later in waiting[key]:
            missing[later].discard(key)
            if not missing[later]:
                heapq.heappush(ready, (-rank[later], order[later], later))
    stats.wall = time.monotonic() - began
    if failure is not None:
        raise failure
    if finished < len(tasks):
        raise Cancelled(f"{len(tasks) - finished} of {len(tasks)} tasks not run")
    return stats
