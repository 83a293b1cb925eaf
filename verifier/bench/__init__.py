"""`nox -s bench`: the course's speed beside PyTorch and beside the machine's matmul peak, as ratios
measured side by side in one run. `flops` counts each model's work from its shapes; `measure` runs the
side-by-side child and turns its timings into the table."""
from .measure import render_table, run_bench

__all__ = ["render_table", "run_bench"]
