"""What the pickle VM pushes and reports: inert placeholders, the error, the collector.

Every class lookup yields a :class:`Global`, every call an :class:`Obj`, and too-large
strings a :class:`BigValue`, so nothing of a checked pickle is ever imported or run.  A
stream the unpickler would reject raises :class:`PickleError`.  The VM
(:mod:`envcheck.inspect.pickle_vm`) reports what it sees to a :class:`Collector`;
:mod:`envcheck.inspect.policy` subclasses it with the safety policy.
"""

from __future__ import annotations

from typing import Any, Optional

from envcheck.model.errors import EnvcheckError


class PickleError(EnvcheckError):
    """The stream is not something the unpickler would accept (fail closed)."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


class ResourceLimit(PickleError):
    """The stream is built to exhaust the loader (an expansion bomb): refused unwalked."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(f"resource limit: {message}", offset)


# --------------------------------------------------------------------------- placeholders


class Global:
    """What ``find_class(module, name)`` would have returned -- never resolved."""

    __slots__ = ("module", "name", "offset")

    def __init__(self, module: str, name: str, offset: int) -> None:
        self.module = module
        self.name = name
        self.offset = offset

    @property
    def key(self) -> tuple[str, str]:
        return (self.module, self.name)

    def __repr__(self) -> str:
        return f"<global {self.module}.{self.name}@{self.offset}>"


class Obj:
    """The inert result of a call (REDUCE/NEWOBJ/NEWOBJ_EX/INST/OBJ) or a joblib array."""

    __slots__ = ("cls", "func", "args", "kwargs", "offset", "state", "how", "info", "seen")

    def __init__(self, cls: Any, func: Any, args: tuple, offset: int, how: str,
                 kwargs: Optional[dict] = None) -> None:
        self.cls = cls  # the class the object is an instance of, as far as known
        self.func = func  # what was called
        self.args = args
        self.kwargs = kwargs
        self.offset = offset
        self.state: Any = None
        self.how = how
        self.info: Any = None
        self.seen = False  # already counted by a collector (BUILD may run twice)

    def __repr__(self) -> str:
        return f"<obj {self.cls!r} via {self.how}@{self.offset}>"


class BigValue:
    """A str/bytes/bytearray/int too large to keep: its size plus head and tail."""

    __slots__ = ("kind", "size", "head", "tail")

    def __init__(self, kind: str, size: int, head: bytes, tail: bytes) -> None:
        self.kind = kind
        self.size = size
        self.head = head
        self.tail = tail

    def __repr__(self) -> str:
        return f"<{self.kind} of {self.size} bytes>"


class PSet:
    __slots__ = ("items",)
    __hash__ = None  # type: ignore[assignment]  # a set is unhashable, as in the real thing

    def __init__(self) -> None:
        self.items: list = []


class PFrozenSet:
    __slots__ = ("items",)

    def __init__(self, items: list) -> None:
        self.items = items


class PersistentRef:
    __slots__ = ("pid",)

    def __init__(self, pid: Any) -> None:
        self.pid = pid


# --------------------------------------------------------------------------- collector


class Collector:
    """Receives what the VM sees.  :mod:`envcheck.inspect.policy` subclasses it with the policy."""

    def on_global(self, g: Global) -> None:  # every class lookup
        pass

    def on_call(self, how: str, func: Any, args: tuple, kwargs: Optional[dict],
                offset: int) -> None:
        pass

    def on_build(self, inst: Any, state: Any, offset: int) -> None:
        pass

    def on_structural(self, reason: str, offset: int, dangerous: bool) -> None:
        pass

    def on_protocol(self, proto: int) -> None:
        pass

    def on_joblib_array(self, offset: int) -> None:
        pass
