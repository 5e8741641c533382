"""The pipeline: read -> inspect pickles -> build env -> probe -> compare.

Each stage returns :class:`CheckResult` objects; this module only decides what runs after
what.  Nothing downstream runs when an upstream stage makes it meaningless (no env build
for unreadable requirements, no load of an unsafe pickle), and whatever is not run is
reported as ``skip`` with the reason, so every check id appears in every report.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Optional, Sequence

from envcheck import __version__
from envcheck.error_handler import describe_crash
from envcheck.findings import CHECK_IDS, CheckResult, PackageReport, Report, Status, error
from envcheck.options import Options

if TYPE_CHECKING:
    from envcheck.envs import BuiltEnv
    from envcheck.package import ModelPackage
    from envcheck.progress import Progress

_ORDER = {check_id: i for i, check_id in enumerate(CHECK_IDS)}


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
                merged = CheckResult.from_findings(result.id, existing.findings + result.findings,
                                                   existing.duration_s + result.duration_s)
                self.by_id[result.id] = merged

    def failed(self, check_id: str) -> bool:
        result = self.by_id.get(check_id)
        return result is not None and result.status in (Status.FAIL, Status.ERROR)

    def skip_rest(self, reason: str) -> None:
        for check_id in CHECK_IDS:
            if check_id not in self.by_id:
                self.by_id[check_id] = CheckResult.skipped(check_id, reason)

    def ordered(self, strict: bool) -> list[CheckResult]:
        results = sorted(self.by_id.values(), key=lambda r: _ORDER.get(r.id, len(_ORDER)))
        if strict:  # --strict: a warning is a failure (the findings keep their severity)
            for result in results:
                if result.status is Status.WARN:
                    result.status = Status.FAIL
        return results


def _timed(func: Callable[..., CheckResult], *args: object) -> CheckResult:
    start = time.perf_counter()
    result = func(*args)
    if not result.duration_s:
        result.duration_s = time.perf_counter() - start
    return result


def check_package(path: Path, options: Options, progress: Optional["Progress"] = None) -> PackageReport:
    """Check one package.  Never raises for a bad package; a bug becomes ``internal_error``."""
    start = time.perf_counter()
    report = PackageReport(path=str(path))
    try:
        _run_pipeline(path, options, report, progress)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # envcheck's own bug: one line here, the traceback in the log
        report.internal_error = describe_crash(exc, context=f"checking {path}")
    report.duration_s = time.perf_counter() - start
    return report


def _run_pipeline(path: Path, options: Options, report: PackageReport,
                  progress: Optional["Progress"]) -> None:
    from envcheck.package import read_package

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

    _static_artifact_checks(pkg, options, results)

    if options.static:
        results.skip_rest("--static: no environment built, no code of the package run")
    elif not pkg.requirements_ok:
        results.skip_rest("requirements.txt could not be read: no environment to build")
    else:
        _dynamic_checks(pkg, options, results, report, progress)
    report.checks = results.ordered(options.strict)


def _static_artifact_checks(pkg: "ModelPackage", options: Options, results: _Results) -> None:
    from envcheck import pickles, reference

    pickle_paths = [p for p in pkg.artifacts if pickles.is_pickle_artifact(p)]
    inspections = [pickles.inspect_pickle(p) for p in pickle_paths]
    results.add(_timed(reference.check_integrity, pkg))
    # Versions recorded beside the artifacts rather than inside them (an MLflow MLmodel).
    recorded_elsewhere = getattr(pkg, "version_findings", [])
    if pickle_paths:
        results.add(_timed(pickles.check_safety, pkg, inspections, options.trust_pickle))
        results.add(_timed(pickles.check_versions, pkg, inspections,
                           options.python or pkg.python_version))
    else:
        results.add(CheckResult.skipped("pickle.safety", "no pickle artifacts"))
        if not recorded_elsewhere:
            results.add(CheckResult.skipped("pickle.versions", "no pickle artifacts"))
    if recorded_elsewhere:
        results.add(CheckResult.from_findings("pickle.versions", recorded_elsewhere))


def apply_overrides(pkg: "ModelPackage", overrides: dict[str, str]) -> None:
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


def environment_lines(pkg: "ModelPackage") -> list[str]:
    """What the installer gets (and the cache key hashes): requirements, constraints and
    index options, all from the package's own files."""
    return ([*pkg.requirement_lines]
            + [f"--constraint {line}" for line in pkg.constraint_lines]
            + list(pkg.installer_options))


def prepare_environment(pkg: "ModelPackage", options: Options, progress: Optional["Progress"]
                        ) -> tuple[Optional["BuiltEnv"], list[CheckResult]]:
    """``env.python`` + ``env.build``: the package's interpreter and its cached env."""
    from envcheck import envs, interpreters

    interpreter, python_result = interpreters.select_interpreter(pkg, options.python)
    cache = envs.EnvCache(options.resolved_cache_dir())
    env, build_result = cache.ensure(environment_lines(pkg), interpreter, options.installer,
                                     progress=progress, user=str(pkg.root))
    return env, [python_result, build_result]


def _dynamic_checks(pkg: "ModelPackage", options: Options, results: _Results,
                    report: PackageReport, progress: Optional["Progress"]) -> None:
    from envcheck import envs

    env, env_results = prepare_environment(pkg, options, progress)
    results.add(*env_results)
    if env is None:
        results.skip_rest("the environment could not be built (see env.build)")
        return
    with env:  # holds the env's in-use lease: `env prune` leaves it alone until we are done
        report.environment = env.report_block()
        results.add(_timed(envs.check_consistency, env),
                    _timed(envs.check_drift, pkg, env, options.strict))
        blocked = _load_blocker(results)
        if blocked:
            results.skip_rest(blocked)
            return
        _probe_checks(pkg, env, options, results, progress)


def _probe_checks(pkg: "ModelPackage", env: "BuiltEnv", options: Options, results: _Results,
                  progress: Optional["Progress"]) -> None:
    """``load`` .. ``predict.determinism``: the package's code, run once in a child."""
    from envcheck import pickles, reference, runner
    from envcheck.inputs import InputsError, smoke_inputs

    try:
        inputs, inputs_source = smoke_inputs(pkg, pkg.settings.get("smoke_rows"))
    except InputsError as exc:  # a corrupt reference/inputs.json is the package's problem
        inputs, inputs_source = None, str(exc)
    with step(progress, f"Loading {pkg.name or pkg.root.name} in its environment"):
        probe = runner.run_probe(env.python, pkg, inputs, options, predict=inputs is not None)
    results.add(runner.check_load(pkg, probe), runner.check_load_warnings(pkg, probe, options))
    runtime = runner.check_runtime_imports(pkg, probe, pickles.allowed_predicate(pkg, options.trust_pickle))
    if runtime:
        results.add(CheckResult.from_findings("pickle.safety", runtime))
    if results.failed("load"):
        results.skip_rest("the model did not load (see load)")
        return
    if inputs is None:
        results.add(CheckResult.from_findings("predict.smoke", [
            error(f"no smoke inputs: {inputs_source}", file=_inputs_file(pkg))]))
        results.skip_rest("no smoke inputs (see predict.smoke)")
        return
    results.add(reference.check_predict_schema(pkg, inputs, probe),
                reference.check_predict_smoke(pkg, probe, options),
                reference.check_determinism(probe))


def _inputs_file(pkg: "ModelPackage") -> str:
    recorded = pkg.reference_dir / "inputs.json"
    if recorded.exists():
        return pkg.relative(recorded)
    example = getattr(pkg, "smoke_inputs_path", None)  # an MLflow model's input example
    return pkg.relative(example) if example is not None else pkg.relative(pkg.metadata_path)


@contextlib.contextmanager
def step(progress: Optional["Progress"], title: str) -> Iterator[None]:
    if progress is None:
        yield
    else:
        with progress.step(title):
            yield


def _load_blocker(results: _Results) -> str:
    """Why the package's code must not run, or '' when it may."""
    if results.failed("pickle.safety"):
        return "pickle.safety failed: nothing from this package was loaded"
    if results.failed("package.layout"):
        return "the package is incomplete (see package.layout)"
    if results.failed("interface.contract"):
        return "interface.py cannot provide load_model (see interface.contract)"
    return ""


def check_paths(paths: Sequence[Path], options: Options,
                progress: Optional["Progress"] = None) -> Report:
    """Check several packages (``-j N`` at once); the report keeps the input order."""
    from envcheck.options import using_cache_dir

    report = Report(envcheck_version=__version__)
    with using_cache_dir(options.cache_dir):
        if options.jobs <= 1 or len(paths) <= 1:
            report.packages = [check_package(p, options, progress) for p in paths]
            return report
        # Threads suffice: the work happens in child processes (installers, probes), and
        # the env cache's per-key file lock makes identical environments build once.
        with concurrent.futures.ThreadPoolExecutor(max_workers=options.jobs) as pool:
            report.packages = list(pool.map(lambda p: check_package(p, options, progress),
                                            paths))
    return report
