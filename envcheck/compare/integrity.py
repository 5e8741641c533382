"""``artifacts.integrity``: the artifacts are the bytes ``envcheck record`` saw.

Digests are remembered under each file's identity in the cache (``digests.json``), so a
warm check does not re-hash a 1 GB forest; any change to the file makes it hashed again.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Optional

from envcheck.compare.reference import read_json, reference_dir
from envcheck.model import checks
from envcheck.model.files import read_json_object, write_text_atomic
from envcheck.model.findings import CheckResult, Finding, error, info, warning
from envcheck.model.package import ModelPackage


def file_digest(path: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
            size += len(chunk)
    return {"sha256": digest.hexdigest(), "size": size}


_DIGEST_CACHE_ENTRIES = 2000


def cached_file_digests(paths: list[Path], cache_root: Optional[Path]
                        ) -> dict[Path, dict[str, Any]]:
    """:func:`file_digest` of each path, without re-reading large artifacts that have not
    changed.

    A warm check would otherwise hash every artifact on every run (a 1 GB forest: seconds).
    The digest is remembered in the cache dir under the file's identity -- path, size,
    mtime, ctime and inode -- so any change to the file (even one that restores its
    mtime: ctime moves) makes it hashed again, and the recorded sha256 decides.  The store
    is read once and written once per call, however many files a folder artifact holds.
    Without a ``cache_root`` every file is hashed.
    """
    store = cache_root / "digests.json" if cache_root is not None else None
    known = _read_digests(store) if store is not None else {}
    out: dict[Path, dict[str, Any]] = {}
    missed = False
    for path in paths:
        try:
            stat = path.stat()
        except OSError:
            out[path] = file_digest(path)  # raises as file_digest does
            continue
        identity = (f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|"
                    f"{stat.st_ctime_ns}|{stat.st_ino}")
        hit = known.get(identity)
        if isinstance(hit, dict) and "sha256" in hit and "size" in hit:
            out[path] = {"sha256": hit["sha256"], "size": hit["size"]}
            continue
        out[path] = known[identity] = file_digest(path)
        missed = True
    if missed and store is not None:
        _write_digests(store, dict(list(known.items())[-_DIGEST_CACHE_ENTRIES:]))
    return out


def _read_digests(store: Path) -> dict[str, Any]:
    return read_json_object(store) or {}


def _write_digests(store: Path, data: dict[str, Any]) -> None:
    try:
        write_text_atomic(store, json.dumps(data))
    except OSError:
        pass  # an unwritable cache only costs the next check a re-hash


def _artifact_key(pkg: "ModelPackage", path: Path) -> str:
    return Path(pkg.relative(Path(path))).as_posix()


def artifact_digests(pkg: ModelPackage, cache_root: Optional[Path]) -> dict[str, dict[str, Any]]:
    """{relative path: {"sha256", "size"}} of every artifact of the package."""
    files = [Path(p) for p in sorted(pkg.artifacts) if Path(p).is_file()]
    return {_artifact_key(pkg, p): digest for p, digest in cached_file_digests(files, cache_root).items()}


def check_integrity(pkg: ModelPackage, cache_root: Optional[Path] = None) -> CheckResult:
    """``artifacts.integrity``: artifacts byte-identical to those recorded."""
    directory = reference_dir(pkg)
    if directory is None:
        return checks.ARTIFACTS_INTEGRITY.skipped("no reference recorded: run envcheck record")
    env_path = directory / "environment.json"
    data, problem = read_json(pkg, env_path)
    if problem is not None:
        return checks.ARTIFACTS_INTEGRITY.result([problem])
    recorded = data.get("artifacts") if isinstance(data, dict) else None
    if not isinstance(recorded, dict):
        return checks.ARTIFACTS_INTEGRITY.result([error(
            f"{pkg.relative(env_path)} has no \"artifacts\" digests: re-run envcheck record",
            file=pkg.relative(env_path))])
    findings: list[Finding] = []
    current = {_artifact_key(pkg, p): Path(p) for p in pkg.artifacts}
    present = {rel: current.get(rel, pkg.root / rel) for rel in recorded}
    digests = cached_file_digests([p for p in present.values() if p.is_file()], cache_root)
    matched = 0
    for rel, expected in sorted(recorded.items()):
        path = present[rel]
        if path not in digests:
            findings.append(error(f"{rel} was recorded but is missing now", file=rel,
                                  details={"recorded": expected}))
            continue
        got = digests[path]
        if isinstance(expected, dict) and got["sha256"] == expected.get("sha256") \
                and got["size"] == expected.get("size"):
            matched += 1
            continue
        recorded_sha = str(expected.get("sha256", "?")) if isinstance(expected, dict) else "?"
        recorded_size = expected.get("size") if isinstance(expected, dict) else None
        findings.append(error(
            f"{rel} changed since it was recorded: sha256 {got['sha256'][:12]}..., recorded "
            f"{recorded_sha[:12]}... ({got['size']} bytes, recorded {recorded_size}): "
            f"re-run envcheck record --force if the change is intended",
            file=rel, details={"recorded": expected, "got": got}))
    for rel in sorted(set(current) - set(recorded)):
        findings.append(warning(f"{rel} is not in the recorded reference (added after "
                                f"recording?)", file=rel))
    if not findings:
        findings.append(info(f"{matched} artifact(s) match their recorded sha256"))
    return checks.ARTIFACTS_INTEGRITY.result(findings)
