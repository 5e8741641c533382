"""MLflow model directories as model packages.

A folder with an ``MLmodel`` file (as written by ``mlflow.sklearn.save_model`` /
``log_model``) is read into a :class:`~envcheck.read.mlflow_package.MlflowModelPackage`, the
:class:`~envcheck.model.package.ModelPackage` the rest of the pipeline uses, so it is
checked like a native package:

* environment: ``python_env.yaml`` (``python:`` and ``dependencies``, whose
  ``-r requirements.txt`` is parsed by :func:`envcheck.read.requirements.parse_requirements`);
* metadata: synthesized from MLmodel (``metadata.name``/``version``, the column-based
  ``signature`` -> ``input_features``/``output``, :mod:`envcheck.read.mlflow_signature`);
* artifact: the flavor's model file (``model.skops``, ``model.pkl``);
* interface: a loader *generated* outside the package that loads through the flavor and
  makes a scikit-learn version mismatch fail ``load.warnings``
  (:mod:`envcheck.read.mlflow_loader`; ``mlflow models predict`` serves such a model and
  exits 0);
* requirements: what the flavor needs, and MLmodel's ``sklearn_version`` vs the pin
  (:mod:`envcheck.read.mlflow_requirements`);
* smoke inputs: ``input_example.json`` / ``serving_input_example.json``
  (:func:`envcheck.compare.inputs.example_inputs`).

Like the native reader this runs nothing of the package: YAML with a safe loader, JSON
with :mod:`json`.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any, Optional

from envcheck.model import checks
from envcheck.model.findings import (
    CheckResult,
    Finding,
    Severity,
    error,
    info,
    warning,
)
from envcheck.model.options import Options
from envcheck.model.package import METADATA_FILE, ModelPackage
from envcheck.read import requirements
from envcheck.read.mlflow_conda import conda_disagreements, conda_only_environment
from envcheck.read.mlflow_loader import (
    LOADER_NAME,
    loader_root,
    trusted_by_user,
    write_loader,
)
from envcheck.read.mlflow_package import (
    MLMODEL_FILE,
    MlflowModelPackage,
    is_mlflow_model,
)
from envcheck.read.mlflow_requirements import (
    flavor_requirement_findings,
    recorded_version_findings,
)
from envcheck.read.mlflow_signature import signature_colspecs, signature_features
from envcheck.read.requirements import parse_requirements
from envcheck.read.yaml_positions import load_yaml_lines

PYTHON_ENV_FILE = "python_env.yaml"
REQUIREMENTS_FILE = "requirements.txt"
INPUT_EXAMPLES = ("input_example.json", "serving_input_example.json")

SKLEARN_FORMATS = ("pickle", "cloudpickle", "skops")


# --------------------------------------------------------------------------- reading

class MlflowFormat:
    """An MLflow model directory: MLmodel, python_env.yaml / requirements.txt, the model."""

    name = "mlflow"

    def detect(self, path: Path) -> bool:
        # metadata.yaml wins: a native package may keep an MLmodel among its artifacts.
        return is_mlflow_model(path) and not (path / METADATA_FILE).is_file()

    def read(self, path: Path, options: Options
             ) -> tuple[Optional[ModelPackage], list[CheckResult]]:
        return read_mlflow_package(path, options)


def read_mlflow_package(path: Path, options: Options) -> tuple[Optional[ModelPackage], list[CheckResult]]:
    """Read an MLflow model directory; the same contract as
    :func:`envcheck.read.native.read_package` (five results, in order)."""
    root = Path(path).resolve()
    started = time.perf_counter()
    pkg = MlflowModelPackage(root=root, metadata_path=root / MLMODEL_FILE,
                             requirements_path=root / REQUIREMENTS_FILE,
                             interface_path=root / LOADER_NAME)
    layout: list[Finding] = []
    schema: list[Finding] = []

    data, lines, problem = load_yaml_lines(pkg.metadata_path, MLMODEL_FILE)
    if problem is not None:
        schema.append(problem)
    elif not isinstance(data, dict):
        schema.append(error(f"{MLMODEL_FILE} is not a mapping (got {type(data).__name__})",
                            file=MLMODEL_FILE))
        data = None
    mlmodel: dict[str, Any] = data or {}
    pkg.mlmodel = mlmodel
    contract: list[Finding] = []
    _read_flavor(pkg, mlmodel, lines, schema, layout, contract)
    pkg.metadata = _synthesize_metadata(pkg, mlmodel, lines, schema)
    pkg.metadata_ok = bool(mlmodel) and not _errors(schema)
    _find_example(pkg, mlmodel)
    meta_duration = time.perf_counter() - started

    # Environment: python_env.yaml, else requirements.txt alone.
    started = time.perf_counter()
    reqs = conda_only_environment(pkg)
    if reqs is None:
        reqs, env_findings = _read_environment(pkg, layout)
        schema.extend(env_findings)
    if reqs is not None:
        reqs.findings.extend(conda_disagreements(pkg, reqs))
    parse_duration = time.perf_counter() - started

    results = [_layout_result(pkg, layout),
               checks.METADATA_SCHEMA.result(schema, meta_duration)]
    if reqs is None:
        reason = f"{REQUIREMENTS_FILE} is missing (see package.layout)"
        results.append(checks.REQUIREMENTS_PARSE.skipped(reason))
        results.append(checks.REQUIREMENTS_PINNED.skipped(reason))
    else:
        requirements.adopt_requirements(pkg, reqs)
        results.append(requirements.check_parse(reqs, parse_duration))
        if reqs.readable:
            pinned = requirements.check_pinned(reqs, root)
            findings = pinned.findings + flavor_requirement_findings(pkg, reqs)
            pkg.version_findings = recorded_version_findings(pkg, reqs)
            results.append(checks.REQUIREMENTS_PINNED.result(findings, pinned.duration_s))
        else:
            results.append(checks.REQUIREMENTS_PINNED.skipped(f"{REQUIREMENTS_FILE} "
                                               f"could not be read (see requirements.parse)"))

    # interface.contract: the generated loader.
    if pkg.flavor is not None and not _errors(contract):
        trusted = trusted_by_user(pkg, options)
        pkg.interface_path = write_loader(pkg, trusted)
        fmt = f" ({pkg.serialization_format})" if pkg.serialization_format else ""
        contract.append(info(
            f"no interface.py: envcheck loads the {pkg.flavor} flavor{fmt} of "
            f"{pkg.relative(pkg.model_file) if pkg.model_file else 'the model'} with a "
            f"generated loader", file=MLMODEL_FILE,
            details={"flavor": pkg.flavor, "serialization_format": pkg.serialization_format,
                     "loader": str(pkg.interface_path)}))
        if pkg.trusted_by_model:
            contract.append(warning(
                f"{MLMODEL_FILE} trusts {len(pkg.trusted_by_model)} skops type(s) itself "
                f"(skops_trusted_types: {', '.join(pkg.trusted_by_model)}): a model cannot "
                f"vouch for itself; review them and pass --trust-pickle TYPE to trust them "
                f"knowingly", file=MLMODEL_FILE,
                line=lines.get(("flavors", "sklearn", "skops_trusted_types")),
                details={"skops_trusted_types": pkg.trusted_by_model}))
    results.append(checks.INTERFACE_CONTRACT.result(contract))
    return pkg, results


def _errors(findings: list[Finding]) -> bool:
    return any(f.severity is Severity.ERROR for f in findings)


def _read_flavor(pkg: MlflowModelPackage, mlmodel: dict[str, Any],
                 lines: dict[tuple[str, ...], int], schema: list[Finding],
                 layout: list[Finding], contract: list[Finding]) -> None:
    """Choose the flavor to load through and find its model file."""
    if not mlmodel:
        contract.append(error(f"{MLMODEL_FILE} could not be read: no flavor to load the "
                              f"model with (see metadata.schema)", file=MLMODEL_FILE))
        return
    flavors = mlmodel.get("flavors")
    if not isinstance(flavors, dict) or not flavors:
        schema.append(error(f"{MLMODEL_FILE} has no `flavors:` mapping: MLflow and envcheck "
                            f"cannot know how to load the model", file=MLMODEL_FILE,
                            line=lines.get(("flavors",)), details={"key_path": "flavors"}))
        contract.append(error(f"no flavor in {MLMODEL_FILE} to load the model with",
                              file=MLMODEL_FILE))
        return
    sk = flavors.get("sklearn")
    pyfunc = flavors.get("python_function")
    if isinstance(sk, dict):
        pkg.flavor = "sklearn"
        fmt = sk.get("serialization_format") or "pickle"  # MLflow's default when absent
        if fmt not in SKLEARN_FORMATS:
            schema.append(error(f"flavors.sklearn.serialization_format is {fmt!r}: expected "
                                f"one of {', '.join(SKLEARN_FORMATS)}", file=MLMODEL_FILE,
                                line=lines.get(("flavors", "sklearn", "serialization_format")),
                                details={"key_path": "flavors.sklearn.serialization_format"}))
            contract.append(error(f"unknown serialization_format {fmt!r}: cannot load the "
                                  f"model", file=MLMODEL_FILE))
            pkg.flavor = None
            return
        pkg.serialization_format = fmt
        model = sk.get("pickled_model")
        if not isinstance(model, str):
            schema.append(error("flavors.sklearn.pickled_model is missing: the model file is "
                                "not named", file=MLMODEL_FILE,
                                line=lines.get(("flavors", "sklearn")),
                                details={"key_path": "flavors.sklearn.pickled_model"}))
            contract.append(error("flavors.sklearn names no model file", file=MLMODEL_FILE))
            pkg.flavor = None
            return
        version = sk.get("sklearn_version")
        if version is None:
            schema.append(warning("flavors.sklearn.sklearn_version is missing: the scikit-learn "
                                  "version the model was saved with is unknown",
                                  file=MLMODEL_FILE, line=lines.get(("flavors", "sklearn")),
                                  details={"key_path": "flavors.sklearn.sklearn_version"}))
        else:
            pkg.sklearn_version = str(version)
        trusted = sk.get("skops_trusted_types")
        if isinstance(trusted, list):
            pkg.trusted_by_model = [str(t) for t in trusted]
        _set_model_file(pkg, model, "flavors.sklearn.pickled_model", layout)
    elif isinstance(pyfunc, dict):
        pkg.flavor = "python_function"
        model = pyfunc.get("model_path") or pyfunc.get("data")
        if isinstance(model, str):
            _set_model_file(pkg, model, "flavors.python_function.model_path", layout)
        else:
            # A custom pyfunc may keep everything in artifacts/ or python_model.pkl.
            pkg.artifacts = sorted(p for p in pkg.root.rglob("*") if p.is_file()
                                   and p.name != MLMODEL_FILE and p.suffix in (".pkl", ".skops",
                                                                                ".joblib"))
    else:
        names = ", ".join(sorted(str(k) for k in flavors))
        contract.append(error(f"{MLMODEL_FILE} has flavors {names}: envcheck loads the sklearn "
                              f"and python_function flavors only", file=MLMODEL_FILE,
                              line=lines.get(("flavors",)), details={"flavors": sorted(flavors)}))


def _set_model_file(pkg: MlflowModelPackage, name: str, key: str, layout: list[Finding]) -> None:
    target = pkg.root / name
    try:
        target.resolve().relative_to(pkg.root)
    except ValueError:
        layout.append(error(f"{key}: {name} in {MLMODEL_FILE} points outside the model "
                            f"directory", file=MLMODEL_FILE, details={"artifact": name}))
        return
    pkg.model_file = target
    if target.is_dir():
        pkg.artifacts = sorted(p for p in target.rglob("*") if p.is_file())
    elif target.is_file():
        pkg.artifacts = [target]
    else:
        layout.append(error(f"{name} (named by {key} in {MLMODEL_FILE}) is missing: without "
                            f"a model file there is nothing to load", file=MLMODEL_FILE,
                            details={"artifact": name, "expected": name}))


def _synthesize_metadata(pkg: MlflowModelPackage, mlmodel: dict[str, Any],
                         lines: dict[tuple[str, ...], int], schema: list[Finding]) -> dict[str, Any]:
    """What metadata.yaml would say: name, version, input_features, output, settings."""
    user_meta = mlmodel.get("metadata")  # one name, so isinstance narrows it
    user = user_meta if isinstance(user_meta, dict) else {}
    meta: dict[str, Any] = {"name": str(user.get("name") or pkg.root.name)}
    version = user.get("version") or mlmodel.get("model_uuid") or mlmodel.get("run_id")
    if version is not None:
        meta["version"] = str(version)
    if isinstance(user.get("envcheck"), dict):  # settings, as under `envcheck:` in metadata.yaml
        meta["envcheck"] = dict(user["envcheck"])
    pyfunc = (mlmodel.get("flavors") or {}).get("python_function") \
        if isinstance(mlmodel.get("flavors"), dict) else None
    if isinstance(pyfunc, dict) and pyfunc.get("python_version"):
        meta["python_version"] = str(pyfunc["python_version"])
    signature = mlmodel.get("signature")
    if not isinstance(signature, dict):
        schema.append(warning(f"{MLMODEL_FILE} has no signature: the input and output schema "
                              f"are not checked (save the model with signature=... or an "
                              f"input_example)", file=MLMODEL_FILE))
        return meta
    for side, key, default_name in (("inputs", "input_features", "input"),
                                    ("outputs", "output", "prediction")):
        line = lines.get(("signature", side))
        specs, problems = signature_colspecs(signature.get(side), side, line)
        schema.extend(problems)
        if specs is not None:
            features, problems = signature_features(specs, side, line, default_name)
            schema.extend(problems)
            if features:
                meta[key] = features
    return meta


def _find_example(pkg: MlflowModelPackage, mlmodel: dict[str, Any]) -> None:
    info_block = mlmodel.get("saved_input_example_info")
    named = []
    if isinstance(info_block, dict):
        for key in ("artifact_path", "serving_input_path"):
            if isinstance(info_block.get(key), str):
                named.append(info_block[key])
    for name in named + list(INPUT_EXAMPLES):
        candidate = pkg.root / name
        if candidate.is_file():
            pkg.smoke_inputs_path = candidate
            return


def _read_environment(pkg: MlflowModelPackage, layout: list[Finding]) -> tuple[Any, list[Finding]]:
    """(RequirementsFile or None, metadata.schema findings about python_env.yaml)."""
    findings: list[Finding] = []
    env_path = pkg.root / PYTHON_ENV_FILE
    includes: list[str] = []
    inline: list[tuple[str, Optional[int]]] = []
    if env_path.is_file():
        data, lines, problem = load_yaml_lines(env_path, PYTHON_ENV_FILE)
        if problem is not None:
            findings.append(problem)
            data = None
        if data is not None and not isinstance(data, dict):
            findings.append(error(f"{PYTHON_ENV_FILE} is not a mapping", file=PYTHON_ENV_FILE))
            data = None
        if isinstance(data, dict):
            python = data.get("python")
            if python is not None:
                pkg.metadata["python_version"] = str(python)
                pkg.python_version_file = PYTHON_ENV_FILE
            else:
                findings.append(warning(f"{PYTHON_ENV_FILE} has no `python:` version: the "
                                        f"interpreter is chosen without it",
                                        file=PYTHON_ENV_FILE))
            deps = data.get("dependencies") or []
            if not isinstance(deps, list):
                findings.append(error(f"`dependencies` in {PYTHON_ENV_FILE} is not a list",
                                      file=PYTHON_ENV_FILE, line=lines.get(("dependencies",))))
                deps = []
            for index, dep in enumerate(deps):
                text = str(dep).strip()
                if text.startswith("-r "):
                    includes.append(text[3:].strip())
                else:
                    inline.append((text, lines.get(("dependencies", str(index)))))
    else:
        layout.append(warning(f"{PYTHON_ENV_FILE} is missing: the Python version the model "
                              f"was saved with is unknown", file=PYTHON_ENV_FILE,
                              details={"expected": PYTHON_ENV_FILE}))
        includes.append(REQUIREMENTS_FILE)

    if not inline and len(includes) == 1:
        target = pkg.root / includes[0]
        if not target.is_file():
            layout.append(error(f"{includes[0]} is missing: without it a fresh machine cannot "
                                f"know which libraries (and versions) to install",
                                file=includes[0], details={"expected": includes[0]}))
            return None, findings
        pkg.requirements_path = target
        return parse_requirements(target, pkg.root), findings
    if not inline and not includes:
        layout.append(error(f"{PYTHON_ENV_FILE} declares no dependencies and there is no "
                            f"{REQUIREMENTS_FILE}", file=PYTHON_ENV_FILE))
        return None, findings
    # Several sources: one generated requirements file (outside the package) that includes
    # the package's files and holds the inline lines; findings on it are mapped back.
    directory = Path(tempfile.mkdtemp(prefix="deps-", dir=loader_root()))
    combined = directory / "requirements.txt"
    combined_lines = [f"-r {(pkg.root / inc).resolve()}" for inc in includes] + \
        [dep for dep, _ in inline]
    combined.write_text("\n".join(combined_lines) + "\n", encoding="utf-8")
    reqs = parse_requirements(combined, pkg.root)
    for finding in reqs.findings:
        if finding.file == str(combined.resolve()):
            finding.file = PYTHON_ENV_FILE
            index = (finding.line or 0) - 1 - len(includes)
            finding.line = inline[index][1] if 0 <= index < len(inline) else None
    pkg.requirements_path = env_path
    return reqs, findings


def _layout_result(pkg: MlflowModelPackage, layout: list[Finding]) -> CheckResult:
    findings = list(layout)
    if not _errors(findings):
        shown = [pkg.relative(a) for a in pkg.artifacts]
        listed = ", ".join(shown[:5]) + (f" and {len(shown) - 5} more" if len(shown) > 5 else "")
        example = f"; input example {pkg.relative(pkg.smoke_inputs_path)}" \
            if pkg.smoke_inputs_path else ""
        findings.append(info(f"MLflow model: found {MLMODEL_FILE}, "
                             f"{pkg.relative(pkg.requirements_path)}; artifacts: "
                             f"{listed or 'none'}{example}",
                             details={"artifacts": shown, "format": "mlflow"}))
    return checks.PACKAGE_LAYOUT.result(findings)
