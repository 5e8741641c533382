"""envcheck: will this model package load and predict the same way on a fresh machine?"""

__version__ = "0.1.0"


def check(*args, **kwargs):  # type: ignore[no-untyped-def]
    """See :func:`envcheck.api.check` (imported lazily to keep ``envcheck`` start-up fast)."""
    from envcheck.api import check as _check

    return _check(*args, **kwargs)


def record(*args, **kwargs):  # type: ignore[no-untyped-def]
    """See :func:`envcheck.api.record`."""
    from envcheck.api import record as _record

    return _record(*args, **kwargs)
