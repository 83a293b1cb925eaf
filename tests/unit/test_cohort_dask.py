"""`tinytorch-verifier cohort verify --scheduler` without a cluster: a student's tree packed on the instructor's machine
and unpacked on a worker is the same tree (same tree hash; VCS folders left out as in local mode), a
link or name leaving the tree is never written, a tree over the size cap is one row with one line, and
the worker's function gives a tree that is not a course the local mode's row, naming the student's
folder rather than the worker's copy."""
from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

from helpers import MINI_MODULE, MINI_PYPROJECT, write_course

from verifier.pipeline import cohort, cohort_dask


def _course(root: Path) -> Path:
    return write_course(root, {"01_alpha/alpha.py": MINI_MODULE}, pyproject=MINI_PYPROJECT)


def test_a_packed_tree_unpacks_to_the_same_tree(tmp_path):
    tree = _course(tmp_path / "alice")
    (tree / ".git").mkdir()
    (tree / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    os.symlink("modules/01_alpha/alpha.py", tree / "alpha_link.py")
    os.symlink("/etc/passwd", tree / "outside_link")
    unpacked = tmp_path / "worker" / "alice"
    cohort_dask.unpack_tree(cohort_dask.pack_tree(tree), unpacked)
    assert os.readlink(unpacked / "alpha_link.py") == "modules/01_alpha/alpha.py"   # a link stays a link
    assert not (unpacked / ".git").exists()
    assert not os.path.lexists(unpacked / "outside_link")   # a link leaving the tree is dropped
    os.unlink(tree / "outside_link")
    assert cohort.tree_hash(unpacked, "salt") == cohort.tree_hash(tree, "salt")


def test_names_leaving_the_tree_are_never_written(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name in ("../escaped.txt", "/tmp/absolute-escape.txt", "kept.txt"):
            info = tarfile.TarInfo(name)
            info.size = 2
            tar.addfile(info, io.BytesIO(b"x\n"))
    cohort_dask.unpack_tree(buffer.getvalue(), tmp_path / "worker" / "bob")
    assert (tmp_path / "worker" / "bob" / "kept.txt").read_text() == "x\n"
    assert not (tmp_path / "worker" / "escaped.txt").exists()
    assert sorted(p.name for p in (tmp_path / "worker" / "bob").iterdir()) == ["kept.txt"]


def test_a_tree_over_the_cap_is_one_row(tmp_path, monkeypatch):
    tree = _course(tmp_path / "carol")
    (tree / "data.bin").write_bytes(os.urandom(2 * 1024 * 1024))   # random: gzip cannot shrink it
    monkeypatch.setattr(cohort_dask, "MAX_ARCHIVE_MB", 1)
    options = cohort.CohortOptions(tmp_path, tmp_path / "reports", scheduler="tcp://127.0.0.1:1")
    plan = cohort._Plan(options, tmp_path / "work", {}, True, 1, cohort_dask.threading.Event())
    job, row = cohort_dask._job(cohort.Submission("carol", str(tree)), plan, tmp_path / "work" / "carol")
    assert job is None and row is not None and row.verdict == cohort.ERROR
    assert row.note == f"{tree}: the tree is over 1 MB packed, more than a cluster task carries — remove data " \
                       "files from the tree"
    monkeypatch.setattr(cohort_dask, "MAX_ARCHIVE_MB", 50)
    job, row = cohort_dask._job(cohort.Submission("carol", str(tree)), plan, tmp_path / "work" / "carol2")
    assert row is None and job is not None and len(job.archive) > 2 * 1024 * 1024


def test_the_worker_gives_a_non_course_the_local_row(tmp_path):
    folder = tmp_path / "submissions" / "dave"
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("I did not start\n")
    job = cohort_dask.StudentJob("dave", str(folder), cohort_dask.pack_tree(folder), ["3.12"], ["imports"], False,
                                 60.0, False)
    outcome = cohort_dask.verify_on_worker(job)
    assert outcome.row.verdict == cohort.NOT_A_COURSE and outcome.files == {}
    assert outcome.row.note.startswith(f"{folder}: no course here")
    assert outcome.sandbox_warning.endswith("sandbox turned off")
