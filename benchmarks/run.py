"""envcheck's speed, measured side by side in one run (the machines are noisy: compare
ratios from the same run, never absolute numbers across runs).

    python benchmarks/run.py [--runs 5] [--package fixtures/packages/churn-ok-py311]
                             [--skip-cold] [--skip-audit] [--skip-pickles]

What it measures, on the same package:
  limit        a bare child interpreter in the cached env: import interface.py, load_model(),
               predict() the smoke inputs -- the physical floor of a warm check
  warm         `envcheck check PKG` with the env cached
  warm-no-sandbox  the same with ENVCHECK_SANDBOX=off: what the sandbox costs
  static       `envcheck check PKG --static`
  cold-uv      `envcheck check PKG --installer uv` on an empty env cache
  cold-pip     `envcheck check PKG --installer pip` on an empty env cache
  audit        30 packages sharing 3 distinct environments, cold cache, -j 1 and -j 2
  pickles      inspection throughput on a >= 100 MB forest pickle (benchmarks/bench_pickles.py)

The installers' own download caches (uv's, pip's) stay warm for both cold runs: what is
compared is building an env from wheels, not the network.  Each cold run here starts with
an empty bytecode store too; benchmarks/bench_cold.py measures what the store saves.

Run it with the interpreter of the README's install (a venv with ``pip install '.[uv]'``):
an editable install and a crowded site-packages add start-up time users do not pay.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Optional

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DEFAULT_PACKAGE = REPO / "fixtures" / "packages" / "churn-ok-py311"
SECOND_PACKAGE = REPO / "fixtures" / "packages" / "churn-ok"  # another Python, another env


def envcheck_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "envcheck", *args]


def timed(cmd: list[str], env: Optional[dict[str, str]] = None, ok: tuple[int, ...] = (0, 1)) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if proc.returncode not in ok:
        raise SystemExit(f"benchmark command failed ({proc.returncode}): {' '.join(cmd)}\n"
                         f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return elapsed


def repeat(label: str, runs: int, func: Callable[[], float]) -> list[float]:
    samples = [func() for _ in range(runs)]
    print(f"  {label:<12} median {statistics.median(samples):7.3f} s   "
          f"min-max {min(samples):.3f}-{max(samples):.3f} s   ({runs} runs)", flush=True)
    return samples


def with_cache(cache: Path) -> dict[str, str]:
    return {**os.environ, "ENVCHECK_CACHE_DIR": str(cache)}


def limit_command(package: Path, cache: Path) -> list[str]:
    """The floor: the env's interpreter importing interface.py, loading, predicting once."""
    from envcheck.compare.inputs import smoke_inputs
    from envcheck.env.cache import EnvCache
    from envcheck.env.interpreters import select_interpreter
    from envcheck.model.options import Options
    from envcheck.read.formats import read_package

    pkg, _ = read_package(package, Options())
    assert pkg is not None
    interpreter, _ = select_interpreter(pkg, None)
    env, _ = EnvCache(cache).ensure(pkg.requirement_lines, interpreter)
    assert env is not None
    inputs, _ = smoke_inputs(pkg)
    script = (
        "import json, sys, importlib.util\n"
        f"spec = importlib.util.spec_from_file_location('interface', {str(pkg.interface_path)!r})\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        "model = module.load_model()\n"
        "import pandas as pd\n"
        f"inputs = json.loads({json.dumps(json.dumps(inputs))})\n"
        "frame = pd.DataFrame(inputs['data'], columns=inputs['columns'])\n"
        "model.predict(frame)\n")
    return [str(env.python), "-c", script]


def bench_check(package: Path, runs: int, skip_cold: bool) -> dict[str, float]:
    results: dict[str, float] = {}
    work = Path(tempfile.mkdtemp(prefix="envcheck-bench-"))
    try:
        warm_cache = work / "warm"
        timed(envcheck_cmd("check", str(package), "--format", "json"), with_cache(warm_cache))
        limit = limit_command(package, warm_cache)
        env = with_cache(warm_cache)
        print(f"package {package.relative_to(REPO)}")
        check = envcheck_cmd("check", str(package), "--format", "json")
        bare = {**env, "ENVCHECK_SANDBOX": "off"}
        # Interleaved, so that the machine's noise falls on all three alike.
        samples: dict[str, list[float]] = {"limit": [], "warm": [], "warm-no-sandbox": []}
        for _ in range(runs):
            samples["limit"].append(timed(limit))
            samples["warm"].append(timed(check, env))
            samples["warm-no-sandbox"].append(timed(check, bare))
        for label, values in samples.items():
            print(f"  {label:<16} {' '.join(f'{v:.2f}' for v in values)}")
            results[label] = statistics.median(values)
        results["static"] = statistics.median(repeat("static", runs, lambda: timed(
            envcheck_cmd("check", str(package), "--static", "--format", "json"), env)))
        if not skip_cold:
            for installer in ("uv", "pip"):
                def cold() -> float:
                    cache = Path(tempfile.mkdtemp(dir=work))
                    try:
                        return timed(envcheck_cmd("check", str(package), "--installer", installer,
                                                  "--format", "json"), with_cache(cache))
                    finally:
                        shutil.rmtree(cache, ignore_errors=True)
                cold_runs = max(1, runs // 2) if installer == "uv" else 1
                results[f"cold-{installer}"] = statistics.median(
                    repeat(f"cold-{installer}", cold_runs, cold))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


def make_audit_packages(root: Path, count: int = 30) -> list[Path]:
    """30 packages over 3 environments: two fixtures, and the first with one extra pin."""
    sources = [DEFAULT_PACKAGE, SECOND_PACKAGE, DEFAULT_PACKAGE]
    packages = []
    for i in range(count):
        group = i % 3
        dest = root / f"pkg-{i:02d}"
        shutil.copytree(sources[group], dest)
        if group == 2:  # a third distinct environment
            with open(dest / "requirements.txt", "a", encoding="utf-8") as handle:
                handle.write("threadpoolctl==3.5.0\n")
        packages.append(dest)
    return packages


def bench_audit(jobs_list: tuple[int, ...] = (1, 2)) -> dict[str, float]:
    results: dict[str, float] = {}
    work = Path(tempfile.mkdtemp(prefix="envcheck-audit-"))
    try:
        packages = make_audit_packages(work / "pkgs")
        for jobs in jobs_list:
            cache = work / f"cache-{jobs}"
            elapsed = timed(envcheck_cmd("check", *map(str, packages), "-j", str(jobs),
                                         "--format", "json"), with_cache(cache))
            results[f"audit-j{jobs}"] = elapsed
            print(f"  audit -j {jobs}   {elapsed:7.2f} s (30 packages, 3 envs, cold cache)", flush=True)
        # The yardstick: 3 cold builds + 30 warm checks / N, measured here too.
        cache = work / "yardstick"
        build = sum(timed(envcheck_cmd("check", str(packages[i]), "--format", "json"),
                          with_cache(cache)) for i in range(3))
        warm = timed(envcheck_cmd("check", *map(str, packages), "--format", "json"), with_cache(cache))
        results["3-builds"] = build
        results["30-warm"] = warm
        print(f"  3 cold builds {build:7.2f} s; 30 warm checks {warm:7.2f} s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


def bench_pickles() -> Optional[float]:
    """bench_pickles.py's figure for the plain pickle (the slowest uncompressed format)."""
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_pickles.py")],
                          capture_output=True, text=True)
    print(proc.stdout.strip())
    for line in proc.stdout.splitlines():
        if line.startswith("pickle (protocol 5)"):
            return float(line.split("MB on disk")[1].split("MB/s")[0])
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--package", type=Path, default=DEFAULT_PACKAGE)
    parser.add_argument("--skip-cold", action="store_true")
    parser.add_argument("--skip-audit", action="store_true")
    parser.add_argument("--skip-pickles", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    # An installed envcheck has compiled bytecode (pip compiles at install); a source
    # checkout under PYTHONDONTWRITEBYTECODE=1 would recompile every module on every run.
    import compileall

    compileall.compile_dir(str(REPO / "envcheck"), quiet=1)
    figures = bench_check(args.package.resolve(), args.runs, args.skip_cold)
    if not args.skip_audit:
        figures.update(bench_audit())
    if not args.skip_pickles:
        mbs = bench_pickles()
        if mbs is not None:
            figures["pickle-mb-s"] = mbs

    print("\nratios (same run):")
    print(f"  warm / limit            {figures['warm'] / figures['limit']:.2f}   (target <= 1.15)")
    print(f"  sandbox cost (warm - warm without sandbox)  "
          f"{(figures['warm'] - figures['warm-no-sandbox']) * 1000:.0f} ms   (target <= 50 ms)")
    print(f"  static                  {figures['static']:.3f} s (target < 0.3 s)")
    if "cold-pip" in figures:
        print(f"  cold-pip / cold-uv      {figures['cold-pip'] / figures['cold-uv']:.1f}   (target >= 5)")
    if "audit-j1" in figures:
        for jobs in (1, 2):
            yardstick = figures["3-builds"] + figures["30-warm"] / jobs
            print(f"  audit -j {jobs} / (3 builds + 30 warm / {jobs})  "
                  f"{figures[f'audit-j{jobs}'] / yardstick:.2f}   (target <= 1.5)")
    if "pickle-mb-s" in figures:
        print(f"  pickle inspection       {figures['pickle-mb-s']:.0f} MB/s (target >= 100)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
