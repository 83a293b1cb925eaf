"""The task scheduler of a verify run: (Python x stage) tasks with dependencies on a pool of worker
threads sized to the cores, so no core idles while work remains.

A task starts as soon as every task it comes `after` has finished (whatever its outcome: the task
itself decides whether its inputs exist). Among the ready tasks the one with the longest remaining
chain of work starts first (its weight plus the heaviest chain of tasks waiting on it: the classic
critical-path list schedule), ties broken by submission order, so the schedule is deterministic for
given weights. Weights are the durations of the previous run when known, else static estimates.

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
from typing import Callable, Dict, List, Optional, Sequence, Tuple

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
    dispatches: List[Dispatch] = field(default_factory=list)

    @property
    def order(self) -> List[str]:
        return [d.key for d in self.dispatches]

    @property
    def utilisation(self) -> float:
        return self.busy / (self.wall * self.workers) if self.wall > 0 and self.workers > 0 else 0.0


def critical_paths(tasks: Sequence[Task]) -> Dict[str, float]:
    """Per task: its weight plus the heaviest chain of tasks that (transitively) wait on it. The tasks
    are taken in the graph order of deps/digraph.py, waiting tasks first; a cycle is refused."""
    by_key = {t.key: t for t in tasks}
    waiting: Dict[str, List[str]] = {t.key: [] for t in tasks}
    for task in tasks:
        for before in task.after:
            if before not in by_key:
                raise ValueError(f"task {task.key} comes after unknown task {before}")
            if before == task.key:
                raise ValueError(f"dependency cycle: task {task.key} comes after itself")
            waiting[before].append(task.key)
    submitted = {t.key: i for i, t in enumerate(tasks)}
    try:
        ordered = digraph.order(waiting, rank=submitted.__getitem__)
    except digraph.GraphError as exc:
        raise ValueError(f"dependency cycle through tasks {' -> '.join(map(str, exc.cycle))}") from None
    rank: Dict[str, float] = {}
    for key in ordered:  # every task after the tasks waiting on it: their chains are known
        rank[key] = by_key[key].weight + max((rank[k] for k in waiting[key]), default=0.0)
    return rank


def run_tasks(tasks: Sequence[Task], workers: int, cancelled: Optional[threading.Event] = None,
              poll: float = 0.2, on_interrupt: Optional[Callable[[], None]] = None,
              drain: float = 120.0) -> ScheduleStats:
    """Run every task on `workers` threads, heaviest remaining chain first, each as soon as its
    inputs exist. Returns the schedule's figures; raises Cancelled or the first task's exception.
    A KeyboardInterrupt (Ctrl-C, SIGTERM) calls `on_interrupt` (which kills the running processes)
    and waits up to `drain` seconds for the running tasks to return before it propagates, so the
    caller may remove their work directories."""
    workers = max(1, workers)
    cancelled = cancelled or threading.Event()
    rank = critical_paths(tasks)
    order = {t.key: i for i, t in enumerate(tasks)}
    by_key = {t.key: t for t in tasks}
    missing = {t.key: set(t.after) for t in tasks}
    waiting: Dict[str, List[str]] = {t.key: [] for t in tasks}
    for task in tasks:
        for before in task.after:
            waiting[before].append(task.key)
    ready: List[Tuple[float, int, str]] = []
    for task in tasks:
        if not task.after:
            heapq.heappush(ready, (-rank[task.key], order[task.key], task.key))
    done: "queue.Queue[Tuple[str, float, Optional[BaseException]]]" = queue.Queue()
    stats = ScheduleStats(workers)
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
