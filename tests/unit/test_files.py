"""Safe reads of course files: regular files inside the course only, size-capped, never blocking."""
from __future__ import annotations

import os
import socket
import threading

import pytest

from verifier.course.files import UnsafeFileError, file_problem, read_course_bytes, read_course_text


@pytest.fixture
def course(tmp_path):
    root = tmp_path / "course"
    root.mkdir()
    (root / "ok.txt").write_text("hello\n")
    return root


def test_a_regular_file_is_read(course):
    assert read_course_text(course / "ok.txt", course, 100) == "hello\n"


def test_a_bom_is_dropped(course):
    (course / "bom.txt").write_bytes(b"\xef\xbb\xbf# %%\n")
    assert read_course_text(course / "bom.txt", course, 100) == "# %%\n"


def test_a_fifo_is_refused_without_blocking(course):
    os.mkfifo(course / "pipe")
    done = []
    reader = threading.Thread(target=lambda: done.append(file_problem(course / "pipe", course)), daemon=True)
    reader.start()
    reader.join(5)
    assert done and "FIFO" in done[0]


@pytest.mark.parametrize("target, expected", [("/dev/zero", "outside the course"),
                                               ("/etc/hostname", "outside the course")])
def test_a_link_out_of_the_course_is_refused(course, target, expected):
    (course / "link").symlink_to(target)
    with pytest.raises(UnsafeFileError, match=expected):
        read_course_bytes(course / "link", course, 100)


def test_a_device_inside_the_tree_is_refused(course, tmp_path):
    """A device reached through a course that itself lives under /dev is still not a regular file."""
    assert "character device" in file_problem("/dev/null", "/dev")


def test_a_symlink_loop_is_refused(course):
    (course / "loop").symlink_to(course / "loop")
    assert "symlink loop" in file_problem(course / "loop", course)


def test_dotdot_escape_is_refused(course, tmp_path):
    (tmp_path / "secret").write_text("x")
    assert "outside the course" in file_problem(course / ".." / "secret", course)


def test_a_socket_and_a_directory_are_refused(course):
    (course / "dir").mkdir()
    assert "directory" in file_problem(course / "dir", course)
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(course / "sock"))
        assert "socket" in file_problem(course / "sock", course)
    finally:
        server.close()


def test_the_size_cap(course):
    (course / "big").write_bytes(b"x" * 2000)
    with pytest.raises(UnsafeFileError, match="over the 1000 bytes limit"):
        read_course_bytes(course / "big", course, 1000)


def test_missing_file(course):
    assert file_problem(course / "nope", course) == "file not found"


def test_not_utf8_names_the_line(course):
    (course / "bad").write_bytes(b"a\nb\n\xff\n")
    with pytest.raises(Exception) as caught:
        read_course_text(course / "bad", course, 100)
    assert caught.value.line == 3 and "0xff" in str(caught.value)
