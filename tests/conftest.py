"""Shared fixtures.  Real environments are built into one cache per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"


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
    return tmp_path_factory.mktemp("envcheck-cache")
