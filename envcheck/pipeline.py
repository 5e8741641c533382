"""The pipeline: read -> inspect artifacts -> build env -> probe -> compare.

Each stage returns :class:`CheckResult` objects; this module only decides what runs after
what, asking the check registry (:mod:`envcheck.model.checks`) what a failure blocks and
what ``--strict`` does.  Whatever is not run is reported as ``skip`` with the reason, so
every check id appears in every report.
"""

from __future__ import annotations

import contextlib
import re
import time
from pathlib import Path
from typing import Callable, Iterator, Optional

from envcheck.compare import integrity, predictions
from envcheck.compare.inputs import InputsError, smoke_inputs
from envcheck.env import cache as envs
from envcheck.env import checks as env_checks
from envcheck.env import interpreters
from envcheck.env.layout import BuiltEnv
from envcheck.inspect import artifacts, pickles, sniff
from envcheck.inspect.policy import PickleInspection
from envcheck.model import checks
from envcheck.model.checks import Blocks
from envcheck.model.errors import describe_crash
from envcheck.model.findings import CheckResult, PackageReport, Status, error, warning
from envcheck.model.options import Options
from envcheck.model.package import ModelPackage
from envcheck.model.progress import Progress
from envcheck.probe import checks as probe_checks
from envcheck.probe import runner, signatures
from envcheck.read.formats import read_package


class _Results:
    """The checks of one package, with the "did X pass?" questions the pipeline asks."""

    def __init__(self) -> None:
        self.by_id: dict[str, CheckResult] = {}

    def add(self, *results: CheckResult) -> None:
        for result in results:
            existing = self.by_id.get(result.id)
            if existing is None:
                self.by_id[result.id] = result
            else:  # a stage may add findings to a check run earlier (runtime pickle imports)
                self.by_id[result.id] = checks.get(result.id).result(
                    existing.findings + result.findings,
                    existing.duration_s + result.duration_s)

    def failed(self, check: checks.Check) -> bool:
        result = self.by_id.get(check.id)
        return result is not None and result.status in (Status.FAIL, Status.ERROR)

    def blocker(self, *blocks: Blocks) -> str:
        """Why what ``blocks`` guards must not run, or '' when it may."""
        failed = [c for c in checks.REGISTRY if c.blocks in blocks and self.failed(c)]
        return min(failed, key=lambda c: c.block_rank).blocked_reason if failed else ""

    def skip_rest(self, reason: str) -> None:
        for check in checks.REGISTRY:
            if check.id not in self.by_id:
                self.by_id[check.id] = check.skipped(reason)

    def ordered(self, strict: bool) -> list[CheckResult]:
        results = sorted(self.by_id.values(),
                         key=lambda r: checks.ORDER.get(r.id, len(checks.ORDER)))
        if strict:
            results = [checks.get(r.id).apply_strict(r) for r in results]
        return results


def _timed(func: Callable[..., CheckResult], *args: object) -> CheckResult:
    start = time.perf_counter()
    result = func(*args)
    if not result.duration_s:
        result.duration_s = time.perf_counter() - start
    return result


def check_package(path: Path, options: Options, progress: Optional[Progress] = None
                  ) -> PackageReport:
    """Check one package.  Never raises for a bad package; a bug becomes ``internal_error``."""
    start = time.perf_counter()
    report = PackageReport(path=str(path))
    try:
        _run_pipeline(path, options, report, progress)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # envcheck's own bug: one line here, the traceback in the log
        report.internal_error = describe_crash(exc, options.resolved_cache_dir(),
                                               context=f"checking {path}")
    report.duration_s = time.perf_counter() - start
    return report


def _run_pipeline(path: Path, options: Options, report: PackageReport,
                  progress: Optional[Progress]) -> None:
    results = _Results()
    pkg, read_results = read_package(path, options)
    results.add(*read_results)
    if pkg is None:
        report.internal_error = read_results[0].headline if read_results \
            else "not a model package"
        report.checks = results.ordered(options.strict)
        return
    report.name = pkg.name
    if options.requirement_overrides:
        apply_overrides(pkg, options.requirement_overrides)

    inspections = _static_artifact_checks(pkg, options, results)

    if options.static:
        results.skip_rest("--static: no environment built, no code of the package run")
    elif results.blocker(Blocks.ENV):
        results.skip_rest(results.blocker(Blocks.ENV))
    elif not pkg.requirements_ok:
        results.skip_rest(checks.REQUIREMENTS_PARSE.blocked_reason)
    else:
        _dynamic_checks(pkg, options, results, report, progress, inspections)
    report.checks = results.ordered(options.strict)


def _static_artifact_checks(pkg: ModelPackage, options: Options, results: _Results
                            ) -> list[PickleInspection]:
    """``artifacts.integrity``, ``pickle.safety``, ``pickle.versions``; the inspections."""
    pickle_paths = [p for p in pkg.artifacts if artifacts.is_inspected(p)]
    # Pickles by content, whatever their name and whether metadata.yaml lists them.
    sniffed = sniff.find_pickles(pkg.root, pickle_paths)
    pickle_paths += sniffed.pickles
    inspections = artifacts.inspect_all(pickle_paths)
    results.add(_timed(integrity.check_integrity, pkg, options.resolved_cache_dir()))
    # Versions recorded beside the artifacts rather than inside them (an MLflow MLmodel).
    recorded_elsewhere = pkg.version_findings
    if pickle_paths:
        results.add(_timed(pickles.check_safety, pkg, inspections, options.trust_pickle))
        results.add(_timed(pickles.check_versions, pkg, inspections,
                           options.python or pkg.python_version))
    else:
        results.add(checks.PICKLE_SAFETY.skipped("no pickle artifacts"))
        if not recorded_elsewhere:
            results.add(checks.PICKLE_VERSIONS.skipped("no pickle artifacts"))
    if sniffed.truncated:
        results.add(checks.PICKLE_SAFETY.result([warning(
            f"the package holds more than {sniff.MAX_FILES} files: only the first "
            f"{sniff.MAX_FILES} were sniffed for pickles", details={"limit": sniff.MAX_FILES})]))
    if recorded_elsewhere:
        results.add(checks.PICKLE_VERSIONS.result(recorded_elsewhere))
    return inspections


def apply_overrides(pkg: ModelPackage, overrides: dict[str, str]) -> None:
    """Replace the package's requirement for each overridden name by ``name==version``.

    Hashes are dropped everywhere: pip's hash-checking mode is all or nothing, and the
    overriding versions come with no hashes.
    """
    from packaging.utils import canonicalize_name

    def name_of(line: str) -> str:
        match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line)
        return canonicalize_name(match.group(0)) if match else ""

    kept = [re.sub(r"\s+--hash=\S+", "", line) for line in pkg.requirement_lines
            if name_of(line) not in overrides]
    pkg.requirement_lines = sorted(kept + [f"{name}=={version}"
                                           for name, version in overrides.items()])
    pkg.constraint_lines = [line for line in pkg.constraint_lines
                            if name_of(line) not in overrides]
    pkg.pins.update(overrides)


def environment_lines(pkg: ModelPackage) -> list[str]:
    """What the installer gets (and the cache key hashes): requirements, constraints and
    index options, all from the package's own files."""
    return ([*pkg.requirement_lines]
            + [f"--constraint {line}" for line in pkg.constraint_lines]
            + list(pkg.installer_options))


def prepare_environment(pkg: ModelPackage, options: Options, progress: Optional[Progress],
                        verify_later: bool = False
                        ) -> tuple[Optional[BuiltEnv], list[CheckResult]]:
    """``env.python`` + ``env.build``: the package's interpreter and its cached env
    (``verify_later``: see ``EnvCache.ensure``)."""
    cache_root = options.resolved_cache_dir()
    interpreter, python_result = interpreters.select_interpreter(pkg, options.python,
                                                                 cache_root)
    env, build_result = _cache(options).ensure(
        environment_lines(pkg), interpreter, options.installer, progress=progress,
        user=str(pkg.root), verify_later=verify_later)
    return env, [python_result, build_result]


def _cache(options: Options) -> envs.EnvCache:
    return envs.EnvCache(options.resolved_cache_dir(), allow_build=options.allow_build)


def _dynamic_checks(pkg: ModelPackage, options: Options, results: _Results,
                    report: PackageReport, progress: Optional[Progress],
                    inspections: list[PickleInspection]) -> None:
    before = dict(results.by_id)
    problem = _env_and_probe(pkg, options, results, report, progress, inspections,
                             verify_later=True)
    if problem is None:
        return
    # The env could not be trusted (a reused one had changed since it was built; a new
    # one, or a store entry it linked, changed before its manifest was written): nothing
    # that ran in it counts.  It ran sandboxed, so it could do no more harm than the
    # package itself; now rebuild, verifying everything before anything runs.
    results.by_id = before
    report.environment = None
    _env_and_probe(pkg, options, results, report, progress, inspections, verify_later=False)
    results.add(checks.ENV_BUILD.result([warning(
        f"{problem}: it was discarded and rebuilt, and the package checked again",
        details={"problem": problem})]))


def _env_and_probe(pkg: ModelPackage, options: Options, results: _Results,
                   report: PackageReport, progress: Optional[Progress],
                   inspections: list[PickleInspection], verify_later: bool) -> Optional[str]:
    """The env stage and the probe; what is wrong with a reused env found only after the
    probe ran in it (then everything added here must be dropped), else None."""
    env, env_results = prepare_environment(pkg, options, progress, verify_later)
    results.add(*env_results)
    if env is None:
        results.skip_rest(checks.ENV_BUILD.blocked_reason)
        return None
    with env:  # holds the env's in-use lease: `env prune` leaves it alone until we are done
        report.environment = env.report_block()
        # The environment source it was built from (envcheck.read.sources' precedence).
        report.environment["requirements_file"] = pkg.relative(Path(pkg.requirements_path))
        results.add(_timed(env_checks.check_consistency, env),
                    _timed(env_checks.check_drift, pkg, env))
        installed = pickles.installed_version_findings(pkg, inspections, env.packages)
        if installed:
            results.add(checks.PICKLE_VERSIONS.result(installed))
        blocked = results.blocker(Blocks.ENV, Blocks.PROBE)
        if blocked:
            results.skip_rest(blocked)
        else:
            facts = signatures.facts_from(inspections, env.packages, pkg.relative)
            _probe_checks(pkg, env, options, results, report, progress, inspections, facts)
        problem = env.verified()
    if problem is None:
        return None
    _cache(options).discard(env, problem)
    if env.reused:
        return f"the cached environment had changed since it was built ({problem})"
    return f"the environment just built could not be trusted ({problem})"


def _probe_checks(pkg: ModelPackage, env: BuiltEnv, options: Options, results: _Results,
                  report: PackageReport, progress: Optional[Progress],
                  inspections: list[PickleInspection], facts: signatures.VersionFacts) -> None:
    """``load`` .. ``predict.determinism``: the package's code, run once in a child."""
    try:
        inputs, inputs_source = smoke_inputs(pkg, pkg.settings.get("smoke_rows"))
    except InputsError as exc:  # a corrupt reference/inputs.json is the package's problem
        inputs, inputs_source = None, str(exc)
    with step(progress, f"Loading {pkg.name or pkg.root.name} in its environment"):
        probe = runner.run_probe(env.python, pkg, inputs, options, predict=inputs is not None)
    if probe.sandbox is not None and report.environment is not None:
        report.environment["sandbox"] = probe.sandbox.to_dict()
    results.add(probe_checks.check_sandbox(probe, options),
                probe_checks.check_load(pkg, probe, facts),
                probe_checks.check_load_warnings(pkg, probe, options))
    runtime = probe_checks.check_runtime_imports(
        pkg, probe, pickles.allowed_predicate(pkg, options.trust_pickle, env.packages,
                                              inspections))
    if runtime:
        results.add(checks.PICKLE_SAFETY.result(runtime))
    if results.failed(checks.LOAD):
        results.skip_rest(checks.LOAD.blocked_reason)
        return
    if inputs is None:
        results.add(checks.PREDICT_SMOKE.result([
            error(f"no smoke inputs: {inputs_source}", file=_inputs_file(pkg))]))
        results.skip_rest("no smoke inputs (see predict.smoke)")
        return
    results.add(predictions.check_predict_schema(pkg, inputs, probe),
                predictions.check_predict_smoke(pkg, probe, options, facts),
                predictions.check_determinism(probe))


def _inputs_file(pkg: ModelPackage) -> str:
    recorded = pkg.reference_dir / "inputs.json"
    if recorded.exists():
        return pkg.relative(recorded)
    example = pkg.smoke_inputs_path  # a format's own input example (MLflow)
    return pkg.relative(example) if example is not None else pkg.relative(pkg.metadata_path)


@contextlib.contextmanager
def step(progress: Optional[Progress], title: str) -> Iterator[None]:
    if progress is None:
        yield
    else:
        with progress.step(title) as shown:
            shown.phase("probe")  # the package's code, sandboxed: load, predict, compare
            yield
