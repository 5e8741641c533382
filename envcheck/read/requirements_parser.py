"""The requirements-file parser: every line of a file and its includes, as pip reads them.

The file is parsed here, not by pip, so that nothing is installed or executed and every
problem names its file and line.  Requirement strings go through ``packaging`` (PEP 508:
names, extras, specifiers, markers, ``name @ url``); the requirements-file syntax around
them follows pip's:

* comments: a line starting with ``#``, or `` #`` after whitespace;
* line continuations: a trailing ``\\`` joins the next line (findings give the first line);
* ``-r/--requirement FILE`` and ``-c/--constraint FILE``: relative to the including file;
  a cycle is reported naming both files; an include outside the package root is an error
  (the package would not carry it);
* per-requirement ``--hash=algo:hex`` options (hash-checking mode needs them on every
  requirement, as pip does);
* ``${VAR}``: left as-is, with a warning (the package then depends on the machine's
  environment variables).

What is not reproducible from the package fails (error, naming the line): ``-e/--editable``,
local paths and ``file:`` URLs, VCS URLs without a commit id, unknown options.  A VCS URL
pinned to a full commit id or an http(s) archive URL is a warning: it installs the same
thing only as long as that server keeps it.
"""

from __future__ import annotations

import codecs
import re
import shlex
from pathlib import Path
from typing import Optional

from packaging.requirements import InvalidRequirement, Requirement

from envcheck.model.findings import Finding, Severity
from envcheck.read.requirements_file import ParsedRequirement, RequirementsFile
from envcheck.read.requirements_lines import (
    is_url,
    logical_lines,
    looks_like_path,
    name_from_filename,
    requirement_from,
    split_requirement_options,
    take_option,
)

MAX_BYTES = 1_000_000
MAX_INCLUDE_DEPTH = 20

# Options that change what gets installed and that both pip and uv accept in a file.
# Value: takes an argument?
_INSTALLER_OPTIONS = {
    "--index-url": True, "-i": True,
    "--extra-index-url": True,
    "--find-links": True, "-f": True,
    "--trusted-host": True,
    "--no-binary": True, "--only-binary": True,
    "--no-index": False, "--pre": False, "--prefer-binary": False, "--require-hashes": False,
}
_SHORT_TO_LONG = {"-i": "--index-url", "-f": "--find-links", "-r": "--requirement",
                  "-c": "--constraint", "-e": "--editable"}
# Accepted by pip in a file but irrelevant to what gets installed: ignored with a note.
_IGNORED_OPTIONS = {"--use-feature": True, "--config-settings": True, "--global-option": True}
_HASH_ALGOS = {"sha256": 64, "sha384": 96, "sha512": 128}
_VCS_PREFIXES = ("git+", "hg+", "svn+", "bzr+")
_ENV_VAR = re.compile(r"\$\{[^}]*\}")
_COMMIT = re.compile(r"@([0-9a-f]{40})(?:#|$)")
# PEP 508 names (packaging is laxer: it accepts "foo_", which normalizes to "foo-").
_PEP508_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)


class Parser:
    def __init__(self, result: RequirementsFile, root: Path) -> None:
        self.result = result
        self.root = root

    def show(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)

    def add(self, severity: Severity, message: str, path: Path, line: Optional[int] = None,
            **details: object) -> None:
        self.result.findings.append(Finding(severity, message, details=dict(details),
                                            file=self.show(path), line=line))

    def parse(self, path: Path, constraint: bool, chain: list[Path],
              origin: Optional[tuple[Path, int]]) -> None:
        text = self._read(path, origin)
        if text is None:
            if origin is None:
                self.result.readable = False
            return
        self.result.files.append(path)
        for line_no, line in logical_lines(text):
            self._line(path, line_no, line, constraint, chain + [path])

    def parse_entries(self, path: Path, entries: list[tuple[int, str]],
                      options_allowed: bool) -> None:
        """Lines written inside another file (pyproject's ``dependencies``, a conda
        ``pip:`` section, a lock turned into lines): each read as that file's line, so
        findings name it.  Without ``options_allowed`` a line is a requirement or an error."""
        self.result.files.append(path)
        for line_no, line in entries:
            if line.startswith("-") and not options_allowed:
                self.add(Severity.ERROR, f"{line!r} is not a requirement (options belong in "
                         f"requirements.txt)", path, line_no, requirement=line)
                continue
            self._line(path, line_no, line, False, [path])

    def _read(self, path: Path, origin: Optional[tuple[Path, int]]) -> Optional[str]:
        # Findings point at the including line when there is one, else at the file itself.
        at_path, at_line = (path, None) if origin is None else origin
        shown = self.show(path)
        try:
            if path.is_dir():
                self.add(Severity.ERROR, f"{shown} is a directory, not a requirements file",
                         at_path, at_line)
                return None
            size = path.stat().st_size
            if size > MAX_BYTES:
                self.add(Severity.ERROR, f"{shown} is {size} bytes; requirements files over "
                         f"{MAX_BYTES} bytes are refused", at_path, at_line)
                return None
            raw = path.read_bytes()
        except FileNotFoundError:
            if origin is not None:
                self.add(Severity.ERROR, f"included file {shown} does not exist",
                         at_path, at_line)
            else:
                self.add(Severity.ERROR, f"{shown} does not exist", at_path, at_line)
            return None
        except OSError as exc:
            self.add(Severity.ERROR, f"cannot read {shown}: {exc.strerror or exc}",
                     at_path, at_line)
            return None
        # pip decodes by BOM (Windows `pip freeze > requirements.txt` writes UTF-16).
        for bom, encoding in ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                              (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
            if raw.startswith(bom):
                try:
                    text = raw.decode(encoding)
                except UnicodeDecodeError:
                    break
                self.add(Severity.WARNING, f"{shown} is {encoding.upper()}-encoded; pip reads "
                         f"it but other tools may not: save it as UTF-8", path)
                return text
        try:
            return raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = raw.count(b"\n", 0, exc.start) + 1
            self.add(Severity.ERROR, f"{shown} is not UTF-8 (byte 0x{raw[exc.start]:02x} at "
                     f"line {line}); save it as UTF-8", path, line)
            return None

    # -- one logical line

    def _line(self, path: Path, line_no: int, line: str, constraint: bool,
              chain: list[Path]) -> None:
        for var in _ENV_VAR.findall(line):
            self.add(Severity.WARNING, f"{var} is expanded from the environment of whoever "
                     f"installs; the package alone does not say what it is", path, line_no,
                     variable=var)
        if line.startswith("-"):
            self._option_line(path, line_no, line, constraint, chain)
        else:
            self._requirement_line(path, line_no, line, constraint)

    def _option_line(self, path: Path, line_no: int, line: str, constraint: bool,
                     chain: list[Path]) -> None:
        try:
            tokens = shlex.split(line, comments=False, posix=True)
        except ValueError as exc:
            self.add(Severity.ERROR, f"cannot split the options on this line: {exc}", path, line_no)
            return
        i = 0
        while i < len(tokens):
            opt, value, i = take_option(tokens, i)
            if opt is None:
                self.add(Severity.ERROR, f"unexpected {tokens[i - 1]!r} after the options; "
                         f"put a requirement on its own line", path, line_no)
                return
            name = _SHORT_TO_LONG.get(opt, opt)
            takes_value = name in ("--requirement", "--constraint", "--editable") or \
                _INSTALLER_OPTIONS.get(opt, False) or _IGNORED_OPTIONS.get(opt, False)
            if takes_value and value is None:
                if i < len(tokens):
                    value, i = tokens[i], i + 1
                else:
                    self.add(Severity.ERROR, f"{opt} needs a value", path, line_no)
                    return
            if name in ("--requirement", "--constraint"):
                assert value is not None
                self._include(path, line_no, value, constraint or name == "--constraint", chain)
            elif name == "--editable":
                self.add(Severity.ERROR, f"editable requirement {value!r} is not reproducible "
                         f"from the package: it installs whatever that checkout holds when "
                         f"installed; pin a released version instead", path, line_no,
                         requirement=value)
            elif opt in _INSTALLER_OPTIONS:
                if name == "--find-links" and value is not None and not is_url(value):
                    value = self._local_find_links(path, line_no, value)
                    if value is None:
                        return
                self.result.options.append(f"{name} {value}" if value is not None else name)
                if name in ("--index-url", "--extra-index-url") or (
                        name == "--find-links" and value is not None and is_url(value)):
                    # The package, not the user, chooses where its code is downloaded from.
                    either = (" (packages may come from either index: whichever has the "
                              "higher version)") if name == "--extra-index-url" else ""
                    self.add(Severity.WARNING, f"{name} {value}: the package points the "
                             f"installer at a source outside it{either}; envcheck installs "
                             f"from there", path, line_no, option=name, source=value)
            elif opt in _IGNORED_OPTIONS:
                self.add(Severity.INFO, f"{opt} does not change what is installed; ignored",
                         path, line_no)
            else:
                self.add(Severity.ERROR, f"unknown option {opt!r}", path, line_no, option=opt)
                return

    def _local_find_links(self, path: Path, line_no: int, value: str) -> Optional[str]:
        """A local wheelhouse: relative to the including file (as pip does), made absolute
        because the installer reads a copy of these lines elsewhere; it must be in the package."""
        folder = (path.parent / value).resolve()
        try:
            folder.relative_to(self.root)
        except ValueError:
            self.add(Severity.ERROR, f"--find-links {value} points outside the package; the "
                     f"package would not carry those files", path, line_no)
            return None
        if not folder.exists():
            self.add(Severity.ERROR, f"--find-links {value}: {self.show(folder)} does not exist",
                     path, line_no)
            return None
        return str(folder)

    def _include(self, path: Path, line_no: int, target: str, constraint: bool,
                 chain: list[Path]) -> None:
        kind = "constraints" if constraint else "requirements"
        if is_url(target):
            self.add(Severity.ERROR, f"{kind} include from a URL ({target}) is not part of "
                     f"the package; copy the file into the package", path, line_no)
            return
        included = (path.parent / target).resolve()
        try:
            included.relative_to(self.root)
        except ValueError:
            self.add(Severity.ERROR, f"include {target} points outside the package "
                     f"({included}); the package would not carry it", path, line_no,
                     include=target)
            return
        if included in chain:
            self.add(Severity.ERROR, f"include cycle: {self.show(path)} includes "
                     f"{self.show(included)}, which already includes {self.show(path)}"
                     if included != path else f"{self.show(path)} includes itself",
                     path, line_no, cycle=[self.show(p) for p in chain + [included]])
            return
        if len(chain) >= MAX_INCLUDE_DEPTH:
            self.add(Severity.ERROR, f"includes nested deeper than {MAX_INCLUDE_DEPTH}",
                     path, line_no)
            return
        self.parse(included, constraint, chain, origin=(path, line_no))

    def _requirement_line(self, path: Path, line_no: int, line: str, constraint: bool) -> None:
        spec, option_text = split_requirement_options(line)
        hashes: list[str] = []
        if option_text:
            try:
                tokens = shlex.split(option_text)
            except ValueError as exc:
                self.add(Severity.ERROR, f"cannot split the options of this requirement: {exc}",
                         path, line_no)
                return
            i = 0
            while i < len(tokens):
                opt, value, i = take_option(tokens, i)
                if opt == "--hash":
                    if value is None and i < len(tokens):
                        value, i = tokens[i], i + 1
                    checked = self._check_hash(value, path, line_no)
                    if checked is None:
                        return
                    hashes.append(checked)
                elif opt in _IGNORED_OPTIONS:
                    if value is None and i < len(tokens):
                        i += 1
                    self.add(Severity.INFO, f"{opt} ignored", path, line_no)
                else:
                    self.add(Severity.ERROR, f"unknown option {tokens[i - 1]!r} after a "
                             f"requirement (only --hash belongs there)", path, line_no)
                    return
        req = self._requirement(spec, path, line_no)
        if req is None:
            return
        if constraint and req.extras:
            self.add(Severity.ERROR, f"constraint {spec!r} has extras; pip refuses extras in "
                     f"constraints files", path, line_no)
            return
        self.result.requirements.append(ParsedRequirement(
            requirement=req, file=path, line=line_no, hashes=hashes, constraint=constraint,
            raw=line))

    def _check_hash(self, value: Optional[str], path: Path, line_no: int) -> Optional[str]:
        algo, _, digest = (value or "").partition(":")
        expected = _HASH_ALGOS.get(algo.lower())
        if expected is None or len(digest) != expected or not re.fullmatch(r"[0-9a-fA-F]+", digest):
            self.add(Severity.ERROR, f"--hash={value or ''} is not a hash pip accepts "
                     f"(sha256:<64 hex digits>, sha384 or sha512)", path, line_no)
            return None
        return f"{algo.lower()}:{digest.lower()}"

    def _requirement(self, spec: str, path: Path, line_no: int) -> Optional[Requirement]:
        """A PEP 508 requirement, or a finding saying why the line is not one."""
        lowered = spec.lower()
        if lowered.startswith(_VCS_PREFIXES) or re.match(r"^[a-z][a-z0-9+.-]*://", lowered):
            return self._bare_url(spec, path, line_no)
        if looks_like_path(spec):
            self.add(Severity.ERROR, f"local path requirement {spec!r} is not reproducible "
                     f"from the package: a fresh machine does not have it; pin a released "
                     f"version", path, line_no, requirement=spec)
            return None
        try:
            req = requirement_from(spec)
        except InvalidRequirement as exc:
            hint = ""
            single = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*=\s*([0-9][^\s;=]*)", spec)
            if single:
                hint = f" (did you mean {single.group(1)}=={single.group(2)}?)"
            self.add(Severity.ERROR, f"not a valid requirement: {spec!r}{hint}: "
                     f"{str(exc).splitlines()[0]}", path, line_no, requirement=spec)
            return None
        if not self._valid_name(req.name, spec, path, line_no):
            return None
        if req.url and not self._check_url(req.url, spec, path, line_no):
            return None
        return req

    def _valid_name(self, name: str, spec: str, path: Path, line_no: int) -> bool:
        """PEP 508 names only.  packaging accepts e.g. ``foo_``, which normalizes to
        ``foo-``: not a requirement the installer (or a re-read) accepts."""
        if _PEP508_NAME.fullmatch(name):
            return True
        self.add(Severity.ERROR, f"not a valid requirement: {spec!r}: {name!r} is not a "
                 f"valid package name (letters, digits, '.', '_', '-'; starting and ending "
                 f"with a letter or digit)", path, line_no, requirement=spec)
        return False

    def _bare_url(self, spec: str, path: Path, line_no: int) -> Optional[Requirement]:
        """``git+https://...#egg=name`` or ``https://.../pkg.whl``: needs a name to be used."""
        url, _, fragment = spec.partition("#")
        name_match = re.search(r"(?:^|&)egg=([A-Za-z0-9._-]+)", fragment)
        name = name_match.group(1) if name_match else name_from_filename(url)
        if not self._check_url(spec, spec, path, line_no):
            return None
        if name is None:
            self.add(Severity.ERROR, f"URL requirement {spec!r} has no package name; write it "
                     f"as 'name @ {url}'", path, line_no)
            return None
        try:
            req = requirement_from(f"{name} @ {url}")
            return req if self._valid_name(req.name, spec, path, line_no) else None
        except InvalidRequirement as exc:
            self.add(Severity.ERROR, f"not a valid URL requirement: {spec!r}: {exc}", path, line_no)
            return None

    def _check_url(self, url: str, spec: str, path: Path, line_no: int) -> bool:
        lowered = url.lower()
        if lowered.startswith("file:"):
            self.add(Severity.ERROR, f"{spec!r} installs from a local file: not reproducible "
                     f"from the package", path, line_no, requirement=spec)
            return False
        if lowered.startswith(_VCS_PREFIXES):
            if _COMMIT.search(url.split("#")[0] + "#"):
                self.add(Severity.WARNING, f"{spec!r} installs from version control at a fixed "
                         f"commit: reproducible only while that repository exists", path,
                         line_no, requirement=spec)
                return True
            self.add(Severity.ERROR, f"{spec!r} installs whatever the repository holds at "
                     f"install time; pin a full commit id (@<40 hex>) or a released version",
                     path, line_no, requirement=spec)
            return False
        self.add(Severity.WARNING, f"{spec!r} installs from a URL: reproducible only while "
                 f"that server keeps the file", path, line_no, requirement=spec)
        return True
