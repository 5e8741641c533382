"""Benchmark the env manifest (write, verify) and the file-based distribution reader.

    python benchmarks/bench_manifest.py                  # builds the env below, ~1 min
    python benchmarks/bench_manifest.py --venv PATH      # an existing env, left untouched
    python benchmarks/bench_manifest.py --req numpy==2.1.3 --req pandas --python python3.12

The env is built like envcheck builds one (uv, bytecode compiled) but with copies rather
than uv's hardlinks into its cache: a hardlinked file's st_ctime changes whenever anything
else links the same cache file, and the steady-state verify would then re-hash.

Printed, each the best and the median of ``--repeats`` runs, wall and CPU time:
  floor        a bare os.stat of every entry (what any stat-based check must pay)
  verify       verify_manifest, nothing changed: the fast path run before every warm check
  deep         verify_manifest(deep=True): every file re-hashed
  rehash-all   verify after every identity changed, content not (a `cp -a` restore)
  dists        installed_distributions
and once: write_manifest, and the first verify after pinning a just-built env (its files
are too new to be trusted: re-hashed once, then their identities are recorded).
The machines are noisy: compare figures of one run, not across runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import stat
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Optional

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from envcheck.env.distributions import installed_distributions  # noqa: E402
from envcheck.env.manifest import RACY_NS, verify_manifest, write_manifest  # noqa: E402

DEFAULT_REQS = ["numpy==1.26.4", "pandas==2.2.2", "scikit-learn==1.5.2", "scipy==1.13.1"]


def find_uv() -> Optional[str]:
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


def build(venv: Path, python: str, reqs: list[str]) -> None:
    uv = find_uv()
    if uv:
        subprocess.run([uv, "venv", "-q", "--python", python, str(venv)], check=True)
        subprocess.run([uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"),
                        "--compile-bytecode", "--link-mode=copy", *reqs], check=True)
    else:  # pip copies and compiles anyway
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                        "--disable-pip-version-check", *reqs], check=True)


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall, cpu) seconds of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def repeat(fn: Callable[[], object], n: int) -> str:
    runs = [timed(fn) for _ in range(n)]
    walls, cpus = sorted(w for w, _ in runs), sorted(c for _, c in runs)
    return (f"wall best {walls[0] * 1e3:7.1f} ms, median {statistics.median(walls) * 1e3:7.1f}"
            f" | cpu best {cpus[0] * 1e3:7.1f} ms, median {statistics.median(cpus) * 1e3:7.1f}")


def stat_floor(root: Path) -> None:
    pending = [str(root)]
    while pending:
        with os.scandir(pending.pop()) as listing:
            for item in listing:
                if stat.S_ISDIR(item.stat(follow_symlinks=False).st_mode):
                    pending.append(item.path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--venv", type=Path, help="an existing env to measure")
    parser.add_argument("--req", action="append", help=f"default: {' '.join(DEFAULT_REQS)}")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-manifest-"))
    try:
        if args.venv:
            # A copy, so that the restore measurement cannot disturb the env measured.
            root = work / "env"
            shutil.copytree(args.venv, root, symlinks=True)
        else:
            root = work / "env"
            start = time.perf_counter()
            build(root, args.python, args.req or DEFAULT_REQS)
            print(f"built {root} in {time.perf_counter() - start:.1f} s")
        manifest = work / "manifest.json"

        files = total = entries = 0
        for dirpath, dirnames, filenames in os.walk(root):
            entries += len(dirnames) + len(filenames)
            for name in filenames:
                st = os.lstat(os.path.join(dirpath, name))
                if stat.S_ISREG(st.st_mode):
                    files, total = files + 1, total + st.st_size
        print(f"{entries} entries, {files} regular files, {total / 2**20:.0f} MiB, "
              f"{len(installed_distributions(root))} distributions")

        wall, cpu = timed(lambda: write_manifest(root, manifest))
        print(f"write        wall {wall * 1e3:7.1f} ms, cpu {cpu * 1e3:7.1f} ms "
              f"(manifest {manifest.stat().st_size / 2**20:.1f} MiB)")
        wall, cpu = timed(lambda: verify_manifest(root, manifest))
        print(f"first verify wall {wall * 1e3:7.1f} ms, cpu {cpu * 1e3:7.1f} ms "
              "(re-hashes what was too new to trust when pinned)")
        time.sleep(RACY_NS / 1e9)  # then every identity recorded by this verify is trusted
        assert verify_manifest(root, manifest) == []

        n = args.repeats
        print(f"floor        {repeat(lambda: stat_floor(root), n)}")
        print(f"verify       {repeat(lambda: verify_manifest(root, manifest), n)}")
        print(f"dists        {repeat(lambda: installed_distributions(root), n)}")
        print(f"deep         {repeat(lambda: verify_manifest(root, manifest, deep=True), 3)}")

        restored = work / "restored"
        shutil.copytree(root, restored, symlinks=True)  # copy2: same bytes and mtimes
        shutil.rmtree(root)
        restored.rename(root)
        wall, cpu = timed(lambda: verify_manifest(root, manifest, refresh=False))
        print(f"rehash-all   wall {wall * 1e3:7.1f} ms, cpu {cpu * 1e3:7.1f} ms "
              "(every identity changed by a copy, no content)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
