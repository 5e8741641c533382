"""``package.settings``: the package's own ``envcheck:`` settings never weaken the gate
silently.

A package sets defaults for its own check in metadata.yaml (tolerances, timeout, allowed
warnings, trusted pickle globals).  Each setting that *loosens* the verdict is a warning
naming it, so a reviewer sees that the package graded itself; ``--ignore-package-settings``
drops them all (audits of third-party packages).  Command-line options always win.
"""

from __future__ import annotations

from typing import Any

from envcheck.model import checks
from envcheck.model.findings import CheckResult, Finding, info, warning
from envcheck.model.options import (
    DEFAULT_ATOL,
    DEFAULT_MAX_OUTPUT_MB,
    DEFAULT_RTOL,
    DEFAULT_TIMEOUT_S,
    Options,
)
from envcheck.model.package import ModelPackage


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def loosening_findings(settings: dict[str, Any], options: Options, shown: str) -> list[Finding]:
    """One warning per setting that loosens the gate (and is not overridden by an option)."""
    where = f"{shown} envcheck."
    found: list[Finding] = []

    def add(key: str, message: str, value: Any) -> None:
        found.append(warning(f"{where}{key}: {message}", file=shown,
                             details={"setting": key, "value": value,
                                      "source": "package"}))

    trusted = settings.get("trust_pickle") or []
    for entry in [trusted] if isinstance(trusted, str) else list(trusted):
        add("trust_pickle", f"the package trusts pickle global {entry!r} itself (known-"
            "dangerous globals are never trusted this way: only with --trust-pickle)", entry)
    allowed = settings.get("allow_warnings") or []
    for pattern in [allowed] if isinstance(allowed, str) else list(allowed):
        add("allow_warnings", f"the package allows warnings matching {pattern!r} "
            "(they are reported as info, not as warnings)", pattern)
    timeout = _number(settings.get("timeout"))
    if timeout is not None and timeout > DEFAULT_TIMEOUT_S and options.timeout_s is None:
        add("timeout", f"{timeout:g} s, above the default of {DEFAULT_TIMEOUT_S:g} s", timeout)
    for key, default, option in (("rtol", DEFAULT_RTOL, options.rtol),
                                 ("atol", DEFAULT_ATOL, options.atol)):
        value = _number(settings.get(key))
        if value is not None and value > default and option is None:
            add(key, f"{value:g}, wider than the default {default:g}: predictions may "
                "differ more and still match the reference", value)
    output = _number(settings.get("max_output_mb"))
    if output is not None and output > DEFAULT_MAX_OUTPUT_MB:
        add("max_output_mb", f"{output:g} MB, above the default {DEFAULT_MAX_OUTPUT_MB:g} MB",
            output)
    return found


def check_settings(pkg: ModelPackage, options: Options, ignored: dict[str, Any]) -> CheckResult:
    """``package.settings``; ``ignored`` is the block ``--ignore-package-settings`` dropped."""
    shown = pkg.relative(pkg.metadata_path)
    if ignored:
        return checks.PACKAGE_SETTINGS.result([info(
            f"{shown} envcheck: settings ignored (--ignore-package-settings): "
            f"{', '.join(sorted(ignored))}", file=shown, details={"ignored": sorted(ignored)})])
    if not pkg.settings:
        return checks.PACKAGE_SETTINGS.result([info(f"no envcheck: settings in {shown}", file=shown)])
    return checks.PACKAGE_SETTINGS.result(loosening_findings(pkg.settings, options, shown))
