"""Real attacks on envcheck itself (fixtures/attacks/), each with a harmless payload.

Every package is checked by the real CLI, in a subprocess whose environment holds a fake
CI secret; the test then asserts the attack was stopped -- no canary file written, no
secret in the report, no forged line, the cache and envcheck's own install untouched --
and what the verdict is (exit code, the check ids that fail), as
``fixtures/attacks/expected.json`` says for each.  ``test_the_attacks_need_the_defences``
runs a few with the sandbox switched off, to show the assertions can fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any, Optional
from xml.etree import ElementTree

import pytest
from conftest import FIXTURES

ATTACKS = FIXTURES / "attacks"
EXPECTED = json.loads((ATTACKS / "expected.json").read_text(encoding="utf-8"))
CANARY = Path(EXPECTED["canary_dir"])
TOKEN = EXPECTED["fake_token"]
NETRC = EXPECTED["fake_netrc"]
PACKAGES: dict[str, dict[str, Any]] = EXPECTED["packages"]
# Our own site-packages: the attack that plants a .pth there must not get in.
SITE = Path(sysconfig.get_paths()["purelib"])

sys.path.insert(0, str(ATTACKS))
import make_attacks  # noqa: E402  (the corpus generator: materialize() copies a package)


def materialize(name: str, dest: Path) -> Path:
    return Path(make_attacks.materialize(name, dest))


def run_envcheck(args: list[str], cache: Path, cwd: Optional[Path] = None,
                 extra_env: Optional[dict[str, str]] = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ENVCHECK_CACHE_DIR": str(cache), TOKEN["name"]: TOKEN["value"],
           "NO_COLOR": "1", **(extra_env or {})}
    return subprocess.run([sys.executable, "-m", "envcheck", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=900)


def tree(root: Path) -> dict[str, tuple[int, int, bytes]]:
    out = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        body = path.read_bytes() if path.is_file() and not path.is_symlink() else b""
        out[str(path.relative_to(root))] = (st.st_mode, st.st_ino, body)
    return out


class Listener:
    """A loopback TCP listener; what connects to it is the exfiltration attempt."""

    def __init__(self, pkg: Path) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(5)
        self.sock.setblocking(False)
        for where in (CANARY, pkg):  # the package's copy: the network is what is tested
            (where / "port").write_text(str(self.sock.getsockname()[1]))

    def received(self) -> bool:
        try:
            conn, _ = self.sock.accept()
        except BlockingIOError:
            return False
        conn.close()
        return True


@pytest.fixture
def canary() -> Path:
    CANARY.mkdir(exist_ok=True)
    return CANARY


def _prepare(name: str, spec: dict[str, Any], tmp_path: Path) -> Path:
    for canary_name in spec["canaries_absent"]:
        (CANARY / canary_name).unlink(missing_ok=True)
    pkg = materialize(name, tmp_path / name)
    setup = spec.get("setup", {})
    for file, text in setup.get("files", {}).items():
        (CANARY / file).write_text(text)
    for source, target in setup.get("copy", {}).items():
        shutil.copy(pkg / source, target)
        os.chmod(target, 0o755)
    return pkg


def _statuses(report: dict[str, Any]) -> dict[str, str]:
    return {c["id"]: c["status"] for c in report["packages"][0]["checks"]}


def check_attack(name: str, tmp_path: Path, cache: Path,
                 extra_env: Optional[dict[str, str]] = None) -> list[str]:
    """Run one attack; the list of what got through (empty: it was stopped)."""
    spec = PACKAGES[name]
    for before in spec.get("after", []):  # an attack the victim is checked after
        run_envcheck(["check", str(_prepare(before, PACKAGES[before], tmp_path))], cache)
    pkg = _prepare(name, spec, tmp_path)
    listener = Listener(pkg) if "listener" in spec.get("setup", {}) else None
    facts = cache / "interpreters.json"
    facts_before = facts.read_bytes() if facts.exists() else None
    pristine = tree(pkg)
    args = ["check", str(pkg), *spec.get("args", [])]
    fmt = spec.get("report_format", "json")
    proc = run_envcheck([*args, "--format", fmt], cache, extra_env=extra_env,
                        cwd=pkg if spec.get("setup", {}).get("cwd") == "package" else None)
    time.sleep(spec.get("wait_after_s", 0))
    got: list[str] = []
    report_text = proc.stdout + proc.stderr
    for canary_name in spec["canaries_absent"]:
        if (CANARY / canary_name).exists():
            got.append(f"canary {canary_name} written: "
                       f"{(CANARY / canary_name).read_text(errors='replace')[:200]}")
    for secret in spec.get("report_must_not_contain", []):
        if secret in report_text:
            got.append(f"report contains {secret!r}")
    for pattern in spec.get("forbidden_lines", []):
        if re.search(pattern, proc.stdout, re.M):
            got.append(f"forged line {pattern!r} in the {fmt} report")
    if spec.get("junit_parses"):
        try:
            ElementTree.fromstring(proc.stdout)
        except ElementTree.ParseError as exc:
            got.append(f"JUnit report is not XML: {exc}")
    if spec.get("package_unchanged") and tree(pkg) != pristine:
        got.append("the package folder changed")
    if spec.get("env_unchanged") and list(cache.glob("envs/*/venv/lib/*/site-packages/zz_envcheck*")):
        got.append("a file was planted in a cached env")
    if spec.get("cache_unchanged") and ((cache / "envcheck-attack-was-here").exists() or (
            facts_before is not None and facts.read_bytes() != facts_before)):
        got.append("envcheck's cache was changed")
    if spec.get("envcheck_site_unchanged") and list(SITE.glob("zz_envcheck_attack*")):
        for planted in SITE.glob("zz_envcheck_attack*"):
            planted.unlink()
        got.append("a .pth was planted in envcheck's own site-packages")
    if listener is not None and listener.received():
        got.append("the package reached a TCP listener on 127.0.0.1")
    # The verdict.
    expected_codes = spec["exit_code"] if isinstance(spec["exit_code"], list) \
        else [spec["exit_code"]]
    if proc.returncode not in expected_codes:
        got.append(f"exit code {proc.returncode}, expected {expected_codes}: "
                   f"{report_text[-1500:]}")
    if fmt == "json" and proc.stdout.strip():
        statuses = _statuses(json.loads(proc.stdout))
        for check_id in spec.get("fail", []):
            if statuses.get(check_id) != "fail":
                got.append(f"{check_id} is {statuses.get(check_id)}, expected fail")
        if spec.get("fail_any") and not any(statuses.get(c) == "fail" for c in spec["fail_any"]):
            got.append(f"none of {spec['fail_any']} failed: {statuses}")
        for check_id in spec.get("warn_or_fail", []):
            if statuses.get(check_id) not in ("warn", "fail"):
                got.append(f"{check_id} is {statuses.get(check_id)}, expected warn or fail")
    return got


def cache_for(name: str, tmp_path: Path, shared: Path) -> Path:
    """A fresh cache for the attacks on the cache itself; the session's for the rest."""
    return tmp_path / "cache" if name.startswith("cache-") else shared


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PACKAGES))
def test_attack_is_stopped(name: str, tmp_path: Path, canary: Path,
                           envcheck_cache: Path) -> None:
    got = check_attack(name, tmp_path, cache_for(name, tmp_path, envcheck_cache))
    assert got == [], f"{name} ({PACKAGES[name]['tries']}) got through:\n" + "\n".join(got)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["secrets-proc-environ", "outlive-tcp-exfil", "write-hardlink"])
def test_the_attacks_need_the_defences(name: str, tmp_path: Path, canary: Path,
                                       envcheck_cache: Path) -> None:
    """With the sandbox forced off, the same attack gets through: the test above can fail,
    and the sandbox (not an accident of the machine) is what stops it."""
    got = check_attack(name, tmp_path, envcheck_cache, {"ENVCHECK_SANDBOX": "off"})
    assert got, f"{name} was stopped even without the sandbox"


def test_every_attack_class_is_covered() -> None:
    classes = {spec["class"] for spec in PACKAGES.values()}
    assert classes == {"secrets", "cache", "install", "interpreter", "forge", "policy",
                       "pickle", "write", "outside", "outlive", "inject"}


@pytest.mark.slow
def test_a_build_backend_runs_only_sandboxed_with_allow_build(tmp_path: Path, canary: Path,
                                                               envcheck_cache: Path) -> None:
    """--allow-build lets the sdist's backend run -- inside the sandbox: it cannot write
    outside the env and the installer's cache, and never sees envcheck's secrets."""
    spec = PACKAGES["install-sdist"]
    pkg = _prepare("install-sdist", spec, tmp_path)
    proc = run_envcheck(["check", str(pkg), "--allow-build", "--format", "json"],
                        tmp_path / "cache")
    assert not (CANARY / "install-sdist").exists()
    assert TOKEN["value"] not in proc.stdout + proc.stderr
    build = next(c for c in json.loads(proc.stdout)["packages"][0]["checks"]
                 if c["id"] == "env.build")
    assert build["status"] == "fail"  # the backend's own write was refused, so it failed
    log = Path(build["findings"][0]["details"]["log"]).read_text()
    assert "(sandboxed)" in log and "Permission denied" in log
