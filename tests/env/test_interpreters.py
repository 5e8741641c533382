"""env.python: which interpreter a package gets, and where it is found.

Uses the real interpreters under $PYENV_ROOT/versions (3.8-3.13 on the dev/CI machine).
"""

from __future__ import annotations

import json
import os
import platform
import stat
import sys
from pathlib import Path

import pytest

from envcheck.env.interpreters import (
    current_interpreter,
    find_interpreter,
    parse_request,
    pyenv_root,
    query_interpreter,
    select_interpreter,
)
from envcheck.model.findings import Severity, Status
from envcheck.model.package import ModelPackage


def _pyenv_has(minor: str) -> bool:
    versions = pyenv_root() / "versions"
    return versions.is_dir() and any(d.name.startswith(minor + ".") for d in versions.iterdir())


needs_38 = pytest.mark.skipif(not _pyenv_has("3.8"), reason="no pyenv Python 3.8")
needs_39 = pytest.mark.skipif(not _pyenv_has("3.9"), reason="no pyenv Python 3.9")
needs_310 = pytest.mark.skipif(not _pyenv_has("3.10"), reason="no pyenv Python 3.10")
needs_312 = pytest.mark.skipif(not _pyenv_has("3.12"), reason="no pyenv Python 3.12")


def make_pkg(root: Path, metadata: dict | None = None) -> ModelPackage:
    root.mkdir(parents=True, exist_ok=True)
    return ModelPackage(root=root, metadata_path=root / "metadata.yaml",
                        requirements_path=root / "requirements.txt",
                        interface_path=root / "interface.py", metadata=metadata or {})


@pytest.mark.parametrize("text,expected", [
    ("3.8", "==3.8.*"),
    ("3.8.18", "==3.8.18"),
    (">=3.9", ">=3.9"),
    ("python3.10", "==3.10.*"),
    ("3.11.*", "==3.11.*"),
    ("3", "==3.*"),
])
def test_parse_request(text: str, expected: str) -> None:
    assert str(parse_request(text)) == expected


@pytest.mark.parametrize("text", ["abc", "", "three point eight"])
def test_parse_request_rejects_non_versions(text: str) -> None:
    assert parse_request(text) is None


def test_no_request_is_the_running_interpreter() -> None:
    found = find_interpreter(None)
    assert found is not None
    assert found.version == platform.python_version()
    assert found.path == Path(sys.executable)


def test_a_request_the_running_interpreter_satisfies_needs_no_search() -> None:
    here = current_interpreter()
    assert find_interpreter(here.major_minor) == here


@pytest.mark.slow
def test_query_runs_the_interpreter() -> None:
    facts = query_interpreter(sys.executable)
    assert facts is not None
    assert facts.version == platform.python_version()
    assert facts.implementation == sys.implementation.name
    assert facts.platform  # e.g. linux-x86_64


@pytest.mark.slow
@needs_38
def test_finds_38_under_pyenv() -> None:
    found = find_interpreter("3.8")
    assert found is not None
    assert found.version.startswith("3.8.")
    assert str(found.path).startswith(str(pyenv_root() / "versions"))


@pytest.mark.slow
@needs_39
def test_a_failing_python39_on_path_is_not_trusted(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Like a pyenv shim for an inactive version: exists, executable, exits 127."""
    fake = tmp_path / "bin" / "python3.9"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'pyenv: python3.9: command not found' >&2\nexit 127\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    assert query_interpreter(fake) is None
    found = find_interpreter("3.9")
    assert found is not None and found.path != fake
    assert found.version.startswith("3.9.")


@pytest.mark.slow
def test_an_impossible_version_is_not_found() -> None:
    assert find_interpreter("3.99") is None


@pytest.mark.slow
def test_an_interpreter_path_is_accepted() -> None:
    found = find_interpreter(sys.executable)
    assert found is not None and found.version == platform.python_version()


# ----------------------------------------------------------------- select_interpreter


@pytest.mark.slow
@needs_38
def test_metadata_python_version_38_selects_38(tmp_path: Path) -> None:
    pkg = make_pkg(tmp_path / "pkg", {"name": "m", "python_version": "3.8"})
    interp, result = select_interpreter(pkg, None)
    assert result.id == "env.python"
    assert result.status is Status.PASS
    assert interp.version.startswith("3.8.")
    assert "python_version in metadata.yaml" in result.findings[0].message
    assert result.findings[0].details["requested"] == "3.8"
    assert result.findings[0].file == "metadata.yaml"


@pytest.mark.slow
@needs_310
def test_override_beats_metadata(tmp_path: Path) -> None:
    pkg = make_pkg(tmp_path / "pkg", {"python_version": "3.8"})
    interp, result = select_interpreter(pkg, "3.10")
    assert interp.version.startswith("3.10.")
    assert "--python" in result.findings[0].message


@pytest.mark.slow
@needs_39
def test_reference_environment_python_matches_major_minor(tmp_path: Path) -> None:
    pkg = make_pkg(tmp_path / "pkg")
    (pkg.root / "reference").mkdir()
    # A patch version this machine does not have: the minor is what counts.
    (pkg.root / "reference" / "environment.json").write_text(
        json.dumps({"python": "3.9.1", "packages": {}}))
    interp, result = select_interpreter(pkg, None)
    assert interp.version.startswith("3.9.")
    assert "reference/environment.json" in result.findings[0].message
    assert result.status is Status.PASS


@pytest.mark.slow
@needs_312
def test_python_version_file(tmp_path: Path) -> None:
    pkg = make_pkg(tmp_path / "pkg")
    (pkg.root / ".python-version").write_text("# pyenv local\n3.12\n")
    interp, result = select_interpreter(pkg, None)
    assert interp.version.startswith("3.12.")
    assert result.findings[0].file == ".python-version"


def test_nothing_asked_uses_the_running_interpreter(tmp_path: Path) -> None:
    pkg = make_pkg(tmp_path / "pkg", {"name": "m"})
    interp, result = select_interpreter(pkg, None)
    assert interp == current_interpreter()
    assert result.status is Status.PASS
    assert "running interpreter" in result.findings[0].message


@pytest.mark.slow
def test_missing_version_warns_naming_asked_and_used(tmp_path: Path) -> None:
    pkg = make_pkg(tmp_path / "pkg", {"python_version": "3.99"})
    interp, result = select_interpreter(pkg, None)
    assert interp == current_interpreter()
    assert result.status is Status.WARN
    finding = result.findings[0]
    assert finding.severity is Severity.WARNING
    assert "3.99" in finding.message
    assert platform.python_version() in finding.message
    assert finding.details["requested"] == "3.99"


@pytest.mark.slow
@needs_38
def test_missing_pyenv_and_path_means_not_found(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """With 3.8 nowhere to be seen (empty PATH, empty pyenv), the warning says so."""
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "no-pyenv"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    pkg = make_pkg(tmp_path / "pkg", {"python_version": "3.8"})
    interp, result = select_interpreter(pkg, None)
    assert result.status is Status.WARN
    assert "Python 3.8 asked by python_version in metadata.yaml was not found" in \
        result.findings[0].message
    assert interp == current_interpreter()


def test_unquoted_yaml_version_gets_a_hint(tmp_path: Path) -> None:
    pkg = make_pkg(tmp_path / "pkg", {"python_version": 3.10})  # what YAML gives for 3.10
    _interp, result = select_interpreter(pkg, None)
    assert result.status is Status.WARN
    assert 'quote it (python_version: "3.10")' in result.findings[0].message


def test_facts_are_remembered_across_processes(tmp_path, monkeypatch) -> None:
    """A warm check must not run every interpreter again: facts persist in the cache dir,
    keyed by path, mtime and size."""
    import json
    import sys

    from envcheck.env import interpreters

    monkeypatch.setattr(interpreters, "_FACTS", {})
    first = interpreters.query_interpreter(sys.executable, tmp_path)
    assert first is not None
    facts_file = tmp_path / "interpreters.json"
    facts = json.loads(facts_file.read_text())
    (key,) = [k for k in facts if k.startswith(f"{sys.executable}|")]
    # A new process (empty in-memory cache) reads the file instead of running Python:
    # prove it by planting a version only the file could have produced.
    facts[key]["version"] = "9.9.9"
    facts_file.write_text(json.dumps(facts))
    monkeypatch.setattr(interpreters, "_FACTS", {})
    assert interpreters.query_interpreter(sys.executable, tmp_path).version == "9.9.9"
