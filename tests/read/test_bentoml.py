"""BentoML model-store entries and bentos (fixtures/bentoml/, written by a real bentoml
1.4.40 with fixtures/bentoml/make_bentoml.py) read and checked statically like native
packages.  bentoml is never installed here: nothing of it is imported."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import FIXTURES

import envcheck
from envcheck.model.findings import Severity, Status
from envcheck.model.options import Options
from envcheck.read.bentoml_package import BentomlModelPackage
from envcheck.read.formats import format_of, read_package

BENTOML = FIXTURES / "bentoml"
STORE_MATCH = BENTOML / "store-match"
STORE_MISMATCH = BENTOML / "store-mismatch"
STORE_PICKLABLE = BENTOML / "store-picklable"
BENTO_MATCH = BENTOML / "bento-match"
BENTO_MISMATCH = BENTOML / "bento-mismatch"
# BentoML names versions at random: read them from the fixtures, which the script rewrites.
VERSION = (STORE_MATCH / "model.yaml").read_text().split("\nversion: ")[1].split()[0]
TAG = f"churn:{VERSION}"
BENTO_VERSION = (BENTO_MATCH / "bento.yaml").read_text().split("\nversion: ")[1].split()[0]
MODEL_DIR = f"models/churn/{VERSION}"
FEATURES = [{"name": "tenure", "type": "float"}, {"name": "monthly_charges", "type": "float"},
            {"name": "num_tickets", "type": "int"}]
READ_IDS = ["package.layout", "metadata.schema", "package.settings", "requirements.parse",
            "requirements.pinned", "interface.contract"]


def read(path: Path, **options: object):
    pkg, results = read_package(path, Options(**options))  # type: ignore[arg-type]
    assert isinstance(pkg, BentomlModelPackage)
    return pkg, {r.id: r for r in results}


def copy(src: Path, tmp_path: Path) -> Path:
    dest = tmp_path / src.name
    shutil.copytree(src, dest)
    return dest


def test_formats_detected() -> None:
    assert {format_of(p).name for p in (STORE_MATCH, BENTO_MATCH)} == {"bentoml"}
    assert format_of(FIXTURES / "mlflow" / "churn-pickle").name == "mlflow"


@pytest.mark.parametrize("fixture,sklearn", [(STORE_MATCH, "1.5.2"), (STORE_MISMATCH, "1.6.1")])
def test_model_store_entry_read_like_a_package(fixture: Path, sklearn: str) -> None:
    pkg, results = read(fixture)
    assert list(results) == READ_IDS
    assert all(r.status is Status.PASS for r in results.values()), results
    assert pkg.kind == "model" and pkg.model is not None
    assert pkg.model.tag == TAG and pkg.model.module == "bentoml.sklearn"
    assert pkg.model.framework_versions == {"scikit-learn": "1.5.2"}
    assert (pkg.model.bentoml_version, pkg.model.python_version) == ("1.4.40", "3.11.7")
    assert pkg.name == "churn" and pkg.metadata["version"] == VERSION
    assert pkg.python_version == "3.11"  # context.python_version 3.11.7: any 3.11
    assert pkg.python_version_file == "model.yaml context.python_version"
    assert [p.name for p in pkg.artifacts] == ["saved_model.pkl"]  # not requirements.txt
    assert pkg.environment_source == "requirements.txt"
    assert pkg.pins["scikit-learn"] == sklearn
    layout = results["package.layout"].findings[0].message
    assert layout == ("BentoML model-store entry: found model.yaml, environment from "
                      "requirements.txt; artifacts: saved_model.pkl")


def test_loader_reads_the_joblib_file_outside_the_package() -> None:
    pkg, results = read(STORE_MATCH)
    assert STORE_MATCH.resolve() not in pkg.interface_path.parents
    assert pkg.interface_path.name == "envcheck_bentoml_loader.py"
    source = pkg.interface_path.read_text()
    assert "FORMAT = 'joblib'" in source and "RECORDED_SKLEARN = '1.5.2'" in source
    assert f"MODEL_FILE = {str(STORE_MATCH.resolve() / 'saved_model.pkl')!r}" in source
    assert "import bentoml" not in source
    [finding] = results["interface.contract"].findings
    assert finding.message == (f"no interface.py: envcheck loads {TAG} "
                               "(bentoml.sklearn, joblib) from saved_model.pkl with a "
                               "generated loader, without bentoml")


def test_picklable_model_is_read_with_cloudpickle() -> None:
    pkg, results = read(STORE_PICKLABLE)
    assert all(r.status is Status.PASS for r in results.values()), results
    assert pkg.model is not None and pkg.model.module == "bentoml.picklable_model"
    cloudpickle = pkg.model.framework_versions["cloudpickle"]
    assert pkg.pins["cloudpickle"] == cloudpickle
    source = pkg.interface_path.read_text()
    assert "FORMAT = 'cloudpickle'" in source and "RECORDED_SKLEARN = None" in source
    [finding] = pkg.version_findings
    assert finding.message == (f"model.yaml: context.framework_versions records cloudpickle "
                               f"{cloudpickle} and requirements.txt pins "
                               f"cloudpickle=={cloudpickle}")


def test_context_matching_the_pin_is_named_with_both_versions(tmp_path: Path) -> None:
    report = envcheck.check(STORE_MATCH, static=True, cache_dir=tmp_path)
    versions = report.packages[0].check("pickle.versions")
    assert versions.status is Status.PASS
    messages = [f.message for f in versions.findings]
    assert ("model.yaml: context.framework_versions records scikit-learn 1.5.2 and "
            "requirements.txt pins scikit-learn==1.5.2") in messages
    assert report.exit_code == 0


def test_context_mismatching_the_pin_fails_pickle_versions(tmp_path: Path) -> None:
    pkg, _ = read(STORE_MISMATCH)
    [finding] = pkg.version_findings
    assert finding.severity is Severity.ERROR
    assert finding.message == (
        "model.yaml records scikit-learn 1.5.2 in context.framework_versions (the model was "
        "saved with it) but requirements.txt pins scikit-learn==1.6.1: the model will be "
        "loaded by a different scikit-learn; pin scikit-learn==1.5.2 or re-save the model "
        "with 1.6.1")
    assert (finding.file, finding.line) == ("requirements.txt", 1)
    assert finding.details == {"library": "scikit-learn", "recorded": "1.5.2",
                               "pinned": "1.6.1", "recorded_in": "model.yaml",
                               "model": TAG}
    report = envcheck.check(STORE_MISMATCH, static=True, cache_dir=tmp_path)
    package = report.packages[0]
    assert package.check("pickle.versions").status is Status.FAIL
    assert finding in package.check("pickle.versions").findings
    assert package.check("pickle.safety").status is Status.PASS  # the joblib pickle, by content
    assert report.exit_code == 1


def test_store_entry_without_requirements_synthesizes_them(tmp_path: Path) -> None:
    entry = copy(STORE_MATCH, tmp_path)
    (entry / "requirements.txt").unlink()
    pkg, results = read(entry)
    assert pkg.environment_source == "model.yaml context.framework_versions"
    assert pkg.requirement_lines == ["pandas", "scikit-learn==1.5.2"]
    assert pkg.requirements_ok and pkg.pins == {"scikit-learn": "1.5.2"}
    layout = results["package.layout"]
    assert layout.status is Status.WARN
    [warned] = [f for f in layout.findings if f.severity is Severity.WARNING]
    assert warned.message.startswith(
        "no requirements.txt beside model.yaml (BentoML keeps none in its model store): the "
        "environment is synthesized from model.yaml context.framework_versions: "
        "pandas, scikit-learn==1.5.2; everything else is unpinned")
    assert (warned.file, warned.line) == ("model.yaml", 9)
    # pandas is unpinned (nothing records its version): requirements.pinned says so.
    [unpinned] = results["requirements.pinned"].findings
    assert unpinned.message.startswith("pandas is not pinned (any version)")
    assert unpinned.file == "model.yaml"
    assert sorted(p.name for p in entry.iterdir()) == ["model.yaml", "saved_model.pkl"]


def test_requirements_missing_the_framework_is_an_error(tmp_path: Path) -> None:
    entry = copy(STORE_MATCH, tmp_path)
    (entry / "requirements.txt").write_text("numpy==2.1.3\n", encoding="utf-8")
    _, results = read(entry)
    pinned = results["requirements.pinned"]
    assert pinned.status is Status.FAIL
    assert [f.message for f in pinned.findings] == [
        ("scikit-learn is not in requirements.txt, but bentoml.sklearn needs it to load "
        f"{TAG}: add scikit-learn==1.5.2")]


@pytest.mark.parametrize("fixture,sklearn", [(BENTO_MATCH, "1.5.2"), (BENTO_MISMATCH, "1.6.1")])
def test_bento_read_from_its_own_files(fixture: Path, sklearn: str) -> None:
    pkg, results = read(fixture)
    assert list(results) == READ_IDS
    assert pkg.kind == "bento" and pkg.model is not None and pkg.other_models == []
    assert pkg.model.directory == fixture.resolve() / MODEL_DIR
    assert pkg.name == "churn" and pkg.metadata["version"] == BENTO_VERSION
    assert pkg.metadata["input_features"] == FEATURES  # from bento.yaml's API schema
    assert (pkg.python_version, pkg.python_version_file) == ("3.11",
                                                             "bento.yaml image.python_version")
    assert pkg.requirements_path == fixture.resolve() / "env/python/requirements.txt"
    assert pkg.pins["scikit-learn"] == sklearn and pkg.pins["bentoml"] == "1.4.40"
    assert len(pkg.requirement_lines) == 74
    assert pkg.installer_options == ["--index-url https://pypi.org/simple"]
    assert [pkg.relative(p) for p in pkg.artifacts] == [f"{MODEL_DIR}/saved_model.pkl"]
    assert results["interface.contract"].status is Status.PASS
    assert results["requirements.parse"].status is Status.WARN  # bentoml's --index-url


def test_bento_versions_named_both_ways(tmp_path: Path) -> None:
    [match] = read(BENTO_MATCH)[0].version_findings
    assert match.severity is Severity.INFO and match.message == (
        f"{MODEL_DIR}/model.yaml: context.framework_versions records scikit-learn 1.5.2 "
        f"and env/python/requirements.txt pins scikit-learn==1.5.2")
    [mismatch] = read(BENTO_MISMATCH)[0].version_findings
    assert mismatch.severity is Severity.ERROR
    assert mismatch.message.startswith(
        f"{MODEL_DIR}/model.yaml records scikit-learn 1.5.2 in context.framework_versions "
        f"(the model was saved with it) but env/python/requirements.txt pins "
        f"scikit-learn==1.6.1")
    lock = (BENTO_MISMATCH / "env/python/requirements.txt").read_text().splitlines()
    assert (mismatch.file, mismatch.line) == ("env/python/requirements.txt",
                                              lock.index("scikit-learn==1.6.1") + 1)
    report = envcheck.check(BENTO_MISMATCH, static=True, cache_dir=tmp_path)
    assert report.packages[0].check("pickle.versions").status is Status.FAIL
    assert report.exit_code == 1


def test_bento_without_its_models_says_how_to_export(tmp_path: Path) -> None:
    bento = copy(BENTO_MATCH, tmp_path)
    shutil.rmtree(bento / "models")
    pkg, results = read(bento)
    layout = results["package.layout"]
    assert layout.status is Status.FAIL
    assert [f.message for f in layout.findings] == [
        (f"bento.yaml names model {TAG} but {MODEL_DIR}/ "
        "is missing: a bento in the local store keeps its models outside it; export it with "
        "`bentoml export churn --output folder` (it copies the models in)")]
    assert results["interface.contract"].status is Status.FAIL
    assert pkg.model is None


def test_python_version_txt_of_older_bentos_wins(tmp_path: Path) -> None:
    bento = copy(BENTO_MATCH, tmp_path)
    (bento / "env/python/version.txt").write_text("3.10.13\n", encoding="utf-8")
    pkg, _ = read(bento)
    assert (pkg.python_version, pkg.python_version_file) == ("3.10.13",
                                                             "env/python/version.txt")
    python = [f for f in pkg.version_findings if "context.python_version" in f.message]
    assert [f.message for f in python] == [
        (f"{MODEL_DIR}/model.yaml: the model was saved with Python 3.11.7 "
        f"(context.python_version) but env/python/version.txt asks for Python 3.10.13: a "
        f"pickle may not load under another Python")]
    assert python[0].severity is Severity.WARNING


def test_unknown_framework_is_a_contract_error(tmp_path: Path) -> None:
    entry = copy(STORE_MATCH, tmp_path)
    text = (entry / "model.yaml").read_text(encoding="utf-8")
    (entry / "model.yaml").write_text(text.replace("bentoml.sklearn", "bentoml.xgboost"),
                                      encoding="utf-8")
    _, results = read(entry)
    contract = results["interface.contract"]
    assert contract.status is Status.FAIL
    assert contract.findings[0].message == (
        f"{TAG} was saved by bentoml.xgboost (model.yaml): envcheck loads "
        "bentoml.picklable_model and bentoml.sklearn models only")


def test_unreadable_model_yaml_is_a_schema_error(tmp_path: Path) -> None:
    entry = copy(STORE_MATCH, tmp_path)
    (entry / "model.yaml").write_text("name: [unclosed\n", encoding="utf-8")
    pkg, results = read(entry)
    assert results["metadata.schema"].status is Status.FAIL
    assert results["interface.contract"].status is Status.FAIL
    assert not pkg.metadata_ok and pkg.model is None


def test_reading_writes_nothing_into_the_package(tmp_path: Path) -> None:
    bento = copy(BENTO_MATCH, tmp_path)
    before = sorted(str(p.relative_to(bento)) for p in bento.rglob("*"))
    read(bento)
    assert sorted(str(p.relative_to(bento)) for p in bento.rglob("*")) == before


@pytest.mark.parametrize("fixture,declared", [(STORE_MATCH, "requirements.txt"),
                                              (BENTO_MATCH, "env/python/requirements.txt")])
def test_lock_from_envcheck_lock_is_installed_and_compared(tmp_path: Path, fixture: Path,
                                                           declared: str) -> None:
    package = copy(fixture, tmp_path)
    (package / "requirements.lock").write_text("numpy==2.1.3\npandas==2.2.3\n"
                                               "scikit-learn==1.6.1\n", encoding="utf-8")
    pkg, results = read(package)
    assert pkg.environment_source == "requirements.lock"
    assert pkg.requirement_lines == ["numpy==2.1.3", "pandas==2.2.3", "scikit-learn==1.6.1"]
    stale = [f for f in results["requirements.parse"].findings
             if f.severity is Severity.WARNING and "scikit-learn" in f.message]
    assert [(f.file, f.message) for f in stale] == [(declared, (
        "scikit-learn==1.5.2 disagrees with requirements.lock, which pins scikit-learn==1.6.1 "
        "(requirements.lock:3): "
        "the lock is stale; regenerate it with 'envcheck lock --force'"))]
    [versions] = pkg.version_findings
    assert versions.severity is Severity.ERROR
    assert "requirements.lock pins scikit-learn==1.6.1" in versions.message


def test_lock_beside_a_synthesized_env_replaces_its_warning(tmp_path: Path) -> None:
    entry = copy(STORE_MATCH, tmp_path)
    (entry / "requirements.txt").unlink()
    (entry / "requirements.lock").write_text("pandas==2.2.3\nscikit-learn==1.5.2\n",
                                             encoding="utf-8")
    pkg, results = read(entry)
    assert results["package.layout"].status is Status.PASS
    assert results["requirements.parse"].status is Status.PASS
    assert pkg.pins == {"pandas": "2.2.3", "scikit-learn": "1.5.2"}


def test_hostile_saved_model_is_stopped_before_anything_runs(tmp_path: Path) -> None:
    entry = copy(STORE_MATCH, tmp_path)
    canary = tmp_path / "canary"
    # The saved model is found by content and inspected like any pickle: os.system is refused.
    (entry / "saved_model.pkl").write_bytes(
        b"cos\nsystem\n(S'touch " + str(canary).encode() + b"'\ntR.")
    report = envcheck.check(entry, cache_dir=tmp_path / "cache")
    package = report.packages[0]
    safety = package.check("pickle.safety")
    assert safety.status is Status.FAIL
    assert "os.system" in safety.findings[0].message
    assert {package.check(c).status for c in ("env.build", "load")} == {Status.SKIP}
    assert report.exit_code == 1 and not canary.exists()


def test_links_out_of_the_package_are_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    shutil.copytree(STORE_MATCH, outside)
    entry = copy(STORE_MATCH, tmp_path / "in")
    (entry / "saved_model.pkl").unlink()
    (entry / "saved_model.pkl").symlink_to(outside / "saved_model.pkl")
    pkg, results = read(entry)
    assert pkg.artifacts == []
    contract = results["interface.contract"]
    assert contract.status is Status.FAIL
    assert contract.findings[0].message == ("saved_model.pkl points outside the package: "
                                            "envcheck loads only what the package holds")
    bento = copy(BENTO_MATCH, tmp_path / "bento")
    shutil.move(str(bento / "models"), str(tmp_path / "models"))
    (bento / "models").symlink_to(tmp_path / "models")
    _, results = read(bento)
    assert results["package.layout"].status is Status.FAIL
    assert results["package.layout"].findings[0].message == \
        f"model tag {TAG!r} in bento.yaml points outside models/"




# A YAML bomb (tests/read/test_yaml_positions.py has the same, measured): 9 * 8**8 values.
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 8) + "]\n"
    for i in range(8))


@pytest.mark.parametrize("content", [b"", b"- a list\n", b"\xff\xfe not utf-8: [",
                                     b"name: 1\nname: 2\n", BOMB.encode(),
                                     b"context: [1, 2]\nmodule: 7\n",
                                     b"!!python/object:os.system {}\n"])
@pytest.mark.parametrize("fixture,name", [(STORE_MATCH, "model.yaml"), (BENTO_MATCH, "bento.yaml")])
def test_hostile_yaml_is_a_finding_never_a_crash(tmp_path: Path, fixture: Path, name: str,
                                                 content: bytes) -> None:
    package = copy(fixture, tmp_path)
    (package / name).write_bytes(content)
    pkg, results = read(package)
    assert list(results) == READ_IDS
    assert results["interface.contract"].status is Status.FAIL or \
        results["metadata.schema"].status is not Status.PASS or pkg.model is not None
    report = envcheck.check(package, static=True, cache_dir=tmp_path / "cache")
    assert report.exit_code in (0, 1)
