"""What an audit over many CI runners costs, from this machine's own figures.

    python benchmarks/bench_audit.py [--runs 5] [--plan-packages 1000]
                                     [--packages 10000 --envs 500 --runners 50]
                                     [--assume cold=12.0 --assume marginal=1.98 ...]

Measured, on fixtures/packages/churn-ok-py311 (scikit-learn, numpy, pandas on Python 3.11):
  cold      `envcheck check PKG` on an empty env cache (uv; its download cache warm): one build
  warm      `envcheck check PKG` with the env cached: one process, one package
  marginal  `envcheck check` over 10 copies sharing one cached env, divided by 10: what one
            more package costs inside a shard's single envcheck process
  plan      `envcheck check --list-shards N` over --plan-packages copies (100 distinct
            requirement sets), per package: every shard runner plans the whole registry
  merge     `envcheck merge` of N shard reports of the same packages, per package
  env size  the built env on disk (what actions/cache stores per environment)
Then the arithmetic for --packages packages over --envs environments on --runners runners.
``--assume NAME=VALUE`` replaces a measured figure (e.g. one from a quieter run of
benchmarks/run.py); with all six assumed nothing is measured.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

from run import DEFAULT_PACKAGE, REPO, envcheck_cmd, timed, with_cache


FIGURES = ("cold", "warm", "marginal", "plan", "merge", "env_mb")


def _copies(root: Path, count: int, distinct: int) -> list[Path]:
    """``count`` copies of the package over ``distinct`` requirement sets."""
    paths = []
    for i in range(count):
        dest = root / f"pkg-{i:05d}"
        shutil.copytree(DEFAULT_PACKAGE, dest)
        with open(dest / "requirements.txt", "a", encoding="utf-8") as handle:
            handle.write(f"# set {i % distinct}\nthreadpoolctl==3.{i % distinct}.0\n"
                         if distinct > 1 else "")
        paths.append(dest)
    return paths


def _du_mb(path: Path) -> float:
    out = subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0]) / 1024


def measure(runs: int, plan_packages: int, shards: int) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="envcheck-bench-audit-"))
    figures: dict[str, float] = {}
    try:
        check = envcheck_cmd("check", str(DEFAULT_PACKAGE), "--format", "json")
        colds = []
        for i in range(max(1, runs // 2)):
            colds.append(timed(check, with_cache(work / f"cold-{i}")))
        figures["cold"] = statistics.median(colds)
        envs = [p for p in (work / "cold-0" / "envs").iterdir() if p.is_dir()]
        figures["env_mb"] = _du_mb(envs[0])
        if shutil.which("zstd"):  # what actions/cache uploads: a zstd-compressed tar
            tar = subprocess.run(f"tar -C '{envs[0]}' -cf - . | zstd -q -3 | wc -c",
                                 shell=True, capture_output=True, text=True, check=True)
            figures["env_zstd_mb"] = int(tar.stdout) / 2 ** 20
        warm_cache = with_cache(work / "cold-0")
        figures["warm"] = statistics.median(timed(check, warm_cache) for _ in range(runs))
        ten = _copies(work / "ten", 10, 1)
        many = envcheck_cmd("check", *map(str, ten), "--format", "json")
        figures["marginal"] = statistics.median(timed(many, warm_cache)
                                                for _ in range(max(1, runs // 2))) / 10
        registry = _copies(work / "registry", plan_packages, 100)
        plan = envcheck_cmd("check", "--list-shards", str(shards), "--format", "json",
                            *map(str, registry))
        figures["plan"] = timed(plan, warm_cache, ok=(0,)) / plan_packages
        figures["merge"] = _merge_per_package(work, registry, shards, warm_cache)
        print("  ".join(f"{k} {v:.4f}" for k, v in figures.items()), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return figures


def _merge_per_package(work: Path, registry: list[Path], shards: int,
                       env: dict[str, str]) -> float:
    """Shard reports as `check --shard` writes them (static: the JSON is what is merged),
    split from one static run by the plan rather than planned again by each shard."""
    from envcheck.commands.shards import plan_shards
    from envcheck.model.options import Options

    proc = subprocess.run(envcheck_cmd("check", "--static", "--format", "json",
                                       *map(str, registry)), capture_output=True, text=True,
                          env=env)
    report = json.loads(proc.stdout)
    by_path = {p["path"]: p for p in report["packages"]}
    plan = plan_shards(registry, shards, Options(static=True))
    files = []
    for shard in plan.shards:
        data = {**report, "shard": plan.block(shard.index),
                "packages": [by_path[p.path] for p in shard.packages]}
        files.append(work / f"shard-{shard.index}.json")
        files[-1].write_text(json.dumps(data), encoding="utf-8")
    merge = envcheck_cmd("merge", *map(str, files), "--format", "markdown")
    return timed(merge, env, ok=(0, 1)) / len(registry)


def paper(f: dict[str, float], packages: int, envs: int, runners: int) -> None:
    per_envs, per_packages = -(-envs // runners), -(-packages // runners)
    plan = packages * f["plan"]
    cold = plan + per_envs * f["cold"] + (per_packages - per_envs) * f["marginal"]
    warm = plan + per_packages * f["marginal"]
    merge = packages * f["merge"]
    one_cold = envs * f["cold"] + (packages - envs) * f["marginal"]
    print(f"""
{packages} packages over {envs} environments on {runners} runners: {per_packages} packages and
{per_envs} environments for the average shard (the plan keeps every shard within 1.05 x of it).
  plan, on every runner: {packages} x {f['plan'] * 1000:.1f} ms = {plan:.0f} s
  a shard, cold cache:   {plan:.0f} s + {per_envs} x {f['cold']:.1f} s (builds) + {per_packages - per_envs} x {f['marginal']:.2f} s = {cold:.0f} s ({cold / 60:.1f} min)
  a shard, cache hit:    {plan:.0f} s + {per_packages} x {f['marginal']:.2f} s = {warm:.0f} s ({warm / 60:.1f} min), plus restoring {per_envs} x {f['env_mb']:.0f} MB
  merge:                 {packages} x {f['merge'] * 1000:.2f} ms = {merge:.1f} s
  fleet, cold:           {runners} x {cold / 60:.1f} min = {runners * cold / 60:.0f} runner-minutes (wall {cold / 60:.1f} min + merge)
  one machine, cold:     {envs} x {f['cold']:.1f} s + {packages - envs} x {f['marginal']:.2f} s = {one_cold / 3600:.1f} h
  env cache:             {envs} x {f['env_mb']:.0f} MB = {envs * f['env_mb'] / 1024:.0f} GB uncompressed ({per_envs * f['env_mb'] / 1024:.1f} GB per shard)""")
    if "env_zstd_mb" in f:
        print(f"  as actions/cache stores it (tar + zstd): {envs} x {f['env_zstd_mb']:.0f} MB = "
              f"{envs * f['env_zstd_mb'] / 1024:.0f} GB ({per_envs * f['env_zstd_mb'] / 1024:.1f} "
              "GB per shard)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--plan-packages", type=int, default=1000)
    parser.add_argument("--packages", type=int, default=10_000)
    parser.add_argument("--envs", type=int, default=500)
    parser.add_argument("--runners", type=int, default=50)
    parser.add_argument("--assume", action="append", default=[], metavar="NAME=VALUE",
                        help=f"use VALUE for a figure instead of measuring ({', '.join(FIGURES)})")
    args = parser.parse_args()
    assumed = {k: float(v) for k, v in (a.split("=", 1) for a in args.assume)}
    if set(assumed) - set(FIGURES) - {"env_zstd_mb"}:
        parser.error(f"--assume: figures are {', '.join(FIGURES)}")
    if set(assumed) >= set(FIGURES):
        figures = assumed
    else:
        print(f"measuring on {DEFAULT_PACKAGE.relative_to(REPO)} ({args.runs} runs)", flush=True)
        figures = {**measure(args.runs, args.plan_packages, args.runners), **assumed}
    paper(figures, args.packages, args.envs, args.runners)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
