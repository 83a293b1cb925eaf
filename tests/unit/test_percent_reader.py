"""The light percent-format reader (verifier/course/percent_reader.py) against jupytext's own reader:
on every source of the embedded course and of the corpus snapshots, and on generated files, it gives
jupytext's cells (type, source, start line, header text) or declines (None) — never another answer.
"""
from __future__ import annotations

import re
import tarfile

import pytest
from helpers import CORPUS, CORPUS_SNAPSHOTS, EMBEDDED_COURSE, NO_CORPUS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from verifier.course.percent_reader import read_percent
from verifier.course.sources import _jupytext_split

pytest.importorskip("jupytext", reason="jupytext is what the reader is compared with")


def jupytext_cells(text):
    return [(cell.cell_type, cell.source, start, header) for cell, start, header in _jupytext_split(text)]


def test_every_embedded_course_source_is_read_as_jupytext_does_without_jupytext():
    sources = sorted(EMBEDDED_COURSE.glob("modules/*/*.py"))
    assert sources
    for path in sources:
        text = path.read_text(encoding="utf-8")
        light = read_percent(text)
        # the course's sources are all plain: a None here would put jupytext's import back in every edit
        assert light is not None, f"{path}: the light reader declined"
        assert light == jupytext_cells(text), path


def without_yaml_header(text):
    """The text after a leading `# ---` ... `# ---` jupytext header (which the light reader declines)."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "# ---" or "# ---" not in (line.strip() for line in lines[1:]):
        return None
    end = next(i for i in range(1, len(lines)) if lines[i].strip() == "# ---")
    return "\n".join(lines[end + 1:]) + "\n"


def with_plain_markers(text):
    """The text with its cell options dropped (`# %% nbgrader={...}` -> `# %%`), which the light reader
    declines: the lesson bodies between the markers stay as upstream wrote them."""
    return re.sub(r"^# %%( \[markdown\])? .*$", lambda m: "# %%" + (m.group(1) or ""), text, flags=re.MULTILINE)


@pytest.mark.skipif(not CORPUS_SNAPSHOTS, reason=NO_CORPUS)
def test_every_corpus_source_is_read_as_jupytext_does_or_declined():
    """Every .py file with a `%%` of every snapshot; the upstream sources carry a YAML header and nbgrader
    cell options (declined: jupytext reads them), so each is compared again without them — real lesson
    text the light reader must then read exactly as jupytext does."""
    read, declined = 0, 0
    for snapshot in CORPUS_SNAPSHOTS:
        with tarfile.open(CORPUS / f"tinytorch-{snapshot}.tar.gz") as tar:
            for member in tar.getmembers():
                if not member.isfile() or not member.name.endswith(".py"):
                    continue
                handle = tar.extractfile(member)
                assert handle is not None
                text = handle.read().decode("utf-8", "replace")
                if "%%" not in text:
                    continue
                headerless = without_yaml_header(text)
                plain = with_plain_markers(headerless) if headerless is not None else None
                for variant in (text, headerless, plain):
                    if variant is None:
                        continue
                    light = read_percent(variant)
                    if light is None:
                        declined += 1
                        continue
                    read += 1
                    assert light == jupytext_cells(variant), f"{snapshot}: {member.name}"
    assert read > 0, f"the light reader declined every corpus source ({declined})"


# Lines a percent-format file is made of, the plain ones and every construct the reader must decline
# or follow exactly: markers and near-markers, strings that hide a marker, magics, fences, headers.
LINES = st.sampled_from([
    "# %%", "# %% [markdown]", "#%%", "# %% [md]", "# %%  ", "# %% [markdown] x", "# %% tags=[]", "  # %%",
    "# %% [raw]", "# In[1]:", "# <codecell>",
    "", "", "", " ", "\t",
    "x = 1", "def f():", "    return 2", "    pass", "# a comment", "#a comment", "## heading comment",
    '"""', "'''", 's = """doc', 'end"""', "t = '# %%'", "u = \"it's\"", "v = 'a' # 'b", "w = \"\\\"\"",
    'r"""raw', "x = '''", "\"\"\"one\"\"\"",
    "# Some *markdown* text", "# ```python", "# ```", "# ````", "# ~~~", "# ``` x `y`", "```", "# - item",
    "# %matplotlib inline", "%time x", "# !pip install x", "!ls", "# ls -la", "ls", "# cd here", "x?",
    "a = %time f()", "# # %%", "# +", "# # +", "# ---", "---", "# title: x", "#", "#!/usr/bin/env python",
    "# -*- coding: utf-8 -*-", "#|export", "#| default_exp core.x", "don't", "\"unterminated",
])


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(LINES, max_size=30), st.booleans())
def test_generated_files_are_read_as_jupytext_does_or_declined(lines, trailing_newline):
    text = "\n".join(lines) + ("\n" if trailing_newline else "")
    light = read_percent(text)
    if light is not None:
        assert light == jupytext_cells(text)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(["# %%", "# %% [markdown]", "", "x = 1", "# text", "# ```", "    y = 2",
                                 "s = \"\"\"", "t = '''", "  "]), min_size=1, max_size=25))
def test_plain_generated_files_are_read_without_jupytext(lines):
    """On files of the plain constructs alone the reader answers (and the answer is jupytext's): the
    comparison above is not vacuous."""
    text = "\n".join(lines) + "\n"
    light = read_percent(text)
    assert light is not None
    assert light == jupytext_cells(text)
