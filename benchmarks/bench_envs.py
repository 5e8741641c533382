"""Benchmark the environment cache: cold build with uv vs pip, and warm reuse.

    python benchmarks/bench_envs.py                      # defaults below, ~5-10 min
    python benchmarks/bench_envs.py --repeats 1 --python 3.11 \\
        --req scikit-learn==1.5.2 --req numpy==1.26.4 --req pandas==2.2.2

Every cold build goes to a fresh envcheck cache dir.  "cold" still lets uv and pip read
their own download/wheel caches (what a CI runner with a cached ~/.cache gets);
"cold, no installer cache" gives each build a fresh, empty UV_CACHE_DIR / PIP_CACHE_DIR
(what a bare runner pays: every wheel is downloaded).  Warm reuse is measured twice: the
``EnvCache.ensure()`` call alone (in-process memo caches cleared), and a new Python process
that imports envcheck and calls it (what the second CI run actually pays for this stage).

Prints medians and the ratios; ``--json FILE`` also writes the raw timings.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Optional

from envcheck.env import installers, interpreters
from envcheck.env.cache import EnvCache
from envcheck.env.installers import resolve_installer
from envcheck.env.interpreters import Interpreter, find_interpreter

DEFAULT_REQS = ["scikit-learn==1.5.2", "numpy==1.26.4", "pandas==2.2.2"]


def _forget_memos() -> None:
    """Per-process caches a new envcheck process would not have."""
    interpreters._FACTS.clear()
    installers._VERSION_CACHE.clear()


def _with_env(extra: dict[str, str], fn: Callable[[], float]) -> float:
    saved = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)
    try:
        return fn()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def cold_build(reqs: list[str], interp: Interpreter, installer: str, work: Path,
               no_installer_cache: bool) -> float:
    root = Path(tempfile.mkdtemp(prefix=f"cold-{installer}-", dir=work))
    extra: dict[str, str] = {}
    if no_installer_cache:
        extra = {"UV_CACHE_DIR": str(root / "uv-cache"), "PIP_CACHE_DIR": str(root / "pip-cache")}

    def run() -> float:
        _forget_memos()
        start = time.perf_counter()
        env, result = EnvCache(root / "envs").ensure(reqs, interp, installer)
        elapsed = time.perf_counter() - start
        if env is None or env.reused:
            raise SystemExit(f"cold build with {installer} failed: "
                             f"{[f.message for f in result.findings]}")
        env.release()
        return elapsed

    try:
        return _with_env(extra, run)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def warm_in_process(reqs: list[str], interp: Interpreter, root: Path, installer: str) -> float:
    _forget_memos()
    start = time.perf_counter()
    env, _ = EnvCache(root).ensure(reqs, interp, installer)
    elapsed = time.perf_counter() - start
    assert env is not None and env.reused, "warm run did not reuse the env"
    env.release()
    return elapsed


_CHILD = """
import json, sys
from envcheck.env.cache import EnvCache
from envcheck.env.interpreters import find_interpreter
env, _ = EnvCache(sys.argv[1]).ensure(json.loads(sys.argv[2]), find_interpreter(sys.argv[3]),
                                      sys.argv[4])
assert env is not None and env.reused
"""


def warm_new_process(reqs: list[str], interp: Interpreter, root: Path, installer: str
                     ) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", _CHILD, str(root), json.dumps(reqs),
                    str(interp.path), installer], check=True)
    return time.perf_counter() - start


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--req", action="append", help="a requirement line (repeatable)")
    ap.add_argument("--python", default="3.11")
    ap.add_argument("--repeats", type=int, default=3, help="cold builds per installer")
    ap.add_argument("--nocache-repeats", type=int, default=1,
                    help="cold builds per installer with an empty installer cache (0: skip)")
    ap.add_argument("--warm-repeats", type=int, default=10)
    ap.add_argument("--json", type=Path, help="write raw timings here")
    args = ap.parse_args(argv)
    reqs = args.req or DEFAULT_REQS
    interp = find_interpreter(args.python)
    if interp is None:
        print(f"Python {args.python} not found", file=sys.stderr)
        return 2
    uv = resolve_installer("uv", interp)
    pip = resolve_installer("pip", interp)
    work = Path(tempfile.mkdtemp(prefix="envcheck-bench-"))
    times: dict[str, list[float]] = {}
    try:
        # Prime uv's and pip's own caches once so "cold (installer cache warm)" is that.
        for name in ("uv", "pip"):
            cold_build(reqs, interp, name, work, no_installer_cache=False)
        for name in ("uv", "pip"):
            times[f"cold_{name}"] = [cold_build(reqs, interp, name, work, False)
                                     for _ in range(args.repeats)]
            print(f"cold {name}: {[round(t, 2) for t in times[f'cold_{name}']]}",
                  file=sys.stderr)
        for name in ("uv", "pip"):
            times[f"cold_{name}_nocache"] = [cold_build(reqs, interp, name, work, True)
                                             for _ in range(args.nocache_repeats)]
            print(f"cold {name} (no installer cache): "
                  f"{[round(t, 2) for t in times[f'cold_{name}_nocache']]}", file=sys.stderr)
        warm_root = work / "warm"
        cold_build_once = EnvCache(warm_root).ensure(reqs, interp, "uv")[0]
        assert cold_build_once is not None
        cold_build_once.release()
        times["warm_call"] = [warm_in_process(reqs, interp, warm_root, "uv")
                              for _ in range(args.warm_repeats)]
        times["warm_process"] = [warm_new_process(reqs, interp, warm_root, "uv")
                                 for _ in range(args.warm_repeats)]
    finally:
        shutil.rmtree(work, ignore_errors=True)

    m = {k: median(v) for k, v in times.items()}
    print(f"\nrequirements: {' '.join(reqs)}")
    print(f"python {interp.version} ({interp.path}); uv {uv.version}; pip {pip.version}; "
          f"host {platform.machine()}, {os.cpu_count()} cpus")
    print(f"medians over {args.repeats} cold / {args.nocache_repeats} no-cache / "
          f"{args.warm_repeats} warm runs\n")
    rows = [
        ("cold build, uv (uv cache warm)", "cold_uv"),
        ("cold build, pip (pip cache warm)", "cold_pip"),
        ("cold build, uv, empty UV_CACHE_DIR", "cold_uv_nocache"),
        ("cold build, pip, empty PIP_CACHE_DIR", "cold_pip_nocache"),
        ("warm reuse, ensure() call", "warm_call"),
        ("warm reuse, new process", "warm_process"),
    ]
    for label, key in rows:
        if times.get(key):
            print(f"  {label:<40} {m[key]:8.2f} s")
    print()

    def ratio(a: str, b: str, label: str) -> None:
        if times.get(a) and times.get(b):
            print(f"  {label:<40} {m[a] / m[b]:8.1f}x")

    ratio("cold_pip", "cold_uv", "pip / uv, cold (installer caches warm)")
    ratio("cold_pip_nocache", "cold_uv_nocache", "pip / uv, cold (no installer cache)")
    ratio("cold_uv", "warm_process", "uv cold / warm reuse (new process)")
    ratio("cold_uv", "warm_call", "uv cold / warm reuse (ensure() call)")
    ratio("cold_pip", "warm_process", "pip cold / warm reuse (new process)")
    if args.json:
        args.json.write_text(json.dumps({"requirements": reqs, "python": interp.version,
                                         "uv": uv.version, "pip": pip.version,
                                         "times_s": times, "medians_s": m}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
