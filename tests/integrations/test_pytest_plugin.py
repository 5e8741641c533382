"""The pytest plugin: `pytest --envcheck PKG` turns each check into a test item."""

from __future__ import annotations

import pytest
from conftest import FIXTURES

pytest_plugins = ["pytester"]

SEED = FIXTURES / "packages" / "churn-sklearn-0.24.2"
OK_38 = FIXTURES / "packages" / "churn-ok"


def test_each_check_is_an_item(pytester: pytest.Pytester, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ENVCHECK_CACHE_DIR", str(tmp_path / "cache"))
    result = pytester.runpytest_subprocess("--envcheck", str(SEED), "--envcheck-static", "-rfs")
    # 17 checks: pickle.versions fails, 10 dynamic ones are skipped (--static), 6 pass.
    result.assert_outcomes(passed=7, failed=1, skipped=11)
    result.stdout.fnmatch_lines([
        "*pickle.versions failed:*",
        # the file once, then the message naming both versions
        "model.pkl: LogisticRegression was pickled with scikit-learn 0.24.2*1.2.2",
    ])
    assert result.ret == 1


def test_passing_package_passes(pytester: pytest.Pytester, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ENVCHECK_CACHE_DIR", str(tmp_path / "cache"))
    result = pytester.runpytest_subprocess("--envcheck", str(OK_38), "--envcheck-static")
    result.assert_outcomes(passed=8, skipped=11)
    assert result.ret == 0


def test_fixture_lets_a_project_assert_on_a_package(pytester: pytest.Pytester, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ENVCHECK_CACHE_DIR", str(tmp_path / "cache"))
    pytester.makepyfile(f"""
        def test_seed(envcheck_check):
            report = envcheck_check({str(SEED)!r}, static=True)
            package = report.packages[0]
            assert package.check("pickle.versions").status.value == "fail"
            assert report.exit_code == 1

        def test_unknown_option_is_a_type_error(envcheck_check):
            import pytest
            with pytest.raises(TypeError, match="colour"):
                envcheck_check({str(SEED)!r}, colour=True)
    """)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=2)
