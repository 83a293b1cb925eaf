"""Pictures for the HTML report, as inline SVG (no script, no network; the page opens offline):

- the Python x stage matrix as a coloured grid (one cell per stage and Python);
- time per stage as a horizontal bar chart (course-wide stages, and each per-Python stage
  summed over the Pythons);
- per module, in course order, the size and complexity of the exported code (lines and
  cyclomatic complexity as paired bars), flagged modules marked;
- with `--baseline`, the speed ratio per operation against the earlier release (log scale, bars
  from the 1× line, the blocking threshold marked).
"""
from __future__ import annotations

import html
import math
from typing import Any, Dict, List, Sequence, Tuple

from ..results import FAILED, NOT_RUN, NOT_VERIFIED, PASSED, SpeedRow, VerifyResult

FILL = {PASSED: "#3fa34d", FAILED: "#d64545", NOT_RUN: "#c8c8c8", NOT_VERIFIED: "#e8b730"}
FONT = "font-family='system-ui,sans-serif' font-size='12'"


def _svg(width: float, height: float, label: str, body: List[str]) -> str:
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{width:.0f}' height='{height:.0f}' role='img' "
            f"aria-label='{html.escape(label)}' {FONT}>" + "".join(body) + "</svg>")


def stage_names(result: VerifyResult) -> List[str]:
    names: List[str] = []
    for python in result.pythons:
        names += [s.name for s in python.stages if s.name not in names]
    return names


def matrix_grid(result: VerifyResult) -> str:
    """Python (rows) x stage (columns), each cell coloured by status, with a legend."""
    names = stage_names(result)
    if not result.pythons:
        return ""
    cell_w, cell_h, left, top = 92, 26, 110, 96
    body: List[str] = []
    for col, name in enumerate(names):
        x = left + col * cell_w + cell_w / 2
        body.append(f"<text x='{x}' y='{top - 8}' text-anchor='middle' "
                    f"transform='rotate(-35 {x} {top - 8})'>{html.escape(name)}</text>")
    for row, python in enumerate(result.pythons):
        y = top + row * cell_h
        body.append(f"<text x='{left - 8}' y='{y + 17}' text-anchor='end'>Python {html.escape(python.version)}</text>")
        for col, name in enumerate(names):
            stage = python.stage(name)
            status = NOT_VERIFIED if python.missing else (stage.status if stage else NOT_RUN)
            tip = f"Python {python.version} {name}: {status}" + (f" — {stage.detail}" if stage and stage.detail else "")
            body.append(f"<rect class='cell' data-status='{status}' x='{left + col * cell_w + 1}' y='{y + 1}' "
                        f"width='{cell_w - 2}' height='{cell_h - 2}' rx='3' fill='{FILL[status]}'>"
                        f"<title>{html.escape(tip)}</title></rect>")
            mark = {PASSED: "✓", FAILED: "✗"}.get(status, "–")
            body.append(f"<text x='{left + col * cell_w + cell_w / 2}' y='{y + 17}' text-anchor='middle' "
                        f"fill='#fff' font-weight='bold'>{mark}</text>")
    legend_y = top + len(result.pythons) * cell_h + 18
    for index, status in enumerate((PASSED, FAILED, NOT_RUN, NOT_VERIFIED)):
        x = left + index * 120
        body.append(f"<rect x='{x}' y='{legend_y - 11}' width='14' height='14' fill='{FILL[status]}'/>"
                    f"<text x='{x + 20}' y='{legend_y}'>{html.escape(status)}</text>")
    return _svg(left + len(names) * cell_w + 20, legend_y + 14, "Python by stage matrix", body)


def stage_times(result: VerifyResult) -> List[Tuple[str, float]]:
    """(label, seconds): course-wide stages, then per-Python stages summed over the Pythons."""
    rows: List[Tuple[str, float]] = [(s.name, s.seconds) for s in result.stages]
    summed: Dict[str, float] = {}
    for python in result.pythons:
        for stage in python.stages:
            summed[stage.name] = summed.get(stage.name, 0.0) + stage.seconds
    rows += [(f"{name} (all Pythons)", seconds) for name, seconds in summed.items()]
    return rows


def bar_chart(rows: Sequence[Tuple[str, float]], unit: str = "s", label: str = "time per stage") -> str:
    if not rows:
        return ""
    left, bar_h, width = 190, 20, 420
    top = max((value for _, value in rows), default=0.0) or 1.0
    body: List[str] = []
    for index, (name, value) in enumerate(rows):
        y = 10 + index * (bar_h + 6)
        length = max(1.0, width * value / top)
        body.append(f"<text x='{left - 8}' y='{y + 14}' text-anchor='end'>{html.escape(name)}</text>"
                    f"<rect class='bar' x='{left}' y='{y}' width='{length:.1f}' height='{bar_h}' fill='#4a6fa5'>"
                    f"<title>{html.escape(name)}: {value:.1f} {unit}</title></rect>"
                    f"<text x='{left + length + 6:.1f}' y='{y + 14}'>{value:.1f} {unit}</text>")
    return _svg(left + width + 80, 20 + len(rows) * (bar_h + 6), label, body)


def complexity_chart(metrics: Sequence[Dict[str, Any]]) -> str:
    """Per module in course order: lines (light) and cyclomatic complexity (dark) as paired
    vertical bars on their own scales; a flagged module's label is red and marked with `!`."""
    if not metrics:
        return ""
    slot, bar_w, height, top, bottom = 52, 18, 180, 24, 90
    max_lines = max(int(m.get("lines", 0)) for m in metrics) or 1
    max_cc = max(int(m.get("complexity", 0)) for m in metrics) or 1
    body: List[str] = []
    for index, m in enumerate(metrics):
        x = 50 + index * slot
        base = top + height
        lines_h = height * int(m.get("lines", 0)) / max_lines
        cc_h = height * int(m.get("complexity", 0)) / max_cc
        flagged = bool(m.get("flagged"))
        body.append(f"<rect class='lines' x='{x}' y='{base - lines_h:.1f}' width='{bar_w}' height='{lines_h:.1f}' "
                    f"fill='#9db7dc'><title>{html.escape(str(m['module']))}: {m.get('lines')} lines, "
                    f"{m.get('functions')} functions</title></rect>")
        body.append(f"<rect class='complexity' x='{x + bar_w + 2}' y='{base - cc_h:.1f}' width='{bar_w}' "
                    f"height='{cc_h:.1f}' fill='{'#d64545' if flagged else '#2f4f7f'}'>"
                    f"<title>{html.escape(str(m['module']))}: complexity {m.get('complexity')} (most complex "
                    f"function {html.escape(str(m.get('max_function_name')))}: {m.get('max_function')})"
                    f"{' — much more complex than every later module' if flagged else ''}</title></rect>")
        label_x = x + bar_w
        body.append(f"<text x='{label_x}' y='{base + 12}' text-anchor='end' transform='rotate(-50 {label_x} "
                    f"{base + 12})' fill='{'#d64545' if flagged else '#222'}'>"
                    f"{'! ' if flagged else ''}{html.escape(str(m['module']))}</text>")
    legend = top - 10
    body.append(f"<rect x='50' y='{legend - 10}' width='12' height='12' fill='#9db7dc'/>"
                f"<text x='66' y='{legend}'>lines of code (max {max_lines})</text>"
                f"<rect x='250' y='{legend - 10}' width='12' height='12' fill='#2f4f7f'/>"
                f"<text x='266' y='{legend}'>cyclomatic complexity (max {max_cc})</text>"
                f"<rect x='480' y='{legend - 10}' width='12' height='12' fill='#d64545'/>"
                f"<text x='496' y='{legend}'>flagged: &gt;1.5× every later module</text>")
    return _svg(max(760, 70 + len(metrics) * slot), top + height + bottom, "module size and complexity", body)


SPEED_FILL = {"slower": FILL[FAILED], "faster": FILL[PASSED], "same": FILL[NOT_RUN]}


def _times(ratio: float) -> str:
    return f"{ratio:.0f}×" if ratio >= 10 else (f"{ratio:.2g}×" if ratio < 1 else f"{ratio:.1f}×")


def speed_ratio_chart(rows: Sequence[SpeedRow], threshold: float, label: str = "") -> str:
    """One horizontal bar per operation, from the 1× line to its ratio (candidate / baseline time) on a
    log scale, so a 190× slowdown and a 2× speed-up both stay readable; the round-to-round spread as a
    whisker. Red: slower beyond the threshold (blocks), green: faster, grey: within the noise."""
    if not rows:
        return ""
    left, bar_h, width, top = 230, 18, 420, 24
    values = [v for row in rows for v in (row.ratio, row.ratio_min, row.ratio_max) if v > 0]
    low = math.log10(min(values + [1 / threshold]) / 2.5)   # room left of a speed-up's bar for its label
    high = math.log10(max(values + [threshold]) * 1.3)

    def x(ratio: float) -> float:
        return left + width * (math.log10(max(ratio, 1e-12)) - low) / (high - low)

    bottom = top + len(rows) * (bar_h + 6)
    body: List[str] = []
    for power in range(math.ceil(low), math.floor(high) + 1):   # decades as faint grid lines
        if power != 0:
            body.append(f"<line x1='{x(10.0 ** power):.1f}' y1='{top - 4}' x2='{x(10.0 ** power):.1f}' y2='{bottom}' "
                        f"stroke='#e4e4e4'/><text x='{x(10.0 ** power):.1f}' y='{bottom + 14}' "
                        f"text-anchor='middle' fill='#777'>{_times(10.0 ** power)}</text>")
    for index, row in enumerate(rows):
        y = top + index * (bar_h + 6)
        start, end = sorted((x(1.0), x(row.ratio)))
        word = {"slower": "slower, blocks", "faster": "faster"}.get(row.verdict, "within the noise")
        tip = (f"{row.module}: {row.operation} {_times(row.ratio)} ({word}; {row.rounds} rounds, "
               f"{_times(row.ratio_min)}–{_times(row.ratio_max)}; {row.baseline_ms:.3g} → {row.candidate_ms:.3g} ms)")
        fill = SPEED_FILL.get(row.verdict, FILL[NOT_RUN])
        body.append(f"<text x='{left - 8}' y='{y + 13}' text-anchor='end'>{html.escape(row.operation)}</text>"
                    f"<rect class='ratio' data-verdict='{html.escape(row.verdict)}' x='{start:.1f}' y='{y}' "
                    f"width='{max(1.0, end - start):.1f}' height='{bar_h}' fill='{fill}'>"
                    f"<title>{html.escape(tip)}</title></rect>"
                    f"<line x1='{x(row.ratio_min):.1f}' y1='{y + bar_h / 2}' x2='{x(row.ratio_max):.1f}' "
                    f"y2='{y + bar_h / 2}' stroke='#333'/>"
                    + (f"<text x='{min(start, x(row.ratio_min)) - 4:.1f}' y='{y + 13}' text-anchor='end'>"
                       if row.ratio < 1 else f"<text x='{max(end, x(row.ratio_max)) + 6:.1f}' y='{y + 13}'>")
                    + f"{_times(row.ratio)}</text>")
    body.append(f"<line class='one' x1='{x(1.0):.1f}' y1='{top - 8}' x2='{x(1.0):.1f}' y2='{bottom}' stroke='#222'/>"
                f"<text x='{x(1.0):.1f}' y='{bottom + 14}' text-anchor='middle'>1×</text>"
                f"<line class='threshold' x1='{x(threshold):.1f}' y1='{top - 8}' x2='{x(threshold):.1f}' y2='{bottom}' "
                f"stroke='{FILL[FAILED]}' stroke-dasharray='4 3'/>"
                f"<text x='{x(threshold) + 4:.1f}' y='{top - 10}' fill='{FILL[FAILED]}'>blocks above "
                f"{threshold:g}×</text>")
    return _svg(left + width + 70, bottom + 24, label or "speed ratio per operation", body)
