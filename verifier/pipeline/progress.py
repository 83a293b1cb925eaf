"""Progress of a verify run on the terminal: a live table (Python, stage, elapsed) when the output
is an interactive terminal, plain lines otherwise (pipes, CI logs)."""
from __future__ import annotations

import threading
import time
from typing import Dict, List, Optional, TypedDict

from rich.console import Console
from rich.live import Live
from rich.table import Table

from ..results import StageResult


class PlainProgress:
    def __init__(self, console: Console) -> None:
        self.console = console

    def __call__(self, scope: str, stage: StageResult) -> None:
        where = "course" if scope == "course" else f"py{scope}"
        detail = f"  {stage.detail}" if stage.detail and not stage.ok else ""
        self.console.print(f"{where:<8} {stage.name:<18} {stage.status:<8} {stage.seconds:7.1f} s{detail}",
                           markup=False)

    def __enter__(self) -> "PlainProgress":
        return self

    def __exit__(self, *exc) -> None:
        return None


class _Row(TypedDict):
    """What the live table shows for one scope."""
    last: str
    done: int
    failed: List[str]
    since: float


class LiveProgress:
    """One row per scope: the last finished stage, stages done, failures, elapsed time."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.start = time.monotonic()
        self.rows: Dict[str, _Row] = {}
        self.lock = threading.Lock()
        self.live: Optional[Live] = None

    def _table(self) -> Table:
        table = Table(title=f"verify — {time.monotonic() - self.start:5.0f} s")
        for column in ("scope", "last stage", "done", "failed", "elapsed"):
            table.add_column(column)
        with self.lock:
            for scope, row in self.rows.items():
                table.add_row(scope, row["last"], str(row["done"]),
                              f"[bold red]{', '.join(row['failed'])}[/]" if row["failed"] else "",
                              f"{time.monotonic() - row['since']:.0f} s")
        return table

    def __call__(self, scope: str, stage: StageResult) -> None:
        label = "course" if scope == "course" else f"Python {scope}"
        with self.lock:
            row = self.rows.setdefault(label, {"last": "", "done": 0, "failed": [], "since": time.monotonic()})
            row["last"] = f"{stage.name} {stage.status}"
            row["done"] += 1
            if stage.status == "failed":
                row["failed"].append(stage.name)
        if self.live is not None:
            self.live.update(self._table())

    def __enter__(self) -> "LiveProgress":
        self.live = Live(self._table(), console=self.console, refresh_per_second=2, get_renderable=self._table)
        self.live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self.live is not None:
            self.live.__exit__(*exc)


def progress_for(console: Console, ci: bool):
    """Live table on an interactive terminal, plain lines in CI or when piped."""
    if console.is_terminal and not ci:
        return LiveProgress(console)
    return PlainProgress(console)
