"""Where a pickled global comes from, and what that lets it do (the origin policy).

The VM-side policy (:mod:`envcheck.inspect.policy`) already refused what is dangerous
anywhere (the denylist of :mod:`envcheck.inspect.gadgets`, dunder and dotted names) and let
through what the exact allowlist covers.  Every other global is judged here, once the
package is known, by where it comes from and what the pickle does with it:

1. ``__main__``: refused -- it was defined in the training script, and no other process
   can import it; it must move into a module shipped with the package.
2. a module the package ships (``features.py``): a top-level ``class`` may be referenced,
   constructed and called (that runs the package's own code, which review can read), a
   top-level ``def`` only referenced, never called while unpickling; an imported name is
   judged as what it was imported from (``helpers:system`` from ``from os import system``
   is ``os.system``: a re-exported gadget); a class whose base is a gadget
   (``class Runner(subprocess.Popen)``) is one; anything else is refused.
3. the standard library: only its exact allowlist (already applied), never "installed".
4. a distribution the package installs (declared in requirements, pulled in by one of them,
   or found in the built env): may be referenced and constructed; *called* only when it is
   Cython's generated unpickler ``__pyx_unpickle_<Class>`` of that module; other callables
   must be on the exact allowlist.
5. anything else: refused, with what would make it pass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Optional

from envcheck.inspect.gadgets import danger
from envcheck.inspect.package_code import PackageCode, read_package_code
from envcheck.model.distributions import brought_in, distributions_for
from envcheck.model.package import ModelPackage
from envcheck.model.stdlib_names import is_stdlib

MAIN_MODULES = frozenset({"__main__", "__mp_main__"})
MAIN_REASON = ("defined in the training script (__main__): no other process can import it; "
               "move it into a module shipped with the package (e.g. features.py beside "
               "interface.py), import it from there when training, and pickle the model again")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_MAX_REEXPORT_DEPTH = 8


@dataclass(frozen=True)
class Verdict:
    reason: str
    dangerous: bool
    origin: str  # "main" | "package" | "stdlib" | "distribution" | "unknown"


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_distributions(pkg: ModelPackage) -> frozenset[str]:
    """Canonical names of the requirements, and what the known ones pull in."""
    direct = {_canonical(m.group(0)) for line in pkg.requirement_lines
              if (m := _NAME.match(line.strip()))}
    direct |= set(pkg.pins)
    return frozenset(direct) | brought_in(direct)


class Origins:
    """The origin policy for one package (and, once built, its env's distributions)."""

    def __init__(self, pkg: ModelPackage, installed: Iterable[str] = ()) -> None:
        roots = [pkg.root]
        if pkg.interface_path.parent != pkg.root:
            roots.append(pkg.interface_path.parent)
        self.code: PackageCode = read_package_code(roots)
        self.distributions = declared_distributions(pkg) | {_canonical(d) for d in installed}

    def distribution(self, module: str) -> Optional[str]:
        """The installed distribution ``module`` belongs to, or None (the standard library
        never does, whatever a requirement is called: PyPI has a ``logging``)."""
        top = module.split(".")[0]
        if is_stdlib(top) or top in MAIN_MODULES:
            return None
        for dist in distributions_for(module):
            if dist in self.distributions:
                return dist
        return None

    def judge(self, module: str, name: str, called: bool, depth: int = 0) -> Optional[Verdict]:
        """None when allowed by origin, else why not."""
        reason = danger(module, name)
        if reason is not None:
            return Verdict(f"known dangerous: {reason}", True, "gadget")
        top = module.split(".")[0]
        if top in MAIN_MODULES:
            return Verdict(MAIN_REASON, False, "main")
        if self.code.ships(module):
            return self._judge_package(module, name, called, depth)
        if is_stdlib(top):
            return Verdict("standard library, not in the allowlist", False, "stdlib")
        dist = self.distribution(module)
        if dist is None:
            return Verdict(f"module {top} belongs to no distribution requirements.txt "
                           "installs, nor to the package", False, "unknown")
        if called and not name.startswith("__pyx_unpickle_"):
            return Verdict(f"called while unpickling: {module}.{name} (from {dist}) is not "
                           "on the allowlist of known-safe callables", False, "distribution")
        return None

    def _judge_package(self, module: str, name: str, called: bool,
                       depth: int) -> Optional[Verdict]:
        binding = self.code.binding(module, name)
        where = f"{module.replace('.', '/')}.py"
        if binding is None:
            code = self.code.modules.get(module)
            why = ("rewrites its namespace at run time (globals(), setattr, exec, import *)"
                   if code is not None and code.dynamic else
                   f"has no top-level class or def {name}" if code is not None else
                   "is not a Python file the package ships")
            return Verdict(f"package module {module} {why}", False, "package")
        if binding.kind == "import" and binding.target is not None:
            target_module, target_name = binding.target
            if not target_name or depth >= _MAX_REEXPORT_DEPTH:
                return Verdict(f"{module}.{name} is a module, not a class or function",
                               True, "package")
            inner = self.judge(target_module, target_name, called, depth + 1)
            if inner is None:
                return None
            return Verdict(f"{module}.{name} is {target_module}.{target_name} re-exported by "
                           f"the package's {where}: {inner.reason}", inner.dangerous,
                           "package")
        if binding.kind == "class":
            for base in binding.bases:
                base_module, _, base_name = base.rpartition(".")
                inner = (self.judge(base_module or module, base_name, False, depth + 1)
                         if depth < _MAX_REEXPORT_DEPTH else None)
                if inner is not None and inner.dangerous:
                    return Verdict(f"{module}.{name} (in the package's {where}) subclasses "
                                   f"{base}: {inner.reason}", True, "package")
            return None
        if binding.kind == "def":
            if called:
                return Verdict(f"called while unpickling: {module}.{name} is a function "
                               f"the package's {where} defines; a pickle may refer to it "
                               "(FunctionTransformer(func=...)) but not call it", False,
                               "package")
            return None
        return Verdict(f"{module}.{name} is bound by an assignment in the package's {where}, "
                       "not a top-level class or def", False, "package")
