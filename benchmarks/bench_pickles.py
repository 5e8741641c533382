"""Throughput of envcheck's static pickle inspection on a >= 100 MB random forest.

    python benchmarks/bench_pickles.py [--mb 100] [--keep DIR]

The forest is trained and written (plain pickle, joblib, joblib+zlib) into a temporary
directory at run time -- never committed.  Prints MB/s for each format: bytes on disk
divided by the wall time of ``inspect_pickle`` plus ``check_safety`` -- the whole
``pickle.safety`` verdict, origin policy included, for a package declaring scikit-learn --
(best of 3), and the same for the decompressed pickle stream.  Uncompressed files are fast because raw array blocks and
large byte strings are skipped by seeking; compressed ones must be decompressed once.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import tempfile
import time
from pathlib import Path

import joblib
import numpy as np
from sklearn.ensemble import RandomForestClassifier

import sklearn

from envcheck.inspect.pickles import check_safety, inspect_pickle
from envcheck.model.package import ModelPackage


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


def bench(path: Path, repeat: int = 3) -> tuple[float, float, float]:
    best = float("inf")
    stream = 0
    pkg = ModelPackage(root=path.parent, metadata_path=path.parent / "metadata.yaml",
                       requirements_path=path.parent / "requirements.txt",
                       interface_path=path.parent / "interface.py",
                       requirement_lines=[f"scikit-learn=={sklearn.__version__}"])
    for _ in range(repeat):
        start = time.perf_counter()
        result = inspect_pickle(path)
        verdict = check_safety(pkg, [result], [])
        best = min(best, time.perf_counter() - start)
        if verdict.status.value != "pass":
            raise SystemExit(f"{path.name}: unexpected finding {verdict.headline}")
        stream = result.stream_size
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
        files = {
            "pickle (protocol 5)": out / "forest.pkl",
            "pickle (protocol 2)": out / "forest-p2.pkl",
            "joblib (raw arrays)": out / "forest.joblib",
            "joblib + zlib 3": out / "forest.joblib.z",
        }
        files["pickle (protocol 5)"].write_bytes(pickle.dumps(forest, protocol=5))
        files["pickle (protocol 2)"].write_bytes(pickle.dumps(forest, protocol=2))
        joblib.dump(forest, files["joblib (raw arrays)"])
        joblib.dump(forest, files["joblib + zlib 3"], compress=("zlib", 3))
        print(f"forest: {forest.n_estimators} trees, built and written in "
              f"{time.perf_counter() - start:.1f}s (python {sys.version.split()[0]})")
        for label, path in files.items():
            size_mb, rate, stream_rate = bench(path)
            print(f"{label:22s} {size_mb:8.1f} MB on disk  {rate:9.1f} MB/s "
                  f"(pickle stream: {stream_rate:8.1f} MB/s)")


if __name__ == "__main__":
    main()
