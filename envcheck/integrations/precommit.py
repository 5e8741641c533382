"""The pre-commit hook: check the model packages a commit touches.

pre-commit calls ``python -m envcheck.integrations.precommit [hook args] FILE...`` with the changed
files that match the hook's ``files`` pattern.  Each file is mapped to its package root
(the nearest directory, the file's own or above, that a package format recognises: a
metadata.yaml, an MLflow MLmodel, ... -- every format of
:data:`envcheck.read.formats.FORMATS`, so a format registered there is recognised here
too; its marker file must also match the ``files`` pattern of .pre-commit-hooks.yaml,
which already names BentoML's bentofile.yaml, bento.yaml and model.yaml); the roots are
deduplicated and checked with the same options as ``envcheck check`` (``--static``,
``--strict``, ``--format``...).  The exit code is envcheck's: 0 pass, 1 a check failed,
2 envcheck could not do its job.  A file in no package is ignored: a hook must not fail
a commit that touches no model package.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Iterable, Optional, Sequence

from envcheck.commands.cli import build_parser, cmd_check
from envcheck.commands.error_handler import EXIT_OK, error_handler
from envcheck.read.bentoml_package import is_bento
from envcheck.read.formats import FORMATS

# Appended so argparse's "PKG..." never comes out empty, then removed again.
_SENTINEL = "\x00no-package"


def package_root(filename: str | os.PathLike[str], stop: Optional[Path] = None) -> Optional[Path]:
    """The package a changed file belongs to: the nearest directory a format recognises.

    The walk goes up from the file's directory (a directory passed as such counts itself)
    and stops at ``stop`` (default: the current directory, the repository pre-commit runs
    in) -- a package above the repository belongs to nobody's commit.
    """
    stop = (stop or Path.cwd()).resolve()
    path = Path(filename)
    if not path.is_absolute():
        path = Path.cwd() / path
    path = path.resolve()
    current = path if path.is_dir() else path.parent
    nearest: Optional[Path] = None
    while True:
        if nearest is None and is_package_dir(current):
            nearest = current
        if nearest is not None and is_bento(current):
            # A bento holds model-store entries (models/<name>/<version>/model.yaml), which
            # are packages of their own: a file inside one belongs to the bento around it.
            return current
        if current == stop or current.parent == current:
            return nearest
        try:
            current.relative_to(stop)
        except ValueError:  # outside the repository: never walk up into someone else's tree
            return nearest
        current = current.parent


def is_package_dir(path: Path) -> bool:
    """Whether some package format (native, MLflow, ...) recognises the directory."""
    return any(fmt.detect(path) for fmt in FORMATS)


def package_roots(filenames: Iterable[str | os.PathLike[str]],
                  stop: Optional[Path] = None) -> list[Path]:
    """Distinct package roots of ``filenames``, in the order first seen."""
    roots: dict[Path, None] = {}
    for name in filenames:
        root = package_root(name, stop)
        if root is not None:
            roots.setdefault(root, None)
    return list(roots)


def _shown(root: Path) -> Path:
    """A root as the user would write it: relative to the repository when inside it.

    GitHub-style annotations and the report use this path, so it must not be absolute."""
    try:
        relative = root.relative_to(Path.cwd().resolve())
    except ValueError:
        return root
    return relative if str(relative) != "." else Path(".")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the hook; returns the exit code."""
    args_in = list(sys.argv[1:] if argv is None else argv)
    with error_handler():
        # The check command's own parser: options mean exactly what they mean there, and
        # option values ("--python 3.8") are never mistaken for file names.
        args = build_parser().parse_args(["check", *args_in, _SENTINEL])
        filenames = [str(p) for p in args.packages if str(p) != _SENTINEL]
        roots = package_roots(filenames)
        if not roots:
            return EXIT_OK
        args.packages = [_shown(root) for root in roots]
        return cmd_check(args)
    return 2  # not reached: error_handler exits


if __name__ == "__main__":
    raise SystemExit(main())
