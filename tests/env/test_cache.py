"""The environment cache: real virtualenvs, real installs from the registry, real kills.

Small pure-Python pins (six, attrs, packaging, python-dateutil) keep most builds to a few
seconds; one test installs a real scikit-learn to check bytecode is compiled.  Builds shared
between tests go to the session cache (``envcheck_cache``); tests that break, kill or prune
environments get a cache of their own.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from envcheck.commands.env import render_env_list
from envcheck.env.cache import EnvCache
from envcheck.env.checks import check_consistency, check_drift
from envcheck.env.installers import resolve_installer, summarize_install_failure
from envcheck.env.interpreters import current_interpreter, find_interpreter, pyenv_root
from envcheck.env.keys import compute_key, key_inputs, split_requirements
from envcheck.env.layout import MARKER, BuiltEnv
from envcheck.model import checks
from envcheck.model.findings import Severity, Status
from envcheck.model.package import ModelPackage
from envcheck.model.progress import Progress

HERE = current_interpreter()
SIX = ["six==1.16.0"]


def make_pkg(root: Path, metadata: dict | None = None, pins: dict | None = None
             ) -> ModelPackage:
    root.mkdir(parents=True, exist_ok=True)
    return ModelPackage(root=root, metadata_path=root / "metadata.yaml",
                        requirements_path=root / "requirements.txt",
                        interface_path=root / "interface.py", metadata=metadata or {},
                        pins=pins or {})


def site_packages(env: BuiltEnv) -> Path:
    return env.path / "lib" / f"python{env.interpreter.major_minor}" / "site-packages"


def run_in_env(env: BuiltEnv, code: str) -> str:
    proc = subprocess.run([str(env.python), "-I", "-c", code], capture_output=True,
                          text=True, check=True)
    return proc.stdout.strip()


@pytest.fixture(scope="session")
def cache(envcheck_cache: Path) -> EnvCache:
    return EnvCache(envcheck_cache)


# ----------------------------------------------------------------- the key (no builds)


def test_key_ignores_order_and_whitespace_but_keeps_hashes() -> None:
    tool = resolve_installer("pip", HERE)
    a = split_requirements(["numpy==1.26.4 --hash=sha256:bb --hash=sha256:aa",
                            "six==1.16.0", "", "# comment"])
    b = split_requirements(["six==1.16.0", "numpy==1.26.4   --hash=sha256:aa --hash=sha256:bb"])
    assert a == b
    assert a[0] == ["numpy==1.26.4 --hash=sha256:aa --hash=sha256:bb", "six==1.16.0"]
    key_a = compute_key(key_inputs(*a, HERE, tool))
    assert key_a == compute_key(key_inputs(*b, HERE, tool))
    c = split_requirements(["numpy==1.26.4 --hash=sha256:aa", "six==1.16.0"])
    assert compute_key(key_inputs(*c, HERE, tool)) != key_a


def test_key_changes_with_requirement_interpreter_and_installer() -> None:
    pip = resolve_installer("pip", HERE)
    base = compute_key(key_inputs(["six==1.16.0"], [], HERE, pip))
    assert compute_key(key_inputs(["six==1.15.0"], [], HERE, pip)) != base
    other = type(HERE)(HERE.path, "3.8.18", HERE.implementation, HERE.platform)
    assert compute_key(key_inputs(["six==1.16.0"], [], other, pip)) != base
    uv = type(pip)("uv", "0.0.1", "uv")
    assert compute_key(key_inputs(["six==1.16.0"], [], HERE, uv)) != base


def test_constraint_lines_are_kept_apart() -> None:
    reqs, cons = split_requirements(["--constraint numpy<2", "pandas==2.2.2", "-c six<2"])
    assert reqs == ["pandas==2.2.2"]
    assert cons == ["numpy<2", "six<2"]


def test_failure_summary_names_the_requirement() -> None:
    uv_out = ("Using Python 3.11.7 environment at: x\n"
              "error: No solution found when resolving dependencies\n"
              "  cause: Because there is no version of six==9.9.9 and you require "
              "six==9.9.9, we can conclude that your requirements are unsatisfiable.\n")
    failed, short = summarize_install_failure(uv_out, ["attrs==23.1.0", "six==9.9.9"])
    assert failed == "six==9.9.9"
    assert "no version of six==9.9.9" in short and "Using Python" not in short


def test_auto_installer_prefers_uv() -> None:
    assert resolve_installer("auto", HERE).name == "uv"  # uv is a test dependency


# ----------------------------------------------------------------- build and reuse


@pytest.mark.slow
def test_second_check_reuses_the_env(cache: EnvCache) -> None:
    first, r1 = cache.ensure(SIX, HERE, "uv", user="pkgs/a")
    assert r1.id == "env.build" and r1.status is Status.PASS, r1.findings
    second, r2 = cache.ensure(SIX, HERE, "uv", user="pkgs/b")
    assert first is not None and second is not None
    assert second.key == first.key
    assert second.reused is True
    assert "reused env" in r2.findings[0].message
    block = second.report_block()
    assert block == {"python": HERE.version, "key": first.key, "reused": True,
                     "installer": "uv", "packages": second.packages}
    assert block["packages"]["six"] == "1.16.0"
    assert run_in_env(second, "import six; print(six.__version__)") == "1.16.0"
    infos = {i.key: i for i in cache.list()}
    assert {"pkgs/a", "pkgs/b"} <= set(infos[first.key].users)
    assert infos[first.key].status == "ready"
    table = render_env_list(cache.list())
    assert first.key[:12] in table and "pkgs/a, pkgs/b" in table


@pytest.mark.slow
def test_a_changed_requirement_builds_a_new_env(cache: EnvCache) -> None:
    old, _ = cache.ensure(SIX, HERE, "uv")
    new, result = cache.ensure(["six==1.15.0"], HERE, "uv")
    assert old is not None and new is not None
    assert new.key != old.key
    assert new.packages["six"] == "1.15.0"
    assert result.findings[0].message.startswith(("built env", "reused env"))


@pytest.mark.slow
def test_pip_installer_builds_and_compiles_bytecode(cache: EnvCache,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")  # as on the CI machine
    env, result = cache.ensure(SIX, HERE, "pip")
    assert env is not None, result.findings
    assert env.installer == "pip"
    assert list((site_packages(env) / "__pycache__").glob("six.cpython-*.pyc"))
    assert check_consistency(env).status is Status.PASS


@pytest.mark.slow
def test_real_scikit_learn_is_installed_with_bytecode(cache: EnvCache,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    interp = find_interpreter("3.11")
    assert interp is not None
    env, result = cache.ensure(["scikit-learn==1.5.2"], interp, "uv", user="pkgs/sk")
    assert env is not None, result.findings
    assert env.packages["scikit-learn"] == "1.5.2"
    assert "numpy" in env.packages and "scipy" in env.packages
    sk = site_packages(env) / "sklearn"
    assert list((sk / "__pycache__").glob("__init__.cpython-311.pyc"))
    assert list((sk / "linear_model" / "__pycache__").glob("_logistic.cpython-311.pyc"))
    assert check_consistency(env).status is Status.PASS
    assert run_in_env(env, "import sklearn; print(sklearn.__version__)") == "1.5.2"


@pytest.mark.slow
@pytest.mark.skipif(not (pyenv_root() / "versions").is_dir(), reason="no pyenv")
def test_package_asking_for_38_is_built_and_run_under_38(cache: EnvCache, tmp_path: Path
                                                         ) -> None:
    from envcheck.env.interpreters import select_interpreter

    pkg = make_pkg(tmp_path / "pkg38", {"name": "old-model", "python_version": "3.8"})
    interp, chosen = select_interpreter(pkg, None)
    if not interp.version.startswith("3.8."):
        pytest.skip("no Python 3.8 on this machine")
    assert chosen.status is Status.PASS
    env, result = cache.ensure(SIX, interp, "auto", user=str(pkg.root))
    assert env is not None, result.findings
    assert env.report_block()["python"].startswith("3.8.")
    assert run_in_env(env, "import sys; print('%d.%d' % sys.version_info[:2])") == "3.8"
    assert list((site_packages(env) / "__pycache__").glob("six.cpython-38.pyc"))


@pytest.mark.slow
@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_a_failing_install_names_the_requirement(cache: EnvCache, installer: str) -> None:
    env, result = cache.ensure(["attrs==23.1.0", "six==9.9.9"], HERE, installer)
    assert env is None
    assert result.status is Status.FAIL
    finding = result.findings[-1]
    assert finding.severity is Severity.ERROR
    assert finding.message.startswith(f"could not install six==9.9.9 ({installer}")
    assert finding.details["requirement"] == "six==9.9.9"
    assert "Traceback" not in finding.message
    assert len(finding.details["explanation"].splitlines()) <= 10


@pytest.mark.slow
def test_unhealthy_env_is_rebuilt(tmp_path: Path) -> None:
    cache = EnvCache(tmp_path / "cache")
    env, _ = cache.ensure(SIX, HERE, "uv")
    assert env is not None
    env.release()
    env.python.unlink()  # the base interpreter "went away"
    again, result = cache.ensure(SIX, HERE, "uv")
    assert again is not None and again.reused is False and again.key == env.key
    # Read from the env's files, never by running it: the manifest names what changed.
    assert "changed since it was built (removed bin/python)" in result.findings[0].message
    assert run_in_env(again, "import six; print(six.__version__)") == "1.16.0"


# ----------------------------------------------------------------- crashes and races

_CHILD = textwrap.dedent("""
    import json, sys
    from envcheck.env.cache import EnvCache
    from envcheck.env.interpreters import current_interpreter
    env, result = EnvCache(sys.argv[1]).ensure(json.loads(sys.argv[2]), current_interpreter(),
                                               sys.argv[3])
    print(json.dumps({"key": env.key if env else None, "reused": env.reused if env else None,
                      "status": result.status.value}))
""")


def _child(cache_root: Path, reqs: list[str], installer: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", _CHILD, str(cache_root), json.dumps(reqs),
                             installer], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


@pytest.mark.slow
def test_env_killed_mid_install_is_rebuilt_not_reused(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    reqs = ["attrs==23.1.0", "packaging==23.2"]
    child = _child(root, reqs, "pip")
    # Wait until the installer is running, then SIGKILL the builder (no cleanup runs).
    deadline = time.monotonic() + 120
    log = None
    while time.monotonic() < deadline and child.poll() is None:
        logs = list(root.glob("envs/*/build.log"))
        if logs and "-m pip install" in logs[0].read_text():
            log = logs[0]
            break
        time.sleep(0.02)
    assert log is not None, child.communicate()
    time.sleep(0.3)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    env_dir = log.parent
    assert env_dir.is_dir() and (env_dir / "venv").is_dir()
    assert not (env_dir / MARKER).exists()  # half-built: exactly the case to survive

    cache = EnvCache(root)
    env, result = cache.ensure(reqs, HERE, "pip")
    assert env is not None, result.findings
    assert env.reused is False
    assert env.dir == env_dir
    assert "no completion marker" in result.findings[0].message
    assert (env_dir / MARKER).is_file()
    assert run_in_env(env, "import attrs, packaging; print(attrs.__version__, "
                           "packaging.__version__)") == "23.1.0 23.2"
    assert any(" discard " in line for line in cache.journal())
    # And now it is reused.
    again, _ = cache.ensure(reqs, HERE, "pip")
    assert again is not None and again.reused is True


@pytest.mark.slow
def test_four_concurrent_checks_build_once(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    reqs = ["attrs==23.1.0"]
    children = [_child(root, reqs, "uv") for _ in range(4)]
    results = []
    for child in children:
        out, err = child.communicate(timeout=600)
        assert child.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert {r["status"] for r in results} == {"pass"}
    assert len({r["key"] for r in results}) == 1
    assert sorted(r["reused"] for r in results) == [False, True, True, True]
    key = results[0]["key"]
    journal = EnvCache(root).journal()
    assert sum(1 for line in journal if f" build-start {key} " in line) == 1
    assert sum(1 for line in journal if f" reused {key} " in line) == 3


# ----------------------------------------------------------------- consistency and drift


@pytest.mark.slow
def test_consistency_names_the_broken_dependency(tmp_path: Path) -> None:
    cache = EnvCache(tmp_path / "cache")
    env, _ = cache.ensure(["python-dateutil==2.8.2"], HERE, "uv")
    assert env is not None
    assert check_consistency(env).status is Status.PASS
    from envcheck.env.interpreters import find_uv

    # Break it for real: remove a dependency of python-dateutil.
    subprocess.run([find_uv(), "pip", "uninstall", "--python", str(env.python), "six"],
                   check=True, capture_output=True)
    result = check_consistency(env, use_cached=False)
    assert result.id == "env.consistency"
    assert result.status is Status.FAIL
    assert result.findings[0].details["package"] == "python-dateutil"
    assert "six" in result.findings[0].message


def _reference(pkg: ModelPackage, data: dict) -> None:
    (pkg.root / "reference").mkdir(exist_ok=True)
    (pkg.root / "reference" / "environment.json").write_text(json.dumps(data))


@pytest.mark.slow
def test_drift_table_warns_and_fails_under_strict(cache: EnvCache, tmp_path: Path) -> None:
    env, _ = cache.ensure(SIX, HERE, "uv")
    assert env is not None
    pkg = make_pkg(tmp_path / "pkg")
    assert check_drift(pkg, env).status is Status.SKIP
    _reference(pkg, {"python": HERE.version, "platform": HERE.platform,
                     "packages": {"Six": "1.15.0", "numpy": "1.26.4", "pip": "1.0"}})
    result = check_drift(pkg, env)
    assert result.id == "env.drift" and result.status is Status.WARN
    rows = [f.details for f in result.findings if f.severity is Severity.WARNING]
    assert rows == [{"name": "numpy", "recorded": "1.26.4", "built": None},
                    {"name": "six", "recorded": "1.15.0", "built": "1.16.0"}]
    assert result.findings[0].message == "numpy: recorded 1.26.4, not installed in the built env"
    assert result.findings[1].message == "six: recorded 1.15.0, installed 1.16.0"
    assert result.findings[1].file == "reference/environment.json"
    assert checks.ENV_DRIFT.apply_strict(check_drift(pkg, env)).status is Status.FAIL


@pytest.mark.slow
def test_no_drift_passes(cache: EnvCache, tmp_path: Path) -> None:
    env, _ = cache.ensure(SIX, HERE, "uv")
    assert env is not None
    pkg = make_pkg(tmp_path / "pkg")
    _reference(pkg, {"python": HERE.version, "packages": {"six": "1.16.0"}})
    assert checks.ENV_DRIFT.apply_strict(check_drift(pkg, env)).status is Status.PASS


# ----------------------------------------------------------------- list and prune


@pytest.mark.slow
def test_prune_skips_envs_in_use_and_removes_old_and_broken(tmp_path: Path) -> None:
    cache = EnvCache(tmp_path / "cache")
    six_env, _ = cache.ensure(SIX, HERE, "uv", user="pkgs/six")
    attrs_env, _ = cache.ensure(["attrs==23.1.0"], HERE, "uv", user="pkgs/attrs")
    assert six_env is not None and attrs_env is not None
    listed = {i.key: i for i in cache.list()}
    assert listed[six_env.key].users == ["pkgs/six"]
    assert listed[six_env.key].size_bytes > 100_000
    assert listed[six_env.key].python == HERE.version

    # An interrupted build lying around: the default prune removes only that.
    broken = cache.envs_dir / ("0" * 64)
    (broken / "venv").mkdir(parents=True)
    assert [i.key for i in cache.prune()] == [broken.name]

    # Both in use (leases held by this "running check"): nothing goes, even with --all.
    assert cache.prune(all=True) == []
    six_env.release()
    # Make the six env look unused for 40 days.
    meta_path = six_env.dir / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["last_used"] = time.time() - 40 * 86400
    meta_path.write_text(json.dumps(meta))
    assert [i.key for i in cache.prune(older_than_days=30)] == [six_env.key]
    assert not six_env.dir.exists()
    attrs_env.release()
    assert [i.key for i in cache.prune(all=True)] == [attrs_env.key]
    assert cache.list() == []


# ----------------------------------------------------------------- progress


@pytest.mark.slow
def test_ensure_writes_nothing_to_stdout(cache: EnvCache,
                                         capfd: pytest.CaptureFixture[str]) -> None:
    env, _ = cache.ensure(SIX, HERE, "uv", progress=Progress(enabled=True))
    assert env is not None
    assert capfd.readouterr().out == ""
