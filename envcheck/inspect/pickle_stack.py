"""The pickle VM's stack, memo and container opcodes (MARK, tuples, lists, dicts, sets,
APPEND/SETITEM(S)/ADDITEMS, GET/PUT/MEMOIZE), as a base class of
:class:`envcheck.inspect.pickle_vm.VM`, which owns the state declared here.

Expansion bombs are refused here (:class:`ResourceLimit`): every container, call result and
BUILD carries its *expanded* size -- the number of values it holds, counting a shared
value (a memo GET, a DUP) each time it appears.  Real pickles share little, so that size
stays near the number of opcodes; a "billion laughs" (a list of ten copies of a list of ten
copies of ...) doubles it per few bytes, and whatever later walks such an object (hashing
it as a dict key, comparing, copying, printing it, a model iterating it) does exponential
work.  Past :data:`EXPANSION_FLOOR` values and :data:`EXPANSION_PER_BYTE` per byte of
stream, the pickle is refused.  So is a memo index far beyond the memo (the C unpickler
allocates its memo array up to the index: ``LONG_BINPUT 0xffffffff`` is a 32 GB request).
"""

from __future__ import annotations

from typing import Any

from envcheck.inspect.pickle_reader import Reader
from envcheck.inspect.pickle_values import (
    Collector,
    Global,
    Obj,
    PFrozenSet,
    PickleError,
    PSet,
    ResourceLimit,
)

EXPANSION_FLOOR = 4_000_000  # values, counting every reference
EXPANSION_PER_BYTE = 64  # ... and per byte of stream read so far
MEMO_SLACK = 1 << 20
# Values in one tuple used as a dict key, shared parts counted every time they appear:
# tuple hashes are not cached, so a few bytes of memo GETs (t1 = (t0, t0), t2 = (t1, t1)
# ...) make a key whose hash takes 2**n steps -- in envcheck's process, and in the loader's.
KEY_EXPANSION = 100_000


class StackOps:
    """Stack helpers and the opcodes that move values between stack, memo and containers."""

    r: Reader
    c: Collector
    stack: list
    metastack: list
    memo: dict
    sizes: dict  # id(container or Obj) -> (it, expanded size): kept alive, so ids stay valid

    # ---------------------------------------------------------------- expansion

    def _size(self, value: Any) -> int:
        entry = self.sizes.get(id(value))
        return entry[1] if entry is not None and entry[0] is value else 1

    def _sized(self, value: Any, items: Any, off: int, base: int = 1) -> Any:
        """Record ``value``'s expanded size: ``base`` plus that of each of ``items``."""
        size = base
        get = self.sizes.get
        for item in items:
            if type(item) in (int, float, str, bytes, bool) or item is None:
                size += 1
                continue
            entry = get(id(item))
            size += entry[1] if entry is not None and entry[0] is item else 1
        if size > EXPANSION_FLOOR and size > EXPANSION_PER_BYTE * max(self.r.tell(), 1):
            raise ResourceLimit(
                f"expansion bomb: a value that expands to {size} values from "
                f"{self.r.tell()} bytes (shared references repeated: memo GET/DUP)", off)
        self.sizes[id(value)] = (value, size)
        return value

    def _grow(self, target: Any, items: Any, off: int) -> None:
        self._sized(target, items, off, base=self._size(target))

    # ---------------------------------------------------------------- helpers

    def _pop(self, off: int) -> Any:
        try:
            return self.stack.pop()
        except IndexError:
            raise PickleError("unpickling stack underflow", off) from None

    def _top(self, off: int) -> Any:
        if not self.stack:
            raise PickleError("unpickling stack underflow", off)
        return self.stack[-1]

    def _pop_mark(self, off: int) -> list:
        if not self.metastack:
            raise PickleError("could not find MARK", off)
        items = self.stack
        self.stack = self.metastack.pop()
        return items

    def _uint(self, n: int) -> int:
        return int.from_bytes(self.r.read(n), "little")

    def _line(self, off: int) -> bytes:
        return self.r.readline()[:-1]

    def op_mark(self, off: int) -> bool:
        self.metastack.append(self.stack)
        self.stack = []
        return False

    def op_stop(self, off: int) -> bool:
        return True

    def op_pop(self, off: int) -> bool:
        if self.stack:
            self.stack.pop()
        else:
            self._pop_mark(off)
        return False

    def op_pop_mark(self, off: int) -> bool:
        self._pop_mark(off)
        return False

    def op_dup(self, off: int) -> bool:
        self.stack.append(self._top(off))
        return False

    # containers ------------------------------------------------------------

    def op_empty_tuple(self, off: int) -> bool:
        self.stack.append(())
        return False

    def op_tuple(self, off: int) -> bool:
        items = self._pop_mark(off)  # first: it replaces self.stack
        value = tuple(items)
        self.stack.append(self._sized(value, value, off))
        return False

    def op_tuple1(self, off: int) -> bool:
        value = (self._pop(off),)
        self.stack.append(self._sized(value, value, off))
        return False

    def op_tuple2(self, off: int) -> bool:
        b = self._pop(off)
        a = self._pop(off)
        value = (a, b)
        self.stack.append(self._sized(value, value, off))
        return False

    def op_tuple3(self, off: int) -> bool:
        c = self._pop(off)
        b = self._pop(off)
        a = self._pop(off)
        value = (a, b, c)
        self.stack.append(self._sized(value, value, off))
        return False

    def op_empty_list(self, off: int) -> bool:
        self.stack.append([])
        return False

    def op_list(self, off: int) -> bool:
        items = self._pop_mark(off)
        self.stack.append(self._sized(items, items, off))
        return False

    def op_empty_dict(self, off: int) -> bool:
        self.stack.append({})
        return False

    def op_dict(self, off: int) -> bool:
        items = self._pop_mark(off)
        if len(items) % 2:
            raise PickleError("odd number of items for DICT", off)
        d: dict = {}
        for i in range(0, len(items), 2):
            self._setitem(d, items[i], items[i + 1], off)
        self.stack.append(self._sized(d, items, off))
        return False

    def op_empty_set(self, off: int) -> bool:
        self.stack.append(PSet())
        return False

    def op_frozenset(self, off: int) -> bool:
        items = self._pop_mark(off)
        self.stack.append(self._sized(PFrozenSet(items), items, off))
        return False

    def _setitem(self, d: dict, key: Any, value: Any, off: int) -> None:
        if type(key) is tuple:
            _check_depth(key, off)  # hashing a deeply nested tuple recurses in C
            if self._size(key) > KEY_EXPANSION:  # the expanded size is already known
                raise ResourceLimit(
                    f"expansion bomb: a dict key that expands to {self._size(key)} values",
                    off)
        try:
            d[key] = value
        except TypeError:
            raise PickleError("unhashable dict key", off) from None

    def _on_container_target(self, target: Any, what: str, off: int) -> bool:
        """Handle APPEND/SETITEM/ADDITEMS on something that is not a plain container.

        The real unpickler calls the target's ``append``/``extend``/``__setitem__``/``add``:
        harmless on an instance of an allowed class, not on a class or function object.
        Returns True when handled."""
        if isinstance(target, Obj):
            return True
        if isinstance(target, Global):
            self.c.on_structural(
                f"{what} on {target.module}.{target.name} calls a method of a class or "
                "function object", off, True)
            return True
        return False

    def op_append(self, off: int) -> bool:
        value = self._pop(off)
        target = self._top(off)
        if isinstance(target, list):
            target.append(value)
            self._grow(target, (value,), off)
        elif not self._on_container_target(target, "APPEND", off):
            raise PickleError(f"APPEND on a {type(target).__name__}", off)
        return False

    def op_appends(self, off: int) -> bool:
        items = self._pop_mark(off)
        target = self._top(off)
        if isinstance(target, list):
            target.extend(items)
            self._grow(target, items, off)
        elif not self._on_container_target(target, "APPENDS", off):
            raise PickleError(f"APPENDS on a {type(target).__name__}", off)
        return False

    def op_setitem(self, off: int) -> bool:
        value = self._pop(off)
        key = self._pop(off)
        target = self._top(off)
        if isinstance(target, dict):
            self._setitem(target, key, value, off)
            self._grow(target, (key, value), off)
        elif not self._on_container_target(target, "SETITEM", off):
            raise PickleError(f"SETITEM on a {type(target).__name__}", off)
        return False

    def op_setitems(self, off: int) -> bool:
        items = self._pop_mark(off)
        target = self._top(off)
        if len(items) % 2:
            raise PickleError("odd number of items for SETITEMS", off)
        if isinstance(target, dict):
            for i in range(0, len(items), 2):
                self._setitem(target, items[i], items[i + 1], off)
            self._grow(target, items, off)
        elif not self._on_container_target(target, "SETITEMS", off):
            raise PickleError(f"SETITEMS on a {type(target).__name__}", off)
        return False

    def op_additems(self, off: int) -> bool:
        items = self._pop_mark(off)
        target = self._top(off)
        if isinstance(target, PSet):
            target.items.extend(items)
            self._grow(target, items, off)
        elif not self._on_container_target(target, "ADDITEMS", off):
            raise PickleError(f"ADDITEMS on a {type(target).__name__}", off)
        return False

    # memo ------------------------------------------------------------------

    def _get(self, idx: int, off: int) -> bool:
        try:
            self.stack.append(self.memo[idx])
        except KeyError:
            raise PickleError(f"memo key {idx} not found", off) from None
        return False

    def op_get(self, off: int) -> bool:
        try:
            idx = int(self._line(off))
        except ValueError:
            raise PickleError("bad GET", off) from None
        return self._get(idx, off)

    def op_binget(self, off: int) -> bool:
        return self._get(self.r.read1(), off)

    def op_long_binget(self, off: int) -> bool:
        return self._get(self._uint(4), off)

    def _put(self, idx: int, off: int) -> bool:
        if idx < 0:
            raise PickleError("negative PUT argument", off)
        if idx > len(self.memo) + MEMO_SLACK:
            raise ResourceLimit(f"memo bomb: PUT at index {idx} with {len(self.memo)} memo "
                                "entries (the C unpickler allocates up to the index)", off)
        self.memo[idx] = self._top(off)
        return False

    def op_put(self, off: int) -> bool:
        try:
            idx = int(self._line(off))
        except ValueError:
            raise PickleError("bad PUT", off) from None
        return self._put(idx, off)

    def op_binput(self, off: int) -> bool:
        return self._put(self.r.read1(), off)

    def op_long_binput(self, off: int) -> bool:
        return self._put(self._uint(4), off)

    def op_memoize(self, off: int) -> bool:
        return self._put(len(self.memo), off)


def _check_depth(value: tuple, off: int, limit: int = 200) -> None:
    """Refuse a tuple key nested deeper than ``limit`` (hashing recurses in C).  Each
    distinct tuple is visited once, iteratively: the check is linear in the pickle."""
    depth: dict[int, int] = {}
    todo: list[tuple[tuple, bool]] = [(value, False)]
    while todo:
        item, children_done = todo.pop()
        if id(item) in depth:
            continue
        inner = [x for x in item if type(x) is tuple]
        if not children_done:
            todo.append((item, True))
            todo.extend((x, False) for x in inner if id(x) not in depth)
            continue
        depth[id(item)] = 1 + max((depth[id(x)] for x in inner), default=0)
        if depth[id(item)] > limit:
            raise PickleError("dict key nested too deeply", off)
