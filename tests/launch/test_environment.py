"""The environments envcheck gives the processes it starts: allowlists, never a copy."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from envcheck.launch.environment import (
    installer_environment,
    probe_environment,
    tool_environment,
)

HOST = Path(sys.executable)
SECRETS = {"AWS_SECRET_ACCESS_KEY": "hunter2", "GITHUB_TOKEN": "ghp_x",
           "ENVCHECK_FAKE_TOKEN": "canary-secret-123", "PYTHONPATH": "/somewhere",
           "PYTHONDONTWRITEBYTECODE": "1"}


@pytest.fixture
def planted(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    monkeypatch.setenv("PIP_INDEX_URL", "https://registry.example/simple")


def test_the_probe_gets_no_secret(tmp_path: Path, planted: None) -> None:
    env = probe_environment(HOST, tmp_path)
    assert not set(SECRETS) - {"PYTHONDONTWRITEBYTECODE"} & set(env)
    assert "canary-secret-123" not in " ".join(env.values())
    assert "PIP_INDEX_URL" not in env  # the installer's setting, not the package's
    assert env["LC_ALL"] == "C.UTF-8"
    assert env["HOME"] == str(tmp_path)
    assert env["PYTHONHASHSEED"] == "0"
    assert env["PATH"].split(os.pathsep)[0] == str(HOST.parent)


def test_the_installer_gets_its_settings_and_no_secret(planted: None) -> None:
    env = installer_environment()
    assert not set(SECRETS) & set(env), "PYTHONDONTWRITEBYTECODE would stop bytecode"
    assert env["PIP_INDEX_URL"] == "https://registry.example/simple"
    assert env["UV_PYTHON_DOWNLOADS"] == "never"


def test_tools_get_path_and_locale_only(planted: None) -> None:
    env = tool_environment()
    assert set(env) <= {"PATH", "LANG", "LANGUAGE", "TZ", "LD_LIBRARY_PATH", "LC_ALL"} | {
        n for n in os.environ if n.startswith("LC_")}
