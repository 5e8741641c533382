"""envcheck.model.versions: the one version comparison the readers, inspectors and env
checks share."""

from __future__ import annotations

import pytest

from envcheck.model.versions import same_version


@pytest.mark.parametrize("a, b, same", [
    ("1.5", "1.5.0", True),        # PEP 440: trailing zeros are the same release
    ("1.5.2", "1.5.1", False),
    ("2.0.0rc1", "2.0.0", False),
    ("custom-build", " custom-build ", True),  # not PEP 440: as text, blanks ignored
    ("custom-build", "other-build", False),
])
def test_same_version(a: str, b: str, same: bool) -> None:
    assert same_version(a, b) is same
