"""Throughput of envcheck's static pickle inspection on a >= 100 MB random forest.

    python benchmarks/bench_pickles.py [--mb 100] [--keep DIR]

The forest is trained and written (plain pickle, joblib, joblib+zlib, and the same
pickle as the ``data.pkl`` member of a torch-style zip, stored and deflated) into a
temporary directory at run time -- never committed.  Prints MB/s for each format: bytes
on disk divided by the wall time of the inspection (best of 3), and the same for the
decompressed pickle stream.  The plain pickle is timed twice, through ``inspect_pickle``
and through the format dispatcher ``inspect_artifact`` the pipeline uses, side by side:
sniffing the format must cost nothing measurable.  Uncompressed files are fast because
raw array blocks and large byte strings are skipped by seeking; compressed ones must be
decompressed once.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Callable

import joblib
import numpy as np
from sklearn.ensemble import RandomForestClassifier

from envcheck.inspect.artifacts import inspect_artifact
from envcheck.inspect.pickles import inspect_pickle
from envcheck.inspect.policy import PickleInspection


def build_forest(target_mb: float) -> RandomForestClassifier:
    """Grow fully developed trees on noisy labels until the pickle reaches the target."""
    rng = np.random.RandomState(0)
    n = 100_000
    X = rng.rand(n, 10).astype(np.float32)
    y = rng.randint(0, 2, n)
    forest = RandomForestClassifier(n_estimators=4, random_state=0, n_jobs=2,
                                    warm_start=True)
    while True:
        forest.fit(X, y)
        size_mb = len(pickle.dumps(forest, protocol=5)) / 1e6
        if size_mb >= target_mb:
            return forest
        per_tree = size_mb / forest.n_estimators
        forest.n_estimators += max(1, int((target_mb - size_mb) / per_tree) + 1)


def _artifact(path: Path) -> list[PickleInspection]:
    return inspect_artifact(path)


def _pickle(path: Path) -> list[PickleInspection]:
    return [inspect_pickle(path)]


def bench(path: Path, inspect: Callable[[Path], list[PickleInspection]],
          repeat: int = 3) -> tuple[float, float, float]:
    best = float("inf")
    stream = 0
    for _ in range(repeat):
        start = time.perf_counter()
        results = inspect(path)
        best = min(best, time.perf_counter() - start)
        bad = [r.error or r.unsafe for r in results if not r.safe]
        if bad or not results:
            raise SystemExit(f"{path.name}: unexpected finding {bad}")
        stream = sum(r.stream_size for r in results)
    size_mb = path.stat().st_size / 1e6
    return size_mb, size_mb / best, stream / 1e6 / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=100.0)
    parser.add_argument("--keep", type=Path, help="write the files here instead of a temp dir")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.keep or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        forest = build_forest(args.mb)
        data = pickle.dumps(forest, protocol=5)
        (out / "forest.pkl").write_bytes(data)
        joblib.dump(forest, out / "forest.joblib")
        joblib.dump(forest, out / "forest.joblib.z", compress=("zlib", 3))
        for name, method in (("forest.pt", zipfile.ZIP_STORED),
                             ("forest-deflated.zip", zipfile.ZIP_DEFLATED)):
            with zipfile.ZipFile(out / name, "w", method) as archive:
                archive.writestr("forest/data.pkl", data)
                archive.writestr("forest/version", b"3\n")
        files = [
            ("pickle (inspect_pickle)", out / "forest.pkl", _pickle),
            ("pickle (dispatcher)", out / "forest.pkl", _artifact),
            ("joblib (raw arrays)", out / "forest.joblib", _artifact),
            ("joblib + zlib 3", out / "forest.joblib.z", _artifact),
            ("zip member, stored", out / "forest.pt", _artifact),
            ("zip member, deflated", out / "forest-deflated.zip", _artifact),
        ]
        print(f"forest: {forest.n_estimators} trees, built and written in "
              f"{time.perf_counter() - start:.1f}s (python {sys.version.split()[0]})")
        for label, path, inspect in files:
            size_mb, rate, stream_rate = bench(path, inspect)
            print(f"{label:22s} {size_mb:8.1f} MB on disk  {rate:9.1f} MB/s "
                  f"(pickle stream: {stream_rate:8.1f} MB/s)")


if __name__ == "__main__":
    main()
