"""Options are validated once, for the CLI and the API alike, before anything is built."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import FIXTURES

import envcheck
from envcheck.commands.cli import main
from envcheck.model.errors import EnvcheckError, UsageError
from envcheck.model.options import Options

PKG = FIXTURES / "packages" / "churn-ok-py311"


@pytest.mark.parametrize("values, words", [
    ({"memory": "lots"}, "--memory 'lots': expected a size like 512M"),
    ({"timeout_s": -1}, "timeout_s -1: expected a positive number"),
    ({"installer": "conda"}, "installer 'conda': expected one of auto, uv, pip"),
    ({"jobs": 0}, "jobs 0: expected a whole number of at least 1"),
    ({"allow_warnings": ["("]}, "allow_warnings '(': not a regular expression"),
])
def test_bad_values_are_usage_errors(values: dict, words: str) -> None:
    with pytest.raises(UsageError, match=words.replace("(", r"\(").replace("'", "'")):
        Options.validated(**values)


def test_the_api_refuses_before_building_anything(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="expected a size"):
        envcheck.check(PKG, memory="lots", cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()  # no env was built, no store written


def test_an_unknown_option_is_a_type_error_too() -> None:
    with pytest.raises(TypeError, match="colour"):
        Options.validated(colour=True)
    assert issubclass(UsageError, EnvcheckError)


def test_the_cli_maps_it_to_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["check", str(PKG), "--memory", "lots", "--static"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip() == (
        "envcheck: error: --memory 'lots': expected a size like 512M or 2G")
