"""mypy over envcheck, with the [tool.mypy] settings in pyproject.toml."""
from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest
from conftest import REPO


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None,
                    reason="mypy is not installed (pip install -e '.[test]' brings it)")
@pytest.mark.skipif(sys.version_info < (3, 10),
                    reason="typed against the current mypy and typeshed, which need 3.10+")
def test_mypy_is_clean() -> None:
    # From the repo root so mypy picks up pyproject.toml's files/settings.
    proc = subprocess.run([sys.executable, "-m", "mypy"], cwd=REPO, capture_output=True,
                          text=True)
    assert proc.returncode == 0, f"mypy found problems:\n{proc.stdout}{proc.stderr}"
