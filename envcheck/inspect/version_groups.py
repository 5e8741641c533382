"""One finding per cause: the scikit-learn version findings of many objects, grouped.

A five-step Pipeline pickled with one scikit-learn and loaded with another is one cause
(one distribution, one recorded version, one declared or installed version), not five:
``pickle.versions`` and ``load.warnings`` report it once, listing the objects concerned
(``details["objects"]``), with the advice once.  The fields a finding had before stay
(``estimator``, ``pickled_with``, ``declared``/``loaded_with``, ``count``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Iterable

from envcheck.model.findings import Finding


def objects_text(objects: Iterable[tuple[str, int]]) -> str:
    """``StandardScaler x2, Pipeline`` -- each object once, with how many there were."""
    return ", ".join(f"{name} x{count}" if count > 1 else name for name, count in objects)


def subject(objects: list[tuple[str, int]]) -> str:
    """What a grouped message is about: one estimator by name, several listed."""
    if len(objects) == 1:
        return objects[0][0]
    return f"{len(objects)} estimators ({objects_text(objects)})"


def _cause(finding: Finding) -> Any:
    """The group a scikit-learn version finding belongs to (None: not groupable)."""
    details = finding.details
    if "estimator" not in details or "library" in details or \
            details.get("estimator") == "xgboost.Booster" or "objects" in details:
        return None
    target = ("installed", details.get("loaded_with")) if "loaded_with" in details \
        else ("declared", details.get("declared"))
    return (finding.severity, details.get("pickled_with"), target)


def _grouped_message(first: Finding, files: list[str], objects: list[tuple[str, int]]) -> str:
    """The first finding's message, about every object (and file) of the group."""
    details = first.details
    version, where = details.get("pickled_with"), ", ".join(files)
    lead = f"{where}: {subject(objects)} were pickled with scikit-learn {version}"
    if "loaded_with" in details:
        installed = details["loaded_with"]
        return (f"{lead} but the environment has scikit-learn {installed} installed: pin "
                f"scikit-learn=={version}, or re-train with {installed}")
    if details.get("declared") is None:
        return (f"{lead}, but requirements.txt does not pin scikit-learn: the pickled "
                f"version cannot be compared")
    return f"{lead} but requirements.txt declares scikit-learn=={details['declared']}"


def group_by_cause(findings: list[Finding]) -> list[Finding]:
    """``pickle.versions`` findings with one per (scikit-learn, recorded version, declared
    or installed version); other findings unchanged, in order."""
    groups: dict[Any, list[Finding]] = {}
    out: list[Any] = []
    for finding in findings:
        cause = _cause(finding)
        if cause is None:
            out.append(finding)
        elif cause in groups:
            groups[cause].append(finding)
        else:
            groups[cause] = [finding]
            out.append(cause)
    return [_merge(groups[item]) if not isinstance(item, Finding) else item for item in out]


def _merge(members: list[Finding]) -> Finding:
    first = members[0]
    files = list(dict.fromkeys(str(m.details.get("file") or m.file) for m in members))
    objects = [(str(m.details["estimator"]), int(m.details.get("count") or 1))
               for m in members]
    details = dict(first.details)
    details["objects"] = [{"estimator": name, "count": count, "file": m.details.get("file")}
                          for (name, count), m in zip(objects, members)]
    if len(members) == 1:
        return replace(first, details=details)
    details.update(estimator=", ".join(name for name, _ in objects), files=files,
                   count=sum(count for _, count in objects))
    return replace(first, message=_grouped_message(first, files, objects), details=details)
