"""The whole pipeline on the bundled fixtures: real environments, real old pickles."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from conftest import FIXTURES, skip_if_newer_target

import envcheck
from envcheck.commands.check import check_paths
from envcheck.model.checks import CHECK_IDS
from envcheck.model.findings import PackageReport, Severity, Status
from envcheck.model.options import Options

SEED = FIXTURES / "packages" / "churn-sklearn-0.24.2"
OK_38 = FIXTURES / "packages" / "churn-ok"
SKLEARN_132 = FIXTURES / "packages" / "churn-sklearn-1.3.2"
PIPELINE = FIXTURES / "packages" / "churn-pipeline-joblib"
OK_311 = FIXTURES / "packages" / "churn-ok-py311"


def tree_digest(root: Path) -> dict[str, str]:
    """Every file (and its bytes) and directory under root: "byte-identical" made testable."""
    out: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        out[rel] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
    return out


def statuses(package: PackageReport) -> dict[str, str]:
    return {c.id: c.status.value for c in package.checks}


def copy_package(src: Path, tmp_path: Path) -> Path:
    dest = tmp_path / src.name
    shutil.copytree(src, dest)
    return dest


def test_static_reports_seed_mismatch_without_building(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    report = envcheck.check(SEED, static=True, cache_dir=cache)
    package = report.packages[0]
    versions = package.check("pickle.versions")
    assert versions is not None and versions.status is Status.FAIL
    finding = next(f for f in versions.findings if f.details.get("estimator") == "LogisticRegression")
    assert finding.details["pickled_with"] == "0.24.2"
    assert finding.details["declared"] == "1.2.2"
    assert "0.24.2" in finding.message and "1.2.2" in finding.message
    assert package.check("env.build").status is Status.SKIP
    assert package.check("load").status is Status.SKIP
    assert report.exit_code == 1
    assert not (cache / "envs").exists()  # nothing was built


def test_every_check_id_is_reported(tmp_path: Path) -> None:
    report = envcheck.check(OK_38, static=True, cache_dir=tmp_path)
    assert [c.id for c in report.packages[0].checks] == list(CHECK_IDS)


@pytest.mark.slow
def test_seed_scenario_fails_load_warnings_naming_both_versions(envcheck_cache: Path) -> None:
    before = tree_digest(SEED)
    report = envcheck.check(SEED, cache_dir=envcheck_cache)
    package = report.packages[0]
    assert package.environment is not None
    assert package.environment["python"].startswith("3.8.")
    assert package.environment["packages"]["scikit-learn"] == "1.2.2"
    warnings = package.check("load.warnings")
    assert warnings.status is Status.FAIL, statuses(package)
    details = [f.details for f in warnings.findings if f.details.get("estimator")]
    assert {"estimator": "LogisticRegression", "pickled_with": "0.24.2",
            "loaded_with": "1.2.2"}.items() <= details[0].items()
    assert package.check("load").status is Status.PASS
    assert report.exit_code == 1
    assert tree_digest(SEED) == before  # checking never writes inside the package


@pytest.mark.slow
def test_clean_package_passes_and_second_check_reuses_env(envcheck_cache: Path) -> None:
    first = envcheck.check(OK_38, cache_dir=envcheck_cache).packages[0]
    assert first.status is Status.PASS, statuses(first)
    assert first.check("load.warnings").status is Status.PASS
    second = envcheck.check(OK_38, cache_dir=envcheck_cache).packages[0]
    assert second.environment["reused"] is True
    assert second.environment["key"] == first.environment["key"]


@pytest.mark.slow
def test_inconsistent_version_warning_of_sklearn_13(envcheck_cache: Path) -> None:
    package = envcheck.check(SKLEARN_132, cache_dir=envcheck_cache).packages[0]
    warnings = package.check("load.warnings")
    assert warnings.status is Status.FAIL
    finding = next(f for f in warnings.findings if f.details.get("estimator") == "LogisticRegression")
    assert finding.details["pickled_with"] == "1.3.2"
    assert finding.details["loaded_with"] == "1.5.2"


@pytest.mark.slow
def test_pipeline_reports_each_estimator_once(envcheck_cache: Path) -> None:
    package = envcheck.check(PIPELINE, cache_dir=envcheck_cache).packages[0]
    warnings = package.check("load.warnings")
    assert warnings.status is Status.FAIL
    (grouped,) = [f for f in warnings.findings if f.details.get("objects")]  # one cause
    estimators = [o["estimator"] for o in grouped.details["objects"]]
    assert len(estimators) == len(set(estimators))
    assert {"Pipeline", "ColumnTransformer", "RandomForestClassifier",
            "DecisionTreeClassifier"} <= set(estimators)
    trees = next(o for o in grouped.details["objects"] if o["estimator"] == "DecisionTreeClassifier")
    # 5 fitted trees, plus the unfitted template the forest keeps as its `estimator`
    assert trees["count"] == 6


@pytest.mark.slow
def test_record_then_check_then_swapped_artifact(envcheck_cache: Path, tmp_path: Path) -> None:
    pkg = copy_package(OK_311, tmp_path)
    envcheck.record(pkg, cache_dir=envcheck_cache)
    assert {p.name for p in (pkg / "reference").iterdir()} == {
        "inputs.json", "outputs.json", "environment.json"}
    passed = envcheck.check(pkg, cache_dir=envcheck_cache).packages[0]
    assert passed.status is Status.PASS, statuses(passed)
    assert passed.check("predict.smoke").status is Status.PASS
    assert passed.check("artifacts.integrity").status is Status.PASS

    # Another model with the same interface: loads fine, predicts differently.
    shutil.copy(SKLEARN_132 / "model.pkl", pkg / "model.pkl")
    swapped = envcheck.check(pkg, cache_dir=envcheck_cache).packages[0]
    assert swapped.check("artifacts.integrity").status is Status.FAIL
    assert swapped.check("predict.smoke").status is Status.FAIL


def test_several_packages_one_report_in_order(tmp_path: Path) -> None:
    report = envcheck.check([OK_38, SEED], static=True, cache_dir=tmp_path)
    assert [p.path for p in report.packages] == [str(OK_38), str(SEED)]
    assert [p.status for p in report.packages] == [Status.PASS, Status.FAIL]
    assert report.exit_code == 1


def test_not_a_package_is_exit_two(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    report = envcheck.check(tmp_path / "empty", static=True, cache_dir=tmp_path / "c")
    assert report.exit_code == 2
    assert report.packages[0].check("package.layout").status is Status.FAIL


def small_package(root: Path, name: str) -> Path:
    """A package whose env is one small wheel: for tests about the cache, not the model."""
    import pickle

    pkg = root / name
    pkg.mkdir()
    (pkg / "metadata.yaml").write_text(
        "name: tiny\nversion: '1'\ninput_features:\n  - {name: x, type: float}\n"
        "output:\n  - {name: y, type: float}\n")
    (pkg / "requirements.txt").write_text("six==1.16.0\n")
    (pkg / "interface.py").write_text(
        "class Model:\n    def predict(self, df):\n        return [0.0] * len(df)\n\n\n"
        "def load_model():\n    return Model()\n")
    (pkg / "model.pkl").write_bytes(pickle.dumps({"weights": [1.0]}, protocol=4))
    return pkg


@pytest.mark.slow
def test_jobs_build_an_identical_env_once_and_keep_order(tmp_path: Path) -> None:
    from envcheck.env.cache import EnvCache

    packages = [small_package(tmp_path, f"pkg-{i}") for i in range(3)]
    cache = tmp_path / "cache"
    report = envcheck.check(packages, jobs=3, cache_dir=cache)
    assert [p.path for p in report.packages] == [str(p) for p in packages]
    keys = {p.environment["key"] for p in report.packages}
    assert len(keys) == 1
    assert sorted(p.environment["reused"] for p in report.packages) == [False, True, True]
    starts = [line for line in EnvCache(cache).journal() if "build-start" in line]
    assert len(starts) == 1


def test_cache_dir_holds_every_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--cache-dir / cache_dir= governs the small stores too, not only the environments."""
    monkeypatch.setenv("ENVCHECK_CACHE_DIR", str(tmp_path / "default"))
    cache = tmp_path / "explicit"
    pkg = copy_package(OK_311, tmp_path)
    (pkg / "model.pkl").touch()  # a fresh identity: not validated or hashed before
    envcheck.check(pkg, static=True, cache_dir=cache)
    assert (cache / "metadata-valid").is_dir()
    assert not (tmp_path / "default").exists()


@pytest.mark.slow
def test_a_cached_env_changed_after_its_build_is_discarded_and_rebuilt(tmp_path: Path) -> None:
    """Anything that writes into a cached env (here: by hand, a .pth that would run in every
    later check) is found by the env's manifest; the env is rebuilt, the check rerun, and
    env.build says so.  The verification overlaps the probe: what ran before it finished
    ran sandboxed, and is thrown away."""
    import glob

    cache = tmp_path / "cache"
    package = FIXTURES / "packages" / "churn-ok-py311"
    first = check_paths([package], Options(cache_dir=cache)).packages[0]
    assert first.status is Status.PASS
    (site,) = glob.glob(str(cache / "envs" / "*" / "venv" / "lib" / "python*" / "site-packages"))
    marker = tmp_path / "pth-ran"
    Path(site, "zz_poison.pth").write_text(f"import os; open({str(marker)!r}, 'w').close()\n")
    second = check_paths([package], Options(cache_dir=cache)).packages[0]
    build = second.check("env.build")
    assert build is not None and build.status is Status.WARN
    assert any("had changed since it was built" in f.message and "zz_poison.pth" in f.message
               for f in build.findings), build.findings
    assert second.check("load").status is Status.PASS
    assert not glob.glob(str(cache / "envs" / "*" / "venv" / "lib" / "python*" /
                             "site-packages" / "zz_poison.pth"))
    # The poisoned env's .pth may have run once, sandboxed: it could write nothing outside.
    assert not marker.exists()


@pytest.mark.slow
def test_a_poisoned_store_pyc_linked_into_a_new_env_is_found_and_the_check_rerun(
        tmp_path: Path) -> None:
    """A new env is handed to the probe while its manifest is hashed: the pycs it linked
    from the bytecode store are compared with the store's record only then.  A poisoned
    one (in place, header kept) makes the result worthless: the entry goes, the env is
    never marked, and the check is run again in an env that verifies before it links."""
    import glob
    import json
    import os

    cache = tmp_path / "cache"
    package = FIXTURES / "packages" / "churn-ok-py311"
    assert check_paths([package], Options(cache_dir=cache)).packages[0].status is Status.PASS
    (entry,) = [Path(e).parent for e in glob.glob(str(cache / "bytecode" / "*" / "entry.json"))
                if json.loads(Path(e).read_text())["name"] == "threadpoolctl"]
    (pyc,) = (entry / "pycs").rglob("*.pyc")
    os.chmod(pyc, 0o644)
    # (Not a word such as "poisoned": a pyc holds its source's path, and pytest puts the
    # test's name in that path.)
    poisoned = pyc.read_bytes()[:16] + b"\xe3canary-7c1d"
    pyc.write_bytes(poisoned)
    shutil.rmtree(cache / "envs")  # the next check builds anew, linking from the store
    report = check_paths([package], Options(cache_dir=cache)).packages[0]
    build = report.check("env.build")
    assert build is not None and build.status is Status.WARN, build
    (warned,) = [f.message for f in build.findings if f.severity is Severity.WARNING]
    assert warned.startswith("the environment just built could not be trusted (the stored "
                             "bytecode of threadpoolctl "), warned
    assert " had changed since it was compiled (" in warned, warned
    assert warned.endswith("the entry was removed): it was discarded and rebuilt, and the "
                           "package checked again")
    assert report.check("load").status is Status.PASS
    # The entry was removed, then stored again by the rebuild: compiled afresh.
    assert pyc.read_bytes() != poisoned and pyc.stat().st_mode & 0o777 == 0o444
    (built,) = glob.glob(str(cache / "envs" / "*" / "venv" / "lib" / "python*" /
                             "site-packages" / "__pycache__" / pyc.name))
    assert Path(built).read_bytes() == pyc.read_bytes()
    journal = (cache / "journal.log").read_text()
    assert "bytecode-discard" in journal and journal.count(" built ") == 2


@pytest.mark.parametrize("name, blocker", [("pickle-os-system", "pickle.safety"),
                                           ("interface-syntax-error", "interface"),
                                           ("artifact-outside-package", "package.layout")])
def test_a_package_refused_statically_builds_no_env(name: str, blocker: str,
                                                    tmp_path: Path) -> None:
    """No build for nothing: what is refused before the env is refused without one (no
    env, no bytecode compiled)."""
    skip_if_newer_target(name)
    cache = tmp_path / "cache"
    report = envcheck.check(FIXTURES / "bad" / name, cache_dir=cache)
    package = report.packages[0]
    assert report.exit_code == 1
    refused = [c for c in package.checks if c.status in (Status.FAIL, Status.ERROR)]
    assert [c.id for c in refused][:1] == [blocker] or refused[0].id.startswith(blocker + "."), \
        [(c.id, c.status) for c in refused]
    assert package.check("env.build").status is Status.SKIP
    assert package.check("load").status is Status.SKIP
    assert not (cache / "envs").exists() and not (cache / "bytecode").exists()


@pytest.mark.slow
def test_progress_off_a_terminal_shows_the_build_and_probe_phases(tmp_path: Path) -> None:
    """What a CI log shows of a cold check: a line per phase, with its time."""
    import io
    import re

    from envcheck.model.progress import Progress

    stream = io.StringIO()
    package = copy_package(FIXTURES / "packages" / "churn-ok", tmp_path)
    report = check_paths([package], Options(cache_dir=tmp_path / "cache"),
                         Progress(enabled=True, stream=stream))
    assert report.exit_code == 0, stream.getvalue()
    lines = stream.getvalue().splitlines()
    phases = [line.split()[0] for line in lines if re.match(r"  \w+ +\d+\.\ds", line)]
    assert phases == ["venv", "resolve", "download", "install", "compile", "finish", "probe"]
    assert re.search(r"^Loading \S+ in its environment: done in \d+\.\ds \(probe \d+\.\ds\)$",
                     stream.getvalue(), re.MULTILINE), lines
def test_static_check_inspects_every_format_in_the_package(tmp_path: Path) -> None:
    # model files beside the pickle, under names that say nothing about their format: the
    # pipeline sniffs each, walks what holds a pickle, compares what records a version
    formats = FIXTURES / "formats"
    pkg = copy_package(OK_311, tmp_path)
    shutil.copy(formats / "malicious" / "torch_zip_data_pkl.pt", pkg / "weights.data")
    shutil.copy(formats / "benign" / "xgboost_model.ubj", pkg / "booster.bin")
    shutil.copy(formats / "benign" / "pipeline.onnx", pkg / "pipeline.onnx")
    shutil.copy(formats / "benign" / "torch_state_dict.pt", pkg / "state.pt")
    with open(pkg / "requirements.txt", "a") as handle:
        handle.write("xgboost==2.0.3\nonnxruntime==1.20.1\n")
    report = envcheck.check(pkg, static=True, cache_dir=tmp_path / "cache")
    package = report.packages[0]
    safety, versions = package.check("pickle.safety"), package.check("pickle.versions")
    assert safety is not None and safety.status is Status.FAIL
    assert [f.message for f in safety.findings if f.severity.value == "error"] == [
        "weights.data!archive/data.pkl: refused 1 global(s) or construct(s) -- known "
        "dangerous: os.system",
        "weights.data!archive/data.pkl: imports os.system at byte 2: known dangerous: runs "
        "commands and touches files"]
    # the real state dict (torch 2.13.0): walked, all allowed
    assert any(f.file == "state.pt!torch_state_dict/data.pkl" and "all allowed" in f.message
               for f in safety.findings)
    assert versions is not None and versions.status is Status.FAIL
    assert [f.message for f in versions.findings if f.severity.value == "error"] == [
        "booster.bin: the xgboost model was written by xgboost 3.2.0, but requirements.txt "
        "declares xgboost==2.0.3: an older version, which cannot be relied on to read it"]
    assert report.exit_code == 1
