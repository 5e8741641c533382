"""Cold checks against warm ones, side by side in one run: what the bytecode store buys.

    python benchmarks/bench_cold.py [--runs 3] [--package fixtures/packages/churn-ok-py311]
                                    [--skip-matrix] [--json FILE]

On the same package, every figure from one run (uv's download cache warm throughout:
what is compared is building envs, not the network):

  limit         a bare interpreter in the cached env imports interface.py, loads, predicts
  warm          `envcheck check PKG`, env cached
  cold-store    `envcheck check PKG` with its env removed but the bytecode store warm
                (a new machine's second package, a pruned env, another Python's twin)
  pin-bump      the package with one pin changed (scikit-learn 1.5.2 -> 1.5.1): every
                other distribution's bytecode is in the store, scikit-learn's is not
  cold-empty    `envcheck check PKG` on an empty env cache (no envs, no store)
  matrix        `envcheck matrix PKG --with scikit-learn==1.3.2,1.4.2,1.5.1,1.5.2` on an
                empty env cache, against one cold-empty check + three warm checks

Run it with the interpreter of the README's install (see benchmarks/run.py).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import DEFAULT_PACKAGE, REPO, envcheck_cmd, limit_command, with_cache

CPU: dict[str, list[float]] = {}  # label -> CPU seconds of the command and its children


def timed(cmd: list[str], env: Optional[dict[str, str]] = None, label: str = "") -> float:
    """Wall seconds of ``cmd``; its CPU seconds (user + system, children included) go to
    ``CPU[label]``: on a machine others load too, CPU time moves less than wall time."""
    # The previous command's writes (a cold build writes 300+ MB) are flushed first, so
    # that their writeback is not counted against this one.
    os.sync()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"benchmark command failed ({proc.returncode}): {' '.join(cmd)}\n"
                         f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    if label:
        CPU.setdefault(label, []).append(after.ru_utime - before.ru_utime
                                         + after.ru_stime - before.ru_stime)
    return elapsed

BUMP = ("scikit-learn", "1.5.2", "1.5.1")
MATRIX = "scikit-learn==1.3.2,1.4.2,1.5.1,1.5.2"


def bumped_copy(package: Path, dest: Path) -> Path:
    shutil.copytree(package, dest)
    reqs = dest / "requirements.txt"
    name, old, new = BUMP
    text = reqs.read_text(encoding="utf-8")
    assert f"{name}=={old}" in text, f"{package} does not pin {name}=={old}"
    reqs.write_text(text.replace(f"{name}=={old}", f"{name}=={new}"), encoding="utf-8")
    return dest


def forget_env_and_bytecode(cache: Path, name: str, version: str) -> None:
    """Remove every env, and the store entry of ``name`` ``version`` (the others stay)."""
    shutil.rmtree(cache / "envs", ignore_errors=True)
    for entry in (cache / "bytecode").glob("*/entry.json"):
        facts = json.loads(entry.read_text(encoding="utf-8"))
        if facts.get("name") == name and facts.get("version") == version:
            shutil.rmtree(entry.parent)


def check(package: Path, cache: Path, label: str = "") -> float:
    return timed(envcheck_cmd("check", str(package), "--format", "json"), with_cache(cache),
                 label)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--package", type=Path, default=DEFAULT_PACKAGE)
    parser.add_argument("--skip-matrix", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    import compileall

    compileall.compile_dir(str(REPO / "envcheck"), quiet=1)  # as an installed envcheck
    package = args.package.resolve()
    work = Path(tempfile.mkdtemp(prefix="envcheck-cold-"))
    samples: dict[str, list[float]] = {k: [] for k in
                                       ("limit", "warm", "cold-store", "pin-bump", "cold-empty")}
    try:
        bumped = bumped_copy(package, work / "bumped")
        warm_cache, cache = work / "warm", work / "cache"
        check(package, warm_cache)  # also primes uv's download cache
        check(bumped, warm_cache)  # the bumped pin's wheel too
        limit = limit_command(package, warm_cache)
        print(f"package {package.relative_to(REPO)}; {args.runs} runs, interleaved")
        for _ in range(args.runs):
            samples["limit"].append(timed(limit, label="limit"))
            samples["warm"].append(check(package, warm_cache, "warm"))
            shutil.rmtree(cache, ignore_errors=True)
            samples["cold-empty"].append(check(package, cache, "cold-empty"))
            shutil.rmtree(cache / "envs")  # the store stays
            samples["cold-store"].append(check(package, cache, "cold-store"))
            forget_env_and_bytecode(cache, BUMP[0], BUMP[2])
            samples["pin-bump"].append(check(bumped, cache, "pin-bump"))
            samples["warm"].append(check(package, warm_cache, "warm"))
        figures = {label: statistics.median(values) for label, values in samples.items()}
        for label, values in samples.items():
            figures[f"{label}-cpu"] = statistics.median(CPU[label])
            print(f"  {label:<11} median {figures[label]:7.2f} s   "
                  f"({' '.join(f'{v:.2f}' for v in values)}); CPU "
                  f"{figures[label + '-cpu']:6.2f} s", flush=True)
        if not args.skip_matrix:
            shutil.rmtree(cache, ignore_errors=True)
            figures["matrix"] = timed(envcheck_cmd("matrix", str(package), "--with", MATRIX,
                                                   "--format", "json"), with_cache(cache),
                                      "matrix")
            figures["matrix-cpu"] = CPU["matrix"][0]
            print(f"  matrix      {figures['matrix']:7.2f} s (4 versions, empty env cache); "
                  f"CPU {figures['matrix-cpu']:6.2f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print("\nratios (same run), wall time and CPU time:")
    for suffix, what in (("", "wall"), ("-cpu", "CPU ")):
        warm = figures["warm" + suffix]

        def ratio(label: str, over: float, target: str = "") -> None:
            print(f"  {what} {label:<30} {figures[label + suffix] / over:5.2f}   {target}")

        ratio("warm", figures["limit" + suffix], "(warm / limit, target <= 1.15)")
        ratio("cold-store", warm, "(cold, store warm / warm, target <= 2)")
        ratio("pin-bump", warm, "(one pin changed / warm, target <= 2)")
        ratio("cold-empty", warm, "(cold, empty cache / warm)")
        if "matrix" in figures:
            ratio("matrix", figures["cold-empty" + suffix] + 3 * warm,
                  "(matrix / (cold + 3 warm), target <= 1.5)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
