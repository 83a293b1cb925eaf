"""Locks are data (course/lockfile.py): every option that changes where packages come from is refused
with file:line; pins, hashes, markers, comments and continuations are read; a package pinned twice
names both lines; installers get only files the verifier wrote and no index of the verifier's own;
a hash mismatch from pip or uv is mapped back to the package, both hashes and the lock's line."""
from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest
from helpers import CORPUS as HELPERS_CORPUS
from helpers import NO_CORPUS, REPO, write_course

from verifier.course.discovery import load_course
from verifier.course.lockfile import LockFileError, logical_lines, parse_lock, read_lock
from verifier.errors import EnvironmentSetupError, VerifierError
from verifier.package.locks import check_install_sources, constraints_for
from verifier.runner import envs

LOCK = Path("course/locks/py3.12.txt")
GOOD = "0" * 63 + "1"
CORPUS = HELPERS_CORPUS if list(HELPERS_CORPUS.glob("tinytorch-*.tar.gz")) else None


def refusal(text: str) -> LockFileError:
    with pytest.raises(LockFileError) as caught:
        parse_lock(text, LOCK)
    assert isinstance(caught.value, VerifierError) and caught.value.exit_code == 2
    return caught.value


@pytest.mark.parametrize("line, says", [
    ("--index-url http://127.0.0.1:9/simple", "sets the package index"),
    ("--index-url=http://127.0.0.1:9/simple", "sets the package index"),
    ("-i http://127.0.0.1:9/simple", "sets the package index"),
    ("-ihttp://127.0.0.1:9/simple", "sets the package index"),
    ("--extra-index-url http://127.0.0.1:9/simple", "adds a package index"),
    ("--no-index", "replaces your package indexes"),
    ("-f http://127.0.0.1:9/wheels/", "adds a find-links location"),
    ("--find-links=/tmp/wheels", "adds a find-links location"),
    ("--trusted-host 127.0.0.1", "turns off TLS checks"),
    ("-e git+https://127.0.0.1/x.git#egg=x", "editable"),
    ("--editable ./x", "editable"),
    ("-r other.txt", "reads another requirements file"),
    ("--requirement=other.txt", "reads another requirements file"),
    ("-c other.txt", "reads another constraints file"),
    ("--constraint other.txt", "reads another constraints file"),
    ("numpy @ http://127.0.0.1:9/numpy-2.0.2-py3-none-any.whl", "URL requirement"),
    ("git+https://127.0.0.1/numpy.git", "URL or path requirement"),
    ("https://127.0.0.1/numpy-2.0.2-py3-none-any.whl", "URL or path requirement"),
    ("./wheels/numpy-2.0.2-py3-none-any.whl", "URL or path requirement"),
    ("/abs/numpy-2.0.2.tar.gz", "URL or path requirement"),
    ("numpy==${NUMPY_VERSION}", "environment variables"),
    ("numpy==2.0.2 --global-option=--x", "option --global-option is not allowed"),
    ("numpy==2.0.2 --config-settings x=y", "option --config-settings is not allowed"),
    ("--use-feature=truststore", "option --use-feature is not allowed"),
    ("--prefer-binary", "option --prefer-binary is not allowed"),
    ("--no-binary :all:", "option --no-binary is not allowed"),
    ("numpy>=2", "does not pin one exact version"),
    ("numpy==2.*", "does not pin one exact version"),
    ("numpy==2.0.2 --hash=sha256:abc", "is not a hash"),
    ("numpy==2.0.2 --hash=md5:" + "0" * 32, "is not a hash"),
])
def test_every_source_changing_or_unknown_line_is_refused_with_file_and_line(line, says):
    error = refusal("# header\nsix==1.16.0\n" + line + "\n")
    assert error.path == LOCK and error.line == 3, str(error)
    assert says in str(error) and str(error).startswith(f"{LOCK}:3: ")
    assert "\n" not in str(error)


def test_a_refused_option_on_a_continued_line_names_its_first_line():
    error = refusal("six==1.16.0 \\\n  --hash=sha256:" + GOOD + " \\\n  --index-url http://127.0.0.1:9/\n")
    assert error.line == 1 and "sets the package index" in str(error)


def test_credentials_in_a_refused_url_are_not_echoed():
    error = refusal("--extra-index-url https://alice:s3cret@127.0.0.1:9/simple\n")
    assert "s3cret" not in str(error) and "***@127.0.0.1" in str(error)


def test_pins_hashes_markers_extras_comments_and_continuations_are_read():
    text = ("# Lock of the tinytorch dependencies\n"
            "--pre\n"
            "--require-hashes\n"
            "numpy==2.0.2 \\\n"
            f"    --hash=sha256:{GOOD} \\\n"
            f"    --hash sha256:{GOOD.upper()}\n"
            "    # via tinytorch\n"
            'typing-extensions==4.12.2 ; python_version < "3.11"  # why: old Pythons\n'
            "Rich[jupyter] == 13.7.1\n"
            "\n")
    lock = parse_lock(text, LOCK)
    numpy, typing, rich = lock.pins
    assert (numpy.name, numpy.version, numpy.line, numpy.hashes) == ("numpy", "2.0.2", 4, (f"sha256:{GOOD}",) * 2)
    assert (typing.name, typing.marker, typing.line) == ("typing-extensions", 'python_version < "3.11"', 8)
    assert (rich.name, rich.version, rich.extras, rich.line) == ("rich", "13.7.1", ("jupyter",), 9)
    assert lock.has_hashes and lock.where(rich) == f"{LOCK}:9"
    written = lock.render().splitlines()
    assert written[0].startswith("# written by tinytorch-verifier")
    assert written[1:] == [f"numpy==2.0.2 --hash=sha256:{GOOD} --hash=sha256:{GOOD}",
                           'typing-extensions==4.12.2 ; python_version < "3.11"', "rich[jupyter]==13.7.1"]
    assert lock.render(with_hashes=False).splitlines()[1] == "numpy==2.0.2"


def test_a_backslash_joins_lines_as_pip_does_and_a_url_fragment_is_not_a_comment():
    assert list(logical_lines("num\\\npy==1.0\n# c\nx==1 # note\n")) == [(1, "numpy==1.0"), (4, "x==1")]
    assert refusal("pkg @ https://127.0.0.1/x.zip#sha256=abc\n").line == 1


def test_a_package_pinned_twice_names_the_lock_and_both_lines():
    error = refusal("# h\nnumpy==2.0.2\nsix==1.16.0\nNumPy==1.26.4\n")
    assert error.path == LOCK and error.line == 4
    assert "numpy is pinned twice: line 2 (numpy==2.0.2) and line 4 (numpy==1.26.4)" in str(error)


def test_one_package_pinned_per_platform_by_distinct_markers_is_not_a_duplicate():
    lock = parse_lock('numpy==1.26.4 ; python_version < "3.10"\nnumpy==2.0.2 ; python_version >= "3.10"\n', LOCK)
    assert [pin.version for pin in lock.pins] == ["1.26.4", "2.0.2"]
    assert refusal('numpy==1.26.4 ; python_version < "3.10"\nnumpy==2.0.2\n').line == 2


@pytest.mark.parametrize("lock", sorted((REPO / "course" / "locks").glob("py3.*.txt")), ids=lambda p: p.name)
def test_the_committed_locks_parse_without_refusal(lock):
    parsed = read_lock(lock, REPO / "course")
    assert [pin.name for pin in parsed.pins] == ["numpy"]


@pytest.mark.skipif(CORPUS is None, reason=NO_CORPUS)
def test_the_corpus_requirement_files_parse_without_refusal():
    checked = 0
    for snapshot in sorted(CORPUS.glob("tinytorch-*.tar.gz")):  # type: ignore[union-attr]
        with tarfile.open(snapshot) as archive:
            for member in archive.getmembers():
                name = Path(member.name)
                if member.isfile() and (name.parent.name == "locks" or name.name.startswith(("requirements",
                                                                                             "constraints"))):
                    text = archive.extractfile(member).read().decode("utf-8")  # type: ignore[union-attr]
                    exact = name.parent.name == "locks"  # a requirements.txt holds ranges, a lock pins
                    assert parse_lock(text, name, exact=exact).pins, member.name
                    checked += 1
    assert checked >= 3  # one requirements.txt per snapshot today


def test_constraints_for_parses_the_lock_and_refuses_a_hostile_one(tmp_path):
    course_root = write_course(tmp_path / "c", {"01_alpha/alpha.py": "# %%\nx = 1\n"})
    (course_root / "locks").mkdir()
    lock_file = course_root / "locks" / "py3.12.txt"
    lock_file.write_text("numpy==2.0.2\n")
    course = load_course(course_root)
    state = constraints_for(course, "3.12", latest=False)
    assert state is not None and state.pins is not None and state.pins.pins[0].version == "2.0.2"
    lock_file.write_text("# h\n--extra-index-url http://127.0.0.1:9/simple\nnumpy==2.0.2\n")
    with pytest.raises(LockFileError) as caught:
        check_install_sources(course, ["3.9", "3.12"], latest=False)
    assert caught.value.path == lock_file and caught.value.line == 2
    check_install_sources(course, ["3.12"], latest=True)  # --latest reads no lock


def test_a_dependency_that_names_a_url_is_refused_with_its_pyproject_line(tmp_path):
    pyproject = ('[project]\nname = "tinytorch"\nversion = "0.1"\nrequires-python = ">=3.9"\n'
                 'dependencies = [\n  "numpy @ http://127.0.0.1:9/numpy-2.0.2-py3-none-any.whl",\n]\n')
    course = load_course(write_course(tmp_path / "c", {"01_alpha/alpha.py": "# %%\nx = 1\n"}, pyproject=pyproject))
    with pytest.raises(LockFileError) as caught:
        check_install_sources(course, ["3.12"], latest=True)
    assert caught.value.line == 6 and "names where to download numpy from" in str(caught.value)


# ---------------------------------------------------------------------------------------- installs

def recorded_install(monkeypatch, tmp_path, installer, requirements, lock=None):
    seen = {}
    monkeypatch.setattr(envs, "find_uv", lambda: Path("/x/uv") if installer == "uv" else None)
    monkeypatch.setattr(envs, "run", lambda cmd, **kw: seen.update(cmd=[str(c) for c in cmd], **kw))
    envs.Venv(tmp_path / "venv").install(requirements, constraints=lock, installer=installer)
    return seen


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_installs_add_no_index_of_their_own_and_pass_only_files_the_verifier_wrote(monkeypatch, tmp_path,
                                                                                   installer):
    for name in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "UV_INDEX_URL", "UV_EXTRA_INDEX_URL",
                 "UV_FIND_LINKS", "UV_DEFAULT_INDEX", "UV_INDEX", "PIP_TRUSTED_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)  # nor does this machine's pip.conf (carried to uv: test_pipconf)
    wheel = tmp_path / "tinytorch-0.1-py3-none-any.whl"
    wheel.write_bytes(b"wheel")
    lock = parse_lock("numpy==2.0.2\n", tmp_path / "locks" / "py3.12.txt")
    seen = recorded_install(monkeypatch, tmp_path, installer, [str(wheel)], lock)
    command, env = seen["cmd"], seen.get("env") or {}
    for option in ("--index-url", "--extra-index-url", "-i", "--find-links", "-f", "--trusted-host", "--index",
                   "--default-index", "--no-index"):
        assert option not in command, command
    assert not any(key in env for key in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "UV_INDEX_URL", "UV_DEFAULT_INDEX",
                                          "UV_EXTRA_INDEX_URL", "UV_FIND_LINKS", "PIP_FIND_LINKS"))
    constraint = Path(command[command.index("--constraint") + 1])
    assert constraint.parent == tmp_path / "venv" and "numpy==2.0.2" in constraint.read_text()
    if installer == "uv":
        assert seen["cwd"] == tmp_path / "venv"  # not the caller's folder: a course's [tool.uv] is never read


def test_the_users_pip_sources_are_the_only_ones_uv_is_given(monkeypatch):
    monkeypatch.setenv("PIP_INDEX_URL", "https://mirror.example/simple")
    monkeypatch.delenv("UV_INDEX_URL", raising=False)
    assert envs.uv_env()["UV_INDEX_URL"] == "https://mirror.example/simple"


def test_pip_with_a_hashed_lock_gets_the_wheel_with_the_hash_the_verifier_computed(monkeypatch, tmp_path):
    wheel = tmp_path / "tinytorch-0.1-py3-none-any.whl"
    wheel.write_bytes(b"wheel")
    lock = parse_lock(f"numpy==2.0.2 --hash=sha256:{GOOD}\n", tmp_path / "py3.12.txt")
    command = recorded_install(monkeypatch, tmp_path, "pip", [str(wheel)], lock)["cmd"]
    requirements = Path(command[command.index("--requirement") + 1]).read_text().splitlines()
    import hashlib
    assert requirements[1] == f"{wheel.resolve().as_uri()} --hash=sha256:{hashlib.sha256(b'wheel').hexdigest()}"
    assert f"--hash=sha256:{GOOD}" in Path(command[command.index("--constraint") + 1]).read_text()
    editable = tmp_path / "copy"
    editable.mkdir()
    command = recorded_install(monkeypatch, tmp_path, "pip", ["-e", str(editable)], lock)["cmd"]
    assert "--hash" not in Path(command[command.index("--constraint") + 1]).read_text()  # pip: no hashes with -e


@pytest.mark.parametrize("bad", ["--index-url=http://127.0.0.1:9/simple", "numpy @ http://127.0.0.1:9/n.whl",
                                 "git+https://127.0.0.1/n.git", "-f", "./not-here.whl"])
def test_an_install_argument_that_could_name_a_source_is_refused(monkeypatch, tmp_path, bad):
    with pytest.raises(EnvironmentSetupError):
        recorded_install(monkeypatch, tmp_path, "uv", ["numpy>=1.22", bad])


def test_an_editable_install_must_name_a_local_directory(monkeypatch, tmp_path):
    with pytest.raises(EnvironmentSetupError):
        recorded_install(monkeypatch, tmp_path, "pip", ["-e", "git+https://127.0.0.1/x.git"])


def test_uv_reads_only_the_users_configuration_never_a_project_file(monkeypatch, tmp_path):
    for name in ("UV_CONFIG_FILE", "UV_NO_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(tmp_path / "system"))
    if Path("/etc/uv/uv.toml").is_file():
        pytest.skip("this machine has a system uv.toml")
    assert envs.uv_env()["UV_NO_CONFIG"] == "1" and "UV_CONFIG_FILE" not in envs.uv_env()
    own = tmp_path / "config" / "uv" / "uv.toml"
    own.parent.mkdir(parents=True)
    own.write_text('index-url = "https://mirror.example/simple"\n')
    assert envs.uv_env()["UV_CONFIG_FILE"] == str(own) and "UV_NO_CONFIG" not in envs.uv_env()
    assert envs.clean_env()["UV_CONFIG_FILE"] == str(own)  # also what `build --installer uv` runs with
    monkeypatch.setenv("UV_CONFIG_FILE", str(tmp_path / "chosen.toml"))
    assert envs.uv_env()["UV_CONFIG_FILE"] == str(tmp_path / "chosen.toml")  # the user's choice stands


PIP_MISMATCH = """\
Collecting six==1.16.0
  Downloading six-1.16.0-py2.py3-none-any.whl (11 kB)
ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE. If you have updated the package \
versions, please update the hashes. Otherwise, examine the package contents carefully; someone may have \
tampered with them.
    six==1.16.0 from https://files.pythonhosted.org/packages/d9/5a/e7c3/six-1.16.0-py2.py3-none-any.whl#sha256=8abb \
(from -r /tmp/venv/tito-requirements.txt (line 2)):
        Expected sha256 0000000000000000000000000000000000000000000000000000000000000000
             Got        8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254
"""
UV_MISMATCH = """\
Using Python 3.12.1 environment at: v
Resolved 1 package in 306ms
error: Failed to download `six==1.16.0`
  cause: Hash mismatch for `six==1.16.0`

         Expected:
           sha256:0000000000000000000000000000000000000000000000000000000000000000

         Computed:
           sha256:8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254
"""


@pytest.mark.parametrize("output", [PIP_MISMATCH, UV_MISMATCH], ids=["pip", "uv"])
def test_a_hash_mismatch_names_the_package_the_hashes_and_the_lock_line(output):
    lock = parse_lock("# h\nnumpy==2.0.2\nsix==1.16.0 \\\n  --hash=sha256:" + "0" * 64 + "\n", LOCK)
    line = envs.install_failure(output, "3.12", LOCK.name, lock)
    assert line.startswith("six==1.16.0: the downloaded file has sha256:8abb2f1d")
    assert f"{LOCK}:3 expects sha256:{'0' * 64}" in line
