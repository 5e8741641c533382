"""pytest plugin (entry point ``pytest11``).

* ``pytest --envcheck PKG [--envcheck PKG2]`` adds one test item per check of each package
  (``envcheck::churn-model::load.warnings``); a failed check fails its item, a skipped one
  is skipped.
* The ``envcheck_check`` fixture lets a project's own tests assert on a package::

      def test_model_package(envcheck_check):
          report = envcheck_check("models/churn")
          assert report.packages[0].check("load.warnings").status.value == "pass"
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional, Union

import pytest

from envcheck.model import checks
from envcheck.model.findings import PackageReport, Report, Status

if TYPE_CHECKING:  # pytest does not export it publicly; only for the annotation
    from _pytest._code.code import TerminalRepr


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("envcheck", "model package checks")
    group.addoption("--envcheck", action="append", default=[], metavar="PKG",
                    help="check model package PKG; each check becomes a test item")
    group.addoption("--envcheck-static", action="store_true",
                    help="with --envcheck: read packages and pickles only, build nothing")


class _PackageRun:
    """Runs envcheck once per package, however many items ask for its checks."""

    def __init__(self, path: Path, static: bool) -> None:
        self.path = path
        self.static = static
        self._report: Optional[PackageReport] = None

    def report(self) -> PackageReport:
        if self._report is None:
            from envcheck.integrations.api import (
                check,  # lazy: every pytest run loads this plugin
            )

            self._report = check(self.path, static=self.static).packages[0]
        return self._report


class EnvcheckItem(pytest.Item):
    def __init__(self, *, run: _PackageRun, check_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.run = run
        self.check_id = check_id

    def runtest(self) -> None:
        package = self.run.report()
        if package.internal_error:
            raise EnvcheckFailure(f"envcheck could not check {self.run.path}: "
                                  f"{package.internal_error}")
        result = package.check(self.check_id)
        if result is None or result.status is Status.SKIP:
            reason = result.findings[0].message if result and result.findings else "not run"
            pytest.skip(reason)
        if result.status in (Status.FAIL, Status.ERROR):
            from envcheck.render.report import finding_line

            raise EnvcheckFailure("\n".join(finding_line(f) for f in result.findings))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None
                     ) -> Union[str, TerminalRepr]:
        if isinstance(excinfo.value, EnvcheckFailure):
            return f"{self.check_id} failed:\n{excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, None, str]:
        return self.run.path, None, f"envcheck {self.run.path} {self.check_id}"


class EnvcheckFailure(AssertionError):
    pass


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    static = config.getoption("envcheck_static")
    for raw in config.getoption("envcheck"):
        run = _PackageRun(Path(raw), static)
        for check_id in checks.CHECK_IDS:
            items.append(EnvcheckItem.from_parent(session, name=f"envcheck[{raw}]::{check_id}",
                                                  run=run, check_id=check_id))


@pytest.fixture
def envcheck_check() -> Iterator[Callable[..., Report]]:
    """``envcheck_check(path, **options) -> Report`` (options as in :func:`envcheck.check`)."""
    from envcheck.integrations.api import check

    yield check
