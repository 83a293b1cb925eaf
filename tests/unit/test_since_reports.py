"""The reports of `--baseline` and `--canary`: status.md and report.html get a "Since <ref>" section (API,
behaviour per scenario and model, speed per operation, in the HTML as a log-scale ratio chart) and the
canary's findings at the student's file:line; the bundle's RELEASE_NOTES.md is written from the changes.
A result without either renders as before, and a blocking slowdown still reaches the first screen."""
from __future__ import annotations

import re

from since_results import blocked_result as _blocked
from since_results import since_comparison as _since

from verifier.pipeline.gate import decide
from verifier.pipeline.triage import triage
from verifier.render.bundle import _release_notes
from verifier.render.formats import first_screen, render_html, render_markdown
from verifier.results import CanaryReport


def test_markdown_has_the_since_section_and_the_canary_findings(result):
    r = _blocked(result)
    text = render_markdown(r, decide(r))
    since = text[text.index("## Since v0.1.0"):text.index("## Export validation")]
    assert "- removed: `tinytorch.core.spatial.MaxPool2d` — BLOCKING (not in the release notes)" in since
    assert "- changed: tinytorch.core.tensor.Tensor.reshape: parameter `order` removed — acknowledged" in since
    assert "- added: `tinytorch.core.spatial.AvgPool2d`" in since
    assert "cnn: held-out accuracy 99.6% → 97.1%" in since and "advisory" in since
    assert "| Conv2d forward | 10_spatial | 2 | 380 | 190× | 187–196× | 3 | **slower — blocks** |" in since
    assert "| matmul | 01_tensor | 4 | 1 | 0.25× | 0.24–0.27× | 3 | faster |" in since
    assert "| Linear forward | 03_layers | 1 | 1.1 | 1.1× | 0.9–1.3× | 3 | within the noise |" in since
    canary = since[since.index("## Canary"):]
    assert "| `modules/01_tensor/tensor.py:88` | DeprecationWarning | `np.product` is deprecated, use `np.prod` | " \
           "scenario cnn, import tinytorch |" in canary
    assert "blocks the release" in canary and "numpy 2.3.0rc1".lower() in canary.lower()
    # after the first screen and the blockers, never before
    assert text.index("```text") < text.index("## Blocking") < text.index("## Since v0.1.0")


def test_a_blocking_slowdown_api_removal_and_canary_reach_the_first_screen(result):
    r = _blocked(result)
    decision = decide(r)
    assert not decision.ready
    screen = "\n".join(first_screen(r, decision, triage(r, decision)))
    assert "slower than the baseline" in screen and "Conv2d forward 190×" in screen
    assert "breaking API change since the baseline" in screen and "MaxPool2d" in screen
    assert "canary" in screen


def test_html_has_the_ratio_chart_with_one_bar_per_operation_and_the_threshold(result):
    r = _blocked(result)
    page = render_html(r, decide(r))
    assert page.index("id='first-screen'") < page.index("id='since'") < page.index("<h2>Matrix</h2>")
    chart = page[page.index("id='speed-ratios'"):].split("</figure>")[0]
    bars = re.findall(r"<rect class='ratio' data-verdict='(\w+)' x='([\d.]+)' y='[\d.]+' width='([\d.]+)'[^>]*"
                      r"fill='([^']+)'", chart)
    assert [(b[0], b[3]) for b in bars] == [("slower", "#d64545"), ("faster", "#3fa34d"), ("same", "#c8c8c8")]
    one = float(re.search(r"class='one' x1='([\d.]+)'", chart).group(1))
    threshold = float(re.search(r"class='threshold' x1='([\d.]+)'", chart).group(1))
    assert threshold > one and "blocks above 1.5×" in chart
    slow, fast, same = ((float(x), float(w)) for _, x, w, _ in bars)
    assert slow[0] == one and abs(fast[0] + fast[1] - one) < 0.2      # bars start at 1×: slower right, faster left
    # log scale: 190× is log(190)/log(4) ≈ 3.8 times as long as the 4× speed-up
    assert abs(slow[1] / fast[1] - 3.785) < 0.05
    assert same[1] < threshold - one
    assert "<code>modules/01_tensor/tensor.py:88</code>" in page and "scenario cnn, import tinytorch" in page
    assert "removed: <code>tinytorch.core.spatial.MaxPool2d</code>" in page
    assert "cnn: held-out accuracy 99.6% → 97.1%" in page


def test_release_notes_from_the_baseline_have_the_four_sections(result, tmp_path):
    r = _blocked(result)
    r.course = str(tmp_path)        # no course RELEASE_NOTES.md here
    notes = _release_notes(r)
    headings = [line for line in notes.splitlines() if line.startswith("## ")]
    assert headings == ["## Breaking changes", "## Additions", "## Behaviour changes", "## Performance"]
    sections = dict(zip(headings, re.split(r"^## .*$", notes, flags=re.M)[1:]))
    assert "`tinytorch.core.spatial.MaxPool2d` removed (not yet acknowledged" in sections["## Breaking changes"]
    assert "parameter `order` removed" in sections["## Breaking changes"]
    assert "`tinytorch.core.spatial.AvgPool2d`" in sections["## Additions"]
    assert "cnn: held-out accuracy 99.6% → 97.1%" in sections["## Behaviour changes"]
    performance = sections["## Performance"]
    assert performance.index("Conv2d forward 190× slower than v0.1.0") < performance.index("matmul 4.0× faster")
    assert "unchanged within the noise (1.5×): Linear forward" in performance


def test_release_notes_without_baseline_are_as_before(result, tmp_path):
    r = result()
    r.course = str(tmp_path)
    assert _release_notes(r) == ("# Release notes — tinytorch 0.1.0\n\n## API changes found by verify\n\n"
                                 "None against the committed API snapshot.\n")


def _strip(text: str, start: str, end: str) -> str:
    return text[:text.index(start)] + text[text.index(end):]


def test_the_sections_are_purely_additive(result):
    """A passing baseline and a clean advisory canary change nothing but their own sections; without them the
    report is the one this code rendered before they existed (checked once against the previous code)."""
    clean = result()
    since = _since()
    since.api_blocking = []
    since.speed = [row for row in since.speed if row.verdict != "slower"]
    extra = result(baseline=since, canary=CanaryReport(python="3.13", full_version="3.13.1", numpy_version="2.3.0"))
    assert decide(extra).ready
    md_clean, md_extra = render_markdown(clean, decide(clean)), render_markdown(extra, decide(extra))
    assert "## Since" not in md_clean and "## Canary" not in md_clean
    assert _strip(md_extra, "\n## Since v0.1.0", "\n## Export validation") == md_clean
    html_clean, html_extra = render_html(clean, decide(clean)), render_html(extra, decide(extra))
    assert "id='since'" not in html_clean and "id='canary'" not in html_clean
    assert _strip(html_extra, "<section id='since'>", "<h2>Matrix</h2>") == html_clean
    assert "No deprecation from the package." in html_extra
