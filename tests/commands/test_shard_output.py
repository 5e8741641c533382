"""The plan as people and CI matrices read it: ``check --list-shards N``."""

from __future__ import annotations

import json
import re
from pathlib import Path

from conftest import FIXTURES

from envcheck.commands.cli import main
from envcheck.commands.shard_output import plan_dict, render_plan_text
from envcheck.commands.shards import plan_shards
from envcheck.model.options import Options

# The counts below describe these packages (fixtures/packages/ grows with every feature).
PLANNED = ("churn-ok", "churn-ok-py311", "churn-pipeline-joblib", "churn-sklearn-0.24.2",
           "churn-sklearn-1.3.2")
PATHS = [str(FIXTURES / "packages" / name) for name in PLANNED] + [
    str(FIXTURES / "broken" / "bad-requirement-line")]


def test_text_plan_names_each_shard_env_and_package() -> None:
    text = render_plan_text(plan_shards([Path(p) for p in PATHS], 2, Options()))
    lines = text.splitlines()
    assert re.fullmatch(r"envcheck shard plan [0-9a-f]{20}: 6 packages, 3 environments, "
                        r"2 shards \(weight: 6 per environment \+ 1 per package\)", lines[0])
    assert re.fullmatch(r"shard 1/2: 3 packages, 2 environments, weight 15, cache key "
                        r"[0-9a-f]{20}", lines[2])
    assert re.fullmatch(r"  env [0-9a-f]{12}  python ==3\.11\.\*", lines[3])
    assert lines[4:6] == [f"    {FIXTURES}/packages/churn-ok-py311",
                          f"    {FIXTURES}/packages/churn-sklearn-1.3.2"]
    shard2 = lines[lines.index(next(ln for ln in lines if ln.startswith("shard 2/2"))):]
    assert shard2[1:3] == ["  no environment (its requirements cannot be read)",
                           f"    {FIXTURES}/broken/bad-requirement-line"]
    assert re.fullmatch(r"  env [0-9a-f]{12}  python ==3\.8\.\*", shard2[3])


def test_json_plan_is_a_ready_matrix(capsys) -> None:
    assert main(["check", "--list-shards", "3", "--format", "json", *PATHS]) == 0
    data = json.loads(capsys.readouterr().out)
    plan = plan_shards([Path(p) for p in PATHS], 3, Options())
    assert data == plan_dict(plan)
    assert data["count"] == 3 and data["packages"] == 6 and data["environments"] == 3
    assert [e["shard"] for e in data["matrix"]["include"]] == ["1/3", "2/3", "3/3"]
    for entry, shard in zip(data["matrix"]["include"], data["shards"]):
        assert entry["cache-key"] == shard["cache_key"] and entry["index"] == shard["index"]
        assert sorted(p for e in shard["environments"] for p in e["packages"]) == \
            shard["packages"]
        assert shard["env_keys"] == sorted(e["key"] for e in shard["environments"] if e["key"])
    assert sorted(p for s in data["shards"] for p in s["packages"]) == sorted(PATHS)


def test_a_package_path_cannot_forge_plan_lines(tmp_path: Path) -> None:
    sneaky = tmp_path / "pkg\nshard 9/9: 0 packages"
    sneaky.mkdir(parents=True)
    text = render_plan_text(plan_shards([sneaky], 1, Options()))
    assert "\nshard 9/9" not in text and "pkg\\nshard 9/9: 0 packages" in text
