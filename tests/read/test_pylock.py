"""envcheck.read.pylock on real PEP 751 locks (exported by uv) and on packages from vcs,
directories and archives."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import FIXTURES

from envcheck.model.findings import Severity
from envcheck.read.pylock import read_pylock

SOURCES = FIXTURES / "sources"
HEAD = 'lock-version = "1.0"\nrequires-python = ">=3.9"\ncreated-by = "hand"\n'
SIX = f'''
[[packages]]
name = "six"
version = "1.16.0"
index = "https://pypi.org/simple"
wheels = [{{ url = "https://files.pythonhosted.org/six-1.16.0-py2.py3-none-any.whl", hashes = {{ sha256 = "{'a' * 64}" }} }}]
'''


def read(path: Path):
    source, notes = read_pylock(path, path.parent)
    assert source is not None and notes == []
    return source


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pylock.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_real_export_pins_and_hashes_every_package() -> None:
    source = read(SOURCES / "pylock-ok" / "pylock.toml")
    assert source.complete and source.ok and source.reqs.findings == []
    assert (source.python, source.python_line) == ("==3.11.*", 3)
    pins = source.reqs.pins()
    assert (pins["scikit-learn"], pins["numpy"], pins["pandas"]) == ("1.5.2", "1.26.4", "2.2.2")
    assert all("--hash=sha256:" in line for line in source.reqs.install_lines())
    pandas = next(r for r in source.reqs.direct if r.name == "pandas")
    assert pandas.line == 35  # its [[packages]] header
    assert source.declared == []  # PEP 751 records no direct requirements


def test_markers_are_kept() -> None:
    source = read(SOURCES / "corpus" / "forks.pylock.toml")
    lines = source.reqs.install_lines()
    assert any(line.startswith('exceptiongroup==1.3.2 ; python_full_version < "3.11"')
               for line in lines)


def test_vcs_and_archive_are_installed_with_warnings(tmp_path: Path) -> None:
    commit = "0123456789abcdef0123456789abcdef01234567"
    path = write(tmp_path, HEAD + f'''
[[packages]]
name = "mylib"
vcs = {{ type = "git", url = "https://example.org/mylib.git", commit-id = "{commit}" }}

[[packages]]
name = "tool"
version = "1.0"
archive = {{ url = "https://example.org/tool-1.0.tar.gz", hashes = {{ sha256 = "{'b' * 64}" }} }}
''')
    source = read(path)
    lines = source.reqs.install_lines()
    assert f"mylib @ git+https://example.org/mylib.git@{commit}" in lines
    assert "tool @ https://example.org/tool-1.0.tar.gz" in lines  # hash dropped: all or none
    messages = [f.message for f in source.reqs.findings if f.severity is Severity.WARNING]
    assert any("installs from version control at a fixed commit" in m for m in messages)
    assert any("installs from a URL: reproducible only while that server keeps the file" in m
               for m in messages)
    assert any(m.startswith("mylib in pylock.toml come with no file hash") for m in messages)
    assert source.ok


def test_directory_and_local_archive_are_errors(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + SIX + '''
[[packages]]
name = "helpers"
directory = { path = "libs/helpers", editable = true }

[[packages]]
name = "wheelhouse"
version = "1.0"
archive = { path = "dist/wheelhouse-1.0.tar.gz", hashes = { sha256 = "00" } }
''')
    source = read(path)
    errors = [(f.line, f.message) for f in source.reqs.findings if f.severity is Severity.ERROR]
    assert [line for line, _ in errors] == [11, 15]
    assert errors[0][1] == ("helpers comes from the local path 'libs/helpers' (pylock.toml:11): "
                            "not reproducible from PyPI, a fresh machine does not have it; "
                            "publish it, or put its modules beside the interface")
    assert "'dist/wheelhouse-1.0.tar.gz'" in errors[1][1]
    assert source.reqs.install_lines() == [f"six==1.16.0 --hash=sha256:{'a' * 64}"]
    assert not source.ok


def test_another_index_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + SIX.replace("https://pypi.org/simple",
                                              "https://pkgs.example.org/simple"))
    source = read(path)
    assert source.reqs.option_lines() == ["--extra-index-url https://pkgs.example.org/simple"]
    assert any(f.message.startswith("--extra-index-url https://pkgs.example.org/simple: the "
                                    "package points the installer at a source outside it")
               for f in source.reqs.findings)


@pytest.mark.parametrize("text, message", [
    ("[[packages]]\nname = 'x'\n", "pylock.toml is not a PEP 751 lock (it needs lock-version "
                                   "and [[packages]])"),
    ('lock-version = "2.0"\n' + SIX, "pylock.toml has lock-version 2.0: envcheck reads "
                                     "version 1 locks"),
    ('lock-version = "1.0"\n[[packages]]\nname = "x"\n', "x (pylock.toml:2) has no version and "
                                                         "no vcs, directory or archive"),
])
def test_what_is_not_a_usable_lock_is_an_error(tmp_path: Path, text: str, message: str) -> None:
    source = read(write(tmp_path, text))
    assert not source.ok
    assert any(f.severity is Severity.ERROR and f.message.startswith(message)
               for f in source.reqs.findings), [f.message for f in source.reqs.findings]
