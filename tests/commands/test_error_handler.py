"""envcheck's own failures: one line for the user, the traceback in a log (as pre-commit)."""

from __future__ import annotations

from pathlib import Path

import pytest

from envcheck.commands.error_handler import error_handler
from envcheck.model.errors import FatalError, UsageError


def test_bug_is_one_line_and_a_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ENVCHECK_CACHE_DIR", str(tmp_path))
    with pytest.raises(SystemExit) as exit_info:
        with error_handler():
            raise ZeroDivisionError("boom")
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "internal error: ZeroDivisionError: boom" in err[0]
    log = tmp_path / "envcheck.log"
    assert str(log) in err[0]
    assert "Traceback (most recent call last)" in log.read_text()


@pytest.mark.parametrize("exc, code", [(FatalError("cannot"), 2), (UsageError("bad"), 2),
                                       (KeyboardInterrupt(), 130)])
def test_exit_codes(exc: BaseException, code: int, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        with error_handler():
            raise exc
    assert exit_info.value.code == code
    assert "Traceback" not in capsys.readouterr().err
