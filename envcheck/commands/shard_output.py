"""``envcheck check --list-shards N``: the plan, as text for people and JSON for a CI's
job matrix (``matrix.include``: one entry per shard with its ``--shard`` value and the key
its env cache is saved under)."""

from __future__ import annotations

import json
from typing import Any

from envcheck.commands.shards import ENV_BUILD_WEIGHT, PlannedPackage, Shard, ShardPlan
from envcheck.model.version import __version__
from envcheck.render import neutralize as nz


def _environments(shard: Shard) -> list[dict[str, Any]]:
    """The shard's packages by env, in the order the shard lists them."""
    envs: dict[str, dict[str, Any]] = {}
    for package in shard.packages:
        group = package.env_key or f"path:{package.path}"
        entry = envs.setdefault(group, {"key": package.env_key, "python": package.python,
                                        "packages": []})
        if package.env_key is None:
            entry["reason"] = package.reason
        entry["packages"].append(package.path)
    return sorted(envs.values(), key=lambda e: e["packages"][0])


def _env_count(packages: list[PlannedPackage]) -> int:
    return len({p.env_key for p in packages if p.env_key is not None})


def plan_dict(plan: ShardPlan) -> dict[str, Any]:
    packages = plan.packages
    return {
        "envcheck_version": __version__,
        "plan": plan.digest,
        "count": plan.count,
        "packages": len(packages),
        "environments": _env_count(packages),
        "weights": {"environment": ENV_BUILD_WEIGHT, "package": 1},
        "shards": [{"index": s.index, "shard": s.name, "weight": s.weight,
                    "cache_key": s.cache_key, "env_keys": s.env_keys,
                    "packages": [p.path for p in s.packages],
                    "environments": _environments(s)} for s in plan.shards],
        # `strategy.matrix: ${{ fromJSON(needs.plan.outputs.matrix) }}` takes this as is.
        "matrix": {"include": [{"shard": s.name, "index": s.index, "cache-key": s.cache_key}
                               for s in plan.shards]},
    }


def render_plan_json(plan: ShardPlan) -> str:
    return json.dumps(plan_dict(plan), indent=2) + "\n"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def render_plan_text(plan: ShardPlan) -> str:
    packages = plan.packages
    lines = [f"envcheck shard plan {plan.digest}: {_plural(len(packages), 'package')}, "
             f"{_plural(_env_count(packages), 'environment')}, {_plural(plan.count, 'shard')} "
             f"(weight: {ENV_BUILD_WEIGHT} per environment + 1 per package)"]
    for shard in plan.shards:
        lines.append("")
        lines.append(f"shard {shard.name}: {_plural(len(shard.packages), 'package')}, "
                     f"{_plural(len(shard.env_keys), 'environment')}, weight {shard.weight}, "
                     f"cache key {shard.cache_key}")
        for env in _environments(shard):
            if env["key"] is None:
                lines.append(f"  no environment ({env['reason']})")
            else:
                python = env["python"] or "envcheck's own"
                lines.append(f"  env {env['key'][:12]}  python {nz.text(python)}")
            lines += [f"    {nz.text(path)}" for path in env["packages"]]
    return "\n".join(lines) + "\n"
