"""The GitHub Actions composite action: its structure, and its shell steps run for real.

The ``run:`` steps are executed locally with bash the way the runner would: the
``${{ ... }}`` expressions of each step's ``env:`` are substituted, GITHUB_OUTPUT and
GITHUB_STEP_SUMMARY point at temp files, and the action's directory is a copy of this
repository (pip builds a local project in place; the working tree must stay clean).
The ``uses:`` steps (setup-python, upload-artifact) need GitHub and are checked for shape.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Optional

import pytest
import yaml
from conftest import FIXTURES, REPO

ACTION_FILE = REPO / "action.yml"
_EXPR = re.compile(r"\$\{\{\s*(.+?)\s*\}\}")


def _action() -> dict[str, Any]:
    return yaml.safe_load(ACTION_FILE.read_text(encoding="utf-8"))


def _step(step_id_or_name: str) -> dict[str, Any]:
    for step in _action()["runs"]["steps"]:
        if step_id_or_name in (step.get("id"), step.get("name")):
            return step
    raise KeyError(step_id_or_name)


def _outputs(path: Path) -> dict[str, str]:
    """GITHUB_OUTPUT's ``name=value`` lines."""
    if not path.exists():
        return {}
    return dict(line.split("=", 1) for line in path.read_text(encoding="utf-8").splitlines()
                if "=" in line)


class Runner:
    """Just enough of the Actions runner to execute this action's bash steps."""

    def __init__(self, workspace: Path, action_path: Path, temp: Path,
                 inputs: dict[str, str], cache_dir: Optional[Path] = None) -> None:
        self.workspace, self.action_path, self.temp = workspace, action_path, temp
        self.cache_dir = cache_dir or temp / "envcheck-cache"
        defaults = {name: str(spec.get("default", ""))
                    for name, spec in _action()["inputs"].items()}
        self.inputs = {**defaults, **inputs}
        self.step_outputs: dict[str, dict[str, str]] = {}
        self.summary = temp / "step-summary.md"

    def expression(self, expr: str) -> str:
        if expr.startswith("inputs."):
            return self.inputs[expr[len("inputs."):]]
        if expr == "github.action_path":
            return str(self.action_path)
        match = re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", expr)
        if match:
            return self.step_outputs.get(match.group(1), {}).get(match.group(2), "")
        raise AssertionError(f"expression the test runner does not know: {expr}")

    def substitute(self, text: str) -> str:
        return _EXPR.sub(lambda m: self.expression(m.group(1)), str(text))

    def run(self, step_id: str) -> subprocess.CompletedProcess[str]:
        step = _step(step_id)
        assert step["shell"] == "bash"
        # Expressions only in env: pasting inputs into a script is an injection hole.
        assert not _EXPR.search(step["run"]), f"{step_id}: expression inside run:"
        output_file = self.temp / f"output-{step_id}"
        output_file.unlink(missing_ok=True)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("ENVCHECK_", "VIRTUAL_ENV", "PYTHONPATH"))}
        env.update({k: self.substitute(v) for k, v in (step.get("env") or {}).items()})
        env.update(GITHUB_OUTPUT=str(output_file), GITHUB_STEP_SUMMARY=str(self.summary),
                   RUNNER_TEMP=str(self.temp), GITHUB_WORKSPACE=str(self.workspace),
                   ENVCHECK_CACHE_DIR=str(self.cache_dir), NO_COLOR="1")
        # bash as the runner calls it for `shell: bash`.
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c",
                               step["run"]], cwd=self.workspace, env=env,
                              capture_output=True, text=True, stdin=subprocess.DEVNULL)
        self.step_outputs[step_id] = _outputs(output_file)
        return proc


# --------------------------------------------------------------------------- structure

def test_action_is_a_composite_with_documented_inputs_and_outputs() -> None:
    action = _action()
    assert action["name"] == "envcheck" and action["description"]
    assert action["runs"]["using"] == "composite"
    assert action["inputs"]["packages"]["required"] is True
    for name in ("args", "python-version", "junit-file", "upload-junit", "artifact-name"):
        assert action["inputs"][name]["required"] is False
        assert "description" in action["inputs"][name]
    assert action["outputs"]["exit-code"]["value"] == "${{ steps.check.outputs.exit-code }}"
    for step in action["runs"]["steps"]:
        # A composite step is either `uses:` or `run:` with an explicit shell.
        assert ("uses" in step) != ("run" in step), step
        if "run" in step:
            assert step["shell"] == "bash"


def test_uses_steps_are_pinned_and_conditional() -> None:
    setup = _step("Set up Python for envcheck")
    assert setup["uses"] == "actions/setup-python@v5"
    assert setup["if"] == "inputs.python-version != ''"
    upload = _step("Upload JUnit report")
    assert upload["uses"] == "actions/upload-artifact@v4"
    # Uploaded even when envcheck found failures: that is when the report matters.
    assert upload["if"].startswith("always()")
    assert upload["with"]["path"] == "${{ steps.check.outputs.junit-file }}"
    last = _action()["runs"]["steps"][-1]
    assert last["if"] == "always()" and "ENVCHECK_EXIT_CODE" in last["run"]


# --------------------------------------------------------------------------- executed

@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The action's install step, run for real once: (temp dir, the venv's python)."""
    temp = tmp_path_factory.mktemp("runner-temp")
    action_path = tmp_path_factory.mktemp("action") / "envcheck-action"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "*.pyc")
    action_path.mkdir()
    for name in ("pyproject.toml", "README.md", "action.yml", "LICENSE"):
        if (REPO / name).exists():
            shutil.copy2(REPO / name, action_path / name)
    shutil.copytree(REPO / "envcheck", action_path / "envcheck", ignore=ignore)
    runner = Runner(temp, action_path, temp, {"packages": "unused"})
    proc = runner.run("install")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("envcheck ")  # `envcheck --version` from the venv
    python = runner.step_outputs["install"]["python"]
    assert python == str(temp / "envcheck-venv" / "bin" / "python")
    return temp, python


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "workspace"
    shutil.copytree(FIXTURES / "packages" / "churn-ok", ws / "models" / "churn-ok")
    shutil.copytree(FIXTURES / "broken" / "bad-requirement-line", ws / "models" / "bad")
    return ws


def _run_check(installed: tuple[Path, str], workspace: Path, cache_dir: Optional[Path] = None,
               **inputs: str) -> tuple[Runner, subprocess.CompletedProcess[str],
                                       subprocess.CompletedProcess[str]]:
    temp, python = installed
    runner = Runner(workspace, REPO, temp, inputs, cache_dir)
    runner.summary.unlink(missing_ok=True)
    runner.step_outputs["install"] = {"python": python}
    check = runner.run("check")
    final = runner.run(_action()["runs"]["steps"][-1].get("id") or "Fail with envcheck's exit code")
    return runner, check, final


@pytest.mark.slow
def test_failing_package_annotations_summary_junit_and_exit_code(installed, workspace) -> None:
    runner, check, final = _run_check(installed, workspace, packages="models/*",
                                      args="--static")
    assert check.returncode == 0, check.stderr  # the step records the code, the last fails
    outputs = runner.step_outputs["check"]
    assert outputs["exit-code"] == "1"
    assert final.returncode == 1

    # Annotations on stdout, on the file and line, relative to the workspace.
    assert re.search(r"^::error file=models/bad/requirements\.txt,line=3,"
                     r"title=requirements\.parse::.*pandas=2\.2\.2", check.stdout, re.M), \
        check.stdout
    # The human-readable report is in the log too.
    assert check.stdout.count("envcheck: 2 packages: 1 passed, 1 failed") == 1
    assert "envcheck exited with 1" in check.stdout

    summary = runner.summary.read_text(encoding="utf-8")
    assert "# envcheck report" in summary
    assert "| check | status | findings |" in summary
    assert re.search(r"\| `requirements\.parse` \| ❌ fail \|.*requirements\.txt:3", summary)

    junit = workspace / outputs["junit-file"]
    assert outputs["junit-file"] == "envcheck-junit.xml"
    suites = ET.parse(junit).getroot()
    assert suites.tag == "testsuites"
    by_name = {s.get("name"): s for s in suites.findall("testsuite")}
    assert set(by_name) == {"churn-model", "broken-example"}
    failed = [c.get("name") for c in by_name["broken-example"].findall("testcase")
              if c.find("failure") is not None]
    assert "requirements.parse" in failed
    assert by_name["churn-model"].get("failures") == "0"


@pytest.mark.slow
def test_passing_package_exit_0_and_custom_junit_path(installed, workspace) -> None:
    runner, check, final = _run_check(installed, workspace, packages="models/churn-ok",
                                      args="--static --strict",
                                      **{"junit-file": "reports/envcheck.xml"})
    assert runner.step_outputs["check"]["exit-code"] == "0", check.stdout + check.stderr
    assert final.returncode == 0
    assert ET.parse(workspace / "reports" / "envcheck.xml").getroot().tag == "testsuites"
    assert "✅ churn-model — pass" in runner.summary.read_text(encoding="utf-8")
    assert "::error" not in check.stdout


@pytest.mark.slow
def test_bad_input_is_exit_2_with_one_line_and_no_report(installed, workspace) -> None:
    runner, check, final = _run_check(installed, workspace, packages="models/nope")
    assert runner.step_outputs["check"]["exit-code"] == "2"
    assert "junit-file" not in runner.step_outputs["check"]
    assert final.returncode == 2
    assert check.stderr.strip() == "envcheck: error: models/nope: no such file or directory"

    runner, check, final = _run_check(installed, workspace, packages="models/churn-ok",
                                      args="--format json")
    assert runner.step_outputs["check"]["exit-code"] == "2"
    assert "--format/--output are set by the action" in check.stderr


@pytest.mark.slow
def test_inputs_are_data_not_shell(installed, workspace) -> None:
    # An input that a naive `run: envcheck ${{ inputs.args }}` would execute.
    marker = workspace / "pwned"
    runner, check, final = _run_check(installed, workspace, packages="models/churn-ok",
                                      args=f"--static $(touch {marker})")
    assert not marker.exists()
    assert runner.step_outputs["check"]["exit-code"] == "2"  # an unknown argument instead


@pytest.mark.slow
def test_full_check_builds_env_and_reports_it(installed, workspace, envcheck_cache) -> None:
    # Not --static: the env is built (or reused from the session cache), the model loaded.
    shutil.copytree(FIXTURES / "packages" / "churn-ok-py311", workspace / "models" / "py311")
    runner, check, final = _run_check(installed, workspace, cache_dir=envcheck_cache,
                                      packages="models/py311")
    assert runner.step_outputs["check"]["exit-code"] == "0", check.stdout + check.stderr
    assert final.returncode == 0
    summary = runner.summary.read_text(encoding="utf-8")
    assert "Environment: Python 3.11" in summary
    assert "| `load` | ✅ pass |" in summary
    cases = {c.get("name"): c for c in ET.parse(workspace / "envcheck-junit.xml").iter("testcase")}
    assert cases["env.build"].find("skipped") is None and cases["load"].find("failure") is None
