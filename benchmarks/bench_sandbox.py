"""What the probe sandbox adds to starting a process: ``python -c pass``, bare vs confined.

    python benchmarks/bench_sandbox.py              # 30 runs of each, interleaved
    python benchmarks/bench_sandbox.py -n 100 --python /usr/bin/python3

Prints the median wall time of each and the difference, plus which layers held.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from envcheck.launch import sandbox  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=30, help="runs of each (default 30)")
    parser.add_argument("--python", default=sys.executable, help="the program's interpreter")
    args = parser.parse_args()
    prefix = subprocess.run([args.python, "-c", "import sys; print(sys.base_prefix)"],
                            capture_output=True, text=True, check=True).stdout.strip()
    argv = [args.python, "-c", "pass"]
    with tempfile.TemporaryDirectory() as scratch:
        spec = sandbox.SandboxSpec(read_only=[*sandbox.default_read_only_paths(), Path(prefix)],
                                   writable=[Path(scratch)], env={"HOME": scratch})
        bare, confined = [], []
        for _ in range(args.n):     # interleaved, so drift in machine load hits both
            start = time.perf_counter()
            subprocess.run(argv, check=True)
            bare.append(time.perf_counter() - start)
            start = time.perf_counter()
            proc = sandbox.launch(argv, spec)
            if proc.popen.wait() != 0:
                raise SystemExit(f"confined run failed: {proc.report().missing()}")
            confined.append(time.perf_counter() - start)
            report = proc.report()
    ms = {name: statistics.median(times) * 1000 for name, times in
          (("bare", bare), ("confined", confined))}
    print(f"{args.n} runs of {' '.join(argv)}")
    print(f"bare      median {ms['bare']:6.1f} ms")
    print(f"confined  median {ms['confined']:6.1f} ms")
    print(f"added            {ms['confined'] - ms['bare']:6.1f} ms")
    print("held:", ", ".join(name for name in sandbox.LAYERS if report.held(name)))


if __name__ == "__main__":
    main()
