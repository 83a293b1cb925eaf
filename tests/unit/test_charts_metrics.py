"""Code metrics from the AST (lines, functions, cyclomatic complexity, the outlier flag) and the
HTML report's pictures (matrix grid, time per stage, module complexity)."""
from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path

from verifier.course.discovery import load_course
from verifier.package.export import plan_export
from verifier.package.metrics import code_metrics, module_metrics
from verifier.pipeline.gate import decide
from verifier.render.formats import render_html

COURSE = Path(__file__).resolve().parents[2] / "course"


def test_cyclomatic_complexity_counts_decision_points():
    code = ("def f(x):\n    if x and x > 1 or x < -1:\n        return [i for i in range(3) if i]\n"
            "    for i in x:\n        while i:\n            i -= 1\n    try:\n        pass\n"
            "    except ValueError:\n        pass\n    return 1 if x else 2\n\nclass C:\n"
            "    def g(self):\n        return 0\n")
    m = code_metrics(code)
    # f: 1 + if + (and, or) + comprehension (1 + its if) + for + while + except + ifexp = 10; g: 1
    assert (m["functions"], m["classes"], m["complexity"], m["max_function"], m["max_function_name"]) == \
        (2, 1, 11, 10, "f")
    assert m["lines"] == 14  # the blank line does not count


def test_embedded_course_metrics_in_course_order_without_flags():
    rows = module_metrics(plan_export(load_course(COURSE)))
    assert [r.module for r in rows] == [m.key for m in load_course(COURSE).modules]
    assert all(r.lines > 0 and r.functions > 0 and r.complexity > 0 for r in rows)
    assert not any(r.flagged for r in rows)


def test_an_early_module_much_more_complex_than_every_later_one_is_flagged(tmp_path):
    course = tmp_path / "course"
    shutil.copytree(COURSE, course, ignore=shutil.ignore_patterns("tinytorch", "__pycache__"))
    source = course / "modules/03_activations/activations.py"
    branches = "".join(f"    if x == {i}:\n        return {i}\n" for i in range(400))
    source.write_text(source.read_text() + f"\n# %%\n#| export\ndef _bloated(x):\n{branches}    return -1\n")
    flagged = [r.module for r in module_metrics(plan_export(load_course(course))) if r.flagged]
    assert flagged == ["03_activations"]


def test_html_shows_matrix_grid_stage_times_and_module_complexity(result):
    r = result()
    r.pythons[1].stage("cnn").status = "failed"
    r.code_metrics = [dataclasses.asdict(m) for m in module_metrics(plan_export(load_course(COURSE)))]
    r.code_metrics[1]["flagged"] = True
    page = render_html(r, decide(r))
    grid = page[page.index("id='matrix-grid'"):page.index("</figure>", page.index("id='matrix-grid'"))]
    statuses = re.findall(r"class='cell' data-status='([^']+)'", grid)
    assert len(statuses) == 2 * 5 and statuses.count("failed") == 1
    times = page[page.index("id='stage-times'"):]
    assert len(re.findall(r"<rect class='bar'", times.split("</figure>")[0])) == len(r.stages) + 5
    chart = page[page.index("id='module-complexity'"):].split("</figure>")[0]
    assert chart.count("class='complexity'") == 17 and chart.count("class='lines'") == 17
    assert chart.count("much more complex than every later module") == 1
    assert "! 02_autograd" in chart
