"""Options shared by the CLI, the Python API and the pytest plugin, validated in one place.

:meth:`Options.validated` is the single gate: the CLI and the API both build their
options through it, so ``memory="lots"`` is a :class:`UsageError` before anything is
built, whichever surface it came from.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from envcheck.model.errors import UsageError

DEFAULT_TIMEOUT_S = 300.0
DEFAULT_RTOL = 1e-05  # numpy.allclose's defaults
DEFAULT_ATOL = 1e-08
DEFAULT_MAX_OUTPUT_MB = 8.0  # stdout/stderr the package may write before it is stopped


class UnknownOptionError(UsageError, TypeError):
    """An option envcheck does not have: a TypeError too, as for any unexpected keyword."""

INSTALLERS = ("auto", "uv", "pip")


def default_cache_dir() -> Path:
    """``$ENVCHECK_CACHE_DIR``, else the platform's user cache dir."""
    explicit = os.environ.get("ENVCHECK_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    import platformdirs  # imported here: only commands that touch the cache pay for it

    return Path(platformdirs.user_cache_dir("envcheck"))


def parse_memory(text: str) -> int:
    """``"512M"``, ``"2G"``, ``"1.5GiB"``, ``"1048576"`` -> bytes.  ValueError otherwise."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*", str(text), re.IGNORECASE)
    if not match:
        raise ValueError(f"--memory {text!r}: expected a size like 512M or 2G")
    number, unit = float(match.group(1)), match.group(2).upper()
    value = int(number * 1024 ** " KMGT".index(unit or " "))
    if value < 64 * 1024 * 1024:
        raise ValueError(f"--memory {text!r}: below 64M no Python interpreter starts")
    return value


@dataclass
class Options:
    strict: bool = False
    static: bool = False  # read the package and its pickles only: no env, no code run
    installer: str = "auto"  # auto | uv | pip
    python: Optional[str] = None  # override the interpreter the package asks for
    timeout_s: Optional[float] = None  # None: metadata's envcheck.timeout, else DEFAULT
    memory: Optional[str] = None  # e.g. "512M"; None: no limit
    allow_warnings: list[str] = field(default_factory=list)  # regexes
    trust_pickle: list[str] = field(default_factory=list)  # "module.name" / "module:name"
    rtol: Optional[float] = None
    atol: Optional[float] = None
    jobs: int = 1
    cache_dir: Optional[Path] = None
    progress: bool = False  # show progress on stderr (text output on a terminal)
    # Let the installer build sdists (their build backend runs); wheels only otherwise.
    allow_build: bool = False
    # Ignore the package's own `envcheck:` settings (audits of third-party packages).
    ignore_package_settings: bool = False
    # Fail (not just warn) when a sandbox layer could not be applied (CI gates).
    require_sandbox: bool = False
    # Let the probe reach the network (closed by default).
    allow_network: bool = False
    # `envcheck matrix`: canonical name -> version replacing the package's own pin.
    requirement_overrides: dict[str, str] = field(default_factory=dict)

    @classmethod
    def validated(cls, **values: Any) -> "Options":
        """Options from keyword values, or a :class:`UsageError` naming what is wrong."""
        unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise UnknownOptionError(f"unknown envcheck option(s): {', '.join(sorted(unknown))}")
        options = cls(**values)
        options._check()
        return options

    def _check(self) -> None:
        if self.installer not in INSTALLERS:
            raise UsageError(f"installer {self.installer!r}: expected one of "
                             f"{', '.join(INSTALLERS)}")
        if self.memory is not None:
            try:
                parse_memory(str(self.memory))
            except ValueError as exc:
                raise UsageError(str(exc)) from None
        for name in ("timeout_s", "rtol", "atol"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value) or value < 0 or (name == "timeout_s"
                                                                 and value == 0):
                raise UsageError(f"{name} {value!r}: expected a positive number")
        if isinstance(self.jobs, bool) or not isinstance(self.jobs, int) or self.jobs < 1:
            raise UsageError(f"jobs {self.jobs!r}: expected a whole number of at least 1")
        for pattern in self.allow_warnings:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise UsageError(f"allow_warnings {pattern!r}: not a regular expression "
                                 f"({exc})") from None
        if self.cache_dir is not None:
            self.cache_dir = Path(self.cache_dir)
        self.allow_warnings = list(self.allow_warnings)
        self.trust_pickle = list(self.trust_pickle)

    def resolved_cache_dir(self) -> Path:
        """The root of every store envcheck keeps: ``--cache-dir``, else the default."""
        return self.cache_dir if self.cache_dir is not None else default_cache_dir()
