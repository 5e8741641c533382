"""Renderers: every format from one report, checked for shape, not just for "no crash"."""

from __future__ import annotations

import json
from xml.etree import ElementTree as ET

import pytest

from envcheck.model.findings import (
    CheckResult,
    PackageReport,
    Report,
    Status,
    error,
    info,
    warning,
)
from envcheck.render.github import render_github
from envcheck.render.report import render
from envcheck.render.text import render_text, use_colour


@pytest.fixture
def report() -> Report:
    failing = PackageReport(
        path="fixtures/packages/churn-sklearn-0.24.2", name="churn-model", duration_s=1.5,
        environment={"python": "3.8.18", "key": "ab" * 32, "reused": True, "installer": "uv",
                     "packages": {"scikit-learn": "1.2.2"}},
        checks=[
            CheckResult.from_findings("package.layout", [info("all four components found")]),
            CheckResult.from_findings("requirements.pinned", [
                warning("pandas>=1.0 is not pinned with ==", file="requirements.txt", line=3)]),
            CheckResult.from_findings("load.warnings", [error(
                "LogisticRegression was pickled with scikit-learn 0.24.2 and loaded with 1.2.2",
                details={"estimator": "LogisticRegression", "pickled_with": "0.24.2",
                         "loaded_with": "1.2.2"}, file="model.pkl")]),
            CheckResult.skipped("predict.smoke", "the model did not load"),
        ])
    passing = PackageReport(path="fixtures/packages/churn-ok", name="churn-ok",
                            checks=[CheckResult.from_findings("load", [info("loaded in 0.3 s")])])
    return Report(envcheck_version="0.1.0", packages=[failing, passing])


def test_status_follows_worst_finding(report: Report) -> None:
    failing, passing = report.packages
    assert [c.status for c in failing.checks] == [Status.PASS, Status.WARN, Status.FAIL, Status.SKIP]
    assert failing.status is Status.FAIL
    assert passing.status is Status.PASS
    assert report.exit_code == 1


def test_exit_code_two_for_internal_error(report: Report) -> None:
    report.packages[1].internal_error = "not a model package"
    assert report.exit_code == 2


def test_json_matches_design_contract(report: Report) -> None:
    data = json.loads(render(report, "json"))
    assert data["envcheck_version"] == "0.1.0"
    package = data["packages"][0]
    assert set(package) >= {"path", "name", "status", "duration_s", "environment", "checks"}
    assert package["status"] == "fail"
    assert package["environment"]["installer"] == "uv"
    check = package["checks"][2]
    assert check["id"] == "load.warnings" and check["status"] == "fail"
    finding = check["findings"][0]
    assert finding["severity"] == "error"
    assert finding["details"] == {"estimator": "LogisticRegression", "pickled_with": "0.24.2",
                                  "loaded_with": "1.2.2"}


def test_junit_parses_and_counts(report: Report) -> None:
    root = ET.fromstring(render(report, "junit"))
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["churn-model", "churn-ok"]
    assert suites[0].get("failures") == "1" and suites[0].get("skipped") == "1"
    cases = {c.get("name"): c for c in suites[0].findall("testcase")}
    assert cases["load.warnings"].find("failure") is not None
    assert "0.24.2" in cases["load.warnings"].find("failure").get("message")
    assert cases["predict.smoke"].find("skipped") is not None
    assert cases["package.layout"].find("failure") is None


def test_text_has_one_line_per_check_and_summary(report: Report) -> None:
    text = render_text(report, colour=False)
    assert "\033[" not in text
    assert "FAIL   load.warnings" in text
    assert "requirements.txt:3: pandas>=1.0 is not pinned" in text
    assert text.rstrip().endswith("envcheck: 2 packages: 1 passed, 1 failed")
    coloured = render_text(report, colour=True)
    assert "\033[31m" in coloured


def test_markdown_table(report: Report) -> None:
    md = render(report, "markdown")
    assert "| `load.warnings` | ❌ fail |" in md
    assert md.count("| check | status | findings |") == 2


def test_github_annotations_point_at_files(report: Report) -> None:
    lines = render_github(report).splitlines()
    assert ("::warning file=fixtures/packages/churn-sklearn-0.24.2/requirements.txt,line=3,"
            "title=requirements.pinned::pandas>=1.0 is not pinned with ==") in lines
    assert any(line.startswith("::error file=fixtures/packages/churn-sklearn-0.24.2/model.pkl,")
               for line in lines)


def test_no_colour_when_not_a_tty_or_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty:
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_colour(Tty())  # type: ignore[arg-type]
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_colour(Tty())  # type: ignore[arg-type]
