"""MLflow model directories as model packages.

A folder with an ``MLmodel`` file (as written by ``mlflow.sklearn.save_model`` /
``log_model``) is read into the same :class:`~envcheck.package.ModelPackage` the rest of
the pipeline uses, so it is checked like a native package:

* environment: ``python_env.yaml`` (``python:`` and ``dependencies``, whose
  ``-r requirements.txt`` is parsed by :func:`envcheck.requirements.parse_requirements`);
* metadata: synthesized from MLmodel (``metadata.name``/``version``, the column-based
  ``signature`` -> ``input_features``/``output``);
* artifact: the flavor's model file (``model.skops``, ``model.pkl``);
* interface: a loader *generated* outside the package (a per-process temp dir, removed at
  exit -- nothing is ever written inside the package) that loads through the flavor:
  pickle/cloudpickle, or skops with ``skops.io.get_untrusted_types`` run inside the
  package's env; after loading it compares ``sklearn.__version__`` with MLmodel's
  ``sklearn_version`` and, when scikit-learn itself said nothing, raises scikit-learn's own
  "Trying to unpickle estimator ..." warning so ``load.warnings`` fails with the versions.
  (``mlflow models predict`` serves such a model and exits 0.)
* smoke inputs: ``input_example.json`` / ``serving_input_example.json``
  (:func:`example_inputs`).

Like the native reader this runs nothing of the package: YAML with a safe loader, JSON
with :mod:`json`.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

from envcheck.findings import CheckResult, Finding, Severity, Status, error, info, warning
from envcheck.options import Options
from envcheck.package import ModelPackage

MLMODEL_FILE = "MLmodel"
PYTHON_ENV_FILE = "python_env.yaml"
REQUIREMENTS_FILE = "requirements.txt"
INPUT_EXAMPLES = ("input_example.json", "serving_input_example.json")
LOADER_NAME = "envcheck_mlflow_loader.py"  # never "mlflow.py": it would shadow mlflow

SKLEARN_FORMATS = ("pickle", "cloudpickle", "skops")
# The module each serialization format needs in the env (distribution name).
FORMAT_DISTRIBUTION = {"cloudpickle": "cloudpickle", "skops": "skops"}
MLFLOW_DISTRIBUTIONS = ("mlflow", "mlflow-skinny")

# MLflow colspec types -> envcheck feature types (envcheck.inputs).
COLSPEC_TYPES = {"double": "float", "float": "float", "long": "int", "integer": "int",
                 "boolean": "bool", "string": "string"}


def is_mlflow_model(path: Path) -> bool:
    return (Path(path) / MLMODEL_FILE).is_file()


@dataclass
class MlflowModelPackage(ModelPackage):
    """A ModelPackage read from an MLflow model directory (``metadata_path`` = MLmodel)."""

    mlmodel: dict[str, Any] = field(default_factory=dict)
    flavor: Optional[str] = None  # "sklearn" or "python_function": what the loader uses
    serialization_format: Optional[str] = None  # sklearn flavor: pickle|cloudpickle|skops
    model_file: Optional[Path] = None
    sklearn_version: Optional[str] = None  # recorded in MLmodel at save time
    trusted_by_model: list[str] = field(default_factory=list)  # MLmodel skops_trusted_types
    # input_example.json (or serving_input_example.json): the smoke inputs.
    smoke_inputs_path: Optional[Path] = None
    # Library versions MLmodel records beside the artifact, compared with the pins: the
    # pipeline reports them under pickle.versions, like versions read from a pickle.
    version_findings: list[Finding] = field(default_factory=list)


# --------------------------------------------------------------------------- temp loaders

_LOADERS: dict[str, Path] = {}
_LOADERS_LOCK = threading.Lock()


def _loader_root() -> Path:
    """One temp dir per process for generated loaders, removed at exit."""
    with _LOADERS_LOCK:
        root = _LOADERS.get("root")
        if root is None or not root.is_dir():
            root = Path(tempfile.mkdtemp(prefix="envcheck-mlflow-"))
            _LOADERS["root"] = root
            atexit.register(shutil.rmtree, root, True)
        return root


# --------------------------------------------------------------------------- YAML positions

def _positions(text: str) -> dict[tuple[str, ...], int]:
    """1-based line of every mapping key, by key path (for findings on MLmodel)."""
    out: dict[tuple[str, ...], int] = {}
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return out

    def walk(current: Any, prefix: tuple[str, ...]) -> None:
        if isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                path = prefix + (str(key.value),)
                out[path] = key.start_mark.line + 1
                walk(value, path)
        elif isinstance(current, yaml.SequenceNode):
            for index, item in enumerate(current.value):
                out[prefix + (str(index),)] = item.start_mark.line + 1
                walk(item, prefix + (str(index),))

    walk(node, ())
    return out


def _load_yaml(path: Path, shown: str) -> tuple[Any, dict[tuple[str, ...], int], Optional[Finding]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, {}, error(f"{shown} cannot be read: {exc}", file=shown)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return None, {}, error(f"{shown} is not valid YAML: {problem}", file=shown, line=line)
    return data, _positions(text), None


# --------------------------------------------------------------------------- signature

def _colspecs(raw: Any, what: str, line: Optional[int]) -> tuple[Optional[list[dict[str, Any]]], list[Finding]]:
    """MLmodel stores signature inputs/outputs as a JSON string."""
    if raw is None:
        return None, []
    try:
        specs = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError as exc:
        return None, [error(f"signature.{what} in {MLMODEL_FILE} is not valid JSON: {exc}",
                            file=MLMODEL_FILE, line=line)]
    if not isinstance(specs, list) or not all(isinstance(s, dict) for s in specs):
        return None, [error(f"signature.{what} in {MLMODEL_FILE} is not a list of column specs",
                            file=MLMODEL_FILE, line=line)]
    return specs, []


def _tensor_type(dtype: str) -> Optional[str]:
    if dtype.startswith(("int", "uint")):
        return "int"
    if dtype.startswith("float"):
        return "float"
    if dtype == "bool":
        return "bool"
    if dtype in ("str", "object"):
        return "string"
    return None


def _features(specs: list[dict[str, Any]], what: str, line: Optional[int],
              default_name: str) -> tuple[list[dict[str, Any]], list[Finding]]:
    features: list[dict[str, Any]] = []
    findings: list[Finding] = []
    for index, spec in enumerate(specs):
        kind = str(spec.get("type", ""))
        if kind == "tensor" and what == "outputs" and len(specs) == 1:
            # infer_signature(X, model.predict(X)) writes a 1-D tensor: one output column.
            tensor_spec = spec.get("tensor-spec")  # one name, so isinstance narrows it
            tensor = tensor_spec if isinstance(tensor_spec, dict) else {}
            shape = tensor.get("shape")
            mapped = _tensor_type(str(tensor.get("dtype", "")))
            if mapped is not None and isinstance(shape, list) and \
                    (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)):
                return [{"name": default_name, "type": mapped}], findings
        if kind == "tensor":
            findings.append(warning(f"signature.{what} in {MLMODEL_FILE} is tensor-based: "
                                    f"envcheck checks column-based (DataFrame) signatures "
                                    f"only, so the {what} schema is not checked",
                                    file=MLMODEL_FILE, line=line))
            return [], findings
        mapped = COLSPEC_TYPES.get(kind)
        name = spec.get("name")
        if name is None and what == "inputs":
            findings.append(warning(f"signature.inputs column {index} in {MLMODEL_FILE} has "
                                    f"no name: the input schema is not checked",
                                    file=MLMODEL_FILE, line=line))
            return [], findings
        if mapped is None:
            findings.append(warning(f"signature.{what} column {name or index!r} has MLflow "
                                    f"type {kind!r}, which envcheck does not synthesize; give "
                                    f"an input_example.json", file=MLMODEL_FILE, line=line))
            return [], findings
        features.append({"name": str(name) if name is not None else
                         (default_name if len(specs) == 1 else f"{default_name}_{index}"),
                         "type": mapped})
    return features, findings


# --------------------------------------------------------------------------- reading

def read_mlflow_package(path: Path, options: Options) -> tuple[Optional[ModelPackage], list[CheckResult]]:
    """Read an MLflow model directory; the same contract as
    :func:`envcheck.package.read_package` (five results, in order)."""
    from envcheck import requirements

    root = Path(path).resolve()
    started = time.perf_counter()
    pkg = MlflowModelPackage(root=root, metadata_path=root / MLMODEL_FILE,
                             requirements_path=root / REQUIREMENTS_FILE,
                             interface_path=root / LOADER_NAME)
    layout: list[Finding] = []
    schema: list[Finding] = []

    data, lines, problem = _load_yaml(pkg.metadata_path, MLMODEL_FILE)
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
    reqs, env_findings = _read_environment(pkg, layout)
    schema.extend(env_findings)
    parse_duration = time.perf_counter() - started

    results = [_layout_result(pkg, layout),
               CheckResult.from_findings("metadata.schema", schema, meta_duration)]
    if reqs is None:
        reason = f"{REQUIREMENTS_FILE} is missing (see package.layout)"
        results.append(CheckResult.skipped("requirements.parse", reason))
        results.append(CheckResult.skipped("requirements.pinned", reason))
    else:
        pkg.requirements_ok = reqs.ok
        pkg.requirement_lines = reqs.install_lines()
        pkg.constraint_lines = reqs.constraint_lines()
        pkg.installer_options = reqs.option_lines()
        pkg.pins = reqs.pins()
        results.append(requirements.check_parse(reqs, parse_duration))
        if reqs.readable:
            pinned = requirements.check_pinned(reqs, False, root)
            findings = pinned.findings + flavor_requirement_findings(pkg, reqs)
            pkg.version_findings = recorded_version_findings(pkg, reqs)
            result = CheckResult.from_findings("requirements.pinned", findings, pinned.duration_s)
            if options.strict and result.status is Status.WARN:
                result.status = Status.FAIL
            results.append(result)
        else:
            results.append(CheckResult.skipped("requirements.pinned", f"{REQUIREMENTS_FILE} "
                                               f"could not be read (see requirements.parse)"))

    # interface.contract: the generated loader.
    if pkg.flavor is not None and not _errors(contract):
        trusted = _trusted_by_user(pkg, options)
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
    results.append(CheckResult.from_findings("interface.contract", contract))
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
        specs, problems = _colspecs(signature.get(side), side, line)
        schema.extend(problems)
        if specs is not None:
            features, problems = _features(specs, side, line, default_name)
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
    from envcheck.requirements import parse_requirements

    findings: list[Finding] = []
    env_path = pkg.root / PYTHON_ENV_FILE
    includes: list[str] = []
    inline: list[tuple[str, Optional[int]]] = []
    if env_path.is_file():
        data, lines, problem = _load_yaml(env_path, PYTHON_ENV_FILE)
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
    directory = Path(tempfile.mkdtemp(prefix="deps-", dir=_loader_root()))
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
    return CheckResult.from_findings("package.layout", findings)


# --------------------------------------------------------------------------- static checks

def _requirement_of(reqs: Any, name: str) -> Any:
    for req in reqs.direct:
        if req.name == name:
            return req
    return None


def flavor_requirement_findings(pkg: MlflowModelPackage, reqs: Any) -> list[Finding]:
    """What the flavor's loader will import must be in the requirements."""
    findings: list[Finding] = []
    shown = pkg.relative(pkg.requirements_path)
    needed = []
    if pkg.flavor == "sklearn":
        needed.append("scikit-learn")
        if pkg.serialization_format in FORMAT_DISTRIBUTION:
            needed.append(FORMAT_DISTRIBUTION[pkg.serialization_format])
    for name in needed:
        if _requirement_of(reqs, name) is None:
            findings.append(error(
                f"{name} is not in {shown}, but {MLMODEL_FILE}'s {pkg.flavor} flavor "
                f"({pkg.serialization_format}) needs it to load the model: add {name}=="
                f"{pkg.sklearn_version if name == 'scikit-learn' and pkg.sklearn_version else 'X'}",
                file=shown, details={"missing": name}))
    if pkg.flavor == "python_function":
        loader = (pkg.mlmodel.get("flavors") or {}).get("python_function", {}).get("loader_module")
        if loader != "mlflow.sklearn" and not any(_requirement_of(reqs, n) for n in MLFLOW_DISTRIBUTIONS):
            findings.append(error(f"the python_function flavor (loader_module {loader}) is "
                                  f"loaded by mlflow, which is not in {shown}: add mlflow",
                                  file=shown, details={"missing": "mlflow"}))
    return findings


def recorded_version_findings(pkg: MlflowModelPackage, reqs: Any = None) -> list[Finding]:
    """MLmodel's ``sklearn_version`` (what the model was saved with) vs the pinned
    scikit-learn: the mismatch ``mlflow models predict`` lets through."""
    recorded = pkg.sklearn_version
    pinned = pkg.pins.get("scikit-learn")
    if not recorded or not pinned or recorded == pinned:
        return []
    req = _requirement_of(reqs, "scikit-learn") if reqs is not None else None
    file = pkg.relative(req.file) if req is not None else pkg.relative(pkg.requirements_path)
    return [error(f"{MLMODEL_FILE} records sklearn_version {recorded} (the model was saved "
                  f"with it) but {file} pins scikit-learn=={pinned}: the model will be "
                  f"unpickled by a different scikit-learn; pin scikit-learn=={recorded} or "
                  f"re-save the model with {pinned}",
                  file=file, line=req.line if req is not None else None,
                  details={"library": "scikit-learn", "recorded": recorded, "pinned": pinned,
                           "recorded_in": MLMODEL_FILE})]


# --------------------------------------------------------------------------- smoke inputs

def example_inputs(pkg: ModelPackage) -> Optional[dict[str, Any]]:
    """The MLflow input example in envcheck's inputs form, or None (not an MLflow package
    or no example).  Raises :class:`envcheck.inputs.InputsError` when it is unusable."""
    from envcheck.inputs import InputsError, _from_json, conform_inputs

    path = getattr(pkg, "smoke_inputs_path", None)
    if path is None:
        return None
    shown = pkg.relative(path)
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputsError(f"{shown}: not valid JSON: {exc}") from None
    if isinstance(value, dict):  # serving form: {"dataframe_split": {...}} and friends
        for key in ("dataframe_split", "dataframe_records", "inputs", "instances"):
            if key in value:
                value = value[key]
                break
    inputs = _from_json(value, shown)
    if not inputs["data"]:
        raise InputsError(f"{shown}: no rows")
    inputs = conform_inputs(inputs, pkg.metadata, shown)
    inputs["source"] = shown
    return inputs


# --------------------------------------------------------------------------- the loader

def _trusted_by_user(pkg: ModelPackage, options: Options) -> list[str]:
    """--trust-pickle entries and MLmodel metadata's envcheck.trust_pickle, as skops type
    names ("module.Name"; "module:Name" accepted)."""
    raw = list(options.trust_pickle)
    extra = pkg.settings.get("trust_pickle", [])
    raw.extend([extra] if isinstance(extra, str) else list(extra or []))
    return sorted({str(t).replace(":", ".") for t in raw})


_LOADER_TEMPLATE = '''"""Generated by envcheck to load an MLflow model through its flavor.  Not part of
the model directory: it lives in a temp dir outside it."""
import os
import sys
import warnings

MODEL_DIR = {model_dir!r}
MODEL_FILE = {model_file!r}
FLAVOR = {flavor!r}
FORMAT = {fmt!r}
LOADER_MODULE = {loader_module!r}
CODE_DIR = {code_dir!r}
RECORDED_SKLEARN = {recorded!r}
TRUSTED_BY_USER = {trusted_user!r}
TRUSTED_BY_MODEL = {trusted_model!r}
VERSION_TEXT = ("Trying to unpickle estimator %s from version %s when using version %s. "
                "This might lead to breaking code or invalid results. Use at your own risk.")


class SkopsTrustWarning(UserWarning):
    """Types loaded only because MLmodel's own skops_trusted_types lists them."""


class UntrustedTypesError(Exception):
    pass


def _skops():
    import skops.io
    found = sorted(skops.io.get_untrusted_types(file=MODEL_FILE))
    untrusted = [t for t in found if t not in TRUSTED_BY_USER and t not in TRUSTED_BY_MODEL]
    if untrusted:
        raise UntrustedTypesError(
            "%s: skops.io.get_untrusted_types() lists %d type(s) outside skops's trusted set: "
            "%s; nothing trusts them, so the model was not loaded: review them, then pass "
            "--trust-pickle TYPE for each" % (os.path.basename(MODEL_FILE), len(untrusted),
                                              ", ".join(untrusted)))
    by_model = [t for t in found if t not in TRUSTED_BY_USER]
    if by_model:
        warnings.warn(SkopsTrustWarning(
            "%s: skops.io.get_untrusted_types() lists %s, trusted only by MLmodel's own "
            "skops_trusted_types" % (os.path.basename(MODEL_FILE), ", ".join(by_model))))
    return skops.io.load(MODEL_FILE, trusted=found)


def _load():
    if CODE_DIR:
        sys.path.insert(0, CODE_DIR)
    if FLAVOR == "sklearn" or LOADER_MODULE == "mlflow.sklearn":
        if FORMAT == "skops":
            return _skops()
        with open(MODEL_FILE, "rb") as handle:
            if FORMAT == "cloudpickle":
                import cloudpickle
                return cloudpickle.load(handle)
            import pickle
            return pickle.load(handle)
    import mlflow.pyfunc
    return mlflow.pyfunc.load_model(MODEL_DIR)


def _sklearn_version():
    module = sys.modules.get("sklearn")
    if module is None:
        try:
            import sklearn as module
        except ImportError:
            return None
    return getattr(module, "__version__", None)


def load_model():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = _load()
    said = False
    for record in caught:  # handed on unchanged, so InconsistentVersionWarning keeps its fields
        if "Trying to unpickle estimator" in str(record.message):
            said = True
        warnings.warn_explicit(record.message, record.category, record.filename, record.lineno)
    installed = _sklearn_version()
    if RECORDED_SKLEARN and installed and installed != RECORDED_SKLEARN and not said:
        # scikit-learn checks _sklearn_version per estimator; when it did not (a wrapper,
        # a format without it), MLmodel's record is the evidence: say it in its words.
        warnings.warn(VERSION_TEXT % (type(model).__name__, RECORDED_SKLEARN, installed),
                      UserWarning)
    return model
'''


def render_loader(pkg: MlflowModelPackage, trusted: list[str]) -> str:
    flavors = pkg.mlmodel.get("flavors") if isinstance(pkg.mlmodel.get("flavors"), dict) else {}
    conf = flavors.get(pkg.flavor or "", {}) if isinstance(flavors, dict) else {}
    pyfunc = flavors.get("python_function", {}) if isinstance(flavors, dict) else {}
    code = conf.get("code") if isinstance(conf, dict) else None
    code = code or (pyfunc.get("code") if isinstance(pyfunc, dict) else None)
    return _LOADER_TEMPLATE.format(
        model_dir=str(pkg.root), model_file=str(pkg.model_file) if pkg.model_file else None,
        flavor=pkg.flavor, fmt=pkg.serialization_format,
        loader_module=pyfunc.get("loader_module") if isinstance(pyfunc, dict) else None,
        code_dir=str(pkg.root / code) if isinstance(code, str) else None,
        recorded=pkg.sklearn_version, trusted_user=list(trusted),
        trusted_model=list(pkg.trusted_by_model))


def write_loader(pkg: MlflowModelPackage, trusted: list[str]) -> Path:
    """Write the loader for ``pkg`` into the per-process temp dir (never the package)."""
    source = render_loader(pkg, trusted)
    key = hashlib.sha256(source.encode()).hexdigest()[:16]
    directory = _loader_root() / key
    directory.mkdir(exist_ok=True)
    path = directory / LOADER_NAME
    if not path.is_file():
        tmp = directory / (LOADER_NAME + ".tmp")
        tmp.write_text(source, encoding="utf-8")
        tmp.replace(path)
    return path
