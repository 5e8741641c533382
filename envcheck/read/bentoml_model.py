"""model.yaml of a BentoML model-store entry, and what its ``context`` says about versions.

``bentoml.<framework>.save_model`` records in ``context`` the framework and its versions
(``framework_versions: {scikit-learn: 1.5.2}``), the BentoML version and the Python version
the model was saved with.  They are compared statically, like scikit-learn's
``_sklearn_version`` in a pickle, with what the environment pins (``pickle.versions``);
what the loader imports must be required at all (``requirements.pinned``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional

from packaging.utils import canonicalize_name

from envcheck.model.findings import Finding, error, info, warning
from envcheck.model.versions import same_version
from envcheck.read.bentoml_package import (
    MODEL_YAML,
    MODULES,
    BentomlModelPackage,
    BentoModel,
)
from envcheck.read.yaml_positions import load_yaml_lines


def read_model_yaml(directory: Path, shown: str) -> tuple[Optional[BentoModel], list[Finding]]:
    """The entry at ``directory`` (None when model.yaml is unreadable) and metadata.schema
    findings; ``shown`` is model.yaml's path as findings name it."""
    data, lines, problem = load_yaml_lines(directory / MODEL_YAML, shown)
    if problem is not None:
        return None, [problem]
    if not isinstance(data, dict):
        return None, [error(f"{shown} is not a mapping (got {type(data).__name__})", file=shown)]
    findings: list[Finding] = []
    model = BentoModel(directory=directory, name=str(data.get("name") or directory.parent.name),
                       version=str(data.get("version") or directory.name),
                       module=str(data.get("module") or ""), lines=lines)
    user = data.get("metadata")
    model.metadata = dict(user) if isinstance(user, dict) else {}
    context = data.get("context")
    if not isinstance(context, dict):
        findings.append(warning(f"{shown} has no `context:` mapping: the framework, BentoML "
                                f"and Python versions the model was saved with are unknown",
                                file=shown, line=lines.get(("context",)),
                                details={"key_path": "context"}))
        return model, findings
    if context.get("framework_name") is not None:
        model.framework_name = str(context["framework_name"])
    versions = context.get("framework_versions")
    if isinstance(versions, dict):
        model.framework_versions = {str(k): str(v) for k, v in versions.items()}
    elif versions is not None:
        findings.append(error(f"context.framework_versions in {shown} is not a mapping",
                              file=shown, line=lines.get(("context", "framework_versions")),
                              details={"key_path": "context.framework_versions"}))
    for key in ("bentoml_version", "python_version"):
        if context.get(key) is not None:
            setattr(model, key, str(context[key]))
    if not model.framework_versions and model.module in MODULES:
        findings.append(warning(f"context.framework_versions in {shown} is empty: the library "
                                f"versions the model was saved with are unknown", file=shown,
                                line=lines.get(("context",)),
                                details={"key_path": "context.framework_versions"}))
    return model, findings


def minor_version(text: Optional[str]) -> Optional[str]:
    """``3.11`` of ``3.11.7``; None when the text is no version."""
    match = re.match(r"\s*(\d+)\.(\d+)", text or "")
    return f"{match.group(1)}.{match.group(2)}" if match else None


def _requirement(reqs: Any, name: str) -> Any:
    wanted = canonicalize_name(name)
    return next((r for r in reqs.direct if r.name == wanted), None) if reqs is not None else None


def context_version_findings(pkg: BentomlModelPackage, reqs: Any) -> list[Finding]:
    """``pickle.versions``: each model's context against the environment's pins and
    Python, naming both versions whether they agree or not."""
    findings: list[Finding] = []
    env_file = pkg.environment_source
    for model in [m for m in (pkg.model, *pkg.other_models) if m is not None]:
        shown = pkg.relative(model.directory / MODEL_YAML)
        for dist, recorded in sorted(model.framework_versions.items()):
            name = canonicalize_name(dist)
            pinned = pkg.pins.get(name)
            req = _requirement(reqs, name)
            where = pkg.relative(req.file) if req is not None else env_file
            details = {"library": dist, "recorded": recorded, "pinned": pinned,
                       "recorded_in": shown, "model": model.tag}
            if pinned is None:
                continue  # requirements.pinned says it is unpinned or missing
            line = req.line if req is not None else None
            if same_version(recorded, pinned):
                findings.append(info(f"{shown}: context.framework_versions records {dist} "
                                     f"{recorded} and {where} pins {dist}=={pinned}",
                                     file=where, line=line, details=details))
            else:
                findings.append(error(
                    f"{shown} records {dist} {recorded} in context.framework_versions (the "
                    f"model was saved with it) but {where} pins {dist}=={pinned}: the model "
                    f"will be loaded by a different {dist}; pin {dist}=={recorded} or re-save "
                    f"the model with {pinned}", file=where, line=line, details=details))
        findings.extend(_python_findings(pkg, model, shown))
        findings.extend(_bentoml_findings(pkg, model, shown))
    return findings


def _python_findings(pkg: BentomlModelPackage, model: BentoModel, shown: str) -> list[Finding]:
    saved, target = minor_version(model.python_version), minor_version(pkg.python_version)
    if saved is None or target is None or saved == target:
        return []
    source = pkg.python_version_file or pkg.relative(pkg.metadata_path)
    return [warning(f"{shown}: the model was saved with Python {model.python_version} "
                    f"(context.python_version) but {source} asks for Python "
                    f"{pkg.python_version}: a pickle may not load under another Python",
                    file=shown, line=model.lines.get(("context", "python_version")),
                    details={"recorded": model.python_version, "declared": pkg.python_version,
                             "declared_in": source, "model": model.tag})]


def _bentoml_findings(pkg: BentomlModelPackage, model: BentoModel, shown: str) -> list[Finding]:
    pinned = pkg.pins.get("bentoml")
    if not model.bentoml_version or not pinned or minor_version(model.bentoml_version) == minor_version(pinned):
        return []
    return [warning(f"{shown}: the model was saved by bentoml {model.bentoml_version} but the "
                    f"environment pins bentoml=={pinned}", file=shown,
                    line=model.lines.get(("context", "bentoml_version")),
                    details={"library": "bentoml", "recorded": model.bentoml_version,
                             "pinned": pinned, "model": model.tag})]


def loader_requirement_findings(pkg: BentomlModelPackage, reqs: Any) -> list[Finding]:
    """``requirements.pinned``: the libraries the generated loader imports, and those the
    model's context names, must be in the requirements (scikit-learn brings joblib)."""
    model = pkg.model
    if model is None or reqs is None:
        return []
    names = {r.name for r in reqs.direct}
    needed = [d for d in MODULES.get(model.module, ("", "", ()))[2]]
    needed += [d for d in model.framework_versions if d not in needed]
    if "scikit-learn" in needed and "joblib" in needed:
        needed.remove("joblib")  # a dependency of scikit-learn: installed with it
    findings: list[Finding] = []
    for dist in needed:
        if canonicalize_name(dist) in names:
            continue
        version = model.framework_versions.get(dist)
        findings.append(error(
            f"{dist} is not in {pkg.environment_source}, but {model.module} needs it to load "
            f"{model.tag}: add {dist}=={version or 'X'}", file=pkg.environment_source,
            details={"missing": dist, "model": model.tag}))
    return findings
