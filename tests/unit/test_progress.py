"""Progress falls back to plain lines when output is not a terminal or in CI."""
import io

from rich.console import Console

from verifier.pipeline.progress import LiveProgress, PlainProgress, progress_for
from verifier.results import StageResult


def test_plain_lines_when_not_a_terminal_or_in_ci():
    piped = Console(file=io.StringIO(), force_terminal=False)
    assert isinstance(progress_for(piped, ci=False), PlainProgress)
    terminal = Console(file=io.StringIO(), force_terminal=True)
    assert isinstance(progress_for(terminal, ci=True), PlainProgress)
    assert isinstance(progress_for(terminal, ci=False), LiveProgress)


def test_plain_progress_prints_scope_stage_status_and_time():
    out = io.StringIO()
    progress = PlainProgress(Console(file=out, width=200))
    progress("3.12", StageResult("cnn", "failed", 3.25, detail="accuracy 0.1 < 0.95"))
    assert out.getvalue().split() == ["py3.12", "cnn", "failed", "3.2", "s", "accuracy", "0.1", "<", "0.95"]


def test_live_progress_tracks_failures_per_python():
    live = LiveProgress(Console(file=io.StringIO(), force_terminal=True))
    with live:
        live("3.9", StageResult("venv", "passed", 1.0))
        live("3.9", StageResult("imports", "failed", 0.1))
    assert live.rows["Python 3.9"]["done"] == 2 and live.rows["Python 3.9"]["failed"] == ["imports"]
