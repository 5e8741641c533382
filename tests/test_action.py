"""The GitHub Actions composite action: its structure, and its shell steps run for real.

The ``run:`` steps are executed locally with bash the way the runner would: the
``${{ ... }}`` expressions of each step's ``env:`` are substituted, GITHUB_OUTPUT and
GITHUB_STEP_SUMMARY point at temp files, and the action's directory is a copy of this
repository (pip builds a local project in place; the working tree must stay clean).
The ``uses:`` steps (setup-python, upload-artifact) need GitHub and are checked for shape.
"""

from __future__ import annotations

import fnmatch
import json
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
    for name in ("args", "python-version", "junit-file", "upload-junit", "artifact-name",
                 "shard", "json-file"):
        assert action["inputs"][name]["required"] is False
        assert "description" in action["inputs"][name]
    assert action["outputs"]["exit-code"]["value"] == "${{ steps.check.outputs.exit-code }}"
    assert action["inputs"]["shard"]["default"] == ""  # not sharded unless asked
    assert action["outputs"]["json-file"]["value"] == "${{ steps.check.outputs.json-file }}"
    assert action["outputs"]["python"]["value"] == "${{ steps.install.outputs.python }}"
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
def action_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of what `uses: <org>/envcheck@…` checks out (pip builds it in place)."""
    action_path = tmp_path_factory.mktemp("action") / "envcheck-action"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "*.pyc")
    action_path.mkdir()
    for name in ("pyproject.toml", "README.md", "action.yml", "LICENSE"):
        if (REPO / name).exists():
            shutil.copy2(REPO / name, action_path / name)
    shutil.copytree(REPO / "envcheck", action_path / "envcheck", ignore=ignore)
    return action_path


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory, action_path: Path) -> tuple[Path, str]:
    """The action's install step, run for real once: (temp dir, the venv's python)."""
    temp = tmp_path_factory.mktemp("runner-temp")
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


@pytest.mark.slow
def test_shard_input_checks_one_shard_and_names_its_artifacts(installed, workspace) -> None:
    shutil.copytree(workspace / "models" / "churn-ok", workspace / "models" / "churn-ok-2")
    seen = []
    for index in (1, 2):
        runner, check, final = _run_check(installed, workspace, packages="models/*",
                                          args="--static", shard=f"{index}/2")
        outputs = runner.step_outputs["check"]
        assert outputs["artifact-suffix"] == f"-shard-{index}-of-2", check.stderr
        report = json.loads((workspace / outputs["json-file"]).read_text(encoding="utf-8"))
        assert report["shard"]["index"] == index and report["shard"]["count"] == 2
        seen += [p["path"] for p in report["packages"]]
        upload = _step("Upload the shard's JSON report")
        assert runner.substitute(upload["with"]["name"]) == f"envcheck-shard-{index}-of-2"
        assert runner.substitute(_step("Upload JUnit report")["with"]["name"]) == \
            f"envcheck-junit-shard-{index}-of-2"
    # The two copies of churn-ok declare one env: one shard; the broken one the other.
    assert sorted(seen) == ["models/bad", "models/churn-ok", "models/churn-ok-2"]
    runner, check, final = _run_check(installed, workspace, packages="models/*", shard="3/2")
    assert runner.step_outputs["check"]["exit-code"] == "2" and final.returncode == 2
    assert "json-file" not in runner.step_outputs["check"]
    assert "--shard '3/2': expected K/N with 1 <= K <= N" in check.stderr
    runner, check, final = _run_check(installed, workspace, packages="models/*",
                                      args="--shard 1/2")
    assert "use the action's 'shard' input" in check.stderr


# --------------------------------------------------------------------------- the audit workflow

WORKFLOW_FILE = REPO / "examples" / "github" / "audit.yml"


def _workflow() -> dict[Any, Any]:
    return yaml.safe_load(WORKFLOW_FILE.read_text(encoding="utf-8"))


def _job_step(job: str, name: str) -> dict[str, Any]:
    for step in _workflow()["jobs"][job]["steps"]:
        if name in (step.get("id"), step.get("name"), step.get("uses")):
            return step
    raise KeyError(f"{job}: {name}")


class WorkflowRunner:
    """Just enough of Actions to run the audit workflow: its bash steps for real, the
    composite action's check step through :class:`Runner`, actions/cache and the artifact
    actions as what they do to files (a folder per artifact)."""

    def __init__(self, workspace: Path, temp: Path, python: str, **env: str) -> None:
        self.workspace, self.temp, self.python = workspace, temp, python
        self.env = {**_workflow()["env"], **env}
        self.summary = temp / "workflow-summary.md"
        self.artifacts = temp / "artifacts"
        self.outputs: dict[str, dict[str, dict[str, str]]] = {}  # job -> step -> outputs

    def expression(self, expr: str, job: str, matrix: dict[str, Any]) -> str:
        if expr.startswith("env."):
            return self.env[expr[len("env."):]]
        if expr == "runner.os":
            return "Linux"
        if expr.startswith("matrix."):
            return str(matrix[expr[len("matrix."):]])
        match = re.fullmatch(r"(steps|needs)\.([\w-]+)\.outputs\.([\w-]+)", expr)
        if match:
            kind, name, output = match.groups()
            if kind == "steps":
                return self.outputs.get(job, {}).get(name, {}).get(output, "")
            step = _workflow()["jobs"][name]["outputs"][output]
            return self.substitute(step, name, {})
        raise AssertionError(f"expression the test runner does not know: {expr}")

    def substitute(self, text: str, job: str, matrix: dict[str, Any]) -> str:
        return _EXPR.sub(lambda m: self.expression(m.group(1), job, matrix), str(text))

    def run(self, job: str, name: str, matrix: Optional[dict[str, Any]] = None
            ) -> subprocess.CompletedProcess[str]:
        step = _job_step(job, name)
        assert step["shell"] == "bash"
        assert not _EXPR.search(step["run"]), f"{name}: expression inside run:"
        output_file = self.temp / f"output-{job}-{step.get('id', 'step')}"
        output_file.unlink(missing_ok=True)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("ENVCHECK", "VIRTUAL_ENV", "PYTHONPATH", "ARGS",
                                    "PACKAGES", "SHARDS"))}
        # setup-python, as far as this step can tell: envcheck's venv first on PATH.
        env["PATH"] = f"{Path(self.python).parent}{os.pathsep}{env['PATH']}"
        env.update(self.env)
        env.update({k: self.substitute(v, job, matrix or {})
                    for k, v in (step.get("env") or {}).items()})
        env.update(GITHUB_OUTPUT=str(output_file), GITHUB_STEP_SUMMARY=str(self.summary),
                   RUNNER_TEMP=str(self.temp), GITHUB_WORKSPACE=str(self.workspace),
                   NO_COLOR="1")
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c",
                               step["run"]], cwd=self.workspace, env=env,
                              capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if "id" in step:
            self.outputs.setdefault(job, {})[step["id"]] = _outputs(output_file)
        return proc

    def run_shard(self, installed: tuple[Path, str], matrix: dict[str, Any],
                  cache_dir: Path) -> Runner:
        """The shard job: cache restore (a miss), the composite action, the upload."""
        restore = _job_step("shard", "restore")
        key = self.substitute(restore["with"]["key"], "shard", matrix)
        self.outputs.setdefault("shard", {})["restore"] = {"cache-hit": "false",
                                                           "cache-primary-key": key}
        action_step = _job_step("shard", "envcheck")
        inputs = {k: self.substitute(v, "shard", matrix)
                  for k, v in action_step["with"].items()}
        runner = Runner(self.workspace, REPO, installed[0], inputs, cache_dir)
        runner.summary = self.temp / f"shard-summary-{matrix['index']}.md"
        runner.step_outputs["install"] = {"python": installed[1]}
        check = runner.run("check")
        assert check.returncode == 0, check.stderr
        self.outputs["shard"]["envcheck"] = {"python": installed[1]}
        upload = _step("Upload the shard's JSON report")
        artifact = self.artifacts / runner.substitute(upload["with"]["name"])
        artifact.mkdir(parents=True)
        report = self.workspace / runner.step_outputs["check"]["json-file"]
        shutil.move(str(report), artifact / report.name)
        return runner

    def download(self, pattern: str, into: str) -> None:
        target = self.workspace / into
        shutil.rmtree(target, ignore_errors=True)
        for artifact in sorted(self.artifacts.iterdir()):
            if fnmatch.fnmatch(artifact.name, pattern):
                shutil.copytree(artifact, target / artifact.name)


def test_workflow_plans_checks_shards_with_their_cache_and_merges() -> None:
    workflow = _workflow()
    assert set(workflow["jobs"]) == {"plan", "shard", "merge"}
    assert workflow[True]["workflow_dispatch"] is None  # YAML 1.1 reads `on:` as true
    plan, shard, merge = (workflow["jobs"][j] for j in ("plan", "shard", "merge"))
    assert plan["outputs"]["matrix"] == "${{ steps.plan.outputs.matrix }}"
    assert shard["needs"] == "plan" and shard["strategy"]["fail-fast"] is False
    assert shard["strategy"]["matrix"] == "${{ fromJSON(needs.plan.outputs.matrix) }}"
    restore, save = _job_step("shard", "restore"), _job_step("shard", "actions/cache/save@v4")
    assert restore["uses"] == "actions/cache/restore@v4"
    assert "${{ matrix.cache-key }}" in restore["with"]["key"]
    assert restore["with"]["path"] == save["with"]["path"] == "${{ env.ENVCHECK_CACHE_DIR }}"
    assert restore["with"]["restore-keys"].strip() + "${{ matrix.cache-key }}" == \
        restore["with"]["key"]
    # Saved also after failed checks, and never over an exact hit (cache keys are immutable).
    assert save["if"] == "always() && steps.restore.outputs.cache-hit != 'true'"
    assert save["with"]["key"] == "${{ steps.restore.outputs.cache-primary-key }}"
    check = _job_step("shard", "envcheck")
    assert check["uses"].endswith("/envcheck@v0.1.0")
    assert check["with"]["shard"] == "${{ matrix.shard }}"
    assert merge["needs"] == ["plan", "shard"] and merge["if"].startswith("always()")
    download = _job_step("merge", "actions/download-artifact@v4")
    upload_name = _step("Upload the shard's JSON report")["with"]["name"]
    assert download["with"]["pattern"] == "envcheck-shard-*"
    assert upload_name == "envcheck${{ steps.check.outputs.artifact-suffix }}"
    assert "merge-multiple" not in download["with"]  # every shard's file has the same name
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            assert ("uses" in step) != ("run" in step), step
            if "run" in step:
                assert step["shell"] == "bash" and not _EXPR.search(step["run"]), step


def test_readme_shows_the_workflow_users_copy() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert f"```yaml\n{WORKFLOW_FILE.read_text(encoding='utf-8')}```" in readme


@pytest.mark.slow
def test_workflow_shell_steps_run_an_audit_end_to_end(installed, action_path, workspace,
                                                       envcheck_cache, tmp_path) -> None:
    shutil.copytree(FIXTURES / "packages" / "churn-sklearn-0.24.2",
                    workspace / "models" / "seed")  # declares churn-ok's env
    temp = tmp_path / "runner"
    temp.mkdir()
    flow = WorkflowRunner(workspace, temp, installed[1], SHARDS="2", ENVCHECK=str(action_path),
                          ENVCHECK_CACHE_DIR=str(envcheck_cache))
    # plan: install, then the plan as text in the log and as the job's matrix output.
    install = flow.run("plan", "Install envcheck")
    assert install.returncode == 0, install.stderr
    assert _job_step("merge", "Install envcheck")["run"] == _job_step("plan", "Install envcheck")["run"]
    planned = flow.run("plan", "plan")
    assert planned.returncode == 0, planned.stderr
    assert re.search(r"^envcheck shard plan \w+: 3 packages, 1 environment, 2 shards", planned.stdout, re.M)
    matrix = json.loads(flow.expression("needs.plan.outputs.matrix", "shard", {}))
    assert [m["shard"] for m in matrix["include"]] == ["1/2", "2/2"]
    # shard jobs: the cache key is the shard's; churn-ok and seed share shard 1's env.
    for entry in matrix["include"]:
        flow.run_shard(installed, entry, envcheck_cache)
        key = flow.outputs["shard"]["restore"]["cache-primary-key"]
        assert key == f"envcheck-Linux-shard-{entry['index']}-{entry['cache-key']}"
        prune = flow.run("shard", "Drop environments this shard did not use", entry)
        assert prune.returncode == 0, prune.stderr
    assert sorted(a.name for a in flow.artifacts.iterdir()) == ["envcheck-shard-1-of-2",
                                                                 "envcheck-shard-2-of-2"]
    # merge: the summary holds every package, the exit code is a single run's.
    flow.download(_job_step("merge", "actions/download-artifact@v4")["with"]["pattern"],
                  "reports")
    merged = flow.run("merge", "Merge the shards' reports")
    assert merged.returncode == 1, merged.stdout + merged.stderr
    summary = flow.summary.read_text(encoding="utf-8")
    assert summary.count("# envcheck report") == 1
    assert "## ✅ churn-model — pass" in summary and "## ❌ broken-example — fail" in summary
    assert "| `load.warnings` | ❌ fail |" in summary  # seed, really loaded in its env
    assert re.search(r"^::error file=models/bad/requirements\.txt,line=3,", merged.stdout, re.M)
    assert "envcheck: 3 packages: 1 passed, 2 failed" in merged.stdout
    suites = ET.parse(workspace / "envcheck-junit.xml").getroot().findall("testsuite")
    assert len(suites) == 3
    # A report over the summary's limit: its start, a note, and the verdict line.
    flow.env["SUMMARY_LIMIT"] = "700"
    flow.summary.unlink()
    assert flow.run("merge", "Merge the shards' reports").returncode == 1
    cut = flow.summary.read_text(encoding="utf-8")
    assert cut.startswith("# envcheck report\n") and len(cut.encode()) < 700 + 200
    assert "all of it is in the artifact envcheck-report" in cut
    assert cut.endswith("\nenvcheck: 3 packages: 1 passed, 2 failed\n"), cut
    assert (workspace / "summary.md").stat().st_size > 700  # the artifact keeps all of it
    # A shard whose job uploaded nothing: the merge fails, naming it, in the summary too.
    shutil.rmtree(flow.artifacts / "envcheck-shard-2-of-2")
    flow.download("envcheck-shard-*", "reports")
    flow.summary.unlink()
    (workspace / "summary.md").unlink()
    failed = flow.run("merge", "Merge the shards' reports")
    assert failed.returncode == 2
    assert "envcheck: error: missing shard 2/2: no report given for it" in failed.stderr
    assert flow.summary.read_text(encoding="utf-8").startswith("## envcheck merge failed\n\n"
                                                              "envcheck: error: missing shard 2/2")
