"""Options shared by the CLI, the Python API and the pytest plugin."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

DEFAULT_TIMEOUT_S = 300.0


def default_cache_dir() -> Path:
    """``$ENVCHECK_CACHE_DIR`` or the platform's user cache dir."""
    explicit = os.environ.get("ENVCHECK_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    import platformdirs  # imported here: only commands that touch the cache pay for it

    return Path(platformdirs.user_cache_dir("envcheck"))


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
    # `envcheck matrix`: canonical name -> version replacing the package's own pin.
    requirement_overrides: dict[str, str] = field(default_factory=dict)

    def resolved_cache_dir(self) -> Path:
        return self.cache_dir if self.cache_dir is not None else default_cache_dir()
