"""envcheck.inspect.pickle_stack: expansion and memo bombs are refused as a resource
finding, with bounded work; real pickles with sharing are not."""

from __future__ import annotations

import pickle
import sys
import time
from pathlib import Path

import pytest

from envcheck.inspect.pickles import check_safety, inspect_pickle
from envcheck.model.findings import Status

from .test_origins import mc, package

MALICIOUS = Path(__file__).resolve().parents[2] / "fixtures" / "pickles" / "malicious"


@pytest.mark.parametrize("name, words", [
    ("memo_bomb.pkl", "resource limit: memo bomb: PUT at index 4294967280 with 0 memo entries"),
    ("billion_laughs_memo.pkl", "resource limit: expansion bomb: a value that expands to"),
    ("billion_laughs_dup.pkl", "resource limit: expansion bomb: a value that expands to"),
])
def test_bombs_are_a_resource_finding(tmp_path: Path, name: str, words: str) -> None:
    start = time.perf_counter()
    result = inspect_pickle(MALICIOUS / name)
    assert time.perf_counter() - start < 5  # bounded work (not a timing claim: a hang guard)
    assert result.error is not None and result.error.startswith(words), result.error
    check = check_safety(package(MALICIOUS), [result], [])
    assert check.status is Status.FAIL
    assert check.findings[0].details["resource"] is True
    assert check.findings[0].message.startswith(f"{name}: cannot be inspected (resource limit")


def _nested_calls(levels: int) -> bytes:
    # each level: builtins.tuple((x, x, ..., x)) -- a call result hides nothing
    out = mc.proto(4) + mc.u("lol") + mc.MEMOIZE + mc.POP
    for level in range(levels):
        out += (mc.sglob("builtins", "tuple") + mc.MARK + mc.binget(level) * 10
                + mc.TUPLE + mc.TUPLE1 + mc.REDUCE + mc.MEMOIZE + mc.POP)
    return out + mc.binget(levels) + mc.STOP


def test_expansion_through_call_results_is_counted(tmp_path: Path) -> None:
    (tmp_path / "m.pkl").write_bytes(_nested_calls(12))
    error = inspect_pickle(tmp_path / "m.pkl").error
    assert error is not None and error.startswith("resource limit: expansion bomb")


def test_tuple_key_bomb(tmp_path: Path) -> None:
    # a 2**17-value tuple used as a dict key: hashing it (tuples do not cache hashes)
    # repeats every shared part
    out = mc.proto(4) + mc.EMPTY_DICT + mc.MEMOIZE + mc.u("x") + mc.MEMOIZE + mc.POP
    for level in range(17):
        out += mc.binget(level + 1) * 2 + mc.TUPLE2 + mc.MEMOIZE + mc.POP
    out += mc.binget(18) + mc.NONE + mc.SETITEM + mc.STOP
    (tmp_path / "m.pkl").write_bytes(out)
    error = inspect_pickle(tmp_path / "m.pkl").error
    assert error is not None and "a dict key that expands to 262143 values" in error, error


def test_real_sharing_is_fine(tmp_path: Path) -> None:
    shared = list(range(1000))
    data = pickle.dumps({"a": [shared] * 500, "b": (shared,) * 500}, protocol=4)
    (tmp_path / "m.pkl").write_bytes(data)
    result = inspect_pickle(tmp_path / "m.pkl")
    assert result.error is None and result.safe
    assert sys.getsizeof(data) < 100_000
