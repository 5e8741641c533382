"""A JSON report read back is the report that was written; what is not one is named."""

from __future__ import annotations

import json

import pytest
from conftest import FIXTURES

from envcheck.commands.check import check_paths
from envcheck.model.options import Options
from envcheck.model.report_json import ReportFormatError, report_from_dict


def test_a_real_report_round_trips(tmp_path) -> None:
    paths = [FIXTURES / "packages" / "churn-sklearn-0.24.2",
             FIXTURES / "broken" / "bad-requirement-line", tmp_path]  # tmp_path: no package
    report = check_paths(paths, Options(static=True, cache_dir=tmp_path / "cache"))
    report.shard = {"index": 1, "count": 2, "plan": "p", "options": "o", "planned_packages": 3}
    data = json.loads(json.dumps(report.to_dict()))
    again = report_from_dict(data)
    assert again.to_dict() == data
    assert again.exit_code == report.exit_code == 2
    assert [p.status for p in again.packages] == [p.status for p in report.packages]
    located = [f for c in again.packages[1].checks for f in c.findings if f.line is not None]
    assert located and located[0].file == "requirements.txt" and located[0].line == 3


@pytest.mark.parametrize("data, message", [
    ([], "report: expected an object"),
    ({"packages": []}, "report.envcheck_version: missing or not of the expected type"),
    ({"envcheck_version": "1", "packages": [{"path": "p", "checks": [{"id": "load", "findings": []}]}]},
     "packages[0].checks[0].status: missing or not of the expected type"),
    ({"envcheck_version": "1", "packages": [{"path": "p", "checks": [
        {"id": "load", "status": "green", "findings": []}]}]},
     "packages[0].checks[0].status: unknown value 'green'"),
    ({"envcheck_version": "1", "packages": [{"path": "p", "checks": [
        {"id": "load", "status": "pass", "findings": [
            {"severity": "error", "message": "m", "line": True}]}]}]},
     "packages[0].checks[0].findings[0].line: missing or not of the expected type"),
    ({"envcheck_version": "1", "packages": [], "shard": "1/2"},
     "report.shard: missing or not of the expected type"),
])
def test_what_is_not_a_report_is_named(data: object, message: str) -> None:
    with pytest.raises(ReportFormatError) as exc:
        report_from_dict(data)
    assert str(exc.value) == message


def test_status_follows_the_checks_not_the_file() -> None:
    data = {"envcheck_version": "1", "packages": [{"path": "p", "status": "pass", "checks": [
        {"id": "load", "status": "fail", "findings": []}]}]}
    report = report_from_dict(data)
    assert report.packages[0].status.value == "fail" and report.exit_code == 1
