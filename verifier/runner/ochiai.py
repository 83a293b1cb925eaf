"""The suspiciousness score shared by the spectrum blame (runner/spectrum.py) and the blame by change
(runner/changed.py), and the key of a covered line once mapped back to the course."""
from __future__ import annotations

import math
from typing import Tuple

# A covered line once mapped: (course module key, student source path, student line, function qualname).
Line = Tuple[str, str, int, str]


def ochiai(failed: int, passed: int, total_failed: int) -> float:
    """ef / sqrt((ef + nf) * (ef + ep)): `failed`/`passed` the failing/passing runs that executed the
    line, `total_failed` every failing run (ef + nf)."""
    if failed == 0 or total_failed == 0:
        return 0.0
    return failed / math.sqrt(total_failed * (failed + passed))
