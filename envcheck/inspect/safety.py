"""``pickle.safety``: the inspections judged for one package, and the probe's predicate.

What the VM saw (:mod:`envcheck.inspect.policy`) is package-independent; here the globals
no exact allowlist covers are judged by their origin (:mod:`envcheck.inspect.origins`:
the package's own modules, the distributions it installs, ``__main__``), then what is
still refused may be trusted (:mod:`envcheck.inspect.trust`).  Every finding about a
trusted global names the trust and where it came from; a refused file gets one finding
that names all of its refused globals, grouped by reason, before one finding per global.
"""

from __future__ import annotations

import time
from typing import Callable, Iterable

from envcheck.inspect.origins import MAIN_MODULES, Origins
from envcheck.inspect.policy import (
    NOT_ALLOWLISTED,
    PickleInspection,
    UnsafeRef,
    classify_global,
)
from envcheck.inspect.trust import CLI_TRUST, PACKAGE_TRUST, Trusts, trusts_of
from envcheck.inspect.version_checks import artifact_label
from envcheck.model import checks
from envcheck.model.findings import CheckResult, Finding, error, info, warning
from envcheck.model.package import ModelPackage

_GROUP_LIMIT = 12  # names shown per group in the summary line (all are in the details)


def judged(insp: PickleInspection, origins: Origins) -> list[UnsafeRef]:
    """The inspection's refusals once origins are known: a global only the exact
    allowlist refused is allowed, or refused with the origin's reason."""
    out: list[UnsafeRef] = []
    flagged = {(r.module, r.name) for r in insp.unsafe}
    for g in insp.globals:
        # A module the package ships shadows an installed one of that name (the package
        # root comes first on sys.path): what the exact allowlist allowed is read too.
        if (g.module, g.name) not in flagged and origins.code.ships(g.module):
            verdict = origins.judge(g.module, g.name, (g.module, g.name) in insp.called)
            if verdict is not None:
                out.append(UnsafeRef(g.module, g.name, g.offset, f"shadowed by the package: "
                                     f"{verdict.reason}", verdict.dangerous, verdict.origin))
    for ref in insp.unsafe:
        if not ref.module or ref.dangerous or ref.reason != NOT_ALLOWLISTED:
            out.append(ref)
            continue
        verdict = origins.judge(ref.module, ref.name, (ref.module, ref.name) in insp.called)
        if verdict is not None:
            out.append(UnsafeRef(ref.module, ref.name, ref.offset, verdict.reason,
                                 verdict.dangerous, verdict.origin))
    return out


def allowed_predicate(pkg: ModelPackage, trusted: Iterable[str],
                      installed: Iterable[str] = (),
                      inspections: Iterable[PickleInspection] = ()) -> Callable[[str, str], bool]:
    """``allowed(module, name)`` for what the probe's audit hook saw unpickled at runtime:
    the same policy as the static check -- exact allowlist, then origin (with the built
    env's distributions, ``installed``), then trust.  The hook sees imports, not how they
    were used, so a global is judged as referenced; calls were judged statically, and a
    global the static check saw and allowed in ``inspections`` (``builtins.getattr`` in
    the one use it allows) is allowed here too."""
    trusts = trusts_of(pkg, trusted)
    origins = Origins(pkg, installed)
    proven: set[tuple[str, str]] = set()
    for insp in inspections:
        if insp.error is None:
            refused = {(r.module, r.name) for r in judged(insp, origins)}
            proven |= {(g.module, g.name) for g in insp.globals} - refused

    def allowed(module: str, name: str) -> bool:
        if (module, name) in proven:
            return True
        verdict = classify_global(module, name)
        if verdict is not None and not verdict[1]:
            found = origins.judge(module, name, called=False)
            verdict = None if found is None else (found.reason, found.dangerous)
        if verdict is None:
            return True
        if module.split(".")[0] in MAIN_MODULES:
            return False
        trust, _ = trusts.find(module, name, verdict[1])
        return trust is not None

    return allowed


def check_safety(pkg: ModelPackage, inspections: list[PickleInspection],
                 trusted: list[str]) -> CheckResult:
    """``pickle.safety``: fails when any pickle imports or calls anything the policy
    refuses (and no trust covers), or cannot be walked at all."""
    start = time.perf_counter()
    trusts = trusts_of(pkg, trusted)
    origins = Origins(pkg)
    findings: list[Finding] = [
        warning(f"{origin} entry {entry!r} is neither module:name nor module.*: ignored",
                details={"entry": entry, "trusted_by": origin})
        for entry, origin in trusts.invalid]
    for insp in inspections:
        file = artifact_label(pkg, insp)  # path!member for what an archive holds
        if insp.error is not None:
            where = f" at byte {insp.error_offset}" if insp.error_offset is not None else ""
            findings.append(error(
                f"{file}: cannot be inspected ({insp.error}{where}); it will not be loaded",
                file=file, details={"error": insp.error, "offset": insp.error_offset,
                                    "format": insp.format,
                                    "resource": insp.error.startswith("resource limit")}))
        refs = judged(insp, origins)
        per_ref = [_ref_finding(file, ref, trusts) for ref in refs]
        refused = [ref for ref, f in zip(refs, per_ref) if f.severity.value == "error"]
        if refused:
            findings.append(_summary(file, refused))
        findings.extend(per_ref)
        if insp.error is None and not refused and not insp.walked:
            findings.append(info(f"{file}: {insp.format}, holds no pickle", file=file,
                                 details={"globals": 0, "format": insp.format}))
        elif insp.error is None and not refused:
            trusted_count = len(refs)
            protocol = "" if insp.max_protocol is None else f", protocol {insp.max_protocol}"
            findings.append(info(
                f"{file}: {len(insp.globals)} globals, all allowed ({insp.format}"
                f"{protocol})"
                + (f"; {trusted_count} of them by trust" if trusted_count else ""),
                file=file, details={"globals": len(insp.globals), "format": insp.format}))
    if not inspections:
        findings.append(info("no pickle artifacts"))
    return checks.PICKLE_SAFETY.result(findings, time.perf_counter() - start)


def _summary(file: str, refused: list[UnsafeRef]) -> Finding:
    """One line naming every refused global of a file, grouped by reason."""
    groups: dict[str, list[str]] = {}
    for ref in refused:
        key = "structure" if not ref.module else (
            "known dangerous" if ref.dangerous else _short(ref))
        groups.setdefault(key, []).append(
            f"{ref.module}.{ref.name}" if ref.module else f"{ref.reason} (byte {ref.offset})")
    parts = []
    for key, names in groups.items():
        shown = ", ".join(names[:_GROUP_LIMIT])
        more = f" and {len(names) - _GROUP_LIMIT} more" if len(names) > _GROUP_LIMIT else ""
        parts.append(f"{key}: {shown}{more}")
    return error(f"{file}: refused {len(refused)} global(s) or construct(s) -- "
                 + "; ".join(parts), file=file,
                 details={"refused": [{"module": r.module, "name": r.name, "offset": r.offset,
                                       "reason": r.reason, "dangerous": r.dangerous}
                                      for r in refused], "summary": True})


def _short(ref: UnsafeRef) -> str:
    return {"main": "defined in __main__", "package": "package code",
            "stdlib": "standard library", "distribution": "called while unpickling",
            "unknown": "no installed distribution"}.get(ref.origin, "not allowed")


def _ref_finding(file: str, ref: UnsafeRef, trusts: Trusts) -> Finding:
    details = {"module": ref.module, "name": ref.name, "offset": ref.offset,
               "reason": ref.reason, "dangerous": ref.dangerous, "origin": ref.origin}
    if not ref.module:
        return error(f"{file}: {ref.reason} (byte {ref.offset})", file=file, details=details)
    dotted = f"{ref.module}.{ref.name}"
    main = ref.origin == "main"
    trust, refused = (None, None) if main else trusts.find(ref.module, ref.name,
                                                           ref.dangerous)
    if trust is not None:
        details.update(trusted=True, trusted_by=trust.origin, trust_entry=trust.entry)
        by = trust.describe()
        if ref.dangerous:
            return warning(f"{file}: imports {dotted} at byte {ref.offset}, trusted by "
                           f"{by} although {ref.reason}", file=file, details=details)
        if trust.origin == PACKAGE_TRUST:
            return warning(f"{file}: imports {dotted} at byte {ref.offset}, trusted by "
                           f"{by}: the package vouches for itself; pass {CLI_TRUST} "
                           f"{ref.module}:{ref.name} to trust it knowingly", file=file,
                           details=details)
        return info(f"{file}: imports {dotted} at byte {ref.offset}, trusted by {by}",
                    file=file, details=details)
    if refused is not None:
        details.update(trusted=False, trust_refused=refused.origin,
                       trust_entry=refused.entry)
        why = ("a wildcard never covers a known-dangerous global" if refused.wildcard else
               "a known-dangerous global can be trusted only with an exact --trust-pickle "
               "module:name on the command line")
        return error(f"{file}: imports {dotted} at byte {ref.offset}: {ref.reason}; "
                     f"{refused.describe()} covers it, but {why}", file=file,
                     details=details)
    if ref.dangerous or main:
        message = f"{file}: imports {dotted} at byte {ref.offset}: {ref.reason}"
    else:
        message = (f"{file}: imports {dotted} at byte {ref.offset}: {ref.reason}; if you "
                   f"trust it, pass --trust-pickle {ref.module}:{ref.name}")
    return error(message, file=file, details=details)

