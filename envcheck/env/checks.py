"""Checks of a built environment: ``env.consistency`` and ``env.drift``."""

from __future__ import annotations

import io
import json
import re
import subprocess
from typing import Optional

from packaging.utils import canonicalize_name

from envcheck.env.installers import _ANSI, check_command, check_label
from envcheck.env.layout import BuiltEnv
from envcheck.env.sandboxed import run_sandboxed
from envcheck.launch.environment import installer_environment
from envcheck.model import checks
from envcheck.model.findings import (
    CheckResult,
    Finding,
    Stopwatch,
    error,
    info,
    warning,
)
from envcheck.model.package import ModelPackage
from envcheck.model.versions import same_version

# Seeded by virtualenv, not declared by the package: drift ignores them unless pinned.
TOOLING = frozenset({"pip", "setuptools", "wheel", "distribute"})


_PIP_PROBLEM = re.compile(r"^(\S+) (\S+) (?:has requirement|requires|is not supported)")
_UV_PROBLEM = re.compile(r"^The package `([^`]+)` (requires|has)")


def check_consistency(env: BuiltEnv, use_cached: bool = True) -> CheckResult:
    """``env.consistency``: broken or conflicting dependencies inside the built env.

    The build records the check's output (a complete env never changes), so a reused env
    costs nothing; ``use_cached=False`` runs it again.
    """
    with Stopwatch() as sw:
        result = env.consistency if use_cached else None
        if result is None:
            cmd = check_command(env.python, env.installer, None)
            try:
                if env.installer == "uv":  # reads metadata itself: nothing of the env runs
                    proc = subprocess.run(cmd, capture_output=True, text=True,
                                          env=installer_environment(),
                                          stdin=subprocess.DEVNULL, timeout=300)
                else:  # pip check runs in the env (.pth files and all): sandboxed
                    proc = run_sandboxed(cmd, env.python, io.StringIO())
            except (OSError, subprocess.SubprocessError) as exc:
                return checks.ENV_CONSISTENCY.result([error(
                    f"could not run {check_label(env.installer)}: {exc}")], sw.elapsed)
            result = {"command": check_label(env.installer), "returncode": proc.returncode,
                      "output": (proc.stdout + "\n" + proc.stderr).strip()}
        findings: list[Finding] = []
        output = _ANSI.sub("", str(result.get("output", "")))
        if result.get("returncode") == 0:
            findings.append(info(f"no broken or conflicting dependencies "
                                 f"({result.get('command')})"))
        else:
            for line in output.splitlines():
                line = line.strip()
                m = _PIP_PROBLEM.match(line) or _UV_PROBLEM.match(line)
                if m:
                    findings.append(error(line.rstrip("."), details={
                        "package": canonicalize_name(m.group(1)), "problem": line}))
            if not findings:
                tail = "\n".join(output.splitlines()[-10:])
                findings.append(error(f"{result.get('command')} failed: {tail}"))
    return checks.ENV_CONSISTENCY.result(findings, sw.elapsed)


def check_drift(pkg: ModelPackage, env: BuiltEnv) -> CheckResult:
    """``env.drift``: installed versions that differ from reference/environment.json."""
    path = pkg.reference_dir / "environment.json"
    rel = pkg.relative(path)
    if not path.is_file():
        return checks.ENV_DRIFT.skipped(f"no {rel}: nothing recorded to compare "
                                   "(envcheck record writes it)")
    make = warning  # --strict escalates these (the registry's policy for env.drift)
    with Stopwatch() as sw:
        findings: list[Finding] = []
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as exc:
            findings.append(make(f"{rel} is not readable JSON: {exc}", file=rel))
            return checks.ENV_DRIFT.result(findings, sw.elapsed)
        recorded_raw = data.get("packages") or {}
        recorded = {canonicalize_name(str(k)): str(v) for k, v in recorded_raw.items()} \
            if isinstance(recorded_raw, dict) else {}
        built = env.packages
        pinned = set(pkg.pins)
        rows: list[dict[str, Optional[str]]] = []
        rec_python = data.get("python")
        if rec_python and not same_version(str(rec_python), env.interpreter.version):
            rows.append({"name": "python", "recorded": str(rec_python),
                         "built": env.interpreter.version})
        for name in sorted(recorded):
            if name in TOOLING and name not in pinned:
                continue
            have = built.get(name)
            if have is None or not same_version(recorded[name], have):
                rows.append({"name": name, "recorded": recorded[name], "built": have})
        for row in rows:
            now = (f"installed {row['built']}" if row["built"] is not None
                   else "not installed in the built env")
            findings.append(make(f"{row['name']}: recorded {row['recorded']}, {now}",
                                 file=rel, details=dict(row)))
        if not rows:
            findings.append(info(f"{len(recorded)} recorded distributions match the built env",
                                 file=rel))
        extra = sorted(n for n in built if n not in recorded and n not in TOOLING)
        if extra and recorded:
            findings.append(info(f"installed but not recorded in {rel}: {', '.join(extra)}",
                                 file=rel, details={"extra": extra}))
    return checks.ENV_DRIFT.result(findings, sw.elapsed)
