"""BentoML model-store entries and built bentos as model packages.

Read into a :class:`~envcheck.read.bentoml_package.BentomlModelPackage`, so they are
checked like a native package:

* metadata: synthesized from model.yaml (name, version, the user's ``metadata``:
  ``envcheck`` settings and ``input_features``) and, for a bento, bento.yaml (name,
  version, and input features from the API schema, :mod:`envcheck.read.bentoml_bento`);
* environment, bento: its own ``env/python/requirements.txt`` and its Python
  (``version.txt`` / ``image.python_version``);
* environment, model-store entry: BentoML keeps none beside it.  A ``requirements.lock`` or
  ``requirements.txt`` the user puts beside model.yaml is it; else envcheck synthesizes
  one from ``context.framework_versions`` (``scikit-learn==1.5.2``, the loader's libraries)
  and says so in ``package.layout``.  Python: ``context.python_version``'s X.Y;
* versions: ``context`` against the pins and Python (``pickle.versions``,
  :mod:`envcheck.read.bentoml_model`); the saved model's pickle is found by content and
  inspected like any other;
* interface: a generated loader that reads the saved model with the library that wrote it
  (:mod:`envcheck.read.bentoml_loader`), never bentoml itself.

Nothing of the package runs here: YAML with a safe loader.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any, Optional

from envcheck.model import checks
from envcheck.model.findings import CheckResult, Finding, Severity, error, info, warning
from envcheck.model.options import Options
from envcheck.model.package import (
    LOCK_FILE,
    METADATA_FILE,
    REQUIREMENTS_FILE,
    ModelPackage,
)
from envcheck.read import lockfile, requirements
from envcheck.read.bentoml_bento import (
    bento_model_tags,
    bento_python,
    model_directory,
    schema_features,
)
from envcheck.read.bentoml_loader import LOADER_NAME, write_loader
from envcheck.read.bentoml_model import (
    context_version_findings,
    loader_requirement_findings,
    minor_version,
    read_model_yaml,
)
from envcheck.read.bentoml_package import (
    BENTO_REQUIREMENTS,
    BENTO_YAML,
    MODEL_YAML,
    MODULES,
    BentomlModelPackage,
    is_bento,
    is_model_store_entry,
)
from envcheck.read.mlflow_loader import loader_root
from envcheck.read.mlflow_package import is_mlflow_model
from envcheck.read.requirements import parse_requirements
from envcheck.read.yaml_positions import load_yaml_lines

SYNTHESIZED = f"{MODEL_YAML} context.framework_versions"


class BentomlFormat:
    """A BentoML model-store entry (model.yaml) or a built bento (bento.yaml)."""

    name = "bentoml"

    def detect(self, path: Path) -> bool:
        # metadata.yaml and MLmodel win: a package of theirs may keep BentoML files inside.
        return (is_bento(path) or is_model_store_entry(path)) and not (
            (path / METADATA_FILE).is_file() or is_mlflow_model(path))

    def read(self, path: Path, options: Options
             ) -> tuple[Optional[ModelPackage], list[CheckResult]]:
        return read_bentoml_package(path, options)


def read_bentoml_package(path: Path, options: Options
                         ) -> tuple[Optional[ModelPackage], list[CheckResult]]:
    """Read a model-store entry or a bento; the same contract as
    :func:`envcheck.read.native.read_package` (five results, in order)."""
    root = Path(path).resolve()
    started = time.perf_counter()
    bento = is_bento(root)
    pkg = BentomlModelPackage(root=root, metadata_path=root / (BENTO_YAML if bento else MODEL_YAML),
                              requirements_path=root / (BENTO_REQUIREMENTS if bento else
                                                        REQUIREMENTS_FILE),
                              interface_path=root / LOADER_NAME, kind="bento" if bento else "model")
    layout: list[Finding] = []
    schema: list[Finding] = []
    if bento:
        _read_bento(pkg, layout, schema)
    else:
        pkg.model, found = read_model_yaml(root, MODEL_YAML)
        schema.extend(found)
        saved_with = minor_version(pkg.model.python_version) if pkg.model is not None else None
        if saved_with is not None:
            # A record of what saved the model, not a demand: any patch release of it.
            pkg.metadata["python_version"] = saved_with
            pkg.python_version_file = f"{MODEL_YAML} context.python_version"
    pkg.metadata.update(_synthesize_metadata(pkg))
    pkg.metadata_ok = pkg.model is not None and not _errors(schema)
    for model in [m for m in (pkg.model, *pkg.other_models) if m is not None]:
        pkg.artifacts += _saved_files(model.directory)
    meta_duration = time.perf_counter() - started

    started = time.perf_counter()
    reqs = _read_environment(pkg, layout)
    parse_duration = time.perf_counter() - started
    results = [_layout_result(pkg, layout), checks.METADATA_SCHEMA.result(schema, meta_duration)]
    if reqs is None:
        reason = f"{pkg.relative(pkg.requirements_path)} is missing (see package.layout)"
        results += [checks.REQUIREMENTS_PARSE.skipped(reason),
                    checks.REQUIREMENTS_PINNED.skipped(reason)]
    else:
        requirements.adopt_requirements(pkg, reqs)
        results.append(requirements.check_parse(reqs, parse_duration))
        pinned = requirements.check_pinned(reqs, root)
        _show_synthesized_as_model_yaml(pkg, reqs, pinned.findings)
        results.append(checks.REQUIREMENTS_PINNED.result(
            pinned.findings + loader_requirement_findings(pkg, reqs), pinned.duration_s))
        pkg.version_findings = context_version_findings(pkg, reqs)
    results.append(checks.INTERFACE_CONTRACT.result(_contract(pkg)))
    return pkg, results


def _errors(findings: list[Finding]) -> bool:
    return any(f.severity is Severity.ERROR for f in findings)


def _saved_files(directory: Path) -> list[Path]:
    """What save_model wrote beside model.yaml (not the user's requirements or references;
    nothing a link takes outside the directory)."""
    own = {MODEL_YAML, REQUIREMENTS_FILE, LOCK_FILE}
    inside = directory.resolve()
    return sorted(p for p in directory.rglob("*") if p.is_file() and not (
        p.parent == directory and p.name in own) and "reference" not in
        p.relative_to(directory).parts[:1] and p.resolve().is_relative_to(inside))


def _read_bento(pkg: BentomlModelPackage, layout: list[Finding], schema: list[Finding]) -> None:
    data, lines, problem = load_yaml_lines(pkg.metadata_path, BENTO_YAML)
    if problem is not None:
        schema.append(problem)
        return
    if not isinstance(data, dict):
        schema.append(error(f"{BENTO_YAML} is not a mapping (got {type(data).__name__})",
                            file=BENTO_YAML))
        return
    pkg.bento = data
    version, declared_in, found = bento_python(pkg.root, data, lines)
    schema.extend(found)
    if version:
        pkg.metadata["python_version"] = version
        pkg.python_version_file = declared_in
    tags = bento_model_tags(data)
    if not tags:
        layout.append(error(f"{BENTO_YAML} names no model: nothing to load", file=BENTO_YAML,
                            line=lines.get(("models",))))
    for tag in tags:
        directory, missing = model_directory(pkg.root, tag)
        if missing is not None:
            layout.append(missing)
            continue
        shown = pkg.relative(directory / MODEL_YAML) if directory else MODEL_YAML
        model, found = read_model_yaml(directory, shown) if directory else (None, [])
        schema.extend(found)
        if model is None:
            continue
        if pkg.model is None and model.module in MODULES:
            pkg.model = model  # the first model envcheck can load is the one it loads
        else:
            pkg.other_models.append(model)
    if pkg.model is None and pkg.other_models:
        pkg.model = pkg.other_models.pop(0)  # none loadable: the contract says why


def _synthesize_metadata(pkg: BentomlModelPackage) -> dict[str, Any]:
    """What metadata.yaml would say: name, version, settings, input_features."""
    model = pkg.model
    user = model.metadata if model is not None else {}
    source: dict[str, Any] = pkg.bento if pkg.kind == "bento" else \
        {"name": model.name, "version": model.version} if model is not None else {}
    meta: dict[str, Any] = {"name": str(source.get("name") or pkg.root.name)}
    if source.get("version"):
        meta["version"] = str(source["version"])
    if isinstance(user.get("envcheck"), dict):  # settings, as under `envcheck:` in metadata.yaml
        meta["envcheck"] = dict(user["envcheck"])
    if isinstance(user.get("input_features"), list):  # saved with metadata={"input_features": ...}
        meta["input_features"] = list(user["input_features"])
    elif pkg.kind == "bento" and schema_features(pkg.bento):
        meta["input_features"] = schema_features(pkg.bento)
    return meta


def _read_environment(pkg: BentomlModelPackage, layout: list[Finding]) -> Any:
    """The RequirementsFile of the package's environment, or None (a layout error): the
    declared one, or the ``requirements.lock`` ``envcheck lock`` wrote beside it."""
    declared = _declared_requirements(pkg, layout)
    lock_path = pkg.root / LOCK_FILE
    if declared is None or not declared.ok or not lock_path.is_file():
        return declared
    # Installed exactly, like a native package's lock; where the two disagree is a warning.
    locked = parse_requirements(lock_path, pkg.root)
    synthesized = pkg.environment_source == SYNTHESIZED
    disagreements = lockfile.lock_findings(
        declared.direct, lock_path, MODEL_YAML if synthesized else pkg.environment_source)
    if synthesized and pkg.model is not None:
        line = pkg.model.lines.get(("context", "framework_versions"))
        for finding in disagreements:
            finding.line = line
        # The lock pins everything: the synthesized lines are only what it is compared with.
        layout[:] = [f for f in layout if f.details.get("source") != SYNTHESIZED]
    locked.findings[:0] = disagreements
    pkg.requirements_path, pkg.environment_source = lock_path, LOCK_FILE
    return locked


def _declared_requirements(pkg: BentomlModelPackage, layout: list[Finding]) -> Any:
    if pkg.kind == "bento":
        if not pkg.requirements_path.is_file():
            layout.append(error(f"{BENTO_REQUIREMENTS} is missing: without it a fresh machine "
                                f"cannot know which libraries (and versions) to install",
                                file=BENTO_REQUIREMENTS, details={"expected": BENTO_REQUIREMENTS}))
            return None
        pkg.environment_source = BENTO_REQUIREMENTS
        return parse_requirements(pkg.requirements_path, pkg.root)
    if (pkg.root / REQUIREMENTS_FILE).is_file():  # the user's, beside model.yaml
        pkg.requirements_path = pkg.root / REQUIREMENTS_FILE
        pkg.environment_source = REQUIREMENTS_FILE
        return parse_requirements(pkg.requirements_path, pkg.root)
    if pkg.model is None:
        layout.append(error(f"{MODEL_YAML} could not be read and there is no "
                            f"{REQUIREMENTS_FILE}: no environment to build", file=MODEL_YAML))
        return None
    return _synthesized_requirements(pkg, layout)


def _synthesized_requirements(pkg: BentomlModelPackage, layout: list[Finding]) -> Any:
    """A requirements file outside the package, from context.framework_versions and the
    loader's libraries; findings on it are shown as model.yaml's."""
    model = pkg.model
    assert model is not None
    pins = dict(model.framework_versions)
    # The loader's libraries, and pandas: envcheck calls predict() with a DataFrame.
    for dist in (*MODULES.get(model.module, ("", "", ()))[2], "pandas"):
        if dist not in pins and not (dist == "joblib" and "scikit-learn" in pins):
            pins[dist] = ""
    lines = [f"{dist}=={version}" if version else dist for dist, version in sorted(pins.items())]
    directory = Path(tempfile.mkdtemp(prefix="deps-", dir=loader_root()))
    generated = directory / REQUIREMENTS_FILE
    generated.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    reqs = parse_requirements(generated, pkg.root)
    pkg.requirements_path = pkg.metadata_path
    pkg.environment_source = SYNTHESIZED
    _show_synthesized_as_model_yaml(pkg, reqs, reqs.findings)
    layout.append(warning(
        f"no {REQUIREMENTS_FILE} beside {MODEL_YAML} (BentoML keeps none in its model store): "
        f"the environment is synthesized from {SYNTHESIZED}: {', '.join(lines) or 'nothing'}; "
        f"everything else is unpinned -- put a {REQUIREMENTS_FILE} beside {MODEL_YAML} to "
        f"declare it", file=MODEL_YAML, line=model.lines.get(("context", "framework_versions")),
        details={"synthesized": lines, "source": SYNTHESIZED}))
    return reqs


def _show_synthesized_as_model_yaml(pkg: BentomlModelPackage, reqs: Any,
                                    findings: list[Finding]) -> None:
    """Findings on the generated requirements file name model.yaml's framework_versions."""
    if pkg.environment_source != SYNTHESIZED or pkg.model is None:
        return
    for finding in findings:
        if finding.file in (str(reqs.path), str(Path(reqs.path).resolve())):
            finding.file = MODEL_YAML
            finding.line = pkg.model.lines.get(("context", "framework_versions"))


def _contract(pkg: BentomlModelPackage) -> list[Finding]:
    model = pkg.model
    if model is None:
        return [error("no model.yaml could be read: no model to load", file=pkg.model_yaml)]
    if model.module not in MODULES:
        return [error(f"{model.tag} was saved by {model.module or 'an unnamed module'} "
                      f"({pkg.model_yaml}): envcheck loads {' and '.join(sorted(MODULES))} "
                      f"models only", file=pkg.model_yaml, line=model.lines.get(("module",)),
                      details={"module": model.module, "model": model.tag})]
    model_file = model.model_file
    if model_file is None or not model_file.is_file():
        shown = pkg.relative(model_file) if model_file else "the saved model"
        return [error(f"{shown} is missing: {model.module} saves the model there, so there is "
                      f"nothing to load", file=pkg.model_yaml, details={"expected": shown})]
    if not model_file.resolve().is_relative_to(pkg.root):
        return [error(f"{pkg.relative(model_file)} points outside the package: envcheck loads "
                      f"only what the package holds", file=pkg.model_yaml,
                      details={"artifact": pkg.relative(model_file)})]
    pkg.interface_path = write_loader(model)
    findings = [info(f"no interface.py: envcheck loads {model.tag} ({model.module}, "
                     f"{model.serialization}) from {pkg.relative(model_file)} with a generated "
                     f"loader, without bentoml", file=pkg.model_yaml,
                     details={"module": model.module, "serialization": model.serialization,
                              "model": model.tag, "loader": str(pkg.interface_path)})]
    if pkg.other_models:
        names = ", ".join(m.tag for m in pkg.other_models)
        findings.append(warning(f"the bento holds {len(pkg.other_models)} more model(s) "
                                f"({names}): envcheck loads one, {model.tag}; their versions "
                                f"are still compared", file=BENTO_YAML,
                                details={"not_loaded": [m.tag for m in pkg.other_models]}))
    return findings


def _layout_result(pkg: BentomlModelPackage, layout: list[Finding]) -> CheckResult:
    findings = list(layout)
    if not _errors(findings):
        shown = [pkg.relative(a) for a in pkg.artifacts]
        what = "bento" if pkg.kind == "bento" else "model-store entry"
        findings.append(info(f"BentoML {what}: found {pkg.relative(pkg.metadata_path)}, "
                             f"environment from {pkg.environment_source or 'nothing'}; "
                             f"artifacts: {', '.join(shown[:5]) or 'none'}"
                             + (f" and {len(shown) - 5} more" if len(shown) > 5 else ""),
                             details={"artifacts": shown, "format": "bentoml", "kind": pkg.kind,
                                      "environment": pkg.environment_source}))
    return checks.PACKAGE_LAYOUT.result(findings)
