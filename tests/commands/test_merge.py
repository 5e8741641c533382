"""``envcheck merge``: real shards merged into the report a single run gives (every format,
the exit code), and each way a set of shard reports can be wrong, named."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES

from envcheck.commands.merge import merge_reports
from envcheck.model.errors import FatalError
from envcheck.render.report import FORMATS

PKGS = FIXTURES / "packages"
# Two pairs that declare one env each, one package with an env of its own, one whose
# requirements cannot be read, one without metadata.yaml -- and (below) an empty directory,
# which is no package at all (exit 2).
FIXED = [PKGS / "churn-ok", PKGS / "churn-sklearn-0.24.2", PKGS / "churn-ok-py311",
         PKGS / "churn-sklearn-1.3.2", PKGS / "churn-pipeline-joblib",
         FIXTURES / "broken" / "bad-requirement-line", FIXTURES / "broken" / "no-metadata"]


@pytest.fixture
def packages(tmp_path: Path) -> list[str]:
    (tmp_path / "not-a-package").mkdir()
    return sorted([*map(str, FIXED), str(tmp_path / "not-a-package")])


def envcheck(*args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("ENVCHECK_")},
           "ENVCHECK_CACHE_DIR": str(cache), "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "envcheck", *args], capture_output=True,
                          text=True, env=env, timeout=1200)


def run_shards(tmp_path: Path, packages: list[str], count: int, cache: Path, *options: str
               ) -> list[Path]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(1, count + 1):
        out = tmp_path / f"shard-{index}.json"
        proc = envcheck("check", *options, "--shard", f"{index}/{count}", "--format", "json",
                        "--output", str(out), *packages, cache=cache)
        # 2 for the shard holding the non-package: its report is still written.
        assert out.is_file(), proc.stderr
        statuses = {p["status"] for p in json.loads(out.read_text())["packages"]}
        assert proc.returncode == (2 if "error" in statuses else 1 if "fail" in statuses
                                   else 0), proc.stderr
        paths.append(out)
    return paths


_PROBE_DIR = re.compile(r"envcheck-probe-\w+")
_TIMES = [(re.compile(r"\d+(?:\.\d+)? ?s\b"), "<time>"),
          (re.compile(r"peak memory \d+ MB"), "peak memory <n> MB")]


def normalized(data: Any) -> Any:
    """A report with what differs between two runs of the same check taken out: timings,
    peak memory, whether the env was reused or built (the build message with it)."""
    data = copy.deepcopy(data)
    for package in data["packages"]:
        package["duration_s"] = 0
        if package.get("environment"):
            package["environment"].pop("reused", None)
        for check in package["checks"]:
            check["duration_s"] = 0
            for finding in check["findings"]:
                if check["id"] == "env.build":
                    finding["message"] = finding["details"] = "<build or reuse>"
                    continue
                for pattern, repl in _TIMES:
                    finding["message"] = pattern.sub(repl, finding["message"])
                finding["details"] = _no_measurements(finding["details"])
    return data


def _no_measurements(value: Any, key: str = "") -> Any:
    """Timings (floats) and memory figures out of a finding's details, at any depth."""
    if isinstance(value, dict):
        return {k: _no_measurements(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_measurements(v) for v in value]
    if isinstance(value, float) or "memory" in key or key.endswith("_mb"):
        return "<measured>"
    if isinstance(value, str):  # the probe's private temp dir, in tracebacks
        return _PROBE_DIR.sub("envcheck-probe-<tmp>", value)
    return value


def _text_normalized(text: str) -> str:
    for pattern, repl in _TIMES:
        text = pattern.sub(repl, text)
    text = re.sub(r'time="[\d.]+"', 'time="<time>"', text)
    text = re.sub(r'"duration_s": [\d.]+', '"duration_s": 0', text)
    return re.sub(r"(reused|built) env \w+ .*", "<build or reuse>", text)


@pytest.mark.slow
def test_three_real_shards_merge_into_the_single_run(tmp_path: Path, envcheck_cache: Path,
                                                     packages: list[str]) -> None:
    single = envcheck("check", "--format", "json", *packages,
                      cache=envcheck_cache)
    assert single.returncode == 2, single.stderr  # not-a-package: envcheck cannot check it
    expected = json.loads(single.stdout)
    shards = run_shards(tmp_path, packages, 3, envcheck_cache)

    # Each real env (the cache key, not only the declared one) is used in one shard only.
    owners: dict[str, set[str]] = {}
    for shard in shards:
        for package in json.loads(shard.read_text())["packages"]:
            if package.get("environment"):
                owners.setdefault(package["environment"]["key"], set()).add(shard.name)
    assert len(owners) == 3 and all(len(s) == 1 for s in owners.values()), owners

    merged = envcheck("merge", *map(str, shards), "--format", "json", cache=envcheck_cache)
    assert merged.returncode == single.returncode, merged.stderr
    got = json.loads(merged.stdout)
    assert "shard" not in got
    assert [p["path"] for p in got["packages"]] == [p["path"] for p in expected["packages"]]
    for mine, theirs in zip(normalized(got)["packages"], normalized(expected)["packages"]):
        assert mine["status"] == theirs["status"], mine["path"]
        assert [c["id"] for c in mine["checks"]] == [c["id"] for c in theirs["checks"]]
        for check, reference in zip(mine["checks"], theirs["checks"]):
            assert check == reference, (mine["path"], check["id"])
        assert mine == theirs
    statuses = {Path(p["path"]).name: p["status"] for p in got["packages"]}
    assert statuses == {"churn-ok": "pass", "churn-sklearn-0.24.2": "fail",
                        "churn-ok-py311": "pass", "churn-sklearn-1.3.2": "fail",
                        "churn-pipeline-joblib": "fail", "bad-requirement-line": "fail",
                        "no-metadata": "fail", "not-a-package": "error"}


def test_every_format_and_the_exit_code_equal_a_single_run(tmp_path: Path,
                                                          packages: list[str]) -> None:
    cache = tmp_path / "cache"
    shards = run_shards(tmp_path, packages, 4, cache, "--static")
    for fmt in FORMATS:
        single = envcheck("check", "--static", "--format", fmt, *packages,
                          cache=cache)
        merged = envcheck("merge", *map(str, reversed(shards)), "--format", fmt, cache=cache)
        assert merged.returncode == single.returncode == 2, (fmt, merged.stderr)
        assert _text_normalized(merged.stdout) == _text_normalized(single.stdout), fmt
    # --output writes the merged report, and nothing goes to stdout.
    out = tmp_path / "merged.xml"
    proc = envcheck("merge", *map(str, shards), "--format", "junit", "-o", str(out),
                    cache=cache)
    assert proc.returncode == 2 and proc.stdout == "" and out.read_text().startswith("<?xml")


def _shard_files(tmp_path: Path, packages: list[str], count: int = 3) -> list[Path]:
    return run_shards(tmp_path, packages, count, tmp_path / "cache", "--static")


def _rewrite(path: Path, change: Any) -> Path:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    return path


def test_missing_duplicated_and_foreign_shards_are_named(tmp_path: Path,
                                                         packages: list[str]) -> None:
    one, two, three = _shard_files(tmp_path, packages)
    with pytest.raises(FatalError, match=r"^missing shard 2/3: no report given for it"):
        merge_reports([one, three])
    with pytest.raises(FatalError, match=r"^missing shards 2/3, 3/3: "):
        merge_reports([one])
    with pytest.raises(FatalError, match=rf"^shard 3/3 is given 2 times: {re.escape(str(three))}"
                                         rf", {re.escape(str(three))}$"):
        merge_reports([one, two, three, three])
    single = tmp_path / "single.json"
    single.write_text(envcheck("check", "--static", "--format", "json", str(PKGS / "churn-ok"),
                               cache=tmp_path / "cache").stdout)
    with pytest.raises(FatalError, match=r"single\.json: not a shard report \(it has no "
                                         r"'shard' block\)"):
        merge_reports([one, two, three, single])
    other = _shard_files(tmp_path / "other", packages, 2)[0]
    with pytest.raises(FatalError, match=r"^the reports come from different plans: .*shard-1"
                                         r"\.json \(plan \w+, 3 shards\), .*, 2 shards\)"):
        merge_reports([one, two, three, other])


def test_mixed_versions_options_and_broken_files_are_errors(tmp_path: Path,
                                                           packages: list[str]) -> None:
    one, two, three = _shard_files(tmp_path, packages)
    strict = run_shards(tmp_path / "strict", packages, 3, tmp_path / "cache", "--static",
                        "--strict")
    with pytest.raises(FatalError, match=r"^the reports come from different options: .*"
                                         r"every shard must be checked with the same options"):
        merge_reports([one, two, strict[2]])
    _rewrite(three, lambda d: d.update(envcheck_version="0.0.1"))
    with pytest.raises(FatalError, match=r"^the reports come from different envcheck versions:"
                                         r" .*\(0\.0\.1\); run every shard with the same"):
        merge_reports([one, two, three])
    _rewrite(three, lambda d: d.update(envcheck_version=json.loads(one.read_text())[
        "envcheck_version"]))
    moved = json.loads(one.read_text())["packages"][0]
    _rewrite(two, lambda d: d["packages"].append(moved))
    with pytest.raises(FatalError, match=r"is in two shards' reports: .*shard-1\.json and "
                                         r".*shard-2\.json$"):
        merge_reports([one, two, three])
    _rewrite(two, lambda d: d["packages"].pop())
    _rewrite(one, lambda d: d["packages"].pop())
    with pytest.raises(FatalError, match=r"^the shards' reports hold 7 packages but the plan "
                                         r"has 8: a shard's report is incomplete$"):
        merge_reports([one, two, three])
    for text, message in [("{", "not JSON of envcheck"),
                          ("[]", "not a JSON report of envcheck (report: expected an object)"),
                          ('{"envcheck_version": "1", "packages": [{"path": 3, "checks": []}]}',
                           "packages[0].path: missing or not of the expected type"),
                          ('{"envcheck_version": "1", "packages": [], "shard": {"index": 4, '
                           '"count": 3, "plan": "p", "options": "o", "planned_packages": 1}}',
                           "shard 4/3 does not exist"),
                          ('{"envcheck_version": "1", "packages": [], "shard": {"index": true}}',
                           "shard.index is missing or not a whole number")]:
        bad = tmp_path / "bad.json"
        bad.write_text(text)
        with pytest.raises(FatalError) as exc:
            merge_reports([one, bad])
        assert str(exc.value).startswith(f"{bad}: ") and message in str(exc.value), exc.value
    with pytest.raises(FatalError, match=r"nope\.json: cannot read it: No such file"):
        merge_reports([tmp_path / "nope.json"])


def test_merge_cli_errors_are_one_line_exit_two(tmp_path: Path, packages: list[str]) -> None:
    one, _two, three = _shard_files(tmp_path, packages)
    proc = envcheck("merge", str(one), str(three), cache=tmp_path / "cache")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == ("envcheck: error: missing shard 2/3: no report given for it (did "
                           "its job fail before writing its report?)\n")
    proc = envcheck("merge", cache=tmp_path / "cache")
    assert proc.returncode == 2 and "the following arguments are required: REPORT.json" \
        in proc.stderr
