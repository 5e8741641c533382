"""probe.sandbox: what held around the package's code, said in the report; a missing layer
warns, and fails with --require-sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES

PKG = FIXTURES / "packages" / "churn-ok-py311"


def check(cache: Path, *args: str, sandbox: str = "") -> tuple[int, dict]:
    env = {**os.environ, "ENVCHECK_CACHE_DIR": str(cache), "ENVCHECK_SANDBOX": sandbox}
    proc = subprocess.run([sys.executable, "-m", "envcheck", "check", str(PKG), "--format",
                           "json", *args], capture_output=True, text=True, env=env, timeout=900)
    return proc.returncode, json.loads(proc.stdout)["packages"][0]


def sandbox_check(package: dict) -> dict:
    return next(c for c in package["checks"] if c["id"] == "probe.sandbox")


@pytest.mark.slow
def test_every_layer_held_is_reported(envcheck_cache: Path) -> None:
    code, package = check(envcheck_cache)
    layers = package["environment"]["sandbox"]["layers"]
    if not (layers.get("landlock") and layers.get("pidns")):
        pytest.skip(f"this machine lacks a layer: {layers}")
    assert code == 0
    assert sandbox_check(package)["status"] == "pass"
    assert package["environment"]["sandbox"]["missing"] == []
    assert sandbox_check(package)["source"] == "envcheck"


@pytest.mark.slow
def test_the_sandbox_forced_off_warns_and_require_sandbox_fails(envcheck_cache: Path) -> None:
    code, package = check(envcheck_cache, sandbox="off")
    result = sandbox_check(package)
    assert code == 0 and result["status"] == "warn"
    messages = [f["message"] for f in result["findings"]]
    assert any(m.startswith("not isolated: secrets: other processes' environments") for m in messages)
    assert "not isolated: network: open" in messages
    assert all(held is False for held in package["environment"]["sandbox"]["layers"].values())
    code, package = check(envcheck_cache, "--require-sandbox", sandbox="off")
    assert code == 1 and sandbox_check(package)["status"] == "fail"
    # One layer off: only what it stood for is missing.
    code, package = check(envcheck_cache, "--require-sandbox", sandbox="no-netns")
    missing = package["environment"]["sandbox"]["missing"]
    layers = package["environment"]["sandbox"]["layers"]
    if layers.get("landlock"):
        assert missing == ["network: only TCP is blocked; UDP and other protocols are open"]
        assert code == 1
