"""Faults around envcheck itself (issue 7): SIGKILL mid-build, mid-probe and mid-record,
a full disk, eight concurrent checks on one cache, ``env prune`` while checks run, Ctrl-C,
and an internal error.

After each fault: the package is byte-identical, the cache holds only complete envs or
directories that the next check discards and rebuilds, and no process of the package is
left running.  Every test runs the real CLI in its own session (so a signal reaches
envcheck and what it started in that session, as a terminal's Ctrl-C or a CI runner's
kill would) and, where it must catch envcheck in the middle of something, polls the
cache or /proc for that moment instead of sleeping a guessed time.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator, Optional

import pytest
from conftest import FIXTURES
from test_bad_inputs import (
    envcheck_argv,
    envcheck_env,
    kill_all,
    make_bad,
    processes_in,
    run_envcheck,
    snapshot,
    wait_until_gone,
)

OK_311 = FIXTURES / "packages" / "churn-ok-py311"
PATIENCE_S = 300.0  # the longest we wait for a moment to come (an env build from PyPI)

# --------------------------------------------------------------------------- helpers


def start(*args: str, cache: Path, **env: str) -> subprocess.Popen[str]:
    """envcheck in the background, as the leader of its own process group."""
    return subprocess.Popen(envcheck_argv(*args), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env=envcheck_env(cache, **env), start_new_session=True)


def wait_for(condition: Callable[[], object], proc: subprocess.Popen[str],
             what: str) -> object:
    """Poll ``condition`` until it is truthy; fail if envcheck exits first."""
    deadline = time.monotonic() + PATIENCE_S
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"envcheck exited ({proc.returncode}) before {what}:\n{out[-2000:]}"
                        f"\n{err[-2000:]}")
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"gave up waiting for {what}")


def signal_group(proc: subprocess.Popen[str], sig: int) -> tuple[int, str, str]:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    out, err = proc.communicate(timeout=PATIENCE_S)
    return proc.returncode, out, err


def copy_package(source: Path, dest: Path, interface_edit: Optional[Callable[[str], str]] = None,
                 requirements_extra: str = "") -> Path:
    shutil.copytree(source, dest)
    if interface_edit is not None:
        path = dest / "interface.py"
        path.write_text(interface_edit(path.read_text(encoding="utf-8")), encoding="utf-8")
    if requirements_extra:
        with open(dest / "requirements.txt", "a", encoding="utf-8") as handle:
            handle.write(requirements_extra)
    return dest


def slow_load(seconds: float) -> Callable[[str], str]:
    """load_model() first moves into the package folder (so /proc shows the probe there)
    and sleeps: a probe one can catch in the act."""
    def edit(source: str) -> str:
        return source.replace(
            "def load_model():\n",
            "def load_model():\n"
            "    import time\n"
            "    os.chdir(os.path.dirname(os.path.abspath(__file__)))\n"
            f"    time.sleep({seconds})\n", 1)
    return edit


def hanging_package(dest: Path) -> Path:
    """A package whose load_model() never returns (from the corpus' base)."""
    dest.mkdir(parents=True)
    make_bad._write(dest, make_bad.base("hangs", interface_DOT_py=make_bad.loading(
        "os.chdir(os.path.dirname(os.path.abspath(__file__)))\n"
        "while True:\n"
        "    time.sleep(0.01)",
        imports="import os\nimport time\n\nimport numpy as np\n")))
    return dest


def env_dirs(cache: Path) -> list[Path]:
    root = cache / "envs"
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def marked_env_of(cache: Path, pkg: Path) -> Optional[Path]:
    """The complete env (its marker written) that ``pkg`` used, if any yet."""
    for env in env_dirs(cache):
        try:
            users = json.loads((env / "meta.json").read_text(encoding="utf-8"))["users"]
        except (OSError, ValueError, KeyError):
            continue
        if str(pkg) in users and (env / "COMPLETE").is_file():
            return env
    return None


def building(cache: Path) -> Optional[Path]:
    """An env directory whose build has got as far as creating the venv."""
    for env in env_dirs(cache):
        if (env / "venv").is_dir() and not (env / "COMPLETE").exists():
            return env
    return None


def report_of(out: str) -> dict:
    (package,) = json.loads(out)["packages"]
    return package


def check_status(package: dict, check_id: str) -> str:
    return next(c["status"] for c in package["checks"] if c["id"] == check_id)


def env_list(cache: Path) -> list[dict]:
    proc = run_envcheck("env", "list", "--format", "json", cache=cache)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    return data if isinstance(data, list) else data.get("envs", data.get("environments", []))


@pytest.fixture
def work() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="envcheck-fault-"))
    yield path
    kill_all(processes_in(path))
    subprocess.run(["umount", str(path / "disk")], capture_output=True)
    shutil.rmtree(path, ignore_errors=True)


# --------------------------------------------------------------------------- SIGKILL


@pytest.mark.slow
def test_sigkill_during_env_build_leaves_a_cache_the_next_check_repairs(work: Path) -> None:
    cache = work / "cache"
    pkg = copy_package(OK_311, work / "pkg")
    before = snapshot(pkg)
    proc = start("check", str(pkg), "--format", "json", cache=cache)
    env_dir = wait_for(lambda: building(cache), proc, "the env build started")
    code, _, _ = signal_group(proc, signal.SIGKILL)
    assert code == -signal.SIGKILL
    assert not (env_dir / "COMPLETE").exists()  # type: ignore[operator]

    again = run_envcheck("check", str(pkg), "--format", "json", cache=cache)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-2000:]
    package = report_of(again.stdout)
    assert package["environment"]["reused"] is False  # rebuilt, not trusted
    build = next(c for c in package["checks"] if c["id"] == "env.build")
    assert any("no completion marker" in f["message"] for f in build["findings"]), build

    third = run_envcheck("check", str(pkg), "--format", "json", cache=cache)
    assert third.returncode == 0
    assert report_of(third.stdout)["environment"]["reused"] is True
    assert [e for e in env_list(cache)] and all(
        (d / "COMPLETE").exists() for d in env_dirs(cache))
    assert snapshot(pkg) == before


@pytest.mark.slow
def test_sigkill_during_probe_leaves_no_probe_running(work: Path, envcheck_cache: Path) -> None:
    pkg = hanging_package(work / "pkg")
    before = snapshot(pkg)
    proc = start("check", str(pkg), "--format", "json", "--timeout", "120", cache=envcheck_cache)
    try:
        wait_for(lambda: processes_in(pkg), proc, "the probe ran the package")
        code, _, _ = signal_group(proc, signal.SIGKILL)
        assert code == -signal.SIGKILL
        left = wait_until_gone(pkg)
        assert left == [], "the probe outlived the envcheck that started it"
    finally:
        kill_all(processes_in(pkg))
        assert snapshot(pkg) == before


@pytest.mark.slow
def test_sigkill_during_probe_leaves_cache_and_package_consistent(
        work: Path, envcheck_cache: Path) -> None:
    """Killed while the package loads: the package is untouched and the env, once its
    marker is written (a new env's manifest is hashed while its first probe runs), is
    reused by the next check."""
    pkg = hanging_package(work / "pkg")
    before = snapshot(pkg)
    proc = start("check", str(pkg), "--format", "json", "--timeout", "120", cache=envcheck_cache)
    try:
        wait_for(lambda: processes_in(pkg), proc, "the probe ran the package")
        wait_for(lambda: marked_env_of(envcheck_cache, pkg), proc,
                 "the env's marker was written")
        signal_group(proc, signal.SIGKILL)
    finally:
        kill_all(processes_in(pkg))
    assert snapshot(pkg) == before
    good = copy_package(OK_311, work / "good")
    after = run_envcheck("check", str(good), "--format", "json", cache=envcheck_cache)
    assert after.returncode == 0, after.stdout[-3000:] + after.stderr[-2000:]
    assert report_of(after.stdout)["environment"]["reused"] is True


@pytest.mark.slow
def test_sigkill_during_record_keeps_the_old_reference(work: Path, envcheck_cache: Path) -> None:
    pkg = copy_package(OK_311, work / "pkg", slow_load(3))
    first = run_envcheck("record", str(pkg), cache=envcheck_cache)
    assert first.returncode == 0, first.stdout + first.stderr
    assert (pkg / "reference" / "outputs.json").is_file()
    recorded = snapshot(pkg)

    proc = start("record", str(pkg), "--force", cache=envcheck_cache)
    try:
        wait_for(lambda: processes_in(pkg), proc, "record ran the package")
        code, _, _ = signal_group(proc, signal.SIGKILL)
        assert code == -signal.SIGKILL
    finally:
        kill_all(processes_in(pkg))
    assert snapshot(pkg) == recorded, "an interrupted record changed the package"
    check = run_envcheck("check", str(pkg), "--format", "json", cache=envcheck_cache)
    assert check.returncode == 0, check.stdout[-3000:] + check.stderr[-2000:]
    assert check_status(report_of(check.stdout), "predict.smoke") == "pass"


# --------------------------------------------------------------------------- full disk


@pytest.mark.slow
def test_full_disk_during_build_is_a_clear_failure(work: Path) -> None:
    disk = work / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill up: {mounted.stderr.strip()}")
    pkg = copy_package(OK_311, work / "pkg")
    before = snapshot(pkg)
    proc = run_envcheck("check", str(pkg), "--format", "json", cache=disk / "cache")
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    package = report_of(proc.stdout)
    build = next(c for c in package["checks"] if c["id"] == "env.build")
    assert build["status"] == "fail"
    messages = " ".join(f["message"] for f in build["findings"])
    assert re.search(r"No space left on device|disk is full|out of disk space", messages, re.I), \
        messages
    assert all(c["status"] == "skip" for c in package["checks"]
               if c["id"] in ("load", "predict.smoke"))
    assert not any((d / "COMPLETE").exists() for d in env_dirs(disk / "cache"))
    assert snapshot(pkg) == before


# --------------------------------------------------------------------------- concurrency


@pytest.mark.slow
def test_eight_concurrent_checks_on_one_cache(work: Path, envcheck_cache: Path) -> None:
    """Two packages with different requirements, four checks each, all at once: each env
    is built once, every check passes, and the cache ends with both envs complete."""
    a = copy_package(OK_311, work / "a")
    # A second, distinct key that resolves to the same wheels (threadpoolctl is a
    # dependency of scikit-learn 1.5.2): a real concurrent build, cheap from uv's cache.
    b = copy_package(OK_311, work / "b", requirements_extra="threadpoolctl==3.5.0\n")
    before = {p: snapshot(p) for p in (a, b)}
    procs = [(pkg, start("check", str(pkg), "--format", "json", cache=envcheck_cache))
             for pkg in (a, b, a, b, a, b, a, b)]
    results = [(pkg, *p.communicate(timeout=PATIENCE_S), p.returncode) for pkg, p in procs]
    for pkg, out, err, code in results:
        assert code == 0, f"{pkg.name}: {out[-2000:]}\n{err[-2000:]}"
        assert "Traceback" not in err
    keys: dict[Path, set[str]] = {a: set(), b: set()}
    fresh: dict[Path, int] = {a: 0, b: 0}
    for pkg, out, _, _ in results:
        environment = report_of(out)["environment"]
        keys[pkg].add(environment["key"])
        fresh[pkg] += environment["reused"] is False
    assert len(keys[a]) == len(keys[b]) == 1 and keys[a] != keys[b]
    assert fresh[a] <= 1 and fresh[b] <= 1, f"an env was built more than once: {fresh}"
    for key in keys[a] | keys[b]:
        assert (envcheck_cache / "envs" / key / "COMPLETE").is_file()
    assert {p: snapshot(p) for p in (a, b)} == before


@pytest.mark.slow
def test_env_prune_while_checks_run(work: Path) -> None:
    """``env prune --all`` during three running checks: it removes nothing in use, the
    checks pass, and afterwards the cache is consistent (prune then removes the env)."""
    cache = work / "cache"
    pkg = copy_package(OK_311, work / "pkg", slow_load(4))
    warm = run_envcheck("check", str(pkg), "--format", "json", cache=cache)
    assert warm.returncode == 0, warm.stdout[-2000:] + warm.stderr[-2000:]
    procs = [start("check", str(pkg), "--format", "json", cache=cache) for _ in range(3)]
    wait_for(lambda: processes_in(pkg), procs[0], "a check ran the package")
    prune = run_envcheck("env", "prune", "--all", cache=cache)
    assert prune.returncode == 0, prune.stdout + prune.stderr
    for proc in procs:
        out, err = proc.communicate(timeout=PATIENCE_S)
        assert proc.returncode == 0, out[-2000:] + err[-2000:]
    assert all((d / "COMPLETE").exists() for d in env_dirs(cache))
    final = run_envcheck("env", "prune", "--all", cache=cache)
    assert final.returncode == 0, final.stderr
    assert env_dirs(cache) == []
    assert env_list(cache) == []


# --------------------------------------------------------------------------- Ctrl-C


# Started with SIGINT ignored and blocked, as a background job or a masked thread would
# start it: envcheck restores Ctrl-C for itself.
_SIGINT_IGNORED = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
                   "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT}); "
                   "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])")


@pytest.mark.slow
@pytest.mark.parametrize("inherited", ["default", "ignored"])
def test_ctrl_c_during_probe(work: Path, envcheck_cache: Path, inherited: str) -> None:
    """SIGINT to envcheck's process group, as a terminal sends it: exit 130, the probe and
    its children ended, no report file (and no half-written one)."""
    pkg = hanging_package(work / "pkg")
    before = snapshot(pkg)
    out_dir = work / "reports"
    out_dir.mkdir()
    args = ("check", str(pkg), "--format", "json", "--timeout", "120",
            "--output", str(out_dir / "report.json"))
    if inherited == "default":
        proc = start(*args, cache=envcheck_cache)
    else:
        argv = envcheck_argv(*args)
        proc = subprocess.Popen([sys.executable, "-c", _SIGINT_IGNORED, *argv[1:]],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=envcheck_env(envcheck_cache), start_new_session=True)
    try:
        wait_for(lambda: processes_in(pkg), proc, "the probe ran the package")
        code, out, err = signal_group(proc, signal.SIGINT)
        left = wait_until_gone(pkg)
    finally:
        kill_all(processes_in(pkg))
    assert code == 130, err
    assert "Traceback" not in err and "interrupted" in err
    assert left == [], "the probe outlived Ctrl-C"
    assert list(out_dir.iterdir()) == []
    assert snapshot(pkg) == before


@pytest.mark.slow
def test_ctrl_c_during_env_build(work: Path) -> None:
    cache = work / "cache"
    pkg = copy_package(OK_311, work / "pkg")
    proc = start("check", str(pkg), "--format", "json", cache=cache)
    env_dir = wait_for(lambda: building(cache), proc, "the env build started")
    code, out, err = signal_group(proc, signal.SIGINT)
    assert code == 130, err
    assert "Traceback" not in err and out == ""
    assert not (env_dir / "COMPLETE").exists()  # type: ignore[operator]
    listed = env_list(cache)  # the cache still reads; the half env is not "ready"
    assert all(e.get("status") != "ready" for e in listed), listed


# --------------------------------------------------------------------------- internal error

_INJECT = """
import sys
import envcheck.{module} as target
def broken(*args, **kwargs):
    raise ZeroDivisionError("injected fault")
target.{name} = broken
from envcheck.commands.cli import main
raise SystemExit(main(sys.argv[1:]))
"""


def run_with_fault(module: str, name: str, *args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    """envcheck with one of its own functions replaced by one that raises: the only way to
    make a bug on purpose (a bad package never gets this far)."""
    code = _INJECT.format(module=module, name=name)
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env=envcheck_env(cache), timeout=120)


def _log_path(text: str) -> Path:
    match = re.search(r"the full traceback is in (\S+)", text)
    assert match, text
    return Path(match.group(1))


@pytest.mark.parametrize("module,name", [("render.report", "render"), ("commands.check", "check_paths")])
def test_internal_error_is_one_line_and_a_log(module: str, name: str, tmp_path: Path) -> None:
    proc = run_with_fault(module, name, "check", str(OK_311), "--static", cache=tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("envcheck: internal error: ZeroDivisionError: injected fault")
    log = _log_path(lines[0]).read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in log and "injected fault" in log


def test_internal_error_while_checking_one_package_is_in_its_report(tmp_path: Path) -> None:
    proc = run_with_fault("pipeline", "_run_pipeline", "check", str(OK_311), "--static",
                          "--format", "json", cache=tmp_path)
    assert proc.returncode == 2, proc.stderr
    package = report_of(proc.stdout)
    assert package["status"] == "error"
    assert "\n" not in package["error"]
    assert package["error"].startswith("internal error: ZeroDivisionError: injected fault")
    assert "injected fault" in _log_path(package["error"]).read_text(encoding="utf-8")
