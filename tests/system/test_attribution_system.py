"""A broken Conv2d backward in a copy of the course: the CNN scenario fails in the fresh venv and
the report names 10_spatial and the student's source line — not the installed file."""
from __future__ import annotations

import sys

import pytest
from faults import copy_course, source

from verifier.pipeline.verify import VerifyOptions, verify
from verifier.render.terminal import failures

pytestmark = pytest.mark.system
BROKEN = "                    grad_w[:, :, i, j] = g @ window.reshape(c, ho * wo * n)  # broken: not transposed"


def test_broken_conv_backward_is_traced_to_its_source_line(tmp_path):
    course = copy_course(tmp_path / "course")
    path = source(course, "10_spatial")
    lines = path.read_text().splitlines()
    (index,) = [i for i, line in enumerate(lines) if line.strip().startswith("grad_w[:, :, i, j] = g @ window")]
    lines[index] = BROKEN
    path.write_text("\n".join(lines) + "\n")

    result = verify(VerifyOptions(course=course, pythons=[f"{sys.version_info[0]}.{sys.version_info[1]}"],
                                  scenarios=["cnn"], run_tests=False))
    (python,) = result.pythons
    cnn = python.stage("cnn")
    assert cnn.status == "failed" and "ValueError" in cnn.detail
    blame = cnn.attribution
    assert blame is not None and blame.module == "10_spatial"
    assert blame.path == "modules/10_spatial/spatial.py" and blame.line == index + 1
    assert blame.function.endswith("backward")
    assert f"breaking module: 10_spatial (modules/10_spatial/spatial.py:{index + 1}, in " in "\n".join(failures(result))
