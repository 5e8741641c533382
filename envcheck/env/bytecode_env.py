"""Bytecode for one env: linked from the store where an entry fits, compiled in the env
for the rest, and -- once the env's manifest has hashed every file -- what was linked
compared with what the store recorded, and what was compiled stored (see
:mod:`envcheck.env.bytecode` for the store itself and why a pyc never meets another
source).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from envcheck.env import distributions, manifest
from envcheck.env.bytecode import (
    MANIFEST,
    MARKER,
    SKIPPED_DIRS,
    Journal,
    Target,
    adopt,
    link,
    remove_entry,
    store_dir,
    targets,
)
from envcheck.env.interpreters import Interpreter


@dataclass
class Outcome:
    """What ``provide`` did for one env (kept in its meta.json, shown by progress)."""

    linked: list[str] = field(default_factory=list)  # "name==version" linked from the store
    compiled: list[str] = field(default_factory=list)  # compiled here (and stored)
    entries: list[str] = field(default_factory=list)  # the store entries the env holds
    notes: list[str] = field(default_factory=list)  # store entries found unusable, and why
    files_compiled: int = 0
    # For settle(): linked with their pycs not yet verified; compiled here, to store.
    unverified: list[Target] = field(default_factory=list, repr=False)
    to_store: list[Target] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"linked": self.linked, "compiled": self.compiled, "entries": self.entries,
                "files_compiled": self.files_compiled}


CompileRun = Callable[[list[Path]], Any]  # compiles these sources; returns the process


def provide(root: Path, venv: Path, interpreter: Interpreter, compile_run: CompileRun,
            journal: Journal, share: bool = True, verify_stored: bool = True
            ) -> tuple[Outcome, Any]:
    """Bytecode for everything in the env: linked from the store where an entry fits,
    compiled (``compile_run``) for the rest (``share=False``: all compiled here, nothing
    linked or stored).  Returns the outcome and the compile process (None when nothing
    needed compiling).  What was compiled is stored, and with ``verify_stored=False``
    what was linked verified, by ``settle`` after the env's manifest is written."""
    outcome = Outcome()
    covered: set[Path] = set()
    missing: list[Target] = []
    for target in targets(venv, interpreter, check_files=verify_stored) if share else []:
        try:
            count, problem = link(root, target, journal, verify=verify_stored)
        except OSError as exc:  # a full disk, a store gone read-only: compile it here
            count, problem = None, f"it could not be linked ({exc})"
        if problem:
            outcome.notes.append(f"the stored bytecode of {target.name} {target.version} "
                                 f"was not used: {problem}")
        if count is None:
            missing.append(target)
            continue
        outcome.linked.append(f"{target.name}=={target.version}")
        outcome.entries.append(target.key)
        if not verify_stored:
            outcome.unverified.append(target)
        covered.update(target.site / rel for rel, _sha in target.sources)
    for target in missing:  # a pyc the wheel shipped is never taken for a compiled one
        for rel, _sha in target.sources:
            try:
                os.unlink(target.site / target.pyc(rel))
            except FileNotFoundError:
                pass
    sources = [path for path in _python_files(venv) if path not in covered]
    proc = compile_run(sources) if sources else None
    outcome.files_compiled = len(sources)
    if proc is not None and proc.returncode != 0:
        return outcome, proc
    for target in missing:
        outcome.compiled.append(f"{target.name}=={target.version}")
        # Read-only now, before the env's manifest records their modes: in the env as
        # in the store they will share (adopt links them there).
        for rel, _sha in target.sources:
            try:
                os.chmod(target.site / target.pyc(rel), 0o444)
            except FileNotFoundError:
                pass  # the source did not compile
        outcome.to_store.append(target)
    return outcome, proc


def settle(root: Path, venv: Path, env_manifest: manifest.Manifest, outcome: Outcome,
           journal: Journal) -> Optional[str]:
    """After the env's manifest: compare every pyc linked unverified with its entry's
    manifest, then store what was compiled here (``adopt``) and compare the same way
    what the store now holds.  A difference removes the entry, and the env must not be
    trusted: returned."""
    for target in outcome.unverified:
        changed = _sources_differ(venv, env_manifest, target)
        if changed:
            return (f"the installed files of {target.name} {target.version} are not the "
                    f"ones its wheel's RECORD lists ({'; '.join(changed[:3])}), so the "
                    "pycs linked beside them were compiled from other sources")
        problem = _entry_differs(root, venv, env_manifest, target, journal, linked=True)
        if problem:
            return problem
    for target in outcome.to_store:
        changed = _sources_differ(venv, env_manifest, target)
        if changed:  # compiled from what is there, but not for the store's key
            outcome.notes.append(f"the bytecode of {target.name} {target.version} was not "
                                 f"stored: its files are not its RECORD's ({changed[0]})")
            continue
        try:
            stored_now = adopt(root, target, journal)
        except OSError as exc:  # the env has its pycs; only the next env will not share
            outcome.notes.append(f"the bytecode of {target.name} {target.version} could not "
                                 f"be stored: {exc}")
            continue
        if stored_now:  # hashed again for the store's manifest: the same bytes?
            problem = _entry_differs(root, venv, env_manifest, target, journal, linked=False)
            if problem:
                return problem
        if stored_now or (store_dir(root) / target.key / MARKER).is_file():
            outcome.entries.append(target.key)
    return None


def _sources_differ(venv: Path, env_manifest: manifest.Manifest, target: Target
                    ) -> list[str]:
    """The sources of ``target`` whose sha256 in the env's manifest is not the one its
    key holds (with ``provide(verify_stored=True)`` checked already: then none)."""
    site = os.path.relpath(target.site, venv).replace(os.sep, "/")
    return [f"{rel} differs" for rel, sha in target.sources
            if env_manifest.sha256(f"{site}/{rel}") != sha]


def _entry_differs(root: Path, venv: Path, env_manifest: manifest.Manifest, target: Target,
                   journal: Journal, linked: bool) -> Optional[str]:
    """Why the store entry of ``target`` is not, pyc for pyc, what the env's manifest
    hashed in the env (then the entry is removed), or None.  ``linked``: the env's pycs
    came from the entry, so a pyc the entry's manifest does not list is a difference
    too; else the entry was just made from the env's (``adopt`` skips none we compile)."""
    entry = store_dir(root) / target.key
    site = os.path.relpath(target.site, venv).replace(os.sep, "/")
    try:
        stored = manifest.load_manifest(entry / MANIFEST)
    except (OSError, ValueError) as exc:
        differs = [f"its manifest is unreadable: {exc}"]
    else:
        differs = [f"{pyc} differs" for pyc in map(target.pyc, (r for r, _ in target.sources))
                   if (linked or stored.sha256(pyc) is not None)
                   and env_manifest.sha256(f"{site}/{pyc}") != stored.sha256(pyc)]
    if not differs:
        return None
    journal("bytecode-discard", target.key, name=target.name)
    remove_entry(entry)
    return (f"the stored bytecode of {target.name} {target.version} had changed since it "
            f"was compiled ({'; '.join(differs[:3])}): the entry was removed")


def _python_files(venv: Path) -> list[Path]:
    """Every ``.py`` file under the env's site-packages outside test suites."""
    found: list[Path] = []
    for site in distributions.site_packages_dirs(venv):
        for dirpath, dirnames, filenames in os.walk(site):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS)
            found.extend(Path(dirpath, name) for name in sorted(filenames)
                         if name.endswith(".py"))
    return found
