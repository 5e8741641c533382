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
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import DEFAULT_PACKAGE, REPO, envcheck_cmd, limit_command, timed, with_cache

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


def check(package: Path, cache: Path) -> float:
    return timed(envcheck_cmd("check", str(package), "--format", "json"), with_cache(cache))


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
            samples["limit"].append(timed(limit))
            samples["warm"].append(check(package, warm_cache))
            shutil.rmtree(cache, ignore_errors=True)
            samples["cold-empty"].append(check(package, cache))
            shutil.rmtree(cache / "envs")  # the store stays
            samples["cold-store"].append(check(package, cache))
            forget_env_and_bytecode(cache, BUMP[0], BUMP[2])
            samples["pin-bump"].append(check(bumped, cache))
            samples["warm"].append(check(package, warm_cache))
        figures = {label: statistics.median(values) for label, values in samples.items()}
        for label, values in samples.items():
            print(f"  {label:<11} median {figures[label]:7.2f} s   "
                  f"({' '.join(f'{v:.2f}' for v in values)})", flush=True)
        if not args.skip_matrix:
            shutil.rmtree(cache, ignore_errors=True)
            figures["matrix"] = timed(envcheck_cmd("matrix", str(package), "--with", MATRIX,
                                                   "--format", "json"), with_cache(cache))
            print(f"  matrix      {figures['matrix']:7.2f} s (4 versions, empty env cache)")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    warm = figures["warm"]
    print("\nratios (same run):")
    print(f"  warm / limit                    {warm / figures['limit']:.2f}   (target <= 1.15)")
    print(f"  cold, store warm / warm         {figures['cold-store'] / warm:.2f}   "
          "(target <= 2)")
    print(f"  one pin changed / warm          {figures['pin-bump'] / warm:.2f}   (target <= 2)")
    print(f"  cold, empty cache / warm        {figures['cold-empty'] / warm:.2f}")
    if "matrix" in figures:
        yardstick = figures["cold-empty"] + 3 * warm
        print(f"  matrix / (cold + 3 warm)        {figures['matrix'] / yardstick:.2f}   "
              "(target <= 1.5)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
