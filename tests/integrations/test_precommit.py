"""The pre-commit hook: .pre-commit-hooks.yaml and envcheck.integrations.precommit on real fixtures."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import FIXTURES, REPO

from envcheck.integrations.precommit import main, package_root, package_roots

HOOKS_FILE = REPO / ".pre-commit-hooks.yaml"
# What pre-commit itself requires of a hook definition, and the languages it knows.
REQUIRED_KEYS = {"id", "name", "entry", "language"}


def _hooks() -> list[dict]:
    return yaml.safe_load(HOOKS_FILE.read_text(encoding="utf-8"))


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user's repository with two real fixture packages and a file in neither."""
    root = tmp_path / "repo"
    shutil.copytree(FIXTURES / "packages" / "churn-ok", root / "models" / "churn-ok")
    shutil.copytree(FIXTURES / "broken" / "bad-requirement-line", root / "models" / "bad")
    (root / "README.md").write_text("# models\n", encoding="utf-8")
    (root / "scripts").mkdir()
    (root / "scripts" / "train.py").write_text("print('hi')\n", encoding="utf-8")
    monkeypatch.chdir(root)
    return root


# --------------------------------------------------------------------------- the hook file

def test_hooks_file_has_what_pre_commit_requires() -> None:
    hooks = _hooks()
    assert isinstance(hooks, list) and hooks
    for hook in hooks:
        assert REQUIRED_KEYS <= hook.keys(), hook
        assert hook["language"] == "python"
        assert hook["pass_filenames"] is True
        # The entry runs a module that exists in this package.
        assert hook["entry"] == "python -m envcheck.integrations.precommit"
        assert importlib.util.find_spec("envcheck.integrations.precommit") is not None
    ids = [hook["id"] for hook in hooks]
    assert ids[0] == "envcheck" and len(ids) == len(set(ids))
    assert _hooks()[0]["args"] == ["--static"]


@pytest.mark.parametrize("path, matches", [
    ("models/churn/metadata.yaml", True),
    ("metadata.yaml", True),
    ("models/churn/requirements.txt", True),
    ("models/churn/requirements.lock", True),
    ("models/churn/interface.py", True),
    ("models/churn/model.pkl", True),
    ("models/churn/pipeline.joblib", True),
    ("models/churn/reference/outputs.json", True),
    ("models/churn/.python-version", True),
    ("models/churn-mlflow/MLmodel", True),
    ("models/churn-mlflow/python_env.yaml", True),
    ("models/churn-mlflow/conda.yaml", True),
    ("models/churn-mlflow/model.skops", True),
    ("models/churn-mlflow/input_example.json", True),
    ("models/churn/pyproject.toml", True),
    ("models/churn/uv.lock", True),
    ("models/churn/pylock.toml", True),
    ("models/churn/pylock.churn.toml", True),
    ("models/churn/environment.yml", True),
    ("models/churn/setup.sh", True),
    # BentoML's marker files, so that registering the format is all it takes.
    ("bentos/churn/bentofile.yaml", True),
    ("bentos/churn/bento.yaml", True),
    ("models/churn/model.yaml", True),
    ("models/churn/uv.lock.bak", False),
    ("models/churn/train.py", False),
    ("docs/requirements.txt.bak", False),
    ("models/churn/other_metadata.yaml", False),
    ("README.md", False),
])
def test_files_pattern(path: str, matches: bool) -> None:
    # pre-commit applies `files` with re.search to paths relative to the repository.
    for hook in _hooks():
        assert bool(re.search(hook["files"], path)) is matches, (hook["id"], path)


# --------------------------------------------------------------------------- mapping files

def test_package_root_walks_up_to_metadata(repo: Path) -> None:
    pkg = repo / "models" / "churn-ok"
    (pkg / "reference").mkdir()
    (pkg / "reference" / "outputs.json").write_text("{}", encoding="utf-8")
    assert package_root("models/churn-ok/metadata.yaml") == pkg
    assert package_root("models/churn-ok/reference/outputs.json") == pkg
    assert package_root(pkg / "model.pkl") == pkg
    assert package_root("models/churn-ok") == pkg  # a directory counts itself
    assert package_root("scripts/train.py") is None
    assert package_root("README.md") is None


def test_package_root_stops_at_the_repository(repo: Path, tmp_path: Path) -> None:
    # A metadata.yaml above the repository (here: its parent) belongs to nobody's commit.
    (tmp_path / "metadata.yaml").write_text("name: outside\n", encoding="utf-8")
    assert package_root("scripts/train.py") is None
    assert package_root(tmp_path / "elsewhere.txt") == tmp_path  # its own dir still counts


def test_package_root_recognises_mlflow_model_directories(repo: Path) -> None:
    mlflow_dir = repo / "models" / "churn-mlflow"
    shutil.copytree(FIXTURES / "mlflow" / "churn-skops", mlflow_dir)
    assert package_root("models/churn-mlflow/MLmodel") == mlflow_dir
    assert package_root("models/churn-mlflow/requirements.txt") == mlflow_dir
    assert package_root("models/churn-mlflow/model.skops") == mlflow_dir


def test_package_root_asks_every_registered_format(repo: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The extension point: a format added to read.formats.FORMATS (BentoML) is
    recognised by the hook with no change to it."""
    from envcheck.integrations import precommit

    class Bento:
        name = "bento"

        def detect(self, path: Path) -> bool:
            return (path / "bentofile.yaml").is_file()

    bento = repo / "bentos" / "churn"
    bento.mkdir(parents=True)
    (bento / "bentofile.yaml").write_text("service: service:svc\n", encoding="utf-8")
    assert package_root("bentos/churn/bentofile.yaml") is None
    monkeypatch.setattr(precommit, "FORMATS", (*precommit.FORMATS, Bento()))
    assert package_root("bentos/churn/bentofile.yaml") == bento


def test_package_root_of_a_file_in_a_bento_is_the_bento(repo: Path) -> None:
    """A bento holds model-store entries, packages of their own: a file inside one belongs to
    the bento around it, while an entry on its own is its own package."""
    bento = repo / "bentos" / "churn"
    shutil.copytree(FIXTURES / "bentoml" / "bento-match", bento)
    entry_yaml = next(bento.glob("models/churn/*/model.yaml"))
    assert package_root(entry_yaml.relative_to(repo)) == bento
    assert package_root("bentos/churn/src/service.py") == bento
    store = repo / "store" / "churn"
    shutil.copytree(FIXTURES / "bentoml" / "store-match", store)
    assert package_root("store/churn/model.yaml") == store


def test_hook_checks_an_mlflow_directory(repo: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copytree(FIXTURES / "mlflow" / "churn-mismatch", repo / "models" / "mlflow-bad")
    code = main(["--static", "--format", "json", "models/mlflow-bad/requirements.txt"])
    [package] = _json_report(capsys)["packages"]
    assert package["path"] == "models/mlflow-bad"
    versions = next(c for c in package["checks"] if c["id"] == "pickle.versions")
    assert versions["status"] == "fail"
    # what MLmodel records (the last finding, after what model.skops records itself)
    assert "records sklearn_version 1.5.2" in versions["findings"][-1]["message"]
    assert "scikit-learn==1.6.1" in versions["findings"][-1]["message"]
    assert code == 1


def test_package_roots_dedupe_in_order(repo: Path) -> None:
    roots = package_roots(["models/bad/requirements.txt", "models/churn-ok/model.pkl",
                           "README.md", "models/bad/metadata.yaml",
                           "models/churn-ok/interface.py"])
    assert roots == [repo / "models" / "bad", repo / "models" / "churn-ok"]


# --------------------------------------------------------------------------- the hook run

def _json_report(capsys: pytest.CaptureFixture[str]) -> dict:
    return json.loads(capsys.readouterr().out)


def test_hook_checks_each_touched_package_once(repo: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--static", "--format", "json",
                 "models/churn-ok/metadata.yaml", "models/churn-ok/model.pkl",
                 "models/bad/requirements.txt", "models/bad/interface.py", "README.md"])
    report = _json_report(capsys)
    assert [p["path"] for p in report["packages"]] == ["models/churn-ok", "models/bad"]
    statuses = {p["path"]: p["status"] for p in report["packages"]}
    assert statuses == {"models/churn-ok": "pass", "models/bad": "fail"}
    bad = report["packages"][1]
    parse = next(c for c in bad["checks"] if c["id"] == "requirements.parse")
    assert parse["status"] == "fail"
    assert any(f.get("file") == "requirements.txt" and f.get("line") == 3
               for f in parse["findings"])
    # --static: nothing was built or run.
    assert all(p["environment"] is None for p in report["packages"])
    assert code == 1


def test_hook_passes_a_clean_package(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--static", "--format", "json", "models/churn-ok/requirements.txt"])
    report = _json_report(capsys)
    assert [p["path"] for p in report["packages"]] == ["models/churn-ok"]
    assert code == 0


def test_option_values_are_not_taken_for_files(repo: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--static", "--python", "3.11", "--format", "json",
                 "models/churn-ok/metadata.yaml"])
    report = _json_report(capsys)
    assert [p["path"] for p in report["packages"]] == ["models/churn-ok"]
    assert code == 0


def test_no_package_touched_is_a_pass_with_no_output(repo: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--static", "README.md", "scripts/train.py"]) == 0
    assert main(["--static"]) == 0
    assert capsys.readouterr().out == ""


def test_bad_hook_args_exit_2_with_one_line(repo: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as excinfo:
        main(["--no-such-option", "models/churn-ok/metadata.yaml"])
    assert excinfo.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--no-such-option" in err[0]


def test_entry_as_pre_commit_runs_it(repo: Path) -> None:
    # The hook's entry, exactly as pre-commit runs it: args then filenames, in the repo.
    entry = _hooks()[0]
    cmd = [sys.executable if part == "python" else part for part in entry["entry"].split()]
    proc = subprocess.run([*cmd, *entry["args"], "models/bad/requirements.txt",
                           "models/bad/model.pkl", "README.md"],
                          capture_output=True, text=True, cwd=repo,
                          env=dict(os.environ, NO_COLOR="1"))
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.count("(models/bad)") == 1
    assert "requirements.txt:3" in proc.stdout
    assert "envcheck: 1 package: 0 passed, 1 failed" in proc.stdout


# --------------------------------------------------------------------------- real pre-commit

def _git(cwd: Path, *args: str) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com")
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True, env=env).stdout.strip()


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("git") is None or importlib.util.find_spec("pre_commit") is None,
                    reason="needs git and pre-commit (pip install pre-commit)")
def test_real_pre_commit_runs_the_hook(repo: Path, tmp_path: Path) -> None:
    # This repository as pre-commit sees it: a git repo at a rev (a copy, so that
    # uncommitted work is what gets tested).
    hook_repo = tmp_path / "hook-repo"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", ".git", "*.pyc")
    hook_repo.mkdir()
    for name in ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml", "LICENSE"):
        if (REPO / name).exists():
            shutil.copy2(REPO / name, hook_repo / name)
    shutil.copytree(REPO / "envcheck", hook_repo / "envcheck", ignore=ignore)
    _git(hook_repo, "init", "-q")
    _git(hook_repo, "add", "-A")
    _git(hook_repo, "commit", "-q", "-m", "hooks")
    rev = _git(hook_repo, "rev-parse", "HEAD")

    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {hook_repo}\n    rev: {rev}\n    hooks:\n      - id: envcheck\n",
        encoding="utf-8")
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    env = dict(os.environ, PRE_COMMIT_HOME=str(tmp_path / "pre-commit-home"), NO_COLOR="1")
    run = [sys.executable, "-m", "pre_commit", "run", "--color", "never"]

    failing = subprocess.run([*run, "--files", "models/bad/requirements.txt",
                              "models/churn-ok/model.pkl", "README.md"],
                             cwd=repo, capture_output=True, text=True, env=env)
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert "envcheck (static)" in failing.stdout and "Failed" in failing.stdout
    assert "requirements.txt:3" in failing.stdout
    assert "envcheck: 2 packages: 1 passed, 1 failed" in failing.stdout

    passing = subprocess.run([*run, "--files", "models/churn-ok/metadata.yaml"],
                             cwd=repo, capture_output=True, text=True, env=env)
    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert "Passed" in passing.stdout

    untouched = subprocess.run([*run, "--files", "scripts/train.py"],
                               cwd=repo, capture_output=True, text=True, env=env)
    assert untouched.returncode == 0
    assert "(no files to check)Skipped" in untouched.stdout.replace(".", "")
