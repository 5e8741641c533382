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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from envcheck.findings import CheckResult, Finding, Severity, error, info, warning
from envcheck.options import Options

METADATA_FILE = "metadata.yaml"
REQUIREMENTS_FILE = "requirements.txt"
LOCK_FILE = "requirements.lock"  # written by `envcheck lock`; preferred when present
DEFAULT_INTERFACE = "interface.py"
DEFAULT_ARTIFACT_PATTERNS = ("*.pkl", "*.pickle", "*.joblib")

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


@dataclass
class ModelPackage:
    root: Path
    metadata_path: Path  # root / "metadata.yaml"
    requirements_path: Path  # root / "requirements.txt" (or the lock when present)
    interface_path: Path  # root / metadata["interface"] or "interface.py"
    artifacts: list[Path] = field(default_factory=list)  # files (folders expanded)
    metadata: dict[str, Any] = field(default_factory=dict)  # {} when unreadable
    # Normalized, fully expanded requirement lines ("name[extra]==1.0 ; marker --hash=..."),
    # sorted: what the installer gets and what the env cache key hashes.
    requirement_lines: list[str] = field(default_factory=list)
    # Exact pins of direct requirements: canonical name -> version ("scikit-learn": "1.2.2").
    pins: dict[str, str] = field(default_factory=dict)
    # True when requirements could not be read: nothing that needs an env may run.
    requirements_ok: bool = False
    metadata_ok: bool = False
    # The file that declared python_version, when not metadata_path (MLflow: python_env.yaml).
    python_version_file: Optional[str] = None
    # Constraint lines of -c files ("name==1.0 ; marker"): write them to a separate file
    # and pass it with --constraint; they install nothing themselves.
    constraint_lines: list[str] = field(default_factory=list)
    # Installer options the requirements set ("--index-url URL", "--pre"), sorted; valid
    # requirements-file lines.  They change what gets installed: part of the env key.
    installer_options: list[str] = field(default_factory=list)

    @property
    def name(self) -> Optional[str]:
        value = self.metadata.get("name")
        return str(value) if value is not None else None

    @property
    def reference_dir(self) -> Path:
        return self.root / "reference"

    @property
    def settings(self) -> dict[str, Any]:
        """The ``envcheck:`` block of metadata.yaml (tolerances, timeout, allowed warnings)."""
        value = self.metadata.get("envcheck")
        return value if isinstance(value, dict) else {}

    @property
    def python_version(self) -> Optional[str]:
        value = self.metadata.get("python_version")
        return str(value) if value is not None else None

    def relative(self, path: Path) -> str:
        """A path as shown in findings: relative to the package root when inside it."""
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)


# --------------------------------------------------------------------------- reading

def read_package(path: Path, options: Options) -> tuple[Optional[ModelPackage], list[CheckResult]]:
    """Read the package at ``path`` without running or writing anything of it."""
    from envcheck import contract, metadata, requirements

    path = Path(path)
    if not path.is_dir():
        what = "does not exist" if not path.exists() else "is not a directory"
        return None, [CheckResult.from_findings("package.layout", [error(
            f"{path} {what}: not a model package (a directory with {METADATA_FILE}, "
            f"{REQUIREMENTS_FILE}, {DEFAULT_INTERFACE} and the model file)")])]
    if (path / "MLmodel").is_file() and not (path / METADATA_FILE).is_file():
        # An MLflow model directory: read through its MLmodel (envcheck.mlflow_model).
        from envcheck.mlflow_model import read_mlflow_package

        return read_mlflow_package(path, options)
    root = path.resolve()
    pkg = ModelPackage(root=root, metadata_path=root / METADATA_FILE,
                       requirements_path=root / REQUIREMENTS_FILE,
                       interface_path=root / DEFAULT_INTERFACE)
    layout: list[Finding] = []

    # metadata.yaml first: it may name the interface file and the artifacts.
    started = time.perf_counter()
    has_metadata = pkg.metadata_path.is_file()
    meta_findings: list[Finding] = []
    data: dict[str, Any] = {}
    if has_metadata:
        data, meta_findings = metadata.load_metadata(pkg.metadata_path, METADATA_FILE)
        pkg.metadata_ok = bool(data) and not _has_errors(meta_findings)
        pkg.metadata = _usable_metadata(data, meta_findings)
    meta_duration = time.perf_counter() - started

    interface_name = data.get("interface") if isinstance(data.get("interface"), str) else None
    has_interface = _locate_interface(pkg, interface_name, layout)
    artifacts_spec = data.get("artifacts")
    has_artifacts = _locate_artifacts(pkg, artifacts_spec, layout)
    has_requirements = pkg.requirements_path.is_file()

    if not any((has_metadata, has_requirements, has_interface, has_artifacts)):
        return None, [CheckResult.from_findings("package.layout", [error(
            f"{path} is not a model package: none of {METADATA_FILE}, {REQUIREMENTS_FILE}, "
            f"{DEFAULT_INTERFACE} or a model file (*.pkl, *.pickle, *.joblib) is in it")])]

    if not has_metadata:
        layout.append(_missing(pkg, pkg.metadata_path, "metadata",
                               _near_misses(root, ("metadata.yml", "Metadata.yaml",
                                                   "metadata.json", "METADATA.yaml"))))
    if not has_requirements:
        layout.append(_missing(pkg, pkg.requirements_path, "requirements",
                               _near_misses(root, ("requirements.in", "Requirements.txt",
                                                   "requirement.txt", "requirements.lock",
                                                   "Pipfile", "pyproject.toml",
                                                   "environment.yml", "setup.py"))))
    results = [_layout_result(pkg, layout)]

    # metadata.schema
    if has_metadata:
        results.append(CheckResult.from_findings("metadata.schema", meta_findings, meta_duration))
    else:
        results.append(CheckResult.skipped("metadata.schema", f"{METADATA_FILE} is missing "
                                           f"(see package.layout)"))

    # requirements.parse / requirements.pinned
    reqs: Optional[requirements.RequirementsFile] = None
    if has_requirements:
        started = time.perf_counter()
        reqs = requirements.parse_requirements(pkg.requirements_path, root)
        parse_duration = time.perf_counter() - started
        pkg.requirements_ok = reqs.ok
        installed = reqs
        lock_path = root / LOCK_FILE
        if reqs.ok and lock_path.is_file():
            # `envcheck lock` wrote it: install exactly that, and say where the two disagree.
            from envcheck.lock import lock_findings

            locked = requirements.parse_requirements(lock_path, root)
            reqs.findings.extend(lock_findings(reqs.direct, lock_path))
            reqs.findings.extend(locked.findings)
            if locked.ok:
                installed = locked
                pkg.requirements_path = lock_path
            else:
                pkg.requirements_ok = False
        pkg.requirement_lines = installed.install_lines()
        pkg.constraint_lines = installed.constraint_lines()
        pkg.installer_options = installed.option_lines()
        # What the pickles are compared with: the lock's pins where it has them.
        pkg.pins = {**reqs.pins(), **installed.pins()}
        results.append(requirements.check_parse(reqs, parse_duration))
        if reqs.readable:
            started = time.perf_counter()
            pinned = requirements.check_pinned(reqs, options.strict, root)
            pinned.duration_s = time.perf_counter() - started
            results.append(pinned)
        else:
            results.append(CheckResult.skipped("requirements.pinned", f"{REQUIREMENTS_FILE} "
                                               f"could not be read (see requirements.parse)"))
    else:
        reason = f"{REQUIREMENTS_FILE} is missing (see package.layout)"
        results.append(CheckResult.skipped("requirements.parse", reason))
        results.append(CheckResult.skipped("requirements.pinned", reason))

    # interface.contract
    if has_interface:
        started = time.perf_counter()
        contract_result = contract.check_interface(pkg, reqs)
        contract_result.duration_s = time.perf_counter() - started
        results.append(contract_result)
    else:
        results.append(CheckResult.skipped("interface.contract", f"{pkg.relative(pkg.interface_path)} "
                                           f"is missing (see package.layout)"))
    return pkg, results


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
    from envcheck.metadata import _float_loses_text as loses

    return loses(written, value)


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


def _locate_interface(pkg: ModelPackage, name: Optional[str], layout: list[Finding]) -> bool:
    if name is not None:
        pkg.interface_path = pkg.root / name
        if not _inside(pkg.root, pkg.interface_path):
            layout.append(error(f"interface: {name} in {METADATA_FILE} points outside the "
                                f"package; the package would not carry it", file=METADATA_FILE))
            return False
    if pkg.interface_path.is_file():
        return True
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
                files = sorted(p for p in target.rglob("*") if p.is_file())
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
    pkg.artifacts = sorted(set(pkg.artifacts))
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


def _layout_result(pkg: ModelPackage, layout: list[Finding]) -> CheckResult:
    findings = list(layout)
    for artifact in pkg.artifacts:
        if artifact.is_symlink() and not _inside(pkg.root, artifact):
            findings.append(warning(f"artifact {pkg.relative(artifact)} is a symlink to "
                                    f"{artifact.resolve()}, outside the package; copies of the "
                                    f"package may not carry it", file=pkg.relative(artifact)))
    if not _has_errors(findings):
        found = [METADATA_FILE, REQUIREMENTS_FILE, pkg.relative(pkg.interface_path)]
        shown = [pkg.relative(a) for a in pkg.artifacts]
        listed = ", ".join(shown[:5]) + (f" and {len(shown) - 5} more" if len(shown) > 5 else "")
        findings.append(info(f"found {', '.join(found)}; artifacts: {listed}",
                             details={"artifacts": shown}))
    return CheckResult.from_findings("package.layout", findings)
