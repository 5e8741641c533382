"""What the user (``--trust-pickle``) and the package (``envcheck.trust_pickle`` in
metadata.yaml) trust beyond the pickle policy, and where each trust came from.

An entry is an exact global, ``module:name`` (or ``module.name``), or a module wildcard,
``mylib.*`` (also ``mylib:*``): every global of ``mylib`` and its submodules.  A wildcard
never covers a known-dangerous global (the denylist, dunder and dotted names, structural
problems); an exact entry covers one only when it comes from the command line, i.e. from
the user knowingly, never from the package vouching for itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Optional

from envcheck.model.package import ModelPackage

CLI_TRUST = "--trust-pickle"
PACKAGE_TRUST = "metadata.yaml's envcheck.trust_pickle"


@dataclass(frozen=True)
class Trust:
    entry: str  # as written
    module: str
    name: str  # "*": the module and its submodules
    origin: str  # CLI_TRUST | PACKAGE_TRUST

    @property
    def wildcard(self) -> bool:
        return self.name == "*"

    def covers(self, module: str, name: str) -> bool:
        if self.wildcard:
            return module == self.module or module.startswith(self.module + ".")
        return (module, name) == (self.module, self.name)

    def honoured(self, dangerous: bool) -> bool:
        """A trust holds unless the global is dangerous: then only an exact entry on the
        command line does."""
        return not dangerous or (self.origin == CLI_TRUST and not self.wildcard)

    def describe(self) -> str:
        return f"{self.origin} {self.entry!r}"


def parse_entry(entry: Any, origin: str) -> Optional[Trust]:
    """One entry, or None when it is neither ``module:name`` nor ``module.*``."""
    text = str(entry).strip()
    if ":" in text:
        module, _, name = text.partition(":")
    else:
        module, _, name = text.rpartition(".")
    module, name = module.strip(), name.strip()
    if not module or not name or not all(p.isidentifier() for p in module.split(".")):
        return None
    if name != "*" and not all(p.isidentifier() for p in name.split(".")):
        return None
    return Trust(text, module, name, origin)


@dataclass
class Trusts:
    entries: list[Trust]
    invalid: list[tuple[str, str]]  # (entry, origin) that parse as nothing

    def find(self, module: str, name: str, dangerous: bool) -> tuple[Optional[Trust],
                                                                      Optional[Trust]]:
        """(the trust that holds, a trust that covers the global but does not hold)."""
        refused = None
        # exact before wildcard, the user before the package
        for trust in sorted(self.entries, key=lambda t: (t.wildcard, t.origin != CLI_TRUST)):
            if trust.covers(module, name):
                if trust.honoured(dangerous):
                    return trust, None
                refused = refused or trust
        return None, refused


def package_entries(pkg: ModelPackage) -> list[Any]:
    extra = pkg.settings.get("trust_pickle", [])
    if isinstance(extra, str):
        extra = [extra]
    return extra if isinstance(extra, list) else []


def trusts_of(pkg: ModelPackage, trusted: Iterable[str]) -> Trusts:
    found = Trusts([], [])
    for raw, origin in [(e, PACKAGE_TRUST) for e in package_entries(pkg)] + [
            (e, CLI_TRUST) for e in trusted]:
        trust = parse_entry(raw, origin)
        if trust is None:
            found.invalid.append((str(raw), origin))
        else:
            found.entries.append(trust)
    return found
