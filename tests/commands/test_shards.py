"""The shard plan: K/N parsing, grouping by declared env, balance, determinism across
argument order, hash seeds and machines (interpreters), unreadable packages, --shard."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES

from envcheck.commands.cli import main
from envcheck.commands.shards import (
    BALANCE_SLACK,
    ENV_BUILD_WEIGHT,
    assign,
    parse_shard,
    plan_package,
    plan_shards,
    preference,
)
from envcheck.model.errors import UsageError
from envcheck.model.options import Options

PKGS = FIXTURES / "packages"
# churn-ok-py311 and churn-sklearn-1.3.2 declare the same env (3.11, the same three pins);
# churn-ok and churn-sklearn-0.24.2 another (3.8); churn-pipeline-joblib one of its own.
SHARED_311 = ("churn-ok-py311", "churn-sklearn-1.3.2")
SHARED_38 = ("churn-ok", "churn-sklearn-0.24.2")


def _copy(tmp_path: Path, name: str, source: Path = PKGS / "churn-ok",
          requirements: str | None = None, python: str | None = None) -> Path:
    dest = tmp_path / name
    shutil.copytree(source, dest)
    if requirements is not None:
        (dest / "requirements.txt").write_text(requirements, encoding="utf-8")
    if python is not None:
        meta = dest / "metadata.yaml"
        text = meta.read_text(encoding="utf-8").replace('python_version: "3.8"',
                                                        f'python_version: "{python}"')
        meta.write_text(text, encoding="utf-8")
    return dest


# A fixed set, not the directory's listing: the counts below describe these packages, and
# fixtures/packages/ grows with every feature.
PLANNED = ("churn-ok", "churn-ok-py311", "churn-pipeline-joblib", "churn-sklearn-0.24.2",
           "churn-sklearn-1.3.2")


def _fixture_paths() -> list[Path]:
    return [PKGS / name for name in PLANNED] + [FIXTURES / "broken" / "bad-requirement-line"]


@pytest.mark.parametrize("text, expected", [("2/4", (2, 4)), ("1/1", (1, 1)),
                                            (" 3 / 3 ", (3, 3)), ("10/12", (10, 12))])
def test_parse_shard_accepts_k_of_n(text: str, expected: tuple[int, int]) -> None:
    assert parse_shard(text) == expected


@pytest.mark.parametrize("text", ["0/4", "5/4", "4", "a/b", "-1/4", "1/4/2", "1.5/4", ""])
def test_parse_shard_refuses_anything_else(text: str) -> None:
    with pytest.raises(UsageError) as exc:
        parse_shard(text)
    assert str(exc.value) == (f"--shard {text!r}: expected K/N with 1 <= K <= N (shards are "
                              "numbered from 1), e.g. --shard 2/4")


def test_parse_shard_refuses_zero_and_huge_counts() -> None:
    with pytest.raises(UsageError, match=r"^--shard: 0 shards: expected 1 to 1000$"):
        parse_shard("0/0")
    with pytest.raises(UsageError, match=r"^--shard: 1001 shards: expected 1 to 1000$"):
        parse_shard("1/1001")


def test_packages_declaring_one_env_share_a_shard_and_each_env_is_in_one_shard() -> None:
    for count in (2, 3, 4, 6):
        plan = plan_shards(_fixture_paths(), count, Options())
        where = {p.path: s.index for s in plan.shards for p in s.packages}
        for a, b in (SHARED_311, SHARED_38):
            assert where[str(PKGS / a)] == where[str(PKGS / b)], count
        owners: dict[str, set[int]] = {}
        for shard in plan.shards:
            for key in shard.env_keys:
                owners.setdefault(key, set()).add(shard.index)
        assert len(owners) == 3 and all(len(s) == 1 for s in owners.values())
        assert sorted(where) == sorted(str(p) for p in _fixture_paths())  # nothing lost


def _registry(seed: int, groups: int = 500) -> list[tuple[str, int, str]]:
    """(key, weight, first path) of ``groups`` envs of 1 to 40 packages each."""
    rng = random.Random(seed)
    return [(f"env{k:03d}", ENV_BUILD_WEIGHT + rng.randint(1, 40), f"models/m{k:03d}")
            for k in range(groups)]


def _loads(groups: list[tuple[str, int, str]], where: dict[str, int], count: int) -> list[int]:
    loads = [0] * count
    for key, weight, _path in groups:
        loads[where[key] - 1] += weight
    return loads


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_balance_no_shard_over_the_slack_of_the_average(seed: int) -> None:
    groups = _registry(seed)
    loads = _loads(groups, assign(groups, 50), 50)
    average = sum(loads) / 50
    assert max(loads) <= BALANCE_SLACK * average
    assert assign(list(reversed(groups)), 50) == assign(groups, 50)  # order-independent


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_change_to_the_registry_moves_few_environments(seed: int) -> None:
    groups = _registry(seed)
    before = assign(groups, 50)
    one_more_package = [(k, w + (k == "env100"), p) for k, w, p in groups]
    moved = [k for k, v in assign(one_more_package, 50).items() if before.get(k) != v]
    assert len(moved) <= 3, moved
    new_env = assign(groups + [("env-new", ENV_BUILD_WEIGHT + 20, "models/m250x")], 50)
    moved = [k for k, _w, _p in groups if new_env[k] != before[k]]
    assert len(moved) <= 50, len(moved)  # plain least-loaded moves ~400 of the 500
    # The balance of least-loaded is kept without its instability: compare the two.
    least_loaded = [0] * 50
    for _key, weight, _path in sorted(groups, key=lambda g: (-g[1], g[2])):
        least_loaded[least_loaded.index(min(least_loaded))] += weight
    assert max(_loads(groups, before, 50)) <= 1.06 * max(least_loaded)


def test_a_group_too_large_for_any_shard_goes_to_its_preferred_one() -> None:
    groups = [("big", 100, "a"), ("small", 1, "b")]
    where = assign(groups, 4)
    assert where["big"] == preference("big", 4)[0]
    assert where["small"] != where["big"]  # room was left elsewhere


def test_static_plans_weigh_packages_only() -> None:
    plan = plan_shards(_fixture_paths(), 2, Options(static=True))
    assert sum(s.weight for s in plan.shards) == 6
    assert sum(s.weight for s in plan_shards(_fixture_paths(), 2, Options()).shards) == \
        6 + 3 * ENV_BUILD_WEIGHT


def test_plan_ignores_argument_order_and_duplicates() -> None:
    paths = _fixture_paths()
    plan = plan_shards(paths, 3, Options())
    shuffled = plan_shards(list(reversed(paths)) + paths[:2]
                           + [Path(f"{paths[0]}/")], 3, Options())
    assert shuffled.digest == plan.digest
    assert [[p.path for p in s.packages] for s in shuffled.shards] == \
        [[p.path for p in s.packages] for s in plan.shards]
    assert len(shuffled.packages) == len(paths)


def test_declared_python_is_canonical_and_part_of_the_key(tmp_path: Path) -> None:
    a = plan_package(_copy(tmp_path, "a", python="3.11"), Options())
    b = plan_package(_copy(tmp_path, "b", python="python3.11"), Options())
    c = plan_package(_copy(tmp_path, "c", python="3.12"), Options())
    assert a.python == b.python == "==3.11.*" and c.python == "==3.12.*"
    assert a.env_key == b.env_key != c.env_key
    # --python replaces what every package asks for: one env again.
    over = [plan_package(tmp_path / n, Options(python="3.12")).env_key for n in "abc"]
    assert len(set(over)) == 1
    # Requirement order and spacing do not matter, as in the cache key.
    d = _copy(tmp_path, "d", requirements="pandas==2.0.3\n  numpy==1.24.4\nscikit-learn==1.2.2\n")
    assert plan_package(d, Options()).env_key == plan_package(PKGS / "churn-ok", Options()).env_key


def test_unreadable_packages_are_assigned_by_path(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    broken = FIXTURES / "broken" / "bad-requirement-line"
    plan = plan_shards([empty, broken, PKGS / "churn-ok"], 2, Options())
    planned = {p.path: p for p in plan.packages}
    assert planned[str(empty)].env_key is None
    assert planned[str(empty)].reason == "not a model package"
    assert planned[str(broken)].env_key is None
    assert planned[str(broken)].reason == "its requirements cannot be read"
    assert planned[str(PKGS / "churn-ok")].env_key is not None
    # churn-ok (1 + weight) alone; the two that build nothing in the other shard.
    alone, together = sorted(plan.shards, key=lambda s: len(s.packages))
    assert [p.path for p in alone.packages] == [str(PKGS / "churn-ok")]
    assert len(together.packages) == 2 and together.env_keys == []


def _list_shards(*args: str, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ENVCHECK_")}
    proc = subprocess.run([sys.executable, "-m", "envcheck", "check", "--list-shards", *args],
                          capture_output=True, text=True, env={**environ, **env}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_plan_is_the_same_on_a_machine_with_other_interpreters(tmp_path: Path) -> None:
    paths = [str(p) for p in _fixture_paths()]
    here = _list_shards("3", "--format", "json", *paths, PYTHONHASHSEED="1")
    # No pyenv, a PATH without any other Python, another hash seed, another cache.
    bare = tmp_path / "bin"
    bare.mkdir()
    elsewhere = _list_shards("3", "--format", "json", *reversed(paths), PYTHONHASHSEED="2",
                             PATH=str(bare), PYENV_ROOT=str(tmp_path / "no-pyenv"),
                             ENVCHECK_CACHE_DIR=str(tmp_path / "cache"))
    assert json.loads(here) == json.loads(elsewhere)
    # Planning builds nothing and asks no interpreter (only the reader's memo is kept).
    stored = {p.name for p in (tmp_path / "cache").iterdir()}
    assert stored <= {"metadata-valid"}, stored


def test_shard_checks_only_its_packages_and_records_the_block(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ENVCHECK_CACHE_DIR", str(tmp_path))
    paths = [str(p) for p in _fixture_paths()]
    plan = plan_shards([Path(p) for p in paths], 2, Options(static=True))
    seen: list[str] = []
    for index in (1, 2):
        code = main(["check", "--static", "--shard", f"{index}/2", "--format", "json", *paths])
        report = json.loads(capsys.readouterr().out)
        assert report["shard"] == {"index": index, "count": 2, "plan": plan.digest,
                                   "options": plan.options_digest, "planned_packages": 6}
        names = [p["path"] for p in report["packages"]]
        assert names == [p.path for p in plan.shard(index).packages]
        expected = 1 if any(p["status"] == "fail" for p in report["packages"]) else 0
        assert code == expected
        seen += names
    assert sorted(seen) == sorted(paths)


def test_an_empty_shard_is_a_passing_report_with_its_block(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ENVCHECK_CACHE_DIR", str(tmp_path))
    assert main(["check", "--static", "--shard", "3/3", "--format", "json",
                 str(PKGS / "churn-ok")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["packages"] == [] and report["shard"]["index"] == 3


@pytest.mark.parametrize("args, message", [
    (["--shard", "5/4"], "envcheck: error: --shard '5/4': expected K/N with 1 <= K <= N"),
    (["--list-shards", "0"], "envcheck: error: --list-shards: 0 shards: expected 1 to 1000"),
    (["--list-shards", "two"], "argument --list-shards: invalid int value: 'two'"),
    (["--shard", "1/2", "--list-shards", "2"],
     "argument --list-shards: not allowed with argument --shard"),
    (["--list-shards", "2", "--format", "junit"],
     "envcheck: error: --list-shards prints the plan as text or json, not junit"),
])
def test_bad_shard_options_exit_two_with_one_line(args: list[str], message: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["check", *args, str(PKGS / "churn-ok")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
