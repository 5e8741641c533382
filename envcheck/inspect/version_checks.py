"""``pickle.versions``: the library versions an artifact records against the pins and,
once the env is built, against what is installed.

Recorded versions come from inside pickles (scikit-learn's ``_sklearn_version``, the
numpy 1.x/2.x writer, a pickled xgboost Booster's model version, the protocol) and from
the other formats :mod:`envcheck.inspect.artifacts` reads (:class:`RecordedVersion`:
xgboost JSON/UBJ and LightGBM text models, skops files, ONNX models, ``.keras``
archives, Hugging Face ``config.json``).  A mismatch names both versions.
"""

from __future__ import annotations

import time
from typing import Optional

from envcheck.inspect.policy import PickleInspection
from envcheck.inspect.version_groups import group_by_cause
from envcheck.inspect.versions import (
    PROTOCOL_MIN_PYTHON,
    RecordedVersion,
    python_tuple,
    reads_numpy2_pickles,
    recorded_mismatch,
    same_version,
)
from envcheck.model import checks
from envcheck.model.findings import CheckResult, Finding, error, info, warning
from envcheck.model.package import ModelPackage

INSTALLED = "envcheck (installed dist-info)"


def artifact_label(pkg: ModelPackage, insp: PickleInspection) -> str:
    """How findings name an inspected stream: the file, and the archive member in it."""
    file = pkg.relative(insp.path)
    return f"{file}!{insp.member}" if insp.member else file


def recorded_findings(file: str, recorded: list[RecordedVersion], versions: dict[str, str],
                      installed: bool, skip: Optional[dict[str, str]] = None
                      ) -> list[Finding]:
    """Each recorded version that the ``versions`` (the pins, or what is ``installed``)
    cannot read.  ``skip``: pins already judged statically (installed as pinned)."""
    findings: list[Finding] = []
    for rec in recorded:
        have = versions.get(rec.distribution)
        if have is None or (skip and rec.distribution in skip
                            and same_version(skip[rec.distribution], have)):
            continue
        why = recorded_mismatch(rec, have)
        if why is None:
            continue
        where = (f"the environment has {rec.distribution} {have} installed" if installed
                 else f"requirements.txt declares {rec.distribution}=={have}")
        if rec.rule == "onnx":
            message = f"{file}: {rec.what} cannot run where {where}: {why}"
        else:
            message = (f"{file}: {rec.what} was written by {rec.distribution} "
                       f"{rec.display}, but {where}: {why}")
        details = {"library": rec.distribution, "recorded": rec.version, "what": rec.what,
                   "file": file}
        if installed:
            details.update(loaded_with=have, source=INSTALLED)
        else:
            details["declared"] = have
        findings.append(error(message, file=file, details=details))
    return findings


def check_versions(pkg: ModelPackage, inspections: list[PickleInspection],
                   target_python: Optional[str]) -> CheckResult:
    """``pickle.versions``: the library versions recorded inside each pickle against what
    requirements.txt pins, and the pickle protocol against the target Python."""
    start = time.perf_counter()
    findings: list[Finding] = []
    sk_pin = pkg.pins.get("scikit-learn")
    np_pin = pkg.pins.get("numpy")
    xgb_pin = pkg.pins.get("xgboost")
    py = python_tuple(target_python) or python_tuple(pkg.python_version)
    for insp in inspections:
        if insp.error is not None:
            continue  # pickle.safety reports it; nothing trustworthy was read
        file = artifact_label(pkg, insp)
        findings += recorded_findings(file, insp.recorded, pkg.pins, installed=False)
        for estimator, versions in sorted(insp.sklearn_versions.items()):
            for version, count in sorted(versions.items()):
                details = {"estimator": estimator, "pickled_with": version,
                           "declared": sk_pin, "file": file, "count": count}
                if sk_pin is None:
                    findings.append(warning(
                        f"{file}: {estimator} was pickled with scikit-learn {version}, but "
                        "requirements.txt does not pin scikit-learn: the pickled version "
                        "cannot be compared", file=file, details=details))
                elif version == "pre-0.18" or not same_version(version, sk_pin):
                    findings.append(error(
                        f"{file}: {estimator} was pickled with scikit-learn {version} but "
                        f"requirements.txt declares scikit-learn=={sk_pin}", file=file,
                        details=details))
        if (insp.numpy_writer == "2.x" and np_pin is not None
                and not reads_numpy2_pickles(np_pin)):
            findings.append(error(
                f"{file}: written by numpy 2.x (numpy._core globals) but requirements.txt "
                f"declares numpy=={np_pin}, which cannot read it", file=file,
                details={"library": "numpy", "pickled_with": "2.x", "declared": np_pin,
                         "file": file}))
        if insp.xgboost_version and xgb_pin and not same_version(insp.xgboost_version,
                                                                  xgb_pin):
            findings.append(error(
                f"{file}: the xgboost model was serialized by xgboost "
                f"{insp.xgboost_version} but requirements.txt declares xgboost=={xgb_pin}",
                file=file, details={"estimator": "xgboost.Booster",
                                    "pickled_with": insp.xgboost_version,
                                    "declared": xgb_pin, "file": file}))
        proto = insp.max_protocol if insp.walked else None
        need = PROTOCOL_MIN_PYTHON.get(proto or 0)
        if py is not None and need is not None and py < need:
            findings.append(error(
                f"{file}: pickle protocol {proto} needs Python >= {need[0]}.{need[1]}, "
                f"but the package targets Python {py[0]}.{py[1]}", file=file,
                details={"protocol": proto, "python": f"{py[0]}.{py[1]}", "file": file}))
    if not findings:
        findings.append(info("library versions recorded in the pickles match the pins"
                             if inspections else "no pickle artifacts"))
    return checks.PICKLE_VERSIONS.result(group_by_cause(findings), time.perf_counter() - start)


def installed_version_findings(pkg: ModelPackage, inspections: list[PickleInspection],
                               installed: dict[str, str]) -> list[Finding]:
    """``pickle.versions``, decided by envcheck once the env is built: the versions
    recorded in the pickles against the versions *installed* in it (read from its
    dist-info, not reported by the package's process), pinned or not.

    Nothing the package does at load time (silencing ``warnings``, forging the probe's
    result) changes this verdict.  A pin that already disagrees was reported statically;
    this adds what only the built env can tell: the unpinned case, and a pin the
    installer did not honour.
    """
    findings: list[Finding] = []
    sk_installed = installed.get("scikit-learn")
    np_installed = installed.get("numpy")
    xgb_installed = installed.get("xgboost")
    for insp in inspections:
        if insp.error is not None:
            continue
        file = artifact_label(pkg, insp)
        findings += recorded_findings(file, insp.recorded, installed, installed=True,
                                      skip=pkg.pins)
        for estimator, versions in sorted(insp.sklearn_versions.items()):
            for version, count in sorted(versions.items()):
                pin = pkg.pins.get("scikit-learn")
                if sk_installed is None or same_version(version, sk_installed) or (
                        pin is not None and same_version(pin, sk_installed)):
                    continue  # matches, or the pin that got installed was judged statically
                findings.append(error(
                    f"{file}: {estimator} was pickled with scikit-learn {version} but the "
                    f"environment has scikit-learn {sk_installed} installed: pin "
                    f"scikit-learn=={version}, or re-train with {sk_installed}", file=file,
                    details={"estimator": estimator, "pickled_with": version,
                             "loaded_with": sk_installed, "count": count, "file": file,
                             "source": INSTALLED}))
        if insp.numpy_writer == "2.x" and np_installed and \
                not reads_numpy2_pickles(np_installed):
            if pkg.pins.get("numpy") is None:
                findings.append(error(
                    f"{file}: written by numpy 2.x (numpy._core globals) but the environment "
                    f"has numpy {np_installed} installed, which cannot read it", file=file,
                    details={"library": "numpy", "pickled_with": "2.x",
                             "loaded_with": np_installed, "file": file,
                             "source": INSTALLED}))
        if insp.xgboost_version and xgb_installed and pkg.pins.get("xgboost") is None \
                and not same_version(insp.xgboost_version, xgb_installed):
            findings.append(error(
                f"{file}: the xgboost model was serialized by xgboost {insp.xgboost_version} "
                f"but the environment has xgboost {xgb_installed} installed", file=file,
                details={"estimator": "xgboost.Booster", "pickled_with": insp.xgboost_version,
                         "loaded_with": xgb_installed, "file": file,
                         "source": INSTALLED}))
    return group_by_cause(findings)
