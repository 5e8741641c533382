"""envcheck: will this model package load and predict the same way on a fresh machine?"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only for the annotations; importing it for real is what check() defers
    from envcheck.findings import Report

__version__ = "0.1.0"


def check(*args: Any, **kwargs: Any) -> "Report":
    """See :func:`envcheck.api.check` (imported lazily to keep ``envcheck`` start-up fast)."""
    from envcheck.api import check as _check

    return _check(*args, **kwargs)


def record(*args: Any, **kwargs: Any) -> str:
    """See :func:`envcheck.api.record`."""
    from envcheck.api import record as _record

    return _record(*args, **kwargs)
