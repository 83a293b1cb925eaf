"""Fresh venvs made by `uv venv` when the installer is uv (runner/envs.py make_uv_venv): the command
names the interpreter by its absolute path and turns Python downloads and project discovery off, runs
from the venv's parent with uv_env's settings (the user's package sources, never a course's uv
config), refuses an existing folder, says a failure in one line, and the venv holds pip — nothing the
course did not declare (no wheel / packaging below 3.12, which `uv venv --seed` would add there)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from verifier.errors import EnvironmentSetupError
from verifier.pipeline import stages
from verifier.results import FAILED, PASSED
from verifier.runner import envs
from verifier.runner.envs import (
    UV_VENV,
    UV_VENV_SEEDED_BY_HAND,
    VIRTUALENV,
    Venv,
    create_venv,
    find_uv,
    uv_error_line,
    uv_venv_commands,
)
from verifier.runner.interpreters import find_interpreter
from verifier.runner.processes import metered

UV = Path("/opt/uv")
PYTHON = Path("/pythons/3.12/bin/python")

# A stand-in for uv: records its arguments, working folder and environment, makes bin/python in the
# folder `uv venv` was given (a link to this Python), or fails the way uv does when TITO_FAKE_UV_FAIL is set.
FAKE_UV = r"""#!{python}
import json, os, sys
record = os.environ["TITO_FAKE_UV_RECORD"]
with open(record, "a") as out:
    out.write(json.dumps({{"argv": sys.argv[1:], "cwd": os.getcwd(), "env": dict(os.environ)}}) + "\n")
if os.environ.get("TITO_FAKE_UV_FAIL"):
    sys.stderr.write("error: Failed to inspect Python interpreter from provided path at `/x/python`\n"
                     "  cause: Failed to query Python interpreter at `/x/python`\n"
                     "  cause: Exec format error (os error 8)\n")
    sys.exit(2)
if sys.argv[1] == "venv":
    where = sys.argv[-1]
    os.makedirs(os.path.join(where, "bin"))
    os.symlink(sys.executable, os.path.join(where, "bin", "python"))
"""


@pytest.fixture
def fake_uv(tmp_path, monkeypatch):
    """(the fake uv's path, a function returning what it recorded, one dict per call)."""
    uv = tmp_path / "bin" / "uv"
    uv.parent.mkdir()
    uv.write_text(FAKE_UV.format(python=sys.executable), encoding="utf-8")
    uv.chmod(0o755)
    record = tmp_path / "calls.jsonl"
    monkeypatch.setenv("TITO_FAKE_UV_RECORD", str(record))
    monkeypatch.setattr(envs, "find_uv", lambda: uv)

    def calls():
        if not record.is_file():
            return []
        return [json.loads(line) for line in record.read_text(encoding="utf-8").splitlines()]
    return uv, calls


def test_from_312_one_uv_venv_seeds_pip_for_exactly_that_interpreter(tmp_path):
    commands = uv_venv_commands(UV, PYTHON, tmp_path / "venv", "3.12")
    assert commands == [[str(UV), "venv", "--quiet", "--no-project", "--no-python-downloads",
                         "--python", str(PYTHON), "--seed", str(tmp_path / "venv")]]


@pytest.mark.parametrize("version", ["3.9", "3.11", ""])
def test_below_312_or_unknown_pip_and_setuptools_are_installed_without_wheel(tmp_path, version):
    make, seed = uv_venv_commands(UV, PYTHON, tmp_path / "venv", version)
    assert "--seed" not in make and "--no-python-downloads" in make and make[-1] == str(tmp_path / "venv")
    assert seed[:3] == [str(UV), "pip", "install"]
    assert seed[seed.index("--python") + 1] == str(tmp_path / "venv" / "bin" / "python")
    assert seed[-2:] == ["pip", "setuptools; python_version < '3.12'"]
    assert "--only-binary" in seed and not any("wheel" == part or "packaging" in part for part in seed)


def test_a_relative_interpreter_and_folder_are_given_to_uv_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    [make] = uv_venv_commands(UV, Path("py/bin/python"), Path("work/venv"), "3.13")
    assert make[make.index("--python") + 1] == str(tmp_path / "py" / "bin" / "python")
    assert make[-1] == str(tmp_path / "work" / "venv")


def test_uv_runs_from_the_venvs_parent_with_uv_env_and_downloads_off(tmp_path, fake_uv, monkeypatch):
    uv, calls = fake_uv
    monkeypatch.setenv("UV_VENV_SEED", "1")       # the user's uv settings do not choose the seed …
    monkeypatch.setenv("UV_PYTHON", "3.8")        # … nor the interpreter
    monkeypatch.setenv("UV_PYTHON_DOWNLOADS", "automatic")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "wheels"))   # pip's sources reach uv (uv_env)
    monkeypatch.setenv("PYTHONPATH", "/leaks")
    where = tmp_path / "work" / "py3.12" / "venv"
    where.parent.mkdir(parents=True)
    with metered() as meter:
        venv = create_venv(PYTHON, where, installer="uv", version="3.12")
    assert venv == Venv(where, UV_VENV) and venv.made_by == "uv venv --seed"
    [call] = calls()
    assert call["cwd"] == str(where.parent)
    assert call["argv"][call["argv"].index("--python") + 1] == str(PYTHON)
    env = call["env"]
    assert env["UV_PYTHON_DOWNLOADS"] == "never"
    assert "UV_VENV_SEED" not in env and "UV_PYTHON" not in env and "PYTHONPATH" not in env
    assert env.get("UV_NO_CONFIG") == "1" or "UV_CONFIG_FILE" in env   # never a course's [tool.uv]
    expected = envs.uv_env()
    assert env["UV_FIND_LINKS"] == expected["UV_FIND_LINKS"] and str(tmp_path / "wheels") in env["UV_FIND_LINKS"]
    assert meter.processes == 1   # the stage's meter counts uv's CPU


def test_below_312_the_seed_goes_into_the_new_venvs_python(tmp_path, fake_uv):
    uv, calls = fake_uv
    venv = create_venv(PYTHON, tmp_path / "venv", installer="uv", version="3.9")
    make, seed = calls()
    assert make["argv"][0] == "venv" and seed["argv"][:2] == ["pip", "install"]
    assert seed["argv"][seed["argv"].index("--python") + 1] == str(venv.python)
    assert venv.made_by == UV_VENV_SEEDED_BY_HAND


def test_an_existing_folder_is_refused_before_uv_runs(tmp_path, fake_uv):
    uv, calls = fake_uv
    (tmp_path / "venv").mkdir()
    with pytest.raises(EnvironmentSetupError, match="refusing to reuse"):
        create_venv(PYTHON, tmp_path / "venv", installer="uv", version="3.12")
    assert calls() == []


def test_a_failing_uv_is_one_line_with_uvs_reason(tmp_path, fake_uv, monkeypatch):
    monkeypatch.setenv("TITO_FAKE_UV_FAIL", "1")
    with pytest.raises(EnvironmentSetupError) as raised:
        create_venv(PYTHON, tmp_path / "venv", installer="uv", version="3.12")
    said = str(raised.value)
    assert "\n" not in said
    assert said == f"{tmp_path / 'venv'}: uv venv failed for {PYTHON}: Failed to inspect Python interpreter " \
                   "from provided path at `/x/python`: Exec format error (os error 8)"


def test_uv_error_line_without_an_error_prefix_is_the_last_line():
    assert uv_error_line("warning: x\nsomething broke\n") == "something broke"
    assert uv_error_line("") == "no output"
    assert uv_error_line("error: A virtual environment already exists") == "A virtual environment already exists"


def test_pip_as_installer_or_no_uv_keeps_virtualenv(tmp_path, monkeypatch):
    made = []
    monkeypatch.setattr(envs, "_make_virtualenv", lambda interpreter, where, timeout: made.append(where) or Venv(where))
    monkeypatch.setattr(envs, "find_uv", lambda: pytest.fail("uv is not looked for when pip installs"))
    assert create_venv(PYTHON, tmp_path / "a").made_by == VIRTUALENV
    assert create_venv(PYTHON, tmp_path / "b", installer="pip", version="3.12").made_by == VIRTUALENV
    monkeypatch.setattr(envs, "find_uv", lambda: None)
    assert create_venv(PYTHON, tmp_path / "c", installer="uv", version="3.12").made_by == VIRTUALENV
    assert made == [tmp_path / "a", tmp_path / "b", tmp_path / "c"]


def test_the_venv_stage_says_which_tool_made_the_venv(tmp_path, fake_uv, monkeypatch):
    stage, venv = stages.venv_stage_for(PYTHON, tmp_path / "venv", "uv", "3.13")
    assert stage.status == PASSED and stage.figures["made_by"] == UV_VENV and venv is not None
    monkeypatch.setenv("TITO_FAKE_UV_FAIL", "1")
    stage, venv = stages.venv_stage_for(PYTHON, tmp_path / "venv2", "uv", "3.13")
    assert stage.status == FAILED and venv is None and "Exec format error" in stage.detail


@pytest.mark.parametrize("version", ["3.9", "3.12"])
def test_a_real_uv_venv_holds_pip_and_nothing_undeclared(tmp_path, version):
    """uv from the `uv` wheel, a real interpreter: pip runs, and site-packages holds pip (and setuptools
    below 3.12, as virtualenv seeds) — no wheel or packaging a course could lean on undeclared."""
    lookup = find_interpreter(version)
    if find_uv() is None or lookup.interpreter is None:
        pytest.skip(f"needs uv and a Python {version}")
    venv = create_venv(lookup.interpreter.path, tmp_path / "venv", installer="uv", version=version)
    pip = subprocess.run([str(venv.python), "-m", "pip", "--version"], capture_output=True, text=True,
                         env=envs.clean_env())
    assert pip.returncode == 0 and str(venv.root) in pip.stdout
    site = Path(venv.describe()["site_packages"] or "")
    assert site.is_dir() and site.resolve().is_relative_to(venv.root.resolve())
    names = {path.name.split("-")[0].lower() for path in site.glob("*.dist-info")}
    assert names == ({"pip", "setuptools"} if version == "3.9" else {"pip"})
    config = (venv.root / "pyvenv.cfg").read_text(encoding="utf-8")
    # the interpreter asked for (found as a pyenv shim on some machines: uv follows it to the real one)
    ask = "import sys; print(sys.prefix); print('%d.%d' % sys.version_info[:2])"
    said = subprocess.run([str(venv.python), "-I", "-c", ask], capture_output=True, text=True,
                          env=envs.clean_env()).stdout.split()
    assert Path(said[0]).resolve() == venv.root.resolve() and said[1] == version, said
    assert f"version_info = {version}." in config and "relocatable" not in config
