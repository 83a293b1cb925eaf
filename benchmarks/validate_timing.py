"""Time the static validation of a course (default: the embedded course) — a measurement, not a test.

    python benchmarks/validate_timing.py [COURSE] [--runs 5]

Prints the best and median wall time of `validate()` and how many times each module source was parsed.
"""
from __future__ import annotations

import argparse
import ast
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from verifier.checks.validate import validate  # noqa: E402
from verifier.course.discovery import load_course  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("course", nargs="?", default=str(ROOT / "course"))
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    course = load_course(Path(args.course))
    validate(course)  # warm caches of installed-package lookups, as a second run in one process would
    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        validate(course)
        times.append(time.perf_counter() - start)
    parses: Counter = Counter()
    original = ast.parse

    def counting(source, *a, **k):  # type: ignore[no-untyped-def]
        parses[hash(source)] += 1
        return original(source, *a, **k)

    ast.parse = counting  # type: ignore[assignment]
    try:
        validate(course)
    finally:
        ast.parse = original  # type: ignore[assignment]
    repeated = sum(1 for n in parses.values() if n > 1)
    print(f"{course.root}: best {min(times):.3f}s, median {statistics.median(times):.3f}s over {args.runs} runs; "
          f"{sum(parses.values())} ast.parse calls, {repeated} distinct sources parsed more than once")


if __name__ == "__main__":
    main()
