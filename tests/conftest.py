"""Shared fixtures.  Real environments are built into one cache per test session."""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"
# Fixtures whose interface.py targets Python 3.11: envcheck can judge its syntax only when
# it runs on 3.11+ itself (ast cannot parse newer syntax); on 3.9/3.10 it warns instead.
TARGETS_311 = {"interface-syntax-error"}


def mutated(data: bytes, seed: int, flips: int, cut: bool) -> bytes:
    """``data`` with ``flips`` random bytes changed and, if ``cut``, truncated at a random
    point: what the fuzz tests of the inspectors feed them (deterministic per ``seed``)."""
    rng = random.Random(seed)
    out = bytearray(data)
    for _ in range(flips):
        out[rng.randrange(len(out))] = rng.randrange(256)
    if cut:
        out = out[:rng.randrange(1, len(out))]
    return bytes(out)


def skip_if_newer_target(name: str) -> None:
    if name in TARGETS_311 and sys.version_info < (3, 11):
        pytest.skip("the fixture targets Python 3.11; envcheck on an older Python can only "
                    "warn that it cannot check that syntax")


@pytest.fixture(scope="session")
def envcheck_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One env cache for the whole session, so each distinct env is built once.

    ENVCHECK_TEST_CACHE_DIR lets a developer keep it between runs; CI starts empty.
    """
    explicit = os.environ.get("ENVCHECK_TEST_CACHE_DIR")
    if explicit:
        path = Path(explicit)
        path.mkdir(parents=True, exist_ok=True)
        return path
    # Under pytest-xdist every worker has its own basetemp; their common parent lets the
    # workers share one cache, which the cache's per-key lock keeps consistent.
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    path = root / "envcheck-cache"
    path.mkdir(parents=True, exist_ok=True)
    return path
