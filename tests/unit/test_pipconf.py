"""uv never reads pip.conf: the package sources a user set there alone (runner/pipconf.py) reach every uv the
verifier starts as UV_* variables, read as pip reads its files — else uv would search PyPI, an index the
user's configuration never named. uv's own sources, when the user set any, win; what uv cannot be told
(pip's no-index) is refused in one line. The last test runs the real uv against a temporary PIP_CONFIG_FILE."""
from __future__ import annotations

import os
import sys
import textwrap

import pytest

from verifier.errors import EnvironmentSetupError
from verifier.runner import envs, pipconf

SOURCES = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX", "UV_INDEX_URL",
           "UV_EXTRA_INDEX_URL", "UV_FIND_LINKS", "UV_DEFAULT_INDEX", "UV_INDEX", "UV_INDEX_STRATEGY",
           "UV_CONFIG_FILE", "UV_NO_CONFIG")


@pytest.fixture
def only_pip_conf(tmp_path, monkeypatch):
    """No source in the environment, no uv.toml; returns a writer of the PIP_CONFIG_FILE pip reads last."""
    for name in SOURCES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home" / ".config"))
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(tmp_path / "xdg"))
    if envs.Path("/etc/uv/uv.toml").is_file():
        pytest.skip("this machine has a system uv.toml")
    conf = tmp_path / "pip.conf"

    def write(text: str):
        conf.write_text(textwrap.dedent(text), encoding="utf-8")
        monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
        return conf
    return write


def test_the_indexes_of_pip_conf_alone_reach_uv(only_pip_conf):
    # [install] of the file pip reads last: no other file of this machine can change what pip uses
    only_pip_conf("""\
        [install]
        index-url = https://mirror.example/simple
        extra-index-url =
            https://one.example/simple
            https://two.example/simple
        find-links = /srv/wheels /srv/more-wheels
        """)
    env = envs.uv_env()
    assert env["UV_INDEX_URL"] == "https://mirror.example/simple"
    assert env["UV_EXTRA_INDEX_URL"] == "https://one.example/simple https://two.example/simple"  # uv: spaces
    assert env["UV_FIND_LINKS"] == "/srv/wheels,/srv/more-wheels"  # uv: commas, where pip takes spaces
    assert env["UV_INDEX_STRATEGY"] == "unsafe-best-match"  # every index for the best version, as pip does


def test_install_section_over_global_and_a_later_file_over_an_earlier(tmp_path, monkeypatch):
    first, last = tmp_path / "global.conf", tmp_path / "env.conf"
    first.write_text("[install]\nfind-links = /first\n[global]\nindex-url = https://first.example\n")
    last.write_text("[global]\nfind-links = /last\nindex-url = https://last.example\n")
    monkeypatch.setattr(pipconf, "pip_config_files", lambda: [first, tmp_path / "absent.conf", last])
    assert pipconf.pip_file_sources() == {"index-url": "https://last.example", "find-links": "/first"}


def test_pip_variables_win_over_pip_conf(only_pip_conf, monkeypatch):
    only_pip_conf("[install]\nindex-url = https://mirror.example/simple\n")
    monkeypatch.setenv("PIP_INDEX_URL", "https://chosen.example/simple")
    monkeypatch.setenv("PIP_FIND_LINKS", "/a /b")
    env = envs.uv_env()
    assert env["UV_INDEX_URL"] == "https://chosen.example/simple" and env["UV_FIND_LINKS"] == "/a,/b"


@pytest.mark.parametrize("uv_own", ["variable", "uv.toml"])
def test_uvs_own_sources_win_and_nothing_of_pip_is_added(only_pip_conf, monkeypatch, tmp_path, uv_own):
    only_pip_conf("[install]\nindex-url = https://mirror.example/simple\nextra-index-url = https://x.example\n")
    if uv_own == "variable":
        monkeypatch.setenv("UV_DEFAULT_INDEX", "https://uv.example/simple")
    else:
        own = tmp_path / "home" / ".config" / "uv" / "uv.toml"
        own.parent.mkdir(parents=True)
        own.write_text('[[index]]\nurl = "https://uv.example/simple"\ndefault = true\n')
    env = envs.uv_env()
    assert not {"UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_INDEX_STRATEGY"} & set(env)


def test_a_uv_toml_without_sources_still_gets_pips(only_pip_conf, tmp_path):
    only_pip_conf("[global]\nindex-url = https://mirror.example/simple\n")
    own = tmp_path / "home" / ".config" / "uv" / "uv.toml"
    own.parent.mkdir(parents=True)
    own.write_text("native-tls = true\n")
    env = envs.uv_env()
    assert env["UV_CONFIG_FILE"] == str(own) and env["UV_INDEX_URL"] == "https://mirror.example/simple"


def test_no_index_in_pip_conf_is_refused_in_one_line(only_pip_conf):
    only_pip_conf("[global]\nno-index = true\nfind-links = /srv/wheels\n")
    with pytest.raises(EnvironmentSetupError) as refused:
        envs.uv_env()
    assert "no-index" in str(refused.value) and "--installer pip" in str(refused.value)
    assert "\n" not in str(refused.value)


def test_an_unreadable_pip_conf_is_one_line_naming_it(only_pip_conf):
    conf = only_pip_conf("index-url = https://no-section.example\n")
    with pytest.raises(EnvironmentSetupError) as refused:
        envs.uv_env()
    assert str(conf) in str(refused.value) and "\n" not in str(refused.value)


def test_the_files_pip_reads(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(tmp_path / "xdg"))
    monkeypatch.delenv("PIP_CONFIG_FILE", raising=False)
    if sys.platform.startswith("linux"):
        assert pipconf.pip_config_files() == [
            tmp_path / "xdg" / "pip" / "pip.conf", envs.Path("/etc/pip.conf"), home / ".pip" / "pip.conf",
            home / ".config" / "pip" / "pip.conf", envs.Path(sys.prefix) / "pip.conf"]
    chosen = tmp_path / "chosen.conf"
    chosen.write_text("[global]\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(chosen))  # an existing PIP_CONFIG_FILE: the user's files are skipped
    files = pipconf.pip_config_files()
    assert files[-1] == chosen and home / ".config" / "pip" / "pip.conf" not in files
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)  # pip then reads no file at all
    assert pipconf.pip_config_files() == []


def test_the_real_uv_asks_the_index_of_pip_conf_never_pypi(only_pip_conf, tmp_path):
    uv = envs.find_uv()
    if uv is None:
        pytest.skip("uv is not installed")
    only_pip_conf("[install]\nindex-url = http://127.0.0.1:9/pipconf-index/simple\n")  # nothing listens: refused
    env = {**envs.uv_env(), "UV_HTTP_RETRIES": "0", "UV_CACHE_DIR": str(tmp_path / "uv-cache")}
    done = envs.run([uv, "pip", "install", "--dry-run", "-v", "--python", sys.executable, "no-such-package-here"],
                    cwd=tmp_path, env=env, timeout=120)
    said = done.stdout + done.stderr
    assert "127.0.0.1:9/pipconf-index/simple" in said and "pypi.org" not in said, said[-2000:]
