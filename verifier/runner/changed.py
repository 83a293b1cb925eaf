"""Blame by change (`--baseline` a git ref), on top of the spectrum (runner/spectrum.py): student lines
changed since the baseline (pipeline/baseline.py) that a failing run executed are the first suspects,
per module file as the changed hunks holding such a line, ranked by their best line's Ochiai, then by
failing runs. Kept apart from spectrum.py so the coverage rerun and its ranking read on their own.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Set, Tuple

from ..results import Attribution
from .ochiai import Line, ochiai


@dataclass
class ChangedLines:
    """Student source lines changed since the baseline: course-relative path -> candidate line numbers."""
    label: str                                          # "v0.1.0"
    lines: Dict[str, List[int]] = field(default_factory=dict)
    problem: str = ""                                   # why there are none to use (a wheel baseline)


@dataclass(frozen=True)
class ChangedSuspect:
    """The changed lines of one module file that failing runs executed."""
    module: str
    path: str
    hunks: Tuple[Tuple[int, int], ...]   # (first, last) changed hunks holding an executed line
    line: int                            # the most suspicious executed changed line
    function: str
    score: float                         # Ochiai of that line
    failed: int                          # failing runs that executed a changed line here

    def where(self) -> str:
        spans = ", ".join(f"{a}" if a == b else f"{a}–{b}" for a, b in self.hunks)
        return f"{Path(self.path).name}:{spans}"


def _hunks(lines: Sequence[int]) -> List[Tuple[int, int]]:
    spans: List[Tuple[int, int]] = []
    for line in sorted(lines):
        if spans and line == spans[-1][1] + 1:
            spans[-1] = (spans[-1][0], line)
        else:
            spans.append((line, line))
    return spans


def rank_changed(coverage: Mapping[Line, Set[str]], failing: Set[str], passing: Set[str], changes: ChangedLines,
                 order: Mapping[str, int]) -> List[ChangedSuspect]:
    """Module files whose changed lines a failing run executed, most suspicious first."""
    executed: Dict[Tuple[str, str], List[Tuple[float, int, int, str]]] = {}
    for (module, path, line, function), runs in coverage.items():
        if line not in set(changes.lines.get(path, ())):
            continue
        ef = len(runs & failing)
        if ef:
            score = ochiai(ef, len(runs & passing), len(failing))
            executed.setdefault((module, path), []).append((score, ef, line, function))
    found = []
    for (module, path), hits in executed.items():
        best = max(hits, key=lambda h: (h[0], h[1], -h[2]))
        lines = {h[2] for h in hits}
        hunks = tuple(h for h in _hunks(changes.lines[path]) if any(h[0] <= n <= h[1] for n in lines))
        found.append(ChangedSuspect(module, path, hunks, best[2], best[3], round(best[0], 4), max(h[1] for h in hits)))
    return sorted(found, key=lambda s: (-s.score, -s.failed, -order.get(s.module, 0), s.path))


def changed_attribution(suspects: Sequence[ChangedSuspect], label: str) -> Optional[Attribution]:
    if not suspects:
        return None
    top = suspects[0]
    return Attribution(top.module, top.path, top.line, top.function, how="changed",
                       suspects=[s.module for s in suspects], evidence=top.where(), since=label)
