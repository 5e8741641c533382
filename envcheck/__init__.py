"""envcheck: will this model package load and predict the same way on a fresh machine?"""

from typing import TYPE_CHECKING, Any

from envcheck.model.version import __version__

if TYPE_CHECKING:  # only for the annotations; importing it for real is what check() defers
    from envcheck.model.findings import Report

__all__ = ["__version__", "check", "record"]


def check(*args: Any, **kwargs: Any) -> "Report":
    """See :func:`envcheck.integrations.api.check` (imported lazily: the root package is a
    surface, and ``import envcheck`` stays fast)."""
    from envcheck.integrations.api import check as _check

    return _check(*args, **kwargs)


def record(*args: Any, **kwargs: Any) -> str:
    """See :func:`envcheck.integrations.api.record`."""
    from envcheck.integrations.api import record as _record

    return _record(*args, **kwargs)
