"""``envcheck record PKG``: write ``reference/`` from the package's own environment.

What is written (see :mod:`envcheck.compare.reference` for the formats): ``inputs.json`` (the
smoke inputs), ``outputs.json`` (what predict() returned for them) and
``environment.json`` (python, platform, every installed distribution, sha256 and size of
every artifact, envcheck version, time).

Nothing is written from a broken package: the load must succeed without scikit-learn
version warnings, predict() must return one NaN-free row per input, twice the same.

Atomic replacement, and the recovery rule
-----------------------------------------
The three files are written (and fsynced) into ``reference.tmp-<random>/`` inside the
package, then::

    rename reference/         -> reference.old-<random>/     (only if it exists)
    rename reference.tmp-XXX/ -> reference/
    remove reference.old-<random>/

A SIGKILL at any point leaves a readable reference, old or new:

* before the first rename: ``reference/`` is the old one; ``reference.tmp-*`` is ignored
  by readers and removed by the next ``record``;
* between the renames: there is no ``reference/``, and readers
  (:func:`envcheck.compare.reference.reference_dir`) fall back to the intact ``reference.old-*``;
  the next ``record`` treats it as an existing reference (``--force`` needed) and
  removes it once the new reference is in place;
* after the second rename: ``reference/`` is the new one; a leftover
  ``reference.old-*`` is removed by the next ``record``.
"""

from __future__ import annotations

import datetime
import json
import os
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from envcheck.compare import predictions
from envcheck.compare.inputs import (
    InputsError,
    build_synthetic_inputs,
    load_inputs_file,
)
from envcheck.compare.integrity import artifact_digests
from envcheck.compare.reference import reference_dir
from envcheck.inspect import artifacts, pickles, sniff
from envcheck.model import checks
from envcheck.model.errors import FatalError
from envcheck.model.options import Options
from envcheck.model.package import ModelPackage
from envcheck.model.progress import Progress
from envcheck.model.version import __version__
from envcheck.pipeline import prepare_environment, step
from envcheck.probe import checks as probe_checks
from envcheck.probe import signatures
from envcheck.probe.result import ProbeResult
from envcheck.probe.signatures import VersionFacts
from envcheck.probe.runner import run_probe
from envcheck.read.formats import read_package

REFERENCE_FILES = ("inputs.json", "outputs.json", "environment.json")


class RecordError(FatalError):
    """The reference cannot be recorded; the message says why in one line (exit 2)."""


@dataclass
class RecordResult:
    reference_dir: Path
    paths: list[Path] = field(default_factory=list)
    probe: Optional[ProbeResult] = None
    inputs_source: str = ""

    def summary(self, pkg: ModelPackage) -> str:
        rows = (self.probe.frame or {}).get("rows") if self.probe else None
        return (f"recorded {pkg.relative(self.reference_dir)}/ for {pkg.name or pkg.root.name}: "
                f"{rows} input rows ({self.inputs_source}), "
                f"{len(self.probe.installed) if self.probe else 0} installed distributions, "
                f"python {self.probe.python if self.probe else '?'}")


def _write_json(path: Path, value: Any) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(value, handle, indent=1, sort_keys=False, allow_nan=False)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _leftovers(pkg: ModelPackage, kind: str) -> list[Path]:
    return [p for p in pkg.root.glob(f"reference.{kind}-*") if p.is_dir()]


def _validate(pkg: ModelPackage, probe: ProbeResult, options: Options,
              facts: Optional[VersionFacts] = None) -> None:
    """RecordError unless the probe loaded and predicted cleanly (``facts``: the versions
    envcheck read, to explain a cross-version failure as ``check`` does)."""
    load = probe_checks.check_load(pkg, probe, facts)
    if load.findings and not probe.loaded:
        raise RecordError(f"cannot record: {load.findings[0].message}")
    warnings = probe_checks.check_load_warnings(pkg, probe, options)
    for finding in warnings.findings:
        if finding.severity.value == "error":
            raise RecordError(f"cannot record: {finding.message}")
    if probe.kind != "ok":
        raise RecordError(f"cannot record: {probe_checks.describe_failure(pkg, probe)}")
    got = probe.predictions
    if got is None:
        raise RecordError("cannot record: predict() was not called (no smoke inputs)")
    rows = (probe.frame or {}).get("rows")
    shape = got.get("shape") or []
    if not shape or shape[0] != rows:
        raise RecordError(f"cannot record: predict() returned shape {shape} for {rows} "
                          f"input rows (expected one prediction per row)")
    nan_rows = predictions.has_nan(got)
    if nan_rows:
        raise RecordError(f"cannot record: predict() returned NaN for row(s) "
                          f"{nan_rows[:5]}; choose other --inputs")
    determinism = predictions.check_determinism(probe)
    for finding in determinism.findings:
        if finding.severity.value == "error":
            raise RecordError(f"cannot record: {finding.message}")


def environment_record(pkg: ModelPackage, probe: ProbeResult,
                       env_packages: dict[str, str], python_version: str,
                       inputs_source: str, cache_root: Optional[Path] = None,
                       env_only: bool = False) -> dict[str, Any]:
    packages = dict(env_packages)
    # What the interpreter really saw wins -- for the env's own distributions when the
    # env's inventory is known (``env_only``).  One only the interpreter saw is vendored
    # inside another (setuptools/_vendor, which setuptools puts on sys.path when imported,
    # as MLflow's import chain does): not part of the env, it would read as drift on
    # every later check.
    packages.update({name: version for name, version in probe.installed.items()
                     if not env_only or name in env_packages})
    return {
        "format": 1,
        "python": probe.python or python_version,
        "platform": probe.platform,
        "packages": dict(sorted(packages.items())),
        "requirements": list(pkg.requirement_lines),
        "artifacts": artifact_digests(pkg, cache_root),
        "inputs_source": inputs_source,
        "timings": probe.timings,
        "peak_memory_mb": probe.peak_memory_mb,
        "envcheck_version": __version__,
        "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def record(pkg: ModelPackage, env_python: Path, env_packages: dict[str, str],
           python_version: str, options: Options, inputs_path: Optional[Path] = None,
           force: bool = False, facts: Optional[VersionFacts] = None,
           env_only: bool = False) -> RecordResult:
    """Probe the package in ``env_python`` and write its reference atomically."""
    target = pkg.reference_dir
    refuse_existing(pkg, force)
    try:
        if inputs_path is not None:
            inputs = load_inputs_file(Path(inputs_path), pkg.metadata)
        else:
            inputs = build_synthetic_inputs(pkg.metadata, pkg.settings.get("smoke_rows"))
    except InputsError as exc:
        raise RecordError(f"cannot record: {exc}") from None
    source = str(inputs.pop("source", "")) or "synthesized"

    probe = run_probe(Path(env_python), pkg, inputs, options, predict=True, repeat=True,
                      installed=True)
    _validate(pkg, probe, options, facts)

    for stale in _leftovers(pkg, "tmp"):  # an interrupted record's partial output
        shutil.rmtree(stale, ignore_errors=True)
    tmp = pkg.root / f"reference.tmp-{secrets.token_hex(4)}"
    tmp.mkdir()
    old: Optional[Path] = None
    try:
        recorded_inputs = dict(inputs, source=source)
        _write_json(tmp / "inputs.json", recorded_inputs)
        _write_json(tmp / "outputs.json", {"format": 1, "output": probe.predictions,
                                           "rows": (probe.frame or {}).get("rows")})
        _write_json(tmp / "environment.json",
                    environment_record(pkg, probe, env_packages, python_version, source,
                                       options.resolved_cache_dir(), env_only))
        _fsync_dir(tmp)
        if target.exists():
            old = pkg.root / f"reference.old-{secrets.token_hex(4)}"
            os.rename(target, old)
        os.rename(tmp, target)
        _fsync_dir(pkg.root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for stale in ([old] if old is not None else []) + _leftovers(pkg, "old"):
        shutil.rmtree(stale, ignore_errors=True)
    return RecordResult(reference_dir=target, paths=[target / n for n in REFERENCE_FILES],
                        probe=probe, inputs_source=source)


def refuse_existing(pkg: ModelPackage, force: bool) -> None:
    """``record`` never overwrites a reference silently."""
    existing = reference_dir(pkg)
    if existing is not None and not force:
        raise RecordError(f"{pkg.relative(existing)}/ already exists in {pkg.root}: pass "
                          f"--force to overwrite it")


def record_package(path: Path, options: Options, inputs_path: Optional[Path], force: bool,
                   progress: Optional[Progress] = None) -> str:
    """The ``envcheck record`` command: read the package, build (or reuse) its env, record.
    Returns the one-line summary; raises :class:`RecordError` (exit 2) otherwise."""
    pkg, results = read_package(Path(path), options)
    if pkg is None:
        first = results[0].headline if results else "not a model package"
        raise RecordError(f"{path}: {first}")
    for result in results:
        if result.id in (checks.PACKAGE_LAYOUT.id, checks.REQUIREMENTS_PARSE.id, checks.INTERFACE_CONTRACT.id) \
                and result.status.value in ("fail", "error"):
            raise RecordError(f"cannot record: {result.id} failed: {result.headline}")
    if not pkg.requirements_ok:
        raise RecordError(f"cannot record: {pkg.relative(pkg.requirements_path)} could not "
                          f"be read")
    refuse_existing(pkg, force)  # before the slow part, not after it
    # Recording loads the model: the same static gate as `check` comes first.
    listed = [p for p in pkg.artifacts if artifacts.is_inspected(p)]
    inspections = artifacts.inspect_all(listed + sniff.find_pickles(pkg.root, listed).pickles)
    safety = pickles.check_safety(pkg, inspections, options.trust_pickle)
    if safety.status.value == "fail":
        raise RecordError("refusing to load the model: pickle.safety failed: "
                          f"{safety.headline}")
    env, env_results = prepare_environment(pkg, options, progress)
    if env is None:
        raise RecordError("cannot record: the environment could not be built: "
                          f"{env_results[-1].headline}")

    with env, step(progress, f"Recording {pkg.name or pkg.root.name}"):
        outcome = record(pkg, env.python, dict(env.packages), env.interpreter.version,
                         options, inputs_path, force,
                         signatures.facts_from(inspections, env.packages, pkg.relative),
                         env_only=True)
    return outcome.summary(pkg)
