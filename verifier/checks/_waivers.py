"""Waivers: a course may waive a code, or one finding, in `[tool.tinytorch] waive` of its pyproject.toml,
each with a reason:

    waive = [{code = "TT104", reason = "..."},
             {code = "TT210", path = "modules/01_setup/setup.py", line = 12, reason = "..."}]

Waived findings stay in the report (marked, with the reason) but never block. A waiver without a
reason, with an unknown code or keys, or that matches no finding is itself a warning (TT007).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, List, Optional, Sequence

from .context import CheckContext, Emitter, config_place
from .findings import CATALOGUE, COURSE, Finding

CODES = frozenset({"TT007"})
KEYS = {"code", "reason", "path", "line"}


@dataclass(frozen=True)
class Waiver:
    index: int               # position in the waive list (for messages)
    code: str
    reason: str
    path: Optional[str] = None
    line: Optional[int] = None

    def matches(self, finding: Finding) -> bool:
        return finding.code == self.code and (self.path is None or finding.path == self.path) \
            and (self.line is None or finding.line == self.line)

    def describe(self) -> str:
        where = f" at {self.path}" + (f":{self.line}" if self.line else "") if self.path else ""
        return f"waive[{self.index}] ({self.code}{where})"


def _raw(ctx: CheckContext) -> list:
    tool = ctx.course.pyproject.get("tool", {}).get("tinytorch", {}) or {}
    value = tool.get("waive", []) if isinstance(tool, dict) else []
    return value if isinstance(value, list) else [value]


def read(ctx: CheckContext) -> List[Waiver]:
    """The well-formed waivers (with a known code and a reason)."""
    out = []
    for index, entry in enumerate(_raw(ctx)):
        if not isinstance(entry, dict) or set(entry) - KEYS or str(entry.get("code", "")) not in CATALOGUE:
            continue
        reason = str(entry.get("reason") or "").strip()
        line = entry.get("line")
        if not reason or (line is not None and not isinstance(line, int)):
            continue
        path = entry.get("path")
        out.append(Waiver(index, str(entry["code"]), reason, str(path) if path else None, line))
    return out


def check(ctx: CheckContext) -> Iterator[Finding]:
    """Malformed waivers: not a table, unknown keys or code, no reason."""
    out = Emitter(CODES)
    path, line = config_place(ctx.course, "waive")
    for index, entry in enumerate(_raw(ctx)):
        problem = None
        if not isinstance(entry, dict):
            problem = "is not a table {code = ..., reason = ...}"
        elif set(entry) - KEYS:
            problem = f"has unknown keys {', '.join(sorted(set(entry) - KEYS))} (known: code, reason, path, line)"
        elif str(entry.get("code", "")) not in CATALOGUE:
            problem = f"names no known finding code ({entry.get('code')!r})"
        elif not str(entry.get("reason") or "").strip():
            problem = f"waives {entry['code']} without a reason"
        elif entry.get("line") is not None and not isinstance(entry.get("line"), int):
            problem = "has a line that is not a number"
        if problem:
            out.add("TT007", COURSE, path, line, f"waiver waive[{index}] {problem}, so it waives nothing",
                    "give every waiver a known code and a reason: "
                    '{code = "TT104", reason = "why this is acceptable"}')
    yield from out


def apply(ctx: CheckContext, findings: Sequence[Finding]) -> List[Finding]:
    """Mark the findings the course waives; return TT007 findings for waivers that match nothing."""
    waivers = read(ctx)
    used = set()
    for finding in findings:
        for waiver in waivers:
            if waiver.matches(finding):
                finding.waived = waiver.reason
                used.add(waiver.index)
                break
    out = Emitter(CODES)
    path, line = config_place(ctx.course, "waive")
    for waiver in waivers:
        if waiver.index not in used:
            out.add("TT007", COURSE, path, line, f"waiver {waiver.describe()} matches no finding",
                    "delete the waiver (the problem it waived is gone) or correct its code, path or line")
    return list(out)
