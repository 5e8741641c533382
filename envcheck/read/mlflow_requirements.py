"""What MLmodel's flavor says about the requirements (part of ``requirements.pinned``).

The flavor's loader needs its libraries installed (scikit-learn, the serialization
format's module, mlflow for a python_function flavor), and MLmodel's ``sklearn_version``
must be the scikit-learn the requirements pin.
"""

from __future__ import annotations

from typing import Any

from envcheck.model.findings import Finding, error
from envcheck.read.mlflow_package import MLMODEL_FILE, MlflowModelPackage

# The module each serialization format needs in the env (distribution name).
FORMAT_DISTRIBUTION = {"cloudpickle": "cloudpickle", "skops": "skops"}
MLFLOW_DISTRIBUTIONS = ("mlflow", "mlflow-skinny")


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
