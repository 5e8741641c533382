"""What is installed in a virtualenv, read from its files: nothing in the env is executed.

Asking the env's own interpreter (``python -c "import importlib.metadata ..."``) runs
every ``.pth`` file in its site-packages, i.e. code from any wheel, with envcheck's full
environment and outside any sandbox.  This module reads the same metadata as
``importlib.metadata.distributions()`` does inside the env, and agrees with it, but only
lists directories and reads small text files:

* the site-packages directories come from listing ``lib/`` (no ``sysconfig`` query);
* a distribution is a ``*.dist-info`` or ``*.egg-info`` entry there (suffix matched
  case-insensitively, as importlib.metadata does), its metadata the first non-empty of
  ``METADATA``, ``PKG-INFO`` or, for a legacy ``.egg-info`` *file*, the entry itself;
* only the RFC 822 header part is parsed, at most ``MAX_METADATA_BYTES`` are read, and
  bad UTF-8 is replaced rather than fatal;
* a name listed twice keeps the first one in ``sys.path`` order, as importlib.metadata's
  first match does.

A wheel controls the names and the symlinks it installs, so every file is opened only
if its resolved path is inside the venv, and only if it is a regular file (a symlinked
``METADATA`` pointing at ``/proc/self/environ``, or a FIFO that would block the read,
is skipped).  What was skipped is reported, not raised: ``read_distributions`` returns
those problems beside the distributions, ``installed_distributions`` drops them.

Unlike importlib.metadata, directories that ``.pth`` files add to ``sys.path`` are not
searched (interpreting them is what this module avoids, and they may point anywhere);
``pth_files`` lists the ``.pth`` files so a report can name them.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

from packaging.utils import canonicalize_name

# A real header is a few KiB (scipy's, with its licenses inlined, 58 KiB); the read
# stops here for a hostile one.
MAX_METADATA_BYTES = 1 << 20
_CHUNK = 64 << 10
_INFO_SUFFIXES = (".dist-info", ".egg-info")
# What email.feedparser accepts as a header name; any other line ends the header part.
_HEADER_NAME = re.compile(r"[\x21-\x39\x3b-\x7e]+")
_LINE_END = re.compile(r"\r\n|\r|\n")
_PY_DIR = re.compile(r"(?:python|pypy)(\d+)\.(\d+)t?")  # lib/python3.13t: free-threaded


@dataclass(frozen=True)
class InstalledDistribution:
    name: str  # as its metadata spells it, e.g. "PyYAML"
    version: str
    path: Path  # the .dist-info / .egg-info entry, as found in site-packages


def read_pyvenv_cfg(venv: Path) -> dict[str, str]:
    """The venv's ``pyvenv.cfg`` (keys lowercased, values stripped); {} if it has none.

    Parsed the way ``site.venv()`` does.  ``version`` is always the X.Y.Z version when
    the creator wrote one at all: ``python -m venv`` writes ``version``, uv only
    ``version_info = 3.11.7``, virtualenv both (``version_info = 3.11.7.final.0``).
    """
    data = _read_inside(os.path.realpath(venv), Path(venv) / "pyvenv.cfg", [])
    cfg: dict[str, str] = {}
    for line in (data or b"").decode("utf-8", "replace").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            cfg.setdefault(key.strip().lower(), value.strip())
    if "version" not in cfg and "version_info" in cfg:
        cfg["version"] = ".".join(cfg["version_info"].split(".")[:3])
    return cfg


def site_packages_dirs(venv: Path) -> list[Path]:
    """The venv's site-packages directories in ``sys.path`` order, found by listing.

    ``lib/pythonX.Y/site-packages`` (also ``pypyX.Y``, ``pythonX.Yt``), preceded by a
    ``lib64`` one when that is a distinct directory (then ``sys.platlibdir`` is
    "lib64", which ``site`` puts first), and the Windows ``Lib/site-packages``.  A
    ``lib64 -> lib`` symlink is not listed twice; a directory resolving outside the
    venv is not listed at all.  When ``lib`` holds several Pythons, the one
    ``pyvenv.cfg`` names wins.
    """
    venv = Path(venv)
    root = os.path.realpath(venv)
    version = read_pyvenv_cfg(venv).get("version", "")
    seen: set[str] = set()

    def new(paths: list[Path]) -> list[Path]:
        return [path for path in paths if _new_dir_inside(path, root, seen)]

    lib = new(_python_site_dirs(venv / "lib", version))  # first: lib64 -> lib is "lib"
    lib64 = new(_python_site_dirs(venv / "lib64", version))
    return lib64 + lib + new([venv / "Lib" / "site-packages"])


def _python_site_dirs(lib: Path, version: str) -> list[Path]:
    """``lib/<python>/site-packages`` dirs, only ``version``'s if that one is there."""
    try:
        names = sorted(os.listdir(lib))
    except OSError:
        return []
    found: dict[str, list[Path]] = {}
    for name in names:
        m = _PY_DIR.fullmatch(name)
        if m and (lib / name / "site-packages").is_dir():
            found.setdefault(f"{m.group(1)}.{m.group(2)}", []).append(
                lib / name / "site-packages")
    xy = ".".join(version.split(".")[:2])
    return found[xy] if xy in found else [path for paths in found.values() for path in paths]


def _new_dir_inside(path: Path, root: str, seen: set[str]) -> bool:
    """Whether ``path`` is a directory inside ``root`` not seen yet (then it is now)."""
    real = os.path.realpath(path)
    if real in seen or not os.path.isdir(real) or not _inside(real, root):
        return False
    seen.add(real)
    return True


def read_distributions(
        venv: Path) -> tuple[dict[str, InstalledDistribution], list[str]]:
    """The venv's distributions by canonical name, and what was skipped and why."""
    root = os.path.realpath(venv)
    found: dict[str, InstalledDistribution] = {}
    problems: list[str] = []
    for site in site_packages_dirs(Path(venv)):
        for entry in sorted(os.listdir(site)):
            if not entry.lower().endswith(_INFO_SUFFIXES):
                continue
            path = site / entry
            fields = _name_and_version_of(root, path, problems)
            if fields is None:
                continue
            name, version = fields
            if not name or not version:
                problems.append(f"{path}: metadata has no Name or no Version")
                continue
            key = canonicalize_name(name)
            if key in found:
                problems.append(f"{path}: ignored, {name} is already installed by "
                                f"{found[key].path}")
                continue
            found[key] = InstalledDistribution(name, version, path)
    return found, problems


def installed_distributions(venv: Path) -> dict[str, InstalledDistribution]:
    """``read_distributions`` without the problems: what importlib.metadata would list
    inside the env, less what it is unsafe to read."""
    return read_distributions(venv)[0]


def pth_files(venv: Path) -> list[Path]:
    """The ``.pth`` files in the venv's site-packages, in the order ``site`` runs them
    (hidden ones too, which newer Pythons skip): each of their lines that starts with
    ``import`` is executed at every interpreter start."""
    return [site / name for site in site_packages_dirs(venv)
            for name in sorted(os.listdir(site)) if name.endswith(".pth")]


def _name_and_version_of(root: str, info: Path, problems: list[str]
                         ) -> Optional[tuple[Optional[str], Optional[str]]]:
    """The Name and Version of ``info``'s metadata; None (with a problem) if unreadable."""
    reported = len(problems)
    # importlib.metadata's order; a legacy .egg-info *file* is its own PKG-INFO.
    candidates = (info / "METADATA", info / "PKG-INFO") if info.is_dir() else (info,)
    for candidate in candidates:
        try:
            data = _read_inside(root, candidate, problems, header_only=True)
        except OSError as exc:
            problems.append(f"{candidate}: unreadable ({exc.strerror or exc})")
            continue
        if data:  # an empty METADATA falls through to PKG-INFO, as in importlib
            return _name_and_version(data.decode("utf-8", "replace"))
    if len(problems) == reported:
        problems.append(f"{info}: has no METADATA or PKG-INFO")
    return None


def _name_and_version(text: str) -> tuple[Optional[str], Optional[str]]:
    """The first Name and Version header fields (email.message semantics: field names
    are case-insensitive, the first occurrence wins, the header part ends at the first
    blank line or at the first line that is not a header)."""
    fields: dict[str, str] = {}
    for line in _lines(text):
        if not line:
            break  # the blank line: the body (the long description) follows
        if line[0] in " \t":
            continue  # a folded continuation line of the previous field
        key, sep, value = line.partition(":")
        if not sep or not _HEADER_NAME.fullmatch(key):
            break  # not a header line: email's parser starts the body here too
        key = key.lower()
        if key in ("name", "version"):
            fields.setdefault(key, value.lstrip(" \t"))  # email keeps trailing blanks
            if len(fields) == 2:
                break  # later lines cannot change them; some headers run to 1000 lines
    return fields.get("name"), fields.get("version")


def _lines(text: str) -> Iterator[str]:
    """``text``'s lines, lazily, split where email's parser splits them (at CRLF, CR or
    LF only: str.splitlines() would also split a value at form feeds or U+2028)."""
    start = 0
    for m in _LINE_END.finditer(text):
        yield text[start:m.start()]
        start = m.end()
    yield text[start:]


def _read_inside(root: str, path: Path, problems: list[str],
                 header_only: bool = False) -> Optional[bytes]:
    """The first ``MAX_METADATA_BYTES`` of the regular file ``path`` (with
    ``header_only``, less once a blank line ends the header part).

    None if it does not exist, or if it resolves outside the directory ``root`` (then a
    problem says so).  OSError if it is not a regular file or cannot be read.
    """
    real = os.path.realpath(path)
    if not _inside(real, root):
        if os.path.lexists(path):
            problems.append(f"{path}: refused, it resolves outside the venv")
        return None
    # O_NOFOLLOW: the last component was resolved above and must not be swapped for a
    # symlink since; O_NONBLOCK: opening a FIFO must not hang (it is refused below).
    flags = (os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
             | getattr(os, "O_BINARY", 0))
    try:
        fd = os.open(real, flags)
    except FileNotFoundError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError("not a regular file")
        data = b""
        while len(data) < MAX_METADATA_BYTES:
            chunk = os.read(fd, min(_CHUNK, MAX_METADATA_BYTES - len(data)))
            if not chunk:
                break
            data += chunk
            if header_only and (b"\n\n" in data or b"\r\n\r\n" in data):
                break  # the header part is complete: the description is not needed
        return data
    finally:
        os.close(fd)


def _inside(real: str, root: str) -> bool:
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)
