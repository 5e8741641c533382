"""The command line as users script against it: exit codes, formats, --output, stdout hygiene."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from conftest import FIXTURES

from envcheck.commands.cli import _normalize_argv, main

SEED = FIXTURES / "packages" / "churn-sklearn-0.24.2"
OK_38 = FIXTURES / "packages" / "churn-ok"


def run_cli(*args: str, cache: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "ENVCHECK_CACHE_DIR": str(cache), **env}
    return subprocess.run([sys.executable, "-m", "envcheck", *args], capture_output=True,
                          text=True, env=environ, timeout=600)


def test_bare_package_means_check() -> None:
    assert _normalize_argv(["pkg"]) == ["check", "pkg"]
    assert _normalize_argv(["--version"]) == ["--version"]
    assert _normalize_argv(["env", "list"]) == ["env", "list"]
    assert _normalize_argv(["pkg", "--static"]) == ["check", "pkg", "--static"]


def test_static_json_is_clean_on_stdout(tmp_path: Path) -> None:
    proc = run_cli(str(SEED), "--static", "--format", "json", cache=tmp_path)
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)  # nothing but the report on stdout
    package = data["packages"][0]
    assert package["status"] == "fail"
    ids = {c["id"]: c for c in package["checks"]}
    assert ids["pickle.versions"]["status"] == "fail"
    assert ids["load"]["status"] == "skip"


def test_junit_and_output_file(tmp_path: Path) -> None:
    out = tmp_path / "reports" / "envcheck.xml"
    proc = run_cli("check", str(OK_38), "--static", "--format", "junit", "--output", str(out),
                   cache=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == ""
    suite = ET.parse(out).getroot().find("testsuite")
    assert suite.get("failures") == "0"
    assert {c.get("name") for c in suite.findall("testcase")} >= {"pickle.safety", "pickle.versions"}


def test_text_verdict_without_colour_when_piped(tmp_path: Path) -> None:
    proc = run_cli(str(SEED), "--static", cache=tmp_path)
    assert proc.returncode == 1
    assert "\033[" not in proc.stdout
    assert "FAIL   pickle.versions" in proc.stdout
    assert "envcheck: 1 package: 0 passed, 1 failed" in proc.stdout


def test_strict_turns_warnings_into_failures(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    import shutil

    shutil.copytree(OK_38, pkg)
    (pkg / "requirements.txt").write_text("scikit-learn>=1.2\nnumpy==1.24.4\npandas==2.0.3\n")
    relaxed = run_cli(str(pkg), "--static", "--format", "json", cache=tmp_path)
    strict = run_cli(str(pkg), "--static", "--strict", "--format", "json", cache=tmp_path)
    pinned = {c["id"]: c for c in json.loads(relaxed.stdout)["packages"][0]["checks"]}
    assert pinned["requirements.pinned"]["status"] == "warn"
    strict_pinned = {c["id"]: c for c in json.loads(strict.stdout)["packages"][0]["checks"]}
    assert strict_pinned["requirements.pinned"]["status"] == "fail"
    assert strict.returncode == 1


@pytest.mark.parametrize("args, message", [
    (["check"], "required"),
    (["check", "does/not/exist"], "no such file or directory"),
    (["check", "x", "--format", "yaml"], "invalid choice"),
    (["env"], "list or prune"),
    (["check", "x", "--memory", "lots"], "expected a size like 512M"),
])
def test_bad_command_lines_exit_two_with_one_line(args: list[str], message: str,
                                                 tmp_path: Path) -> None:
    proc = run_cli(*args, cache=tmp_path)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_path_that_is_a_file_is_exit_two(tmp_path: Path) -> None:
    proc = run_cli(str(SEED / "metadata.yaml"), "--static", cache=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout


def test_in_process_main_returns_exit_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ENVCHECK_CACHE_DIR", str(tmp_path))
    assert main(["check", str(OK_38), "--static", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["packages"][0]["status"] == "pass"


def test_not_a_package_says_so_once(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    proc = run_cli("check", str(tmp_path / "empty"), cache=tmp_path / "c", NO_COLOR="1")
    assert proc.returncode == 2
    sentence = f"{tmp_path / 'empty'} is not a model package: none of metadata.yaml"
    assert proc.stdout.count(sentence) == 1, proc.stdout
    assert f"  FAIL   package.layout        {sentence}" in proc.stdout


@pytest.mark.parametrize("args", [["--help"], ["check", "--help"]])
def test_help_has_examples_and_exit_codes(args: list[str], tmp_path: Path) -> None:
    proc = run_cli(*args, cache=tmp_path, COLUMNS="100")
    assert proc.returncode == 0
    assert "examples:\n  envcheck check ./pkg " in proc.stdout
    assert "exit codes:\n  0    every check passed (warnings allowed unless --strict)\n" \
           "  1    at least one check failed\n  2    envcheck could not do its job" in proc.stdout
    assert "  130  interrupted (Ctrl-C)" in proc.stdout
    if args[0] == "check":  # spelled as the README spells it
        assert "--trust-pickle MODULE:NAME" in proc.stdout
        assert "GLOBAL" not in proc.stdout
