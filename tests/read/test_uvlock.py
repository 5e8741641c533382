"""envcheck.read.uvlock on real locks written by `uv lock` (fixtures/sources) and on the
sources uv records outside the registry."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import FIXTURES
from packaging.requirements import Requirement

from envcheck.model.findings import Severity
from envcheck.read.uvlock import read_uv_lock

SOURCES = FIXTURES / "sources"
ROOT_PROJECT = '''version = 1
revision = 3
requires-python = ">=3.9"

[[package]]
name = "model"
version = "1.0"
source = { virtual = "." }
dependencies = [
    { name = "six" },
%s]
'''
SIX = '''
[[package]]
name = "six"
version = "1.16.0"
source = { registry = "https://pypi.org/simple" }
wheels = [
    { url = "https://files.pythonhosted.org/six-1.16.0-py2.py3-none-any.whl", hash = "sha256:%s" },
]
''' % ("a" * 64)


def installed_at(lines: list[str], python: str) -> dict[str, str]:
    """What an installer takes from ``lines`` on Linux under ``python`` (X.Y.Z)."""
    environment = {"python_version": python.rsplit(".", 1)[0], "python_full_version": python,
                   "sys_platform": "linux", "platform_system": "Linux", "os_name": "posix",
                   "implementation_name": "cpython", "platform_machine": "x86_64"}
    out: dict[str, str] = {}
    for line in lines:
        req = Requirement(line.split(" --hash=")[0])
        if req.marker is None or req.marker.evaluate(environment):
            assert req.name not in out, f"{req.name} twice for {python}"
            out[req.name] = str(req.specifier).lstrip("=")
    return out


def read(path: Path):
    source, notes = read_uv_lock(path, path.parent)
    assert source is not None and notes == []
    return source


def test_real_lock_gives_every_package_pinned_and_hashed() -> None:
    source = read(SOURCES / "uvlock-ok" / "uv.lock")
    assert source.complete and source.ok and source.reqs.findings == []
    lines = source.reqs.install_lines()
    assert all("==" in line and "--hash=sha256:" in line for line in lines)
    assert installed_at(lines, "3.11.7")["scikit-learn"] == "1.5.2"
    assert {r.name for r in source.reqs.direct} >= {"numpy", "pandas", "scipy", "threadpoolctl"}
    assert "churn-model" not in {r.name for r in source.reqs.direct}  # the project itself
    assert (source.python, source.python_line) == ("==3.11.*", 3)
    # The root's requires-dist, with their lines: what the lock was made from.
    assert [(r.name, r.line, str(r.requirement.specifier)) for r in source.declared] == [
        ("numpy", 17, "==1.26.4"), ("pandas", 18, "==2.2.2"), ("scikit-learn", 19, "==1.5.2")]
    sklearn = next(r for r in source.reqs.direct if r.name == "scikit-learn")
    assert sklearn.line == 101  # its [[package]] header


@pytest.mark.parametrize("python, expected", [
    ("3.7.16", {"six": "1.16.0", "tomli": "2.0.1", "exceptiongroup": "1.3.2",
                "typing-extensions": "4.7.1"}),
    ("3.8.18", {"six": "1.16.0", "tomli": "2.5.0", "exceptiongroup": "1.3.2",
                "typing-extensions": "4.13.2"}),
    ("3.10.13", {"six": "1.16.0", "tomli": "2.5.0", "exceptiongroup": "1.3.2",
                 "typing-extensions": "4.16.0"}),
    # typing-extensions comes only through exceptiongroup (python < 3.11): not on 3.12.
    ("3.12.1", {"six": "1.16.0", "tomli": "2.5.0"}),
])
def test_forked_lock_resolves_one_version_per_python(python: str, expected: dict) -> None:
    source = read(SOURCES / "corpus" / "forks.uv.lock")
    assert installed_at(source.reqs.install_lines(), python) == expected


def test_uv_lock_and_its_pylock_export_install_the_same() -> None:
    from envcheck.read.pylock import read_pylock

    for folder, lock, pylock in (("uvlock-ok", "uv.lock", "../pylock-ok/pylock.toml"),
                                 ("corpus", "forks.uv.lock", "forks.pylock.toml")):
        uv_source = read(SOURCES / folder / lock)
        py_source, _ = read_pylock(SOURCES / folder / pylock, SOURCES / folder)
        assert py_source is not None
        for python in ("3.7.16", "3.9.18", "3.11.7", "3.13.0"):
            assert installed_at(uv_source.reqs.install_lines(), python) == \
                installed_at(py_source.reqs.install_lines(), python)
    # Same lines, same env key: one env for both.
    assert read(SOURCES / "uvlock-ok" / "uv.lock").reqs.install_lines() == \
        read_pylock(SOURCES / "pylock-ok" / "pylock.toml", SOURCES)[0].reqs.install_lines()


def last_header(path: Path) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return max(i + 1 for i, line in enumerate(lines) if line == "[[package]]")


def write_lock(tmp_path: Path, deps: str, packages: str) -> Path:
    path = tmp_path / "uv.lock"
    path.write_text(ROOT_PROJECT % deps + SIX + packages, encoding="utf-8")
    return path


def test_git_source_is_installed_at_its_commit_with_a_warning(tmp_path: Path) -> None:
    commit = "0123456789abcdef0123456789abcdef01234567"
    path = write_lock(tmp_path, '    { name = "mylib" },\n', f'''
[[package]]
name = "mylib"
version = "0.1"
source = {{ git = "https://example.org/mylib?rev=main#{commit}" }}
''')
    source = read(path)
    assert f"mylib @ git+https://example.org/mylib@{commit}" in source.reqs.install_lines()
    warned = [(f.line, f.message) for f in source.reqs.findings
              if f.severity is Severity.WARNING]
    assert (last_header(path), f"'mylib @ git+https://example.org/mylib@{commit}' installs from version "
                f"control at a fixed commit: reproducible only while that repository exists") \
        in warned
    # Hash-checking is all or nothing: six's hash is dropped, and that is said.
    assert "six==1.16.0" in source.reqs.install_lines()
    assert any(m.startswith("mylib in uv.lock come with no file hash") for _, m in warned)
    assert source.ok


def test_path_source_is_an_error_naming_the_line(tmp_path: Path) -> None:
    path = write_lock(tmp_path, '    { name = "helpers" },\n', '''
[[package]]
name = "helpers"
version = "0.1"
source = { editable = "libs/helpers" }
''')
    source = read(path)
    [problem] = [f for f in source.reqs.findings if f.severity is Severity.ERROR]
    assert (problem.file, problem.line) == ("uv.lock", last_header(path))
    assert problem.message == (
        f"helpers comes from the local path 'libs/helpers' (uv.lock:{problem.line}): not "
        "reproducible from "
        "PyPI, a fresh machine does not have it; publish it, or put its modules beside the "
        "interface")
    assert not source.ok
    assert all(not line.startswith("helpers") for line in source.reqs.install_lines())


def test_direct_url_and_other_registry_are_warnings(tmp_path: Path) -> None:
    path = write_lock(tmp_path, '    { name = "tool" },\n    { name = "private" },\n', f'''
[[package]]
name = "private"
version = "2.0"
source = {{ registry = "https://pkgs.example.org/simple" }}
wheels = [{{ url = "https://pkgs.example.org/private-2.0-py3-none-any.whl", hash = "sha256:{'b' * 64}" }}]

[[package]]
name = "tool"
version = "1.0"
source = {{ url = "https://example.org/tool-1.0-py3-none-any.whl" }}
wheels = [{{ url = "https://example.org/tool-1.0-py3-none-any.whl", hash = "sha256:{'c' * 64}" }}]
''')
    source = read(path)
    assert source.reqs.option_lines() == ["--extra-index-url https://pkgs.example.org/simple"]
    messages = [f.message for f in source.reqs.findings if f.severity is Severity.WARNING]
    assert any(m.startswith("--extra-index-url https://pkgs.example.org/simple: the package "
                            "points the installer at a source outside it") for m in messages)
    assert any(m.startswith("'tool @ https://example.org/tool-1.0-py3-none-any.whl' installs "
                            "from a URL") for m in messages)
    assert source.ok


@pytest.mark.parametrize("text, message, line", [
    ("version = 1\n[[package]\nname = 'x'\n", "uv.lock is not valid TOML", 2),
    ("version = 1\n", "uv.lock has no [[package]] tables: not a uv lock", None),
    ("version = 1\n[[package]]\nname = 'x'\nversion = '1'\nsource = { registry = 'r' }\n",
     'uv.lock locks no project at the package root (no [[package]] with source virtual or '
     'editable ".")', None),
])
def test_broken_lock_is_one_error(tmp_path: Path, text: str, message: str, line) -> None:
    path = tmp_path / "uv.lock"
    path.write_text(text, encoding="utf-8")
    source = read(path)
    [problem] = source.reqs.findings
    assert problem.severity is Severity.ERROR and problem.message.startswith(message)
    assert problem.line == line and not source.ok


def test_an_ambiguous_dependency_is_an_error(tmp_path: Path) -> None:
    path = write_lock(tmp_path, "", SIX)  # six twice, and the root names it without version
    source = read(path)
    assert [f.message for f in source.reqs.findings] == [
        "'six', a dependency of 'model', matches 2 [[package]] tables of uv.lock: the lock "
        "is inconsistent; run 'uv lock' to bring it up to date"]
