"""The probe's guards, run inside the package's process (standard library, Python 3.6+):
:class:`PackageGuard` refuses writes into the package folder where the audit hook sees
them; :class:`WarningsGuard` sees every ``warnings.warn`` whatever filters the package
installs.  Both are best effort -- the package's own process can subvert them -- and are
backed by what envcheck checks from the outside (the read-only sandbox, the tree
comparison, the installed versions read from dist-info).
"""

import os
import sys

WRITE_REFUSED = "envcheck: writing into the package folder is not allowed during check"

# Audit events that change the file system -> positions of the path arguments they change
# (https://docs.python.org/3/library/audit_events.html).  ``open`` only counts when it
# opens for writing.  os.replace raises os.rename.
_WRITE_EVENTS = {
    "open": (0,),
    "os.rename": (0, 1), "os.remove": (0,), "os.rmdir": (0,), "os.mkdir": (0,),
    "os.chmod": (0,), "os.chown": (0,), "os.utime": (0,), "os.truncate": (0,),
    "os.chflags": (0,), "os.lchflags": (0,), "os.link": (1,), "os.symlink": (1,),
    "os.setxattr": (0,), "os.removexattr": (0,),
    "shutil.copyfile": (1,), "shutil.copymode": (1,), "shutil.copystat": (1,),
    "shutil.copytree": (1,), "shutil.move": (0, 1), "shutil.rmtree": (0,),
    "shutil.chown": (0,), "shutil.unpack_archive": (1,), "shutil.make_archive": (0,),
}
_WRITE_FLAGS = 0
for _name in ("O_WRONLY", "O_RDWR", "O_APPEND", "O_CREAT", "O_TRUNC"):
    _WRITE_FLAGS |= getattr(os, _name, 0)


def _opens_for_writing(args):
    """``open`` audit args are (path, mode, flags); flags are set on 3.8+ for both
    builtins.open and os.open, the mode is the fallback."""
    flags = args[2] if len(args) > 2 else None
    if isinstance(flags, int):
        return bool(flags & _WRITE_FLAGS)
    mode = args[1] if len(args) > 1 else None
    return isinstance(mode, str) and any(c in mode for c in "wax+")


def _text_path(value):
    if isinstance(value, bytes):
        return os.fsdecode(value)
    return str(value)


class PackageGuard(object):
    """Is a path (as handed to open/os.*/shutil.*) inside the package folder?"""

    def __init__(self, root, allowed_dirs=(), allowed_files=()):
        # (realpath/abspath raise no audit events, so this cannot re-enter the hook.)
        self.root = os.path.realpath(root)
        self.allowed = [os.path.realpath(a) for a in allowed_dirs]
        self.allowed_files = set(os.path.realpath(f) for f in allowed_files)

    @staticmethod
    def _under(path, top):
        return path == top or path.startswith(top.rstrip(os.sep) + os.sep)

    def inside(self, value):
        if value is None or isinstance(value, int):
            return False  # a file descriptor: opening it for writing was checked
        try:
            path = os.path.abspath(_text_path(os.fspath(value)))
        except (TypeError, ValueError):
            return False
        # Both the entry itself (a symlink removed or renamed in the package) and what it
        # points to (a write through a link into the package).
        candidates = (os.path.realpath(path),
                      os.path.join(os.path.realpath(os.path.dirname(path)),
                                   os.path.basename(path)))
        for candidate in candidates:
            if not self._under(candidate, self.root) or candidate in self.allowed_files:
                continue
            # An allowed dir *inside* the package (the probe's own control dir, say) is
            # exempt; one that contains the package exempts nothing in it.
            if any(self._under(candidate, a) and self._under(a, self.root) and a != self.root
                   for a in self.allowed):
                continue
            return True
        return False


class _Offered(object):
    """A warning seen by WarningsGuard, shaped like a ``warnings.WarningMessage``."""

    def __init__(self, message, category, stage):
        self.message = message
        self.category = type(message) if isinstance(message, Warning) else (
            category or UserWarning)
        self.filename, self.lineno, self.stage = "<filtered by the package>", 0, stage
        self.filtered = True


class WarningsGuard(object):
    """Sees every ``warnings.warn``/``warn_explicit`` call, whatever filters are installed.

    A package that runs ``warnings.filterwarnings("ignore")`` before loading would hide
    scikit-learn's version warning from the probe's ``catch_warnings(record=True)``.  So
    the two Python entry points are wrapped: each call is offered to ``on_warning`` before
    the filters decide (the probe keeps only the version warnings from there; the filters
    still govern everything else, so a library silencing its own noise stays silent).
    Rebinding the wrapped functions, or ``showwarning`` through which the probe records,
    is refused: the module's class is swapped for one whose ``__setattr__`` checks.  What
    the package tried is returned by :meth:`release` and reported.  All of this runs in
    the package's own process, which could subvert it further; envcheck's version verdict
    from the installed dist-info does not depend on it."""

    PROTECTED = frozenset(("warn", "warn_explicit", "showwarning", "_showwarnmsg",
                           "_showwarnmsg_impl"))

    def __init__(self, module, on_warning):
        self.module = module
        self.refused = []
        self.original_class = module.__class__
        self.original = {"warn": module.warn, "warn_explicit": module.warn_explicit}
        guard = self
        warn, warn_explicit = module.warn, module.warn_explicit

        def guarded_warn(message, category=None, stacklevel=1, *args, **kwargs):
            on_warning(message, category)
            return warn(message, category, stacklevel + 1, *args, **kwargs)

        def guarded_warn_explicit(message, category, *args, **kwargs):
            on_warning(message, category)
            return warn_explicit(message, category, *args, **kwargs)

        class Guarded(module.__class__):
            def __setattr__(self, name, value):
                if name in guard.PROTECTED:
                    # catch_warnings() puts back what it found: not worth a mention.
                    if value is not self.__dict__.get(name):
                        guard.refused.append("warnings.%s replaced" % name)
                    return
                super(Guarded, self).__setattr__(name, value)

            def __delattr__(self, name):
                if name in guard.PROTECTED:
                    guard.refused.append("warnings.%s deleted" % name)
                    return
                super(Guarded, self).__delattr__(name)

        module.warn, module.warn_explicit = guarded_warn, guarded_warn_explicit
        try:
            module.__class__ = Guarded
        except TypeError:  # a Python that does not allow it: the wrappers still see calls
            self.refused.append("(warnings not guarded on this Python)")

    def release(self):
        """Restore the module and say what was refused."""
        try:
            self.module.__class__ = self.original_class
        except TypeError:
            pass
        if sys.modules.get("warnings") is not self.module:
            self.refused.append("sys.modules['warnings'] replaced")
            sys.modules["warnings"] = self.module
        self.module.warn = self.original["warn"]
        self.module.warn_explicit = self.original["warn_explicit"]
        counts = {}
        for what in self.refused:
            counts[what] = counts.get(what, 0) + 1
        return [{"what": what, "count": count} for what, count in sorted(counts.items())]
