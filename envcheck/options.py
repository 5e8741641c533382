"""Options shared by the CLI, the Python API and the pytest plugin."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

DEFAULT_TIMEOUT_S = 300.0


# Set while a check runs with an explicit cache dir (--cache-dir, cache_dir=): then the
# small stores kept beside the environments (interpreter facts, artifact digests,
# validated metadata) follow it too.  A plain global, not a ContextVar: the -j worker
# threads must see it.
_cache_dir_override: Optional[Path] = None


@contextlib.contextmanager
def using_cache_dir(path: Optional[Path]) -> Iterator[None]:
    global _cache_dir_override
    previous = _cache_dir_override
    if path is not None:
        _cache_dir_override = Path(path)
    try:
        yield
    finally:
        _cache_dir_override = previous


def default_cache_dir() -> Path:
    """The cache in use: ``--cache-dir`` while a check runs with one, else
    ``$ENVCHECK_CACHE_DIR``, else the platform's user cache dir."""
    if _cache_dir_override is not None:
        return _cache_dir_override
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
