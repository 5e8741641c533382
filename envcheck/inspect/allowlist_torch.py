"""The few torch names a ``torch.save``'d state dict pickles (the i13b block).

``torch`` as a whole stays a known-dangerous module (``torch.load`` unpickles again,
``torch.jit`` compiles code ...): only these exact pairs are carved out of it, because
``torch.save(model.state_dict())`` writes nothing else -- a tensor is
``torch._utils._rebuild_tensor_v2(<storage persistent id>, offset, size, stride, ...)``,
its storage names a storage class, a parameter is ``_rebuild_parameter``.  The storage
itself is a persistent id that :class:`envcheck.inspect.torch_files.TorchVM` checks.
"""

from __future__ import annotations

# Bytes per element of each storage class torch.save writes (torch/storage.py).
STORAGE_ELEMENT_SIZE = {
    "DoubleStorage": 8, "FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2,
    "LongStorage": 8, "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1,
    "ByteStorage": 1, "BoolStorage": 1, "ComplexFloatStorage": 8,
    "ComplexDoubleStorage": 16, "QUInt8Storage": 1, "QInt8Storage": 1,
    "QInt32Storage": 4, "QUInt4x2Storage": 1, "QUInt2x4Storage": 1, "UntypedStorage": 1,
}
# Called while unpickling: rebuild a tensor from a storage, sizes and strides.
TORCH_FUNCTIONS = frozenset({
    ("torch._utils", "_rebuild_tensor"),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_parameter"),
})
# Only referenced: the storage classes of persistent ids, dtypes.
TORCH_REFERENCES = frozenset(
    {("torch", name) for name in STORAGE_ELEMENT_SIZE}
    | {("torch", name) for name in (
        "float32 float64 float16 bfloat16 int64 int32 int16 int8 uint8 bool complex64 "
        "complex128").split()})
TORCH_CLASSES = frozenset({("torch", "Size")})
TORCH_SAFE = TORCH_FUNCTIONS | TORCH_REFERENCES | TORCH_CLASSES
