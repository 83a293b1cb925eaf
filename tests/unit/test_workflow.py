"""The release-candidate workflow's Python list is the course's classifiers (one source of truth)."""
from pathlib import Path

import yaml

from verifier.course.discovery import load_course
from verifier.course.matrix import python_matrix

REPO = Path(__file__).resolve().parents[2]


def test_workflow_pythons_equal_course_classifiers():
    workflow = yaml.safe_load((REPO / ".github/workflows/release-candidate.yml").read_text())
    matrix = workflow["jobs"]["verify"]["strategy"]["matrix"]
    assert matrix["python"] == python_matrix(load_course(REPO / "course"))
    assert set(matrix["os"]) == {"ubuntu-latest", "macos-latest", "windows-latest"}
