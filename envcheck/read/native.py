"""Read a model package (checks ``package.layout``, ``metadata.schema``,
``requirements.parse``, ``requirements.pinned``, ``interface.contract``).

Runs nothing of the package and writes nothing inside it: files are read with plain
``open``/``read_bytes``, YAML with a safe loader, Python with :func:`ast.parse` only.

INTERFACE CONTRACT (shared by every stage; keep these names):

    ModelPackage            the package as read from disk
    read_package(path, options) -> tuple[ModelPackage | None, list[CheckResult]]
        reads layout, metadata.yaml and requirements.txt and the interface's static
        contract, returning the package and the results of package.layout,
        metadata.schema, requirements.parse, requirements.pinned, interface.contract
        (in that order).  The package is None only when ``path`` is not a model package
        at all (not a directory, or none of the four components in it); the one result
        is then a failed package.layout saying so.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional

from envcheck.model import checks
from envcheck.model.findings import CheckResult, Finding, Severity, error, info
from envcheck.model.options import Options
from envcheck.model.package import (
    DEFAULT_ARTIFACT_PATTERNS,
    DEFAULT_INTERFACE,
    METADATA_FILE,
    REQUIREMENTS_FILE,
    ModelPackage,
)
from envcheck.read import contract, metadata, requirements, sources

# Why each component matters, said in the finding when it is missing.
_WHY = {
    "metadata": "it names the model and declares its input features and output, from which "
                "envcheck builds smoke inputs and checks predictions",
    "requirements": "without it a fresh machine cannot know which libraries (and versions) "
                    "to install",
    "interface": "it must define load_model(), the one way to load the model on a fresh "
                 "machine",
    "artifacts": "without a model file there is nothing to load",
}


# --------------------------------------------------------------------------- reading

class NativeFormat:
    """envcheck's own layout: metadata.yaml, requirements.txt, interface.py, artifacts."""

    name = "native"

    def detect(self, path: Path) -> bool:
        return (path / METADATA_FILE).is_file()

    def read(self, path: Path, options: Options
             ) -> tuple[Optional[ModelPackage], list[CheckResult]]:
        return read_native_package(path, options)


def read_native_package(path: Path, options: Options
                        ) -> tuple[Optional[ModelPackage], list[CheckResult]]:
    """Read the package at ``path`` without running or writing anything of it."""
    path = Path(path)
    if not path.is_dir():
        what = "does not exist" if not path.exists() else "is not a directory"
        return None, [checks.PACKAGE_LAYOUT.result([error(
            f"{path} {what}: not a model package (a directory with {METADATA_FILE}, "
            f"{REQUIREMENTS_FILE}, {DEFAULT_INTERFACE} and the model file)")])]
    root = path.resolve()
    pkg = ModelPackage(root=root, metadata_path=root / METADATA_FILE,
                       requirements_path=root / REQUIREMENTS_FILE,
                       interface_path=root / DEFAULT_INTERFACE)
    layout: list[Finding] = []

    # metadata.yaml first: it may name the interface file and the artifacts.
    started = time.perf_counter()
    has_metadata = pkg.metadata_path.is_file() and not refuse_outside(
        root, pkg.metadata_path, layout)
    meta_findings: list[Finding] = []
    data: dict[str, Any] = {}
    if has_metadata:
        data, meta_findings = metadata.load_metadata(pkg.metadata_path, METADATA_FILE,
                                                     options.resolved_cache_dir())
        pkg.metadata_ok = bool(data) and not _has_errors(meta_findings)
        pkg.metadata = _usable_metadata(data, meta_findings)
    meta_duration = time.perf_counter() - started

    interface_name = data.get("interface") if isinstance(data.get("interface"), str) else None
    has_interface = _locate_interface(pkg, interface_name, layout)
    artifacts_spec = data.get("artifacts")
    has_artifacts = _locate_artifacts(pkg, artifacts_spec, layout)
    environment, source_notes = sources.read_environment(
        root, lambda source: not refuse_outside(root, source, layout))
    has_requirements = environment is not None
    layout.extend(source_notes)

    if not any((has_metadata, has_requirements, has_interface, has_artifacts)):
        return None, [checks.PACKAGE_LAYOUT.result([error(
            f"{path} is not a model package: none of {METADATA_FILE}, {REQUIREMENTS_FILE}, "
            f"{DEFAULT_INTERFACE} or a model file (*.pkl, *.pickle, *.joblib) is in it")])]

    if not has_metadata and not _refused(pkg.metadata_path):
        layout.append(_missing(pkg, pkg.metadata_path, "metadata",
                               _near_misses(root, ("metadata.yml", "Metadata.yaml",
                                                   "metadata.json", "METADATA.yaml"))))
    if not has_requirements and not _refused(pkg.requirements_path):
        layout.append(_missing(pkg, pkg.requirements_path, "requirements",
                               _near_misses(root, ("requirements.in", "Requirements.txt",
                                                   "requirement.txt", "requirements.lock",
                                                   "Pipfile", "setup.py"))))
    results = [_layout_result(pkg, layout, environment)]

    # metadata.schema
    if has_metadata:
        results.append(checks.METADATA_SCHEMA.result(meta_findings, meta_duration))
    else:
        results.append(checks.METADATA_SCHEMA.skipped(f"{METADATA_FILE} is missing "
                                           f"(see package.layout)"))

    # requirements.parse / requirements.pinned, from the chosen environment source
    reqs: Optional[requirements.RequirementsFile] = None
    if environment is not None:
        started = time.perf_counter()
        reqs = _use_environment(pkg, environment)
        parse_duration = time.perf_counter() - started
        chosen = environment.chosen
        results.append(requirements.check_parse(
            chosen.reqs, parse_duration,
            also=[f for s in environment.others for f in s.reqs.findings]
            + environment.comparisons + _python_findings(pkg, environment),
            source_note=environment.summary(), details=environment.details()))
        if reqs.readable:
            started = time.perf_counter()
            locked = chosen.locked() if chosen.complete else {}
            pinned = requirements.check_pinned(reqs, root, locked=locked)
            pinned.duration_s = time.perf_counter() - started
            results.append(pinned)
        else:
            results.append(checks.REQUIREMENTS_PINNED.skipped(
                f"{environment.declared.file} could not be read (see requirements.parse)"))
    else:
        reason = f"{REQUIREMENTS_FILE} is missing (see package.layout)"
        results.append(checks.REQUIREMENTS_PARSE.skipped(reason))
        results.append(checks.REQUIREMENTS_PINNED.skipped(reason))

    # interface.contract
    if has_interface:
        started = time.perf_counter()
        contract_result = contract.check_interface(pkg, reqs)
        contract_result.duration_s = time.perf_counter() - started
        results.append(contract_result)
    else:
        results.append(checks.INTERFACE_CONTRACT.skipped(f"{pkg.relative(pkg.interface_path)} "
                                           f"is missing (see package.layout)"))
    return pkg, results


def _use_environment(pkg: ModelPackage, environment: sources.Environment
                     ) -> requirements.RequirementsFile:
    """Install the chosen source; returns the direct requirements the package declares
    (what requirements.pinned and the interface's imports are judged on)."""
    chosen, declared = environment.chosen, environment.declared
    installed = chosen.reqs
    requirements.adopt_requirements(pkg, installed)
    pkg.requirements_ok = environment.ok  # every source's problems, not only the chosen's
    pkg.requirements_path = pkg.root / chosen.file
    # What the pickles are compared with: the lock's pins where it has them.
    pkg.pins = {**declared.reqs.pins(), **installed.pins()}
    source = environment.python_source
    if source is not None and pkg.metadata.get("python_version") is None:
        # requires-python / conda's python= ask for an interpreter like python_version.
        pkg.metadata["python_version"] = source.python
        pkg.python_version_file = source.file
        pkg.python_version_key = source.python_key
    return declared.reqs


def _python_findings(pkg: ModelPackage, environment: sources.Environment) -> list[Finding]:
    if pkg.python_version is None:
        return []
    if pkg.python_version_file is None:
        where = METADATA_FILE
    else:
        source = environment.python_source
        where = sources.at(pkg.python_version_file, source.python_line if source else None)
    return sources.python_disagreements(environment, pkg.python_version, where)


def _has_errors(findings: list[Finding]) -> bool:
    return any(f.severity is Severity.ERROR for f in findings)


def _plain(value: Any) -> Any:
    """Position-tracking containers -> plain dicts/lists (what downstream stages expect)."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _float_loses_text(written: str, value: float) -> bool:
    return metadata.float_loses_text(written, value)


def _usable_metadata(data: dict[str, Any], findings: list[Finding]) -> dict[str, Any]:
    """The metadata downstream stages get: plain, and without values known to be wrong.

    An invalid ``envcheck:`` block is dropped (the finding says why) so that no stage
    trips over ``timeout: soon``; a ``python_version: 3.10`` that YAML read as 3.1 is
    given back as written, which is what the author meant (the error still stands).
    """
    out: dict[str, Any] = _plain(data)
    bad_paths = {f.details.get("key_path", "") for f in findings if f.severity is Severity.ERROR}
    if any(p == "envcheck" or p.startswith("envcheck.") for p in bad_paths):
        out.pop("envcheck", None)
    raw = getattr(data, "raw", {})
    for key in ("python_version", "version"):
        value = out.get(key)
        if isinstance(value, float) and key in raw and _float_loses_text(raw[key], value):
            out[key] = raw[key].strip()
    return out


def _inside(root: Path, candidate: Path) -> bool:
    try:
        candidate.resolve().relative_to(root)
    except ValueError:
        return False
    return True


def _refused(path: Path) -> bool:
    """A link to an existing file (outside the package: see refuse_outside), not missing."""
    return path.is_symlink() and path.exists()


def refuse_outside(root: Path, path: Path, layout: list[Finding]) -> bool:
    """True (and a layout error) when ``path`` is a link that resolves outside the
    package: it is then never read, so nothing of the machine (``/proc/self/environ``,
    ``~/.netrc``) can reach a finding or a report through it."""
    if _inside(root, path):
        return False
    shown = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
    layout.append(error(f"{shown} is a symbolic link to a file outside the package: refused "
                        f"and not read (a package must carry its own files; copy the file "
                        f"into the package)", file=shown, details={"refused": shown}))
    return True


def _locate_interface(pkg: ModelPackage, name: Optional[str], layout: list[Finding]) -> bool:
    if name is not None:
        pkg.interface_path = pkg.root / name
        if not _inside(pkg.root, pkg.interface_path):
            layout.append(error(f"interface: {name} in {METADATA_FILE} points outside the "
                                f"package; the package would not carry it", file=METADATA_FILE))
            return False
    if pkg.interface_path.is_file():
        return not refuse_outside(pkg.root, pkg.interface_path, layout)
    shown = pkg.relative(pkg.interface_path)
    others = sorted(p.name for p in pkg.root.glob("*.py") if p.is_file())
    hint = ""
    if others and name is None:
        hint = (f"; found {', '.join(others[:5])}: if one of them defines load_model(), "
                f"name it with `interface: {others[0]}` in {METADATA_FILE}")
    named = f" (named by `interface:` in {METADATA_FILE})" if name is not None else ""
    layout.append(error(f"{shown}{named} is missing: {_WHY['interface']}{hint}",
                        file=shown, details={"expected": shown}))
    return False


def _locate_artifacts(pkg: ModelPackage, spec: Any, layout: list[Finding]) -> bool:
    """Fill ``pkg.artifacts``; returns whether at least one artifact file was found."""
    root = pkg.root
    if isinstance(spec, str):
        spec = [spec]
    if isinstance(spec, list) and spec and all(isinstance(s, str) for s in spec):
        for entry in spec:
            target = root / entry
            if not _inside(root, target):
                layout.append(error(f"artifact {entry} (in {METADATA_FILE} `artifacts:`) points "
                                    f"outside the package; the package would not carry it",
                                    file=METADATA_FILE, details={"artifact": entry}))
            elif target.is_dir():
                files = sorted(p for p in target.rglob("*")
                               if p.is_file() and not refuse_outside(root, p, layout))
                if not files:
                    layout.append(error(f"artifact folder {entry} is empty", file=METADATA_FILE,
                                        details={"artifact": entry}))
                pkg.artifacts.extend(files)
            elif target.is_file():
                pkg.artifacts.append(target)
            else:
                layout.append(error(f"artifact {entry} named in {METADATA_FILE} `artifacts:` "
                                    f"is missing: {_WHY['artifacts']}", file=METADATA_FILE,
                                    details={"artifact": entry, "expected": entry}))
        return bool(pkg.artifacts)
    for pattern in DEFAULT_ARTIFACT_PATTERNS:
        pkg.artifacts.extend(p for p in root.glob(pattern) if p.is_file())
    pkg.artifacts = sorted(p for p in set(pkg.artifacts) if not refuse_outside(root, p, layout))
    if not pkg.artifacts:
        layout.append(error(f"no model artifact: expected {', '.join(DEFAULT_ARTIFACT_PATTERNS)} "
                            f"in the package root, or files listed under `artifacts:` in "
                            f"{METADATA_FILE}; {_WHY['artifacts']}",
                            details={"expected": list(DEFAULT_ARTIFACT_PATTERNS)}))
        return False
    return True


def _near_misses(root: Path, names: tuple[str, ...]) -> list[str]:
    present = {p.name for p in root.iterdir()} if root.is_dir() else set()
    return [n for n in names if n in present]


def _missing(pkg: ModelPackage, expected: Path, component: str, near: list[str]) -> Finding:
    shown = pkg.relative(expected)
    what = "is a directory, not a file" if expected.is_dir() else "is missing"
    hint = f" (found {', '.join(near)}; envcheck reads {shown})" if near else ""
    return error(f"{shown} {what}: {_WHY[component]}{hint}", file=shown,
                 details={"expected": shown})


def _layout_result(pkg: ModelPackage, layout: list[Finding],
                   environment: Optional[sources.Environment]) -> CheckResult:
    findings = list(layout)
    if not _has_errors(findings):
        declared = REQUIREMENTS_FILE
        if environment is not None:
            declared = environment.chosen.file + (
                f" (installed; also {', '.join(s.file for s in environment.others)})"
                if environment.others else "")
        found = [METADATA_FILE, declared, pkg.relative(pkg.interface_path)]
        shown = [pkg.relative(a) for a in pkg.artifacts]
        listed = ", ".join(shown[:5]) + (f" and {len(shown) - 5} more" if len(shown) > 5 else "")
        findings.append(info(f"found {', '.join(found)}; artifacts: {listed}",
                             details={"artifacts": shown}))
    return checks.PACKAGE_LAYOUT.result(findings)
