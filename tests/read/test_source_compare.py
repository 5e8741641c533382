"""envcheck.read.source_compare: the comparisons, on plain data."""

from __future__ import annotations

from packaging.specifiers import SpecifierSet

from envcheck.read.source_compare import (
    Declared,
    Locked,
    against_lock,
    between_declared,
    between_locks,
    missing_from,
)


def declared(name: str, spec: str, line: int, marker: str | None = None) -> Declared:
    return Declared(name, f"{name}{spec}", SpecifierSet(spec), line, marker)


def test_against_lock_accepts_any_forked_version() -> None:
    locked = {"numpy": [Locked("1.24.4", 40), Locked("2.1.0", 60)]}
    assert against_lock([declared("numpy", ">=2", 3)], locked, "pyproject.toml", "uv.lock",
                        None, "re-lock") == []
    [finding] = against_lock([declared("numpy", ">=3", 3)], locked, "pyproject.toml",
                             "uv.lock", None, "re-lock")
    assert finding.location == "pyproject.toml:3"
    assert finding.details == {"requirement": "numpy>=3", "lock_file": "uv.lock",
                               "package": "numpy", "locked": "1.24.4", "lock_line": 40}


def test_marker_for_another_python_may_be_missing() -> None:
    reqs = [declared("tomli", "", 2, 'python_version < "3.11"')]
    assert against_lock(reqs, {}, "a", "b", "3.12", "fix") == []
    assert len(against_lock(reqs, {}, "a", "b", "3.10", "fix")) == 1
    assert missing_from(reqs, set(), "a", "b", "3.12") == []


def test_between_declared_only_an_excluded_pin_disagrees() -> None:
    ours = [declared("scikit-learn", "==1.5.2", 1), declared("numpy", ">=1.26", 2)]
    theirs = [declared("scikit-learn", ">=1.5,<1.6", 4), declared("numpy", "==1.25.0", 5)]
    [finding] = between_declared(theirs, ours, "pyproject.toml", "requirements.txt", None)
    assert finding.location == "pyproject.toml:5"
    assert finding.message == ("numpy==1.25.0 disagrees with numpy>=1.26 (requirements.txt:2): "
                               "envcheck installs requirements.txt; make the two agree")


def test_between_locks_names_both_lines() -> None:
    [finding] = between_locks({"six": [Locked("1.15.0", 7)], "a": [Locked("1", 2)]},
                              {"six": [Locked("1.16.0", 9)], "a": [Locked("1", 3)]},
                              "pylock.toml", "uv.lock")
    assert finding.message == ("six is pinned differently: pylock.toml:7 pins 1.15.0, "
                               "uv.lock:9 pins 1.16.0; envcheck installs uv.lock: re-lock one "
                               "from the other")
