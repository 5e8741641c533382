"""``envcheck check --shard K/N`` and ``--list-shards N``: one audit over many CI runners.

Every runner computes the same plan from the same checkout, so no runner needs another's
output: the plan depends only on the package paths (sorted: argument order does not
matter) and on what each package *declares* -- never on the machine.

The grouping key is the **declared env key**: the sha256 of what decides an env and can be
read without running anything -- the normalized requirements and constraints (the same
normalization as the cache key, :func:`envcheck.env.keys.split_requirements`), the Python
version the package asks for (``--python``, else its own files, as ``env.python`` reads
them), the installer choice and ``--allow-build``.  The cache key proper also hashes the
*interpreter found* and the installer's version, which differ between machines; the plan
deliberately does not.  Two packages with the same declared key always get the same env
on a given runner, so they go to the same shard and their env is built once in the fleet.
Two whose requests differ in text but meet in one interpreter ("3.11" and "3.11.7", or a
"3.8" a runner lacks and falls back from) may land in two shards: that env is then built
twice, and nothing is lost or checked twice.

Balance: greedy, largest group first.  A group weighs ``ENV_BUILD_WEIGHT`` for its env
plus 1 per package (a cold build costs about as much as that many warm checks on the
machine measured: README, "Auditing a registry on many runners").  Each group goes to its
*preferred* shard -- rendezvous hashing: the shard whose hash with the group's key is
highest -- unless that would carry the shard past ``BALANCE_SLACK`` times the average
load; then to its next preferred, and when none has room, to the least-loaded.  Plain
"into the least-loaded shard" balances ~4 % better but is unstable: one package added to
a registry of 500 envs on 50 shards moved 414 of them to other shards in a simulation, so
next week's shard caches would hold the wrong envs; with preferences it moved at most 2
(one env more: 8 to 46), and no shard ends over ``BALANCE_SLACK`` times the average.
Packages that cannot be read, or whose requirements cannot be, build nothing: each is a
group of its own, by path, weighing 1.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from envcheck.commands.check import check_paths
from envcheck.env.interpreters import parse_request, requested_python
from envcheck.env.keys import compute_key, split_requirements
from envcheck.model.errors import UsageError
from envcheck.model.findings import Report
from envcheck.model.options import Options
from envcheck.model.package import ModelPackage
from envcheck.model.progress import Progress
from envcheck.model.version import __version__
from envcheck.pipeline import environment_lines
from envcheck.read.formats import read_package

PLAN_FORMAT = 1
# A cold uv build of a scikit-learn/pandas env (12 s) against a warm check (2 s) here.
ENV_BUILD_WEIGHT = 6
# A shard may carry this much over the average load before groups spill to other shards.
BALANCE_SLACK = 1.05
# GitHub runs at most 256 jobs of a matrix, GitLab 200 parallel jobs.
MAX_SHARDS = 1_000
# Options that change no verdict, so shards may differ in them.
_LOCAL_OPTIONS = {"jobs", "cache_dir", "progress"}


@dataclass(frozen=True)
class PlannedPackage:
    path: str  # as the report names it: str(Path(argument))
    env_key: Optional[str]  # the declared env key; None when no env will be built
    python: Optional[str]  # the Python asked for, canonical ("==3.11.*"); None: envcheck's
    reason: str = ""  # why no env, when env_key is None


@dataclass
class Shard:
    index: int  # 1-based, as in --shard K/N
    count: int
    packages: list[PlannedPackage] = field(default_factory=list)
    weight: int = 0

    @property
    def name(self) -> str:
        return f"{self.index}/{self.count}"

    @property
    def env_keys(self) -> list[str]:
        return sorted({p.env_key for p in self.packages if p.env_key is not None})

    @property
    def cache_key(self) -> str:
        """What the shard's env cache is saved under: its declared env keys."""
        return compute_key({"envcheck": __version__, "envs": self.env_keys})[:20]


@dataclass
class ShardPlan:
    shards: list[Shard]
    digest: str  # the partition: equal plans <=> equal digests
    options_digest: str  # the options that change verdicts (merge refuses a mix)

    @property
    def count(self) -> int:
        return len(self.shards)

    @property
    def packages(self) -> list[PlannedPackage]:
        return sorted((p for s in self.shards for p in s.packages), key=lambda p: p.path)

    def shard(self, index: int) -> Shard:
        return self.shards[index - 1]

    def block(self, index: int) -> dict[str, Any]:
        """The report's ``shard`` block: what ``envcheck merge`` checks."""
        return {"index": index, "count": self.count, "plan": self.digest,
                "options": self.options_digest, "planned_packages": len(self.packages)}


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/4"`` -> (2, 4); a :class:`UsageError` for anything else."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if match:
        index, count = int(match.group(1)), int(match.group(2))
        check_count(count, "--shard")
        if 1 <= index <= count:
            return index, count
    raise UsageError(f"--shard {text!r}: expected K/N with 1 <= K <= N (shards are "
                     "numbered from 1), e.g. --shard 2/4")


def check_count(count: int, option: str = "--list-shards") -> int:
    if not 1 <= count <= MAX_SHARDS:
        raise UsageError(f"{option}: {count} shards: expected 1 to {MAX_SHARDS}")
    return count


def declared_python(pkg: ModelPackage, override: Optional[str]) -> Optional[str]:
    """The Python the package asks for, canonical: "3.11" and "python3.11" -> "==3.11.*"."""
    requested, _source, _file, _findings = requested_python(pkg, override)
    if not requested:
        return None
    spec = parse_request(requested)
    return str(spec) if spec is not None else str(requested).strip()


def plan_package(path: Path, options: Options) -> PlannedPackage:
    """Read ``path`` (statically: nothing of it runs) and compute its declared env key."""
    try:
        pkg, results = read_package(path, options)
    except Exception as exc:  # noqa: BLE001 - the check itself will report it properly
        return PlannedPackage(str(path), None, None, f"cannot be read ({type(exc).__name__})")
    if pkg is None:
        return PlannedPackage(str(path), None, None, "not a model package")
    if not pkg.requirements_ok:
        return PlannedPackage(str(path), None, None, "its requirements cannot be read")
    python = declared_python(pkg, options.python)
    requirements, constraints = split_requirements(environment_lines(pkg))
    key = compute_key({"plan_format": PLAN_FORMAT, "requirements": requirements,
                       "constraints": constraints, "python": python,
                       "installer": options.installer, "allow_build": options.allow_build})
    return PlannedPackage(str(path), key, python)


def assign(groups: Sequence[tuple[str, int, str]], count: int) -> dict[str, int]:
    """Group key -> shard index, for ``(key, weight, first path)`` groups: largest first
    (equal weights by path), each into its most preferred shard with room (see the
    module's docstring), else into the least-loaded (equal loads: the more preferred)."""
    loads = [0] * (count + 1)  # 1-based
    room = BALANCE_SLACK * sum(weight for _key, weight, _path in groups) / count
    where: dict[str, int] = {}
    for key, weight, _path in sorted(groups, key=lambda g: (-g[1], g[2])):
        preferred = preference(key, count)
        target = next((i for i in preferred if loads[i] + weight <= room),
                      min(preferred, key=lambda i: loads[i]))
        loads[target] += weight
        where[key] = target
    return where


def preference(group_key: str, count: int) -> list[int]:
    """Shards 1..count in the order ``group_key`` prefers them (rendezvous hashing): a
    change elsewhere in the registry, or one more shard, leaves the order of the others."""
    def score(index: int) -> bytes:
        return hashlib.blake2b(f"{group_key}\0{index}".encode("utf-8", "surrogateescape"),
                               digest_size=8).digest()

    return sorted(range(1, count + 1), key=score, reverse=True)


def options_digest(options: Options) -> str:
    values = {k: v for k, v in dataclasses.asdict(options).items() if k not in _LOCAL_OPTIONS}
    return compute_key(values)[:20]


def plan_shards(paths: Sequence[Path], count: int, options: Options,
                progress: Optional[Progress] = None) -> ShardPlan:
    """Partition ``paths`` into ``count`` shards (see the module's docstring)."""
    check_count(count)
    unique = sorted({str(Path(p)) for p in paths})
    title = f"Planning {count} shard(s) over {len(unique)} package(s)"
    if progress is not None:
        with progress.step(title):
            planned = [plan_package(Path(p), options) for p in unique]
    else:
        planned = [plan_package(Path(p), options) for p in unique]
    groups: dict[str, list[PlannedPackage]] = {}
    for package in planned:
        groups.setdefault(package.env_key or f"path:{package.path}", []).append(package)
    env_weight = 0 if options.static else ENV_BUILD_WEIGHT

    def weight(members: list[PlannedPackage]) -> int:
        return len(members) + (env_weight if members[0].env_key is not None else 0)

    shards = [Shard(index, count) for index in range(1, count + 1)]
    where = assign([(key, weight(members), members[0].path) for key, members in groups.items()],
                   count)
    for key, members in groups.items():
        shard = shards[where[key] - 1]
        shard.packages.extend(members)
        shard.weight += weight(members)
    for shard in shards:
        shard.packages.sort(key=lambda p: p.path)
    digest = compute_key({
        "plan_format": PLAN_FORMAT, "count": count, "static": options.static,
        "shards": [[[p.path, p.env_key] for p in s.packages] for s in shards]})
    return ShardPlan(shards, digest[:20], options_digest(options))


def check_shard(paths: Sequence[Path], shard: str, options: Options,
                progress: Optional[Progress] = None) -> Report:
    """``check --shard K/N``: plan, check shard K's packages, record the shard block."""
    index, count = parse_shard(shard)
    plan = plan_shards(paths, count, options, progress)
    report = check_paths([Path(p.path) for p in plan.shard(index).packages], options, progress)
    report.shard = plan.block(index)
    return report
