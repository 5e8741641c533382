"""Findings from what the probe saw: checks ``load`` and ``load.warnings``, and the
runtime pickle imports the pipeline merges into ``pickle.safety``.

Everything here reads a :class:`~envcheck.probe.result.ProbeResult`; nothing runs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable, Optional

from envcheck.inspect.version_groups import subject
from envcheck.model import checks
from envcheck.model.distributions import distribution_for
from envcheck.model.findings import CheckResult, Finding, Status, error, info, warning
from envcheck.model.options import Options
from envcheck.model.package import ModelPackage
from envcheck.probe import package_tree, signatures
from envcheck.probe.result import STAGE_WORDS, ProbeResult
from envcheck.probe.signatures import VersionFacts

# scikit-learn's unpickle warning, both the >= 1.3 InconsistentVersionWarning and the
# 0.18-1.2 UserWarning share this text.
_SKLEARN_VERSION_WARNING = re.compile(
    r"Trying to unpickle estimator (?P<estimator>\S+) from version (?P<pickled>\S+?)"
    r"\.? when using version (?P<loaded>\S+?)\.?(?:\s|$)")


# --------------------------------------------------------------------------- load


def failure_location(pkg: ModelPackage, result: ProbeResult) -> dict[str, Any]:
    """file/line of the innermost frame in the package's own code; else the interface:
    whatever the probe saw (a crash, a hang, a flood, a wrong return value), the
    package's code did it, entered through interface.py."""
    if result.package_frames:
        frame = result.package_frames[-1]
        return {"file": frame.get("file"), "line": frame.get("line")}
    if result.kind == "bad-input":  # envcheck's smoke inputs, not the package's code
        return {}
    if result.kind == "missing" and result.missing_module:  # e.g. pandas not installed
        return {"file": pkg.relative(Path(pkg.requirements_path))}
    return {"file": pkg.relative(Path(pkg.interface_path))}


def failure_details(result: ProbeResult) -> dict[str, Any]:
    details: dict[str, Any] = {"kind": result.kind, "stage": result.stage}
    for name in ("exception_type", "missing_module", "exit_code", "signal_name",
                 "returncode"):
        value = getattr(result, name)
        if value is not None:
            details[name] = value
    if result.traceback_tail:
        details["traceback"] = result.traceback_tail
    if result.package_frames:
        details["package_frames"] = result.package_frames
    if result.kind in ("signal", "exit", "infrastructure", "memory", "timeout") \
            and result.stderr_tail:
        details["stderr_tail"] = result.stderr_tail
    if result.kind == "flood" or (result.kind != "ok" and result.stdout_tail):
        details["stdout_tail"] = result.stdout_tail[-1000:]
    details["stdout_bytes"], details["stderr_bytes"] = result.stdout_bytes, result.stderr_bytes
    return details


def failure_finding(pkg: ModelPackage, result: ProbeResult,
                    facts: Optional[VersionFacts] = None) -> Finding:
    """The error finding of a failed probe: in terms of versions when the failure has a
    known cross-version signature (see :mod:`envcheck.probe.signatures`)."""
    details = failure_details(result)
    explanation = signatures.explain(result, facts)
    if explanation is None:
        return error(describe_failure(pkg, result, facts), details=details,
                     **failure_location(pkg, result))
    details["cause"] = explanation.details
    return error(f"{result.where} failed: {explanation.message}", details=details,
                 **failure_location(pkg, result))


def describe_failure(pkg: ModelPackage, result: ProbeResult,
                     facts: Optional[VersionFacts] = None) -> str:
    """One sentence: what happened, where, and what to do."""
    interface = pkg.relative(Path(pkg.interface_path))
    where = f"importing {interface}" if result.stage == "import" else result.where
    kind = result.kind
    if kind == "missing":
        return result.message
    if kind == "exception" and result.missing_module and \
            result.exception_type in ("ModuleNotFoundError", "ImportError"):
        module = result.missing_module
        if result.stage == "import" and result.package_frames:
            lead = f"{interface} imports '{module}'"
        elif result.stage == "import":
            lead = f"'{module}' is imported while {where}"
        else:
            lead = f"{where} needs module '{module}'"
        owner = signatures.installed_module_owner(module, distribution_for(module), facts)
        if owner is not None:  # installed, but a version without that module
            return (f"{lead}, which {owner} installed in the package's environment does "
                    f"not have: the module belongs to another version of it")
        return (f"{lead}, which is not installed in the package's environment: "
                f"add {distribution_for(module)} to requirements.txt")
    if kind == "exception":
        return f"{where} raised {result.message}"
    if kind == "exit":
        if result.exit_code is not None and result.message.startswith("sys.exit"):
            return f"{where} called sys.exit({result.exit_code!r})"
        return f"{where}: {result.message}"
    if kind == "signal":
        return f"the interpreter crashed during {where}: killed by {result.signal_name}" + (
            f" (the memory limit of {result.memory_limit} may have been reached)"
            if result.memory_limit else "")
    if kind == "timeout":
        return (f"{where} did not finish within {result.timeout_s:g} s: raise --timeout or "
                f"set envcheck.timeout in metadata.yaml if it is just slow")
    if kind == "memory":
        limit = f" (limit {result.memory_limit})" if result.memory_limit else ""
        cause = f": {result.message}" if result.message not in ("", "MemoryError") else ""
        return f"{where} ran out of memory{limit}{cause}"
    if kind == "flood":
        return f"{where} {result.message}"
    if kind == "bad-output":
        return f"{where}: {result.message}"
    if kind == "bad-input":
        return result.message
    return f"envcheck could not run the probe ({where}): {result.message}"


def check_load(pkg: ModelPackage, result: ProbeResult,
               facts: Optional[VersionFacts] = None) -> CheckResult:
    """``load``: importing the interface and load_model() in the package's env
    (``facts``: the versions envcheck read, to explain a cross-version failure)."""
    timings = {k: round(v, 3) for k, v in result.timings.items()
               if k in ("import_s", "load_s")}
    if result.kind == "infrastructure" and not result.loaded:
        return checks.LOAD.with_status(Status.ERROR,
                           [error(describe_failure(pkg, result),
                                  details=failure_details(result))], result.duration_s)
    changed = _package_change_findings(pkg, result)
    if result.loaded:
        memory = result.stage_memory_mb.get("load")
        if "load_s" in result.timings:
            import_s, load_s = result.timings.get("import_s", 0.0), result.timings["load_s"]
            text = (f"loaded {result.model_type or 'the model'} in {import_s + load_s:.2f} s "
                    f"(import {import_s:.2f} s + load_model() {load_s:.2f} s)"
                    + (f", peak memory {memory:.0f} MB" if memory else ""))
        else:  # the probe was stopped later, and its measurements with it
            text = f"loaded the model (the probe was stopped later, during {result.where})"
        return checks.LOAD.result([info(
            text, details={"timings": timings, "peak_memory_mb": memory,
                           "python": result.python})] + changed,
            _load_window_s(result))
    return checks.LOAD.result([failure_finding(pkg, result, facts)] + changed,
                              result.duration_s)


def _load_window_s(result: ProbeResult) -> float:
    """Importing the interface plus load_model(): what ``load`` times, and the window in
    which ``load.warnings`` collects (so the two report the same duration)."""
    return sum(result.timings.get(k, 0.0) for k in ("import_s", "load_s"))


def _package_change_findings(pkg: ModelPackage, result: ProbeResult) -> list[Finding]:
    """The backstop of the probe's write guard: what changed in the package folder."""
    changes = result.package_changes
    found = [] if result.package_compared_all else [warning(
        f"the package folder has more than {package_tree.MAX_ENTRIES} entries: only the "
        f"first were compared before and after the run", details={
            "limit": package_tree.MAX_ENTRIES})]
    if not changes:
        return found
    shown = ", ".join(changes[:10]) + (f" and {len(changes) - 10} more"
                                       if len(changes) > 10 else "")
    return found + [error(f"the package's code changed its own package folder during check: "
                  f"{shown}; a model must load without writing next to itself (the folder "
                  f"may be read-only where it ships): write caches to a temp dir",
                  file=pkg.relative(Path(pkg.interface_path)),
                  details={"changes": changes})]


# --------------------------------------------------------------------------- warnings


def parse_sklearn_version_warning(message: str) -> Optional[tuple[str, str, str]]:
    """(estimator, pickled_with, loaded_with) from scikit-learn's unpickle warning text."""
    match = _SKLEARN_VERSION_WARNING.search(message)
    if match is None:
        return None
    return match.group("estimator"), match.group("pickled"), match.group("loaded")


def allow_patterns(pkg: ModelPackage, options: Options) -> list[re.Pattern[str]]:
    raw = list(options.allow_warnings)
    configured = pkg.settings.get("allow_warnings") or []
    if isinstance(configured, str):
        configured = [configured]
    raw.extend(str(p) for p in configured)
    patterns = []
    for text in raw:
        try:
            patterns.append(re.compile(text))
        except re.error:
            patterns.append(re.compile(re.escape(text)))
    return patterns


def _allowed(entry: dict[str, Any], patterns: list[re.Pattern[str]]) -> Optional[str]:
    subject = f"{entry.get('category', '')}: {entry.get('message', '')}"
    for pattern in patterns:
        if pattern.search(subject):
            return pattern.pattern
    return None


def warning_findings(entries: list[dict[str, Any]], patterns: list[re.Pattern[str]],
                     when: str) -> list[Finding]:
    """Findings for warnings other than scikit-learn's version warning, one per distinct
    (category, message, source), counted."""
    grouped: dict[tuple[str, str, str, Any], dict[str, Any]] = {}
    for entry in entries:
        key = (entry.get("category", ""), entry.get("message", ""),
               entry.get("filename", ""), entry.get("lineno"))
        if key in grouped:
            grouped[key]["count"] += entry.get("count", 1)
        else:
            grouped[key] = dict(entry, count=entry.get("count", 1))
    findings = []
    for entry in grouped.values():
        count = entry["count"]
        times = f" (x{count})" if count > 1 else ""
        text = f"{entry['category']} {when}{times}: {entry['message']}"
        details = {k: entry.get(k) for k in ("category", "category_module", "message",
                                              "filename", "lineno", "stage", "count")}
        allowed = _allowed(entry, patterns)
        if allowed:
            details["allowed_by"] = allowed
            findings.append(info(f"{text} [allowed by {allowed!r}]", details=details))
        else:
            findings.append(warning(text, details=details))
    return findings


def sklearn_version_info(entry: dict[str, Any]) -> Optional[tuple[str, str, str]]:
    """(estimator, pickled_with, loaded_with) when ``entry`` is scikit-learn's unpickle
    warning: structured (InconsistentVersionWarning, >= 1.3) or parsed from the text of
    the 0.18-1.2 UserWarning."""
    if entry.get("estimator") and entry.get("pickled_with"):
        return (str(entry["estimator"]), str(entry["pickled_with"]),
                str(entry.get("loaded_with", "")))
    if entry.get("category") not in ("UserWarning", "InconsistentVersionWarning"):
        return None
    return parse_sklearn_version_warning(str(entry.get("message", "")))


def check_load_warnings(pkg: ModelPackage, result: ProbeResult,
                        options: Options) -> CheckResult:
    """``load.warnings``: scikit-learn's unpickle warning fails (one finding per distinct
    estimator and versions, counted); other warnings warn; allowed ones are info."""
    if result.stage == "start" and not result.warnings:
        return checks.LOAD_WARNINGS.skipped("the probe did not start")
    entries = [w for w in result.warnings if w.get("stage") in ("import", "load")]
    patterns = allow_patterns(pkg, options)
    # One finding per cause (recorded version, installed version, allowed or not), listing
    # the estimators it concerns in first-seen order, each counted.
    grouped: dict[tuple[str, str, Optional[str]], dict[str, Any]] = {}
    others = []
    for entry in entries:
        versions = sklearn_version_info(entry)
        if versions is None:
            others.append(entry)
            continue
        estimator, pickled, loaded = versions
        slot = grouped.setdefault((pickled, loaded, _allowed(entry, patterns)),
                                  {"objects": {}, "entry": entry})
        slot["objects"][estimator] = slot["objects"].get(estimator, 0) + entry.get("count", 1)
    findings: list[Finding] = []
    for (pickled, loaded, allowed), slot in grouped.items():
        objects = list(slot["objects"].items())
        count = sum(n for _, n in objects)
        details = {"estimator": ", ".join(name for name, _ in objects),
                   "pickled_with": pickled, "loaded_with": loaded, "count": count,
                   "category": slot["entry"].get("category"),
                   "objects": [{"estimator": name, "count": n} for name, n in objects]}
        times = f" ({count} objects)" if count > 1 and len(objects) == 1 else ""
        verb = "were" if len(objects) > 1 else "was"
        text = (f"{subject(objects)} {verb} pickled with scikit-learn {pickled} but loaded "
                f"with {loaded}{times}: pin scikit-learn=={pickled} in requirements.txt, or "
                f"re-train and pickle with {loaded}")
        if allowed:
            details["allowed_by"] = allowed
            findings.append(info(f"{text} [allowed by {allowed!r}]", details=details))
        else:
            findings.append(error(text, details=details))
    findings.extend(warning_findings(others, patterns, "while loading"))
    return checks.LOAD_WARNINGS.result(findings, _load_window_s(result))


# --------------------------------------------------------------------------- runtime imports


def check_runtime_imports(pkg: ModelPackage, result: ProbeResult,
                          allowed: Callable[[str, str], bool]) -> list[Finding]:
    """Findings (for ``pickle.safety``) about globals pickle actually imported at load time
    that ``allowed(module, name)`` rejects; e.g. a pickle built at runtime by the interface
    or one the static scan could not read."""
    if not result.find_class_supported:
        if result.python and result.stage != "start":
            return [info(f"runtime pickle imports are not audited on Python {result.python} "
                         f"(needs 3.8+ audit hooks)")]
        return []
    findings: list[Finding] = []
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for entry in result.find_class_imports:
        key = (str(entry.get("module")), str(entry.get("name")))
        slot = seen.setdefault(key, {"count": 0, "stages": []})
        slot["count"] += int(entry.get("count", 1))
        if entry.get("stage") not in slot["stages"]:
            slot["stages"].append(entry.get("stage"))
    for (module, name), slot in sorted(seen.items()):
        if allowed(module, name):
            continue
        stages = ", ".join(STAGE_WORDS.get(s, s) for s in slot["stages"])
        findings.append(error(
            f"unpickling imported {module}.{name} at runtime (during {stages}), which is not "
            f"on the allowlist: trust it with --trust-pickle {module}:{name} if it is "
            f"expected", details={"module": module, "name": name, "count": slot["count"],
                                  "stages": slot["stages"], "source": "audit hook"}))
    return findings


# --------------------------------------------------------------------------- sandbox


def check_sandbox(result: ProbeResult, options: Options) -> CheckResult:
    """``probe.sandbox``: which isolation layers held around the package's code.

    Each missing one is a warning naming what was not isolated (``--require-sandbox``:
    a failure).  ``ENVCHECK_SANDBOX=off`` switches every layer off, and says so here."""
    report = result.sandbox
    if report is None:
        return checks.PROBE_SANDBOX.skipped("the probe did not start")
    make = error if options.require_sandbox else warning
    held = sorted(name for name in report.layers if report.held(name))
    findings = [make(f"not isolated: {gap}", details={"gap": gap})
                for gap in report.missing()]
    if not findings:
        findings.append(info(f"the package's code ran sandboxed: {', '.join(held)}",
                             details={"layers": held}))
    return checks.PROBE_SANDBOX.result(findings)
