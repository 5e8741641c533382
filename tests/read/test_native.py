"""read_package: layout, the five read checks on good and broken packages, nothing written."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Optional

import pytest
from conftest import FIXTURES, skip_if_newer_target

from envcheck.model import checks as registry
from envcheck.model.findings import Status
from envcheck.model.options import Options
from envcheck.model.package import ModelPackage
from envcheck.read.formats import read_package

READ_CHECKS = ["package.layout", "metadata.schema", "package.settings", "requirements.parse",
               "requirements.pinned", "interface.contract"]
BROKEN = FIXTURES / "broken"
PACKAGES = FIXTURES / "packages"

# fixture -> (the check it fails, status, file, line, message fragment, checks skipped)
BROKEN_TABLE: dict[str, tuple[str, Status, Optional[str], Optional[int], str, tuple[str, ...]]] = {
    "no-metadata": ("package.layout", Status.FAIL, "metadata.yaml", None,
                    "metadata.yaml is missing: it names the model", ("metadata.schema",)),
    "no-requirements": ("package.layout", Status.FAIL, "requirements.txt", None,
                        "requirements.txt is missing: without it a fresh machine",
                        ("requirements.parse", "requirements.pinned")),
    "no-interface": ("package.layout", Status.FAIL, "interface.py", None,
                     "interface.py is missing: it must define load_model()",
                     ("interface.contract",)),
    "no-artifact": ("package.layout", Status.FAIL, None, None,
                    "no model artifact: expected *.pkl, *.pickle, *.joblib", ()),
    "artifact-named-missing": ("package.layout", Status.FAIL, "metadata.yaml", None,
                               "artifact model.joblib named in metadata.yaml", ()),
    "bad-yaml": ("metadata.schema", Status.FAIL, "metadata.yaml", 6,
                 "not valid YAML: expected ',' or '}'", ()),
    "schema-missing-name": ("metadata.schema", Status.FAIL, "metadata.yaml", 1,
                            "name: missing required key 'name'", ()),
    "categorical-without-categories": ("metadata.schema", Status.FAIL, "metadata.yaml", 6,
                                       "input_features[1].categories: missing required key", ()),
    "bad-settings": ("metadata.schema", Status.FAIL, "metadata.yaml", 10,
                     "envcheck.timeout: must be number, not string 'soon'", ()),
    "loose-settings": ("package.settings", Status.WARN, "metadata.yaml", None,
                       "metadata.yaml envcheck.allow_warnings: the package allows warnings "
                       "matching '.*'", ()),
    "bad-requirement-line": ("requirements.parse", Status.FAIL, "requirements.txt", 3,
                             "did you mean pandas==2.2.2?", ()),
    "include-cycle": ("requirements.parse", Status.FAIL, "requirements/base.txt", 2,
                      "requirements/base.txt includes requirements.txt, which already "
                      "includes requirements/base.txt", ()),
    "missing-include": ("requirements.parse", Status.FAIL, "requirements.txt", 3,
                        "included file requirements-base.txt does not exist", ()),
    "editable-requirement": ("requirements.parse", Status.FAIL, "requirements.txt", 3,
                             "editable requirement './vendor/mylib' is not reproducible", ()),
    "unpinned": ("requirements.pinned", Status.WARN, "requirements.txt", 1,
                 "scikit-learn is not pinned (>=1.3)", ()),
    "interface-syntax-error": ("interface.contract", Status.FAIL, "interface.py", 11,
                               "syntax error", ()),
    "interface-no-load-model": ("interface.contract", Status.FAIL, "interface.py", None,
                                "does not define load_model() at module level", ()),
    "interface-load-model-literal": ("interface.contract", Status.FAIL, "interface.py", 16,
                                     "load_model is assigned a constant value", ()),
    "interface-missing-import": ("interface.contract", Status.FAIL, "interface.py", 7,
                                 "`import xgboost` needs xgboost, which no requirement installs",
                                 ()),
}


def tree_state(root: Path) -> dict[str, tuple[str, int, int]]:
    """Every entry under root: content hash (or 'dir'), mode and mtime -- any write shows."""
    state: dict[str, tuple[str, int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            digest = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
            state[str(path.relative_to(root))] = (digest, st.st_mode, st.st_mtime_ns)
    st = root.stat()
    state["."] = ("dir", st.st_mode, st.st_mtime_ns)
    return state


def by_id(results):  # noqa: ANN001, ANN201
    return {r.id: r for r in results}


# --------------------------------------------------------------------------- broken packages

def test_every_broken_fixture_is_in_the_table() -> None:
    on_disk = {p.name for p in BROKEN.iterdir() if p.is_dir()}
    assert on_disk == set(BROKEN_TABLE)
    assert {entry[0] for entry in BROKEN_TABLE.values()} == set(READ_CHECKS)


@pytest.mark.parametrize("name", sorted(BROKEN_TABLE))
def test_broken_package_fails_its_check_only(name: str) -> None:
    skip_if_newer_target(name)
    check_id, status, file, line, fragment, skipped = BROKEN_TABLE[name]
    pkg, results = read_package(BROKEN / name, Options())
    assert pkg is not None
    assert [r.id for r in results] == READ_CHECKS
    checks = by_id(results)
    result = checks[check_id]
    assert result.status is status, result.findings
    matching = [f for f in result.findings if fragment in f.message]
    assert matching, [f.message for f in result.findings]
    assert (matching[0].file, matching[0].line) == (file, line)
    for other in READ_CHECKS:
        if other == check_id:
            continue
        expected = Status.SKIP if other in skipped else Status.PASS
        assert checks[other].status is expected, (other, checks[other].findings)


def test_strict_turns_unpinned_into_failure() -> None:
    _, results = read_package(BROKEN / "unpinned", Options(strict=True))
    pinned = by_id(results)["requirements.pinned"]
    assert pinned.status is Status.WARN  # reading reports; --strict is the registry's policy
    pinned = registry.get(pinned.id).apply_strict(pinned)
    assert pinned.status is Status.FAIL
    assert [f.line for f in pinned.findings] == [1, 3]


@pytest.mark.parametrize("name", sorted(BROKEN_TABLE))
def test_components_found_in_broken(name: str) -> None:
    pkg, _ = read_package(BROKEN / name, Options())
    assert pkg is not None
    assert pkg.metadata_ok is (not name.startswith(("no-metadata", "bad-yaml", "schema-", "categorical-", "bad-settings")))
    assert pkg.requirements_ok is (name not in {"no-requirements", "bad-requirement-line",
                                                "include-cycle", "missing-include",
                                                "editable-requirement"})


# --------------------------------------------------------------------------- good packages

GOOD = sorted(p.name for p in PACKAGES.iterdir() if p.is_dir()) if PACKAGES.is_dir() else []


@pytest.mark.parametrize("name", GOOD)
def test_fixture_packages_read_cleanly(name: str) -> None:
    pkg, results = read_package(PACKAGES / name, Options(strict=True))
    assert pkg is not None
    for result in results:
        assert result.status is Status.PASS, (result.id, result.findings)
    assert pkg.metadata_ok and pkg.requirements_ok
    assert pkg.artifacts and all(a.is_file() for a in pkg.artifacts)


def test_churn_ok_fields() -> None:
    root = PACKAGES / "churn-ok"
    if not root.is_dir():
        pytest.skip("fixtures/packages/churn-ok not generated")
    pkg, _ = read_package(root, Options())
    assert pkg is not None
    assert pkg.name == "churn-model" and pkg.python_version == "3.8"
    assert pkg.pins["scikit-learn"] == "1.2.2"
    assert "scikit-learn==1.2.2" in pkg.requirement_lines
    assert pkg.requirement_lines == sorted(pkg.requirement_lines)
    assert pkg.artifacts == [root.resolve() / "model.pkl"]
    assert type(pkg.metadata) is dict and type(pkg.metadata["input_features"]) is list


def build(tmp_path: Path, **files: str) -> Path:
    base = {"metadata.yaml": (BROKEN / "unpinned" / "metadata.yaml").read_text(),
            "requirements.txt": "scikit-learn==1.5.2\nnumpy==1.26.4\npandas==2.2.2\n",
            "interface.py": (BROKEN / "unpinned" / "interface.py").read_text(),
            "model.pkl": "x"}
    base.update(files)
    for name, text in base.items():
        if text is None:
            continue
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_own_good_package_passes(tmp_path: Path) -> None:
    pkg, results = read_package(build(tmp_path), Options(strict=True))
    assert [r.status for r in results] == [Status.PASS] * 6
    assert pkg is not None and pkg.requirements_ok and pkg.metadata_ok


def test_metadata_names_interface_and_artifact_folder(tmp_path: Path) -> None:
    meta = (BROKEN / "unpinned" / "metadata.yaml").read_text()
    root = build(tmp_path, **{
        "metadata.yaml": meta + "interface: serving/api.py\nartifacts: [weights]\n",
        "serving/api.py": "def load_model():\n    return 1\n",
        "weights/a.bin": "1", "weights/sub/b.bin": "2", "interface.py": None, "model.pkl": None})
    pkg, results = read_package(root, Options())
    assert [r.status for r in results] == [Status.PASS] * 6, results
    assert pkg is not None
    assert pkg.interface_path == root.resolve() / "serving" / "api.py"
    assert [pkg.relative(a) for a in pkg.artifacts] == ["weights/a.bin", "weights/sub/b.bin"]


def test_artifact_outside_package_fails(tmp_path: Path) -> None:
    meta = (BROKEN / "unpinned" / "metadata.yaml").read_text()
    (tmp_path / "elsewhere.pkl").write_text("x")
    root = build(tmp_path / "pkg", **{"metadata.yaml": meta + "artifacts: ../elsewhere.pkl\n"})
    _, results = read_package(root, Options())
    layout = by_id(results)["package.layout"]
    assert layout.status is Status.FAIL
    assert "points outside the package" in layout.findings[0].message


def test_missing_interface_suggests_other_file(tmp_path: Path) -> None:
    root = build(tmp_path, **{"interface.py": None, "serve.py": "def load_model(): pass\n"})
    _, results = read_package(root, Options())
    message = by_id(results)["package.layout"].findings[0].message
    assert "found serve.py" in message and "`interface: serve.py`" in message


def test_near_miss_file_name_is_mentioned(tmp_path: Path) -> None:
    meta = (BROKEN / "unpinned" / "metadata.yaml").read_text()
    root = build(tmp_path, **{"metadata.yaml": None, "metadata.yml": meta})
    _, results = read_package(root, Options())
    assert "found metadata.yml" in by_id(results)["package.layout"].findings[0].message


def test_python_version_read_as_float_is_given_back_as_written(tmp_path: Path) -> None:
    meta = (BROKEN / "unpinned" / "metadata.yaml").read_text().replace('"3.11"', "3.10")
    pkg, results = read_package(build(tmp_path, **{"metadata.yaml": meta}), Options())
    assert by_id(results)["metadata.schema"].status is Status.FAIL
    assert pkg is not None and pkg.python_version == "3.10" and not pkg.metadata_ok


def test_invalid_settings_are_not_handed_on(tmp_path: Path) -> None:
    pkg, _ = read_package(BROKEN / "bad-settings", Options())
    assert pkg is not None and pkg.settings == {}


# --------------------------------------------------------------------------- not a package

def test_not_a_package(tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("x")
    for path in (tmp_path / "missing", tmp_path / "file.txt", tmp_path):
        pkg, results = read_package(path, Options())
        assert pkg is None
        (result,) = results
        assert result.id == "package.layout" and result.status is Status.FAIL
        assert "not a model package" in result.findings[0].message


# --------------------------------------------------------------------------- read-only

ALL_PACKAGES = sorted([p for p in BROKEN.iterdir() if p.is_dir()] +
                      ([p for p in PACKAGES.iterdir() if p.is_dir()] if PACKAGES.is_dir() else []))


@pytest.mark.parametrize("root", ALL_PACKAGES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_reading_never_writes(root: Path, tmp_path: Path) -> None:
    # A private copy: another test (or helper) touching the shared fixtures cannot interfere.
    copy = tmp_path / root.name
    shutil.copytree(root, copy, symlinks=True)
    os.chmod(copy, 0o755)
    before = tree_state(copy)
    read_package(copy, Options(strict=True))
    assert tree_state(copy) == before


def test_reading_a_read_only_package(tmp_path: Path) -> None:
    """Even without write permission, reading works (and so cannot depend on writing)."""
    root = build(tmp_path / "pkg")
    modes = {}
    for path in [root, *root.rglob("*")]:
        modes[path] = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        pkg, results = read_package(root, Options())
        assert [r.status for r in results] == [Status.PASS] * 6
    finally:
        for path, mode in modes.items():
            path.chmod(mode)


def test_model_package_keeps_contract_fields() -> None:
    fields = set(ModelPackage.__dataclass_fields__)
    assert {"root", "metadata_path", "requirements_path", "interface_path", "artifacts",
            "metadata", "requirement_lines", "pins", "requirements_ok", "metadata_ok"} <= fields


def test_lock_is_installed_and_disagreements_reported(tmp_path: Path) -> None:
    pkg_dir = tmp_path / "pkg"
    shutil.copytree(PACKAGES / "churn-ok-py311", pkg_dir)
    (pkg_dir / "requirements.lock").write_text(
        "# written by envcheck lock\n"
        "numpy==1.26.4\n"
        "pandas==2.2.2\n"
        "scikit-learn==1.4.2\n"  # requirements.txt says 1.5.2: a stale lock
        "scipy==1.13.1\n")
    pkg, results = read_package(pkg_dir, Options())
    assert pkg is not None
    assert pkg.requirements_path.name == "requirements.lock"
    assert "scipy==1.13.1" in pkg.requirement_lines
    assert pkg.pins["scikit-learn"] == "1.4.2"  # what gets installed is what pickles meet
    parse = next(r for r in results if r.id == "requirements.parse")
    assert parse.status is Status.WARN
    stale = [f for f in parse.findings if "requirements.lock" in f.message]
    assert stale and stale[0].file == "requirements.txt" and stale[0].line == 1
    assert "1.4.2" in stale[0].message
