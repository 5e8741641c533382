"""envcheck.read.sources: precedence, comparison of every other source with the chosen one,
setup scripts, the Python a source asks for; the fixtures under fixtures/sources/."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import FIXTURES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import envcheck
from envcheck.env.interpreters import requested_python
from envcheck.model.findings import Severity, Status
from envcheck.model.options import Options
from envcheck.read.formats import read_package
from envcheck.read.sources import PRECEDENCE, candidates, read_environment

SOURCES = FIXTURES / "sources"
BASE = FIXTURES / "packages" / "churn-ok-py311"
PINS = "scikit-learn==1.5.2\nnumpy==1.26.4\npandas==2.2.2\n"


def results_of(path: Path) -> dict:
    pkg, results = read_package(path, Options())
    assert pkg is not None
    return {"pkg": pkg, **{r.id: r for r in results}}


def package(tmp_path: Path, **files: str) -> Path:
    root = tmp_path / "pkg"
    shutil.copytree(BASE, root)
    (root / "requirements.txt").unlink()
    for name, text in files.items():
        (root / name.replace("__", ".")).write_text(text, encoding="utf-8")
    return root


# --------------------------------------------------------------------------- precedence

def test_precedence_is_most_exact_first() -> None:
    assert PRECEDENCE == ("requirements.lock", "uv.lock", "pylock.toml", "requirements.txt",
                          "pyproject.toml", "environment.yml", "environment.yaml")


def test_candidates_in_precedence_order_with_a_named_pylock(tmp_path: Path) -> None:
    for name in ("environment.yml", "requirements.txt", "pylock.churn.toml", "uv.lock"):
        (tmp_path / name).write_text("", encoding="utf-8")
    assert candidates(tmp_path) == ["uv.lock", "pylock.churn.toml", "requirements.txt",
                                    "environment.yml"]
    (tmp_path / "pylock.other.toml").write_text("", encoding="utf-8")
    # Two named locks and no pylock.toml: which one is meant is not ours to guess.
    assert "pylock.churn.toml" not in candidates(tmp_path)


def test_the_chosen_source_is_installed_and_named_in_the_json(tmp_path: Path) -> None:
    root = package(tmp_path, requirements__txt=PINS)
    shutil.copy(SOURCES / "uvlock-ok" / "uv.lock", root / "uv.lock")
    shutil.copy(SOURCES / "uvlock-ok" / "pyproject.toml", root / "pyproject.toml")
    found = results_of(root)
    pkg, parse = found["pkg"], found["requirements.parse"]
    assert pkg.requirements_path == root / "uv.lock"
    assert any(line.startswith("scipy==") and "--hash=sha256:" in line
               for line in pkg.requirement_lines)  # the lock's closure, hashed
    assert parse.status is Status.PASS, [f.message for f in parse.findings]
    assert parse.headline == ("10 requirements from uv.lock (installed; compared with "
                              "requirements.txt, pyproject.toml)")
    summary = parse.findings[-1].details
    assert summary["source"] == "uv.lock"
    assert summary["compared"] == ["requirements.txt", "pyproject.toml"]
    report = envcheck.check(root, static=True, cache_dir=tmp_path / "cache")
    as_json = json.loads(json.dumps(report.to_dict()))
    checks_json = {c["id"]: c for c in as_json["packages"][0]["checks"]}
    assert checks_json["requirements.parse"]["findings"][-1]["details"]["source"] == "uv.lock"
    layout = found["package.layout"].headline
    assert layout.startswith("found metadata.yaml, uv.lock (installed; also requirements.txt, "
                             "pyproject.toml), interface.py")


def test_requirements_txt_alone_reads_as_before() -> None:
    found = results_of(BASE)
    assert found["requirements.parse"].headline == "3 requirements"
    assert found["pkg"].requirements_path == BASE / "requirements.txt"


def test_an_error_in_any_source_fails_requirements_parse(tmp_path: Path) -> None:
    root = package(tmp_path, requirements__txt=PINS,
                   pyproject__toml='[project]\nname = "x"\ndependencies = ["numpy==1.26.4",\n'
                                   '  "mylib @ git+https://example.org/mylib"]\n')
    found = results_of(root)
    parse = found["requirements.parse"]
    assert parse.status is Status.FAIL
    [bad] = [f for f in parse.findings if f.severity is Severity.ERROR]
    assert (bad.file, bad.line) == ("pyproject.toml", 4)
    assert "pin a full commit id" in bad.message
    assert found["pkg"].requirements_ok is False  # nothing is built


# --------------------------------------------------------------------------- fixtures

DISAGREEMENTS = {
    # fixture: [(file, line, exact message)]
    "uvlock-stale": [
        ("pyproject.toml", 6, "scikit-learn==1.5.1 disagrees with uv.lock, which pins "
         "scikit-learn==1.5.2 (uv.lock:101): the lock is stale; run 'uv lock' to bring it up "
         "to date"),
        ("pyproject.toml", 9, "joblib==1.4.2 disagrees with uv.lock, which pins joblib==1.6.0 "
         "(uv.lock:31): the lock is stale; run 'uv lock' to bring it up to date")],
    "pylock-disagree": [
        ("requirements.txt", 3, "pandas==2.2.3 disagrees with pylock.toml, which pins "
         "pandas==2.2.2 (pylock.toml:35): the lock is stale; export it again ('uv export "
         "--format pylock.toml -o pylock.toml' or 'pip lock -o pylock.toml')")],
    "pyproject-disagree": [
        ("pyproject.toml", 6, "scikit-learn==1.5.1 disagrees with scikit-learn==1.5.2 "
         "(requirements.txt:1): envcheck installs requirements.txt; make the two agree"),
        ("pyproject.toml", None, "pandas==2.2.2 (requirements.txt:3) is not in pyproject.toml: "
         "envcheck installs it from requirements.txt; add it to pyproject.toml too, or "
         "remove it")],
    "conda-disagree": [
        ("environment.yml", 7, "2 conda packages outside the pip: section cannot be installed "
         "from PyPI, so this environment cannot be reproduced from PyPI: libgomp "
         "(environment.yml:7), mkl=2023.1.0 (environment.yml:8); envcheck builds Python 3.11 "
         "and the pip: section only -- move each into pip: with an == pin where PyPI has it"),
        ("environment.yml", 10, "scikit-learn==1.5.1 disagrees with scikit-learn==1.5.2 "
         "(requirements.txt:1): envcheck installs requirements.txt; make the two agree")],
}


@pytest.mark.parametrize("name", sorted(DISAGREEMENTS))
def test_disagreement_fixture_warns_naming_both_files_and_lines(name: str) -> None:
    parse = results_of(SOURCES / name)["requirements.parse"]
    assert parse.status is Status.WARN
    warned = [(f.file, f.line, f.message) for f in parse.findings
              if f.severity is Severity.WARNING]
    assert warned == DISAGREEMENTS[name]


@pytest.mark.parametrize("name, chosen, python, key", [
    ("pyproject-ok", "pyproject.toml", "==3.11.*", "requires-python"),
    ("uvlock-ok", "uv.lock", "==3.11.*", "requires-python"),
    ("pylock-ok", "pylock.toml", "==3.11.*", "requires-python"),
    ("conda-ok", "environment.yml", "3.11", "python"),
])
def test_passing_fixture_reads_clean_and_asks_for_its_python(name: str, chosen: str,
                                                             python: str, key: str) -> None:
    found = results_of(SOURCES / name)
    for check_id in ("package.layout", "requirements.parse", "requirements.pinned"):
        assert found[check_id].status is Status.PASS, (check_id, found[check_id].findings)
    pkg = found["pkg"]
    assert pkg.requirements_path.name == chosen
    assert pkg.pins["scikit-learn"] == "1.5.2"
    requested, source, _file, _ = requested_python(pkg)
    assert (requested, source) == (python, f"{key} in {chosen}")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["pyproject-ok", "uvlock-ok", "pylock-ok", "conda-ok"])
def test_passing_fixture_passes_a_real_check(name: str, envcheck_cache: Path) -> None:
    package = envcheck.check(SOURCES / name, cache_dir=envcheck_cache).packages[0]
    assert package.status is Status.PASS, [(c.id, c.status.value, c.headline)
                                           for c in package.checks]
    assert package.check("load").status is Status.PASS
    assert package.check("env.build").status is Status.PASS
    assert package.environment is not None
    assert package.environment["packages"]["scikit-learn"] == "1.5.2"
    assert package.environment["python"].startswith("3.11.")
    chosen = {"pyproject-ok": "pyproject.toml", "uvlock-ok": "uv.lock",
              "pylock-ok": "pylock.toml", "conda-ok": "environment.yml"}[name]
    assert package.environment["requirements_file"] == chosen


# --------------------------------------------------------------------------- comparisons

def test_two_locks_pinned_differently(tmp_path: Path) -> None:
    root = package(tmp_path)
    shutil.copy(SOURCES / "uvlock-ok" / "uv.lock", root / "uv.lock")
    shutil.copy(SOURCES / "uvlock-ok" / "pyproject.toml", root / "pyproject.toml")
    text = (SOURCES / "pylock-ok" / "pylock.toml").read_text()
    (root / "pylock.toml").write_text(text.replace('version = "3.8.0"', 'version = "3.5.0"'))
    parse = results_of(root)["requirements.parse"]
    [finding] = [f for f in parse.findings if f.severity is Severity.WARNING]
    assert finding.message.startswith("threadpoolctl is pinned differently: pylock.toml:")
    assert " pins 3.5.0, uv.lock:" in finding.message and finding.message.endswith(
        " pins 3.8.0; envcheck installs uv.lock: re-lock one from the other")


def test_lock_missing_a_direct_requirement_and_requirement_missing(tmp_path: Path) -> None:
    root = package(tmp_path, requirements__txt="numpy==1.26.4\nxgboost==2.1.1\n")
    shutil.copy(SOURCES / "uvlock-ok" / "uv.lock", root / "uv.lock")
    warned = [(f.file, f.line, f.message) for f in results_of(root)["requirements.parse"].findings
              if f.severity is Severity.WARNING]
    assert ("requirements.txt", 2, "xgboost==2.1.1 is not pinned in uv.lock: the lock was made "
            "from another requirements.txt; run 'uv lock' to bring it up to date") in warned
    # uv.lock's project requires pandas and scikit-learn, which requirements.txt lacks.
    missing = [m for _, _, m in warned if "is not in requirements.txt" in m]
    assert missing == [
        "pandas==2.2.2 (uv.lock:18) is not in requirements.txt: envcheck installs it from "
        "uv.lock; add it to requirements.txt too, or remove it",
        "scikit-learn==1.5.2 (uv.lock:19) is not in requirements.txt: envcheck installs it "
        "from uv.lock; add it to requirements.txt too, or remove it"]


def test_ranges_that_admit_the_pin_agree(tmp_path: Path) -> None:
    root = package(tmp_path, requirements__txt=PINS,
                   pyproject__toml='[project]\nname = "x"\ndependencies = [\n'
                                   '  "scikit-learn>=1.5,<1.6", "numpy", "pandas>=2"]\n')
    parse = results_of(root)["requirements.parse"]
    assert parse.status is Status.PASS, [f.message for f in parse.findings]


def test_a_range_is_pinned_by_the_installed_lock(tmp_path: Path) -> None:
    root = package(tmp_path, pyproject__toml='[project]\nname = "churn-model"\n'
                   'version = "1.0"\ndependencies = ["scikit-learn>=1.5", "numpy", "pandas"]\n')
    shutil.copy(SOURCES / "uvlock-ok" / "uv.lock", root / "uv.lock")
    found = results_of(root)
    assert found["requirements.pinned"].status is Status.PASS
    # Without the lock, the same pyproject.toml is not pinned.
    (root / "uv.lock").unlink()
    pinned = results_of(root)["requirements.pinned"]
    assert pinned.status is Status.WARN
    assert [f.location for f in pinned.findings] == ["pyproject.toml:4"] * 3


def test_python_asked_differently_is_a_warning(tmp_path: Path) -> None:
    root = package(tmp_path, requirements__txt=PINS,
                   environment__yml="dependencies:\n  - python=3.8\n  - pip\n  - pip:\n"
                                    "    - scikit-learn==1.5.2\n    - numpy==1.26.4\n"
                                    "    - pandas==2.2.2\n")
    parse = results_of(root)["requirements.parse"]
    [finding] = [f for f in parse.findings if f.severity is Severity.WARNING]
    assert (finding.file, finding.line) == ("environment.yml", 2)
    assert finding.message == ("environment.yml asks for Python 3.8 (python, environment.yml:2) "
                               "but metadata.yaml asks for 3.11, which is what envcheck uses: "
                               "make the two agree")


def test_metadata_python_version_wins_over_requires_python(tmp_path: Path) -> None:
    root = package(tmp_path, pyproject__toml='[project]\nname = "x"\n'
                   'requires-python = ">=3.10"\ndependencies = ["numpy==1.26.4"]\n')
    pkg = results_of(root)["pkg"]
    assert requested_python(pkg)[:2] == ("3.11", "python_version in metadata.yaml")


# --------------------------------------------------------------------------- setup scripts

@pytest.mark.parametrize("script, advice", [
    ("setup.sh", "declare the libraries it installs in requirements.txt (pinned with ==), or "
                 "ship them as wheels in the package and point --find-links at them"),
    ("setup.py", "put the model's own modules beside the interface (they are importable from "
                 "there) and declare the libraries setup.py installs in requirements.txt"),
])
def test_setup_script_is_reported_as_not_run(tmp_path: Path, script: str, advice: str) -> None:
    root = package(tmp_path, requirements__txt=PINS)
    canary = tmp_path / "ran"
    (root / script).write_text(f"touch {canary}\n", encoding="utf-8")
    layout = results_of(root)["package.layout"]
    assert layout.status is Status.WARN
    [finding] = [f for f in layout.findings if f.severity is Severity.WARNING]
    assert finding.file == script
    assert finding.message == (
        f"{script} is not run: envcheck builds the environment only from the declared "
        f"requirements (requirements.txt), never by running a script of the package; if the "
        f"model needs what {script} does, {advice}")
    assert not canary.exists()


def test_no_source_at_all_still_says_requirements_txt_is_missing(tmp_path: Path) -> None:
    root = package(tmp_path, pyproject__toml="[tool.black]\nline-length = 99\n")
    env, notes = read_environment(root, lambda _: True)
    assert env is None
    assert [n.message for n in notes] == [
        "pyproject.toml has no [project] dependencies: not read as an environment"]
    layout = results_of(root)["package.layout"]
    assert layout.status is Status.FAIL
    assert any(f.message.startswith("requirements.txt is missing") for f in layout.findings)


def test_interface_import_advice_names_the_declaring_file(tmp_path: Path) -> None:
    root = package(tmp_path, pyproject__toml='[project]\nname = "x"\n'
                   'dependencies = ["numpy==1.26.4", "pandas==2.2.2"]\n')
    interface = root / "interface.py"
    interface.write_text("import sklearn\n" + interface.read_text(), encoding="utf-8")
    contract = results_of(root)["interface.contract"]
    [finding] = [f for f in contract.findings if f.severity is not Severity.INFO]
    assert finding.location == "interface.py:1:1"
    assert finding.message.endswith("add scikit-learn==<version> to pyproject.toml")


# --------------------------------------------------------------------------- hostile input

MUTATED = {
    "uv.lock": (SOURCES / "uvlock-ok" / "uv.lock").read_text()[:4000],
    "pylock.toml": (SOURCES / "pylock-ok" / "pylock.toml").read_text()[:4000],
    "pyproject.toml": (SOURCES / "uvlock-ok" / "pyproject.toml").read_text(),
    "environment.yml": (SOURCES / "conda-disagree" / "environment.yml").read_text(),
}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(st.sampled_from(sorted(MUTATED)), st.integers(0, 4000), st.integers(0, 200),
       st.text(max_size=60))
def test_mutated_sources_give_findings_never_a_crash(tmp_path: Path, name: str, at_: int,
                                                     cut: int, insert: str) -> None:
    text = MUTATED[name]
    at_ = min(at_, len(text))
    mutated = text[:at_] + insert + text[at_ + cut:]
    root = tmp_path / "pkg"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    (root / name).write_text(mutated, encoding="utf-8", errors="surrogatepass")
    (root / "requirements.txt").write_text(PINS, encoding="utf-8")
    env, notes = read_environment(root, lambda _: True)
    assert env is not None
    lines = {name: len(mutated.splitlines()) + 1, "requirements.txt": 4}
    for finding in [*notes, *env.comparisons, *(f for s in env.sources for f in s.reqs.findings)]:
        assert finding.file in lines, finding
        assert finding.line is None or 1 <= finding.line <= lines[finding.file], finding
        json.dumps(finding.to_dict())


def test_a_yaml_bomb_in_environment_yml_is_refused_at_once(tmp_path: Path) -> None:
    bomb = ['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]']
    bomb += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    root = package(tmp_path, environment__yml="\n".join(bomb + ["dependencies: *a8"]) + "\n")
    parse = results_of(root)["requirements.parse"]
    [problem] = parse.findings
    assert problem.message.startswith("environment.yml: aliases expand this document to ")
    assert problem.message.endswith("refusing a possible YAML bomb") and problem.line == 9
