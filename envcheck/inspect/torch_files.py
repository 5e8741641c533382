"""PyTorch's pickles: ``torch.save`` zip members and legacy (pre-1.6) files.

Both formats pickle the object with persistent ids for tensor storages, which
``torch.load``'s own ``persistent_load`` resolves: ``('storage', <storage class>, key,
location, numel)`` (the legacy format adds a view tuple), and in legacy files
``('module', <class>, source_file, source)``.  :class:`TorchVM` accepts exactly those
shapes (their globals are judged by the policy like any other) and refuses every other
persistent id, which only a custom loader would read.

The legacy format is five pickles back to back, then raw storage bytes
(torch/serialization.py ``_legacy_save``): the magic number, the protocol version
(1001), a ``sys_info`` dict, the object, the list of storage keys; then, per key, an
8-byte little-endian element count and that many elements.  All five pickles are
walked with the policy (a payload in any of them would run under ``torch.load``), and
the storage bytes are accounted for exactly, so nothing can hide after them.
"""

from __future__ import annotations

import re
from typing import IO, Any, Callable, Optional

from envcheck.inspect.allowlist_torch import STORAGE_ELEMENT_SIZE
from envcheck.inspect.formats import TORCH_LEGACY_MAGIC
from envcheck.inspect.pickle_reader import Reader, TooLarge
from envcheck.inspect.pickle_values import Global, PersistentRef, PickleError
from envcheck.inspect.pickle_vm import VM
from envcheck.inspect.pickles import _walk
from envcheck.inspect.policy import PickleInspection, Policy

LEGACY_PROTOCOL_VERSION = 1001
# TorchScript archives (torch.jit.save; torch.load hands them to torch.jit.load): their
# pickles are read by torch's C++ unpickler, which imports no Python module.  The names it
# resolves beyond the state-dict ones are these builders and ``__torch__.*`` classes,
# which are TorchScript compiled from the archive's own ``code/`` (torch/jit/_pickle.py).
TORCHSCRIPT_BUILDERS = frozenset(("torch.jit._pickle", name) for name in (
    "build_intlist", "build_tensorlist", "build_doublelist", "build_boollist",
    "build_tensor_from_id", "restore_type_tag"))
_MAGIC_NUMBER = int.from_bytes(TORCH_LEGACY_MAGIC[2:], "little")
# torch's restore_location: "cpu", "cuda:0", "mps", "meta", a privateuse backend ...
_LOCATION = re.compile(r"[a-z][a-z0-9_]{0,31}(:[0-9]{1,4})?\Z")


def _text(value: Any) -> Optional[str]:
    if isinstance(value, bytes):  # a Python 2 era torch wrote bytes
        try:
            return value.decode("ascii")
        except UnicodeDecodeError:
            return None
    return value if isinstance(value, str) else None


class TorchVM(VM):
    """The unpickler of ``torch.load``: storage persistent ids are torch's own."""

    storages: dict[str, tuple[str, int]]  # key -> (storage class name, numel)

    def op_binpersid(self, off: int) -> bool:
        pid = self._pop(off)
        if not self._torch_pid(pid):
            self.c.on_structural("persistent id that torch.load does not read as a storage "
                                 "(BINPERSID): needs a custom loader", off, True)
        self.stack.append(PersistentRef(pid))
        return False

    def _torch_pid(self, pid: Any) -> bool:
        if not isinstance(pid, tuple) or not pid:
            return False
        typename = _text(pid[0])
        if typename == "module":  # legacy: a class saved with its source (a warning)
            return len(pid) == 4 and isinstance(pid[1], Global)
        if typename != "storage" or len(pid) not in (5, 6):
            return False
        cls, key, location, numel = pid[1:5]
        key, location = _text(key), _text(location)
        if not (isinstance(cls, Global) and key and location and _LOCATION.match(location)
                and type(numel) is int and numel >= 0):
            return False
        if len(pid) == 6 and pid[5] is not None:
            view = pid[5]
            if not (isinstance(view, tuple) and len(view) == 3 and _text(view[0])
                    and all(type(x) is int for x in view[1:])):
                return False
        if not hasattr(self, "storages"):
            self.storages = {}
        self.storages[key] = (cls.name, numel)
        return True


def inspect_legacy(opener: Callable[[], IO[bytes]], result: PickleInspection,
                   max_bytes: Optional[int], seekable: bool) -> None:
    """Walk a legacy ``torch.save`` file: five pickles, then the storages' bytes."""
    result.format = "torch-legacy"
    policy = Policy(result)
    with opener() as raw:
        reader = Reader(raw, seekable_size=result.size if seekable else None,
                        limit=max_bytes)
        values = []
        storages: dict[str, tuple[str, int]] = {}
        for _ in range(5):
            vm = TorchVM(reader, policy, raw_arrays=False, py_framing=False)
            values.append(_walk(vm, reader, result, expect_eof=False))
            if result.error is not None:
                return
            storages.update(getattr(vm, "storages", {}))
        result.stream_size = reader.tell()
        problem = _legacy_header_problem(values)
        if problem is None:
            try:
                problem = _skip_storages(reader, values[4], storages)
            except (PickleError, TooLarge) as exc:
                problem = f"legacy torch file: storage data: {exc}"
        if problem is not None:
            result.error, result.error_offset = problem, reader.tell()
    policy.finish()


def _legacy_header_problem(values: list) -> Optional[str]:
    if values[0] != _MAGIC_NUMBER:
        return "legacy torch file: bad magic number"
    if values[1] != LEGACY_PROTOCOL_VERSION:
        return f"legacy torch file: protocol version {values[1]!r}, torch reads only 1001"
    if not isinstance(values[2], dict):
        return "legacy torch file: its third pickle is not the sys_info dict"
    keys = values[4]
    if not isinstance(keys, list) or not all(_text(k) for k in keys):
        return "legacy torch file: its fifth pickle is not the list of storage keys"
    return None


def _skip_storages(reader: Reader, keys: list, storages: dict[str, tuple[str, int]]
                   ) -> Optional[str]:
    for raw_key in keys:
        key = _text(raw_key) or ""
        if key not in storages:
            return f"legacy torch file: storage {key!r} is listed but no tensor uses it"
        cls_name, numel = storages[key]
        size = STORAGE_ELEMENT_SIZE.get(cls_name)
        if size is None:
            return f"legacy torch file: unknown storage class {cls_name}"
        count = int.from_bytes(reader.read(8), "little")
        if count != numel:
            return (f"legacy torch file: storage {key!r} holds {count} elements, its "
                    f"tensor says {numel}")
        reader.skip(count * size)
    if not reader.at_eof():
        return "legacy torch file: data after the last storage"
    return None


def torchscript_modules(names: list[str], prefix: str) -> frozenset[str]:
    """``__torch__.a.b`` for each ``<prefix>/code/__torch__/a/b.py`` of a TorchScript
    archive (one with a ``constants.pkl``); empty for a ``torch.save`` zip."""
    if f"{prefix}/constants.pkl" not in names:
        return frozenset()
    code = f"{prefix}/code/"
    return frozenset(n[len(code):-3].replace("/", ".") for n in names
                     if n.startswith(code + "__torch__/") and n.endswith(".py"))


def drop_torchscript_names(result: PickleInspection, modules: frozenset[str]) -> None:
    """Keep only what TorchScript's unpickler would not resolve itself: its builders, and
    classes compiled from the archive's own code, are not Python imports."""
    result.unsafe = [u for u in result.unsafe if not (
        (u.module, u.name) in TORCHSCRIPT_BUILDERS or u.module in modules)]
