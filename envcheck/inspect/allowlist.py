"""Which globals a pickle may import: an allowlist of exact (module, name) pairs.

Three kinds of entries, because importing a name, calling it and constructing it are
different powers:

* ``CLASSES``: classes of the model libraries (scikit-learn, numpy, scipy, pandas, joblib,
  xgboost, lightgbm) and the few builtin containers -- may be imported and constructed.
* ``FUNCTIONS``: the handful of non-class callables real model pickles call (numpy's array
  and scalar reconstructors, numpy.random's constructors, pandas' block unpicklers,
  ``copyreg._reconstructor``, ``_codecs.encode`` ...).  Some are only safe with particular
  arguments; :mod:`envcheck.inspect.policy` checks those arguments statically.
* ``REFERENCES``: names a model may hold but must never call during loading, such as the
  numpy ufunc in ``FunctionTransformer(np.log1p)``.

These are exact: what the standard library, numpy and pandas need, and every callable a
pickle may *call*.  A global outside them may still be referenced or constructed when its
module belongs to a distribution the package installs or is shipped with the package
(:mod:`envcheck.inspect.origins`); the denylist of :mod:`envcheck.inspect.gadgets` wins over
both.  The scikit-learn class table is generated, not hand-written: it lives in
:mod:`envcheck.inspect.allowlist_sklearn`.
"""

from __future__ import annotations

from typing import Optional

from envcheck.inspect.allowlist_sklearn import SKLEARN_CLASSES
from envcheck.inspect.allowlist_torch import (  # i13b: torch state dicts
    TORCH_CLASSES,
    TORCH_FUNCTIONS,
    TORCH_REFERENCES,
)
from envcheck.inspect.gadgets import danger  # noqa: F401  (re-exported: allow.danger)

# --------------------------------------------------------------------------- numpy

_NUMPY_SCALARS = (
    "bool_ bool int8 int16 int32 int64 uint8 uint16 uint32 uint64 intc uintc int_ uint "
    "intp uintp longlong ulonglong short ushort byte ubyte half single double longdouble "
    "float16 float32 float64 float128 complex64 complex128 complex256 csingle cdouble "
    "clongdouble object_ str_ bytes_ unicode_ string_ void datetime64 timedelta64 generic "
    "number integer signedinteger unsignedinteger floating complexfloating inexact "
    "flexible character"
).split()

_NUMPY_DTYPE_CLASSES = (
    "BoolDType ByteDType BytesDType CLongDoubleDType Complex128DType Complex64DType "
    "DateTime64DType Float16DType Float32DType Float64DType Int16DType Int32DType "
    "Int64DType Int8DType IntDType LongDType LongDoubleDType LongLongDType ObjectDType "
    "ShortDType StrDType StringDType TimeDelta64DType UByteDType UInt16DType UInt32DType "
    "UInt64DType UInt8DType UIntDType ULongDType ULongLongDType UShortDType VoidDType"
).split()

# Every ufunc of numpy 1.19 and 2.x: what FunctionTransformer(np.log1p) and friends pickle.
NUMPY_UFUNCS = frozenset("""
    abs absolute acos acosh add arccos arccosh arcsin arcsinh arctan arctan2 arctanh
    asin asinh atan atan2 atanh bitwise_and bitwise_count bitwise_invert
    bitwise_left_shift bitwise_not bitwise_or bitwise_right_shift bitwise_xor cbrt ceil
    conj conjugate copysign cos cosh deg2rad degrees divide divmod equal exp exp2 expm1
    fabs float_power floor floor_divide fmax fmin fmod frexp gcd greater greater_equal
    heaviside hypot invert isfinite isinf isnan isnat lcm ldexp left_shift less
    less_equal log log10 log1p log2 logaddexp logaddexp2 logical_and logical_not
    logical_or logical_xor matmul matvec maximum minimum mod modf multiply negative
    nextafter not_equal positive pow power rad2deg radians reciprocal remainder
    right_shift rint sign signbit sin sinh spacing sqrt square subtract tan tanh
    true_divide trunc vecdot vecmat
""".split())

_CORE = ("numpy.core", "numpy._core")  # numpy 1.x writer, numpy 2.x writer


def _pairs(module: str, names: str) -> set[tuple[str, str]]:
    return {(module, n) for n in names.split()}


def _build_classes() -> frozenset[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for module, names in SKLEARN_CLASSES.items():
        out |= _pairs(module, names)
    # scikit-learn < 1.6's Cython losses name their module "_loss" (HistGradientBoosting)
    out |= _pairs("_loss", SKLEARN_CLASSES["sklearn._loss._loss"])
    out |= _pairs("builtins", "object int float complex bool str bytes bytearray list "
                  "tuple dict set frozenset slice range")
    out |= _pairs("collections", "OrderedDict defaultdict deque Counter")
    out |= _pairs("datetime", "datetime date time timedelta timezone")
    out |= _pairs("decimal", "Decimal")
    out |= _pairs("zoneinfo", "ZoneInfo")
    out |= _pairs("fractions", "Fraction")
    out |= _pairs("uuid", "UUID")
    out |= _pairs("enum", "Enum IntEnum")
    # numpy
    out |= {("numpy", n) for n in _NUMPY_SCALARS + ["ndarray", "dtype", "matrix", "recarray",
                                                    "record"]}
    out |= {("numpy.dtypes", n) for n in _NUMPY_DTYPE_CLASSES}
    for core in _CORE:
        out |= _pairs(core + ".records", "recarray record")
        out |= _pairs(core + ".multiarray", "ndarray dtype")
    out |= _pairs("numpy.matrixlib.defmatrix", "matrix")
    out |= _pairs("numpy.ma.core", "MaskedArray MaskedConstant mvoid")
    out |= _pairs("numpy.random.mtrand", "RandomState")
    out |= _pairs("numpy.random._mt19937", "MT19937")
    out |= _pairs("numpy.random._pcg64", "PCG64 PCG64DXSM")
    out |= _pairs("numpy.random._philox", "Philox")
    out |= _pairs("numpy.random._sfc64", "SFC64")
    out |= _pairs("numpy.random._generator", "Generator")
    out |= _pairs("numpy.random.bit_generator", "SeedSequence")
    out |= _pairs("numpy.random._bit_generator", "SeedSequence")
    # scipy.sparse, before (scipy.sparse.csr) and after (scipy.sparse._csr) 1.8
    for fmt in ("csr", "csc", "coo", "lil", "dok", "dia", "bsr"):
        for module in (f"scipy.sparse.{fmt}", f"scipy.sparse._{fmt}"):
            out |= _pairs(module, f"{fmt}_matrix {fmt}_array")
    out |= _pairs("scipy.stats._distn_infrastructure",
                  "rv_continuous_frozen rv_discrete_frozen rv_frozen")
    # pandas
    out |= _pairs("pandas.core.frame", "DataFrame")
    out |= _pairs("pandas.core.series", "Series")
    out |= _pairs("pandas.core.indexes.base", "Index")
    out |= _pairs("pandas.core.indexes.range", "RangeIndex")
    out |= _pairs("pandas.core.indexes.multi", "MultiIndex")
    out |= _pairs("pandas.core.indexes.numeric", "Int64Index Float64Index UInt64Index")
    out |= _pairs("pandas.core.indexes.category", "CategoricalIndex")
    out |= _pairs("pandas.core.indexes.datetimes", "DatetimeIndex")
    out |= _pairs("pandas.core.indexes.frozen", "FrozenList")
    out |= _pairs("pandas.core.internals.managers", "BlockManager SingleBlockManager")
    out |= _pairs("pandas.core.internals.blocks",
                  "Block NumpyBlock ObjectBlock FloatBlock IntBlock CategoricalBlock "
                  "DatetimeTZBlock ExtensionBlock")
    out |= _pairs("pandas.core.arrays.categorical", "Categorical")
    out |= _pairs("pandas.core.arrays.datetimes", "DatetimeArray")
    out |= _pairs("pandas.core.arrays.string_", "StringArray StringDtype")
    out |= _pairs("pandas.core.dtypes.dtypes", "CategoricalDtype DatetimeTZDtype")
    out |= _pairs("pandas._libs.internals", "BlockPlacement")
    # pandas extension dtypes pickle as a call of their class: Dtype(args)
    masked = " ".join(f"{k}{b}Dtype" for k, bits in (("Int", (8, 16, 32, 64)),
                      ("UInt", (8, 16, 32, 64)), ("Float", (32, 64))) for b in bits)
    out |= _pairs("pandas", f"StringDtype PeriodDtype CategoricalDtype DatetimeTZDtype "
                  f"IntervalDtype SparseDtype BooleanDtype {masked}")
    out |= _pairs("pandas.core.dtypes.dtypes",
                  "PeriodDtype IntervalDtype SparseDtype CategoricalDtype DatetimeTZDtype")
    out |= _pairs("pandas.core.arrays.integer", masked)
    out |= _pairs("pandas.core.arrays.floating", masked)
    out |= _pairs("pandas.core.arrays.boolean", "BooleanDtype")
    out |= _pairs("pandas.core.arrays.sparse.dtype", "SparseDtype")
    # pandas >= 3 and numpy >= 2 pickle classes under their public names
    out |= _pairs("pandas", "DataFrame Series Index RangeIndex MultiIndex CategoricalIndex "
                  "DatetimeIndex TimedeltaIndex PeriodIndex IntervalIndex Categorical")
    out |= _pairs("pandas.arrays", "StringArray DatetimeArray TimedeltaArray PeriodArray "
                  "IntegerArray FloatingArray BooleanArray IntervalArray SparseArray "
                  "NumpyExtensionArray")
    out |= _pairs("numpy.ma", "MaskedArray")
    # joblib's array wrapper (the in-stream one; the companion-file ones are dangerous)
    out |= {("joblib.numpy_pickle", "NumpyArrayWrapper"),
            ("sklearn.externals.joblib.numpy_pickle", "NumpyArrayWrapper")}
    # xgboost, lightgbm
    out |= _pairs("xgboost.core", "Booster")
    out |= _pairs("xgboost.sklearn", "XGBModel XGBClassifier XGBRegressor XGBRanker "
                  "XGBRFClassifier XGBRFRegressor")
    out |= _pairs("xgboost.compat", "XGBoostLabelEncoder")
    out |= _pairs("lightgbm.basic", "Booster")
    out |= _pairs("lightgbm.sklearn", "LGBMModel LGBMClassifier LGBMRegressor LGBMRanker")
    return frozenset(out)


CLASSES = _build_classes()

# Non-class callables real models call while unpickling.
FUNCTIONS = frozenset(
    {(core + ".multiarray", "_reconstruct") for core in _CORE}
    | {(core + ".multiarray", "scalar") for core in _CORE}
    | {(core + ".numeric", "_frombuffer") for core in _CORE}
    # numpy 1.x pickles a ufunc as _ufunc_reconstruct(module, name): an import plus a
    # getattr, so its arguments are checked like a global (see policy.py).
    | {(core, "_ufunc_reconstruct") for core in _CORE}
    | {("numpy.ma.core", "_mareconstruct"),
       ("numpy.random._pickle", "__randomstate_ctor"),
       ("numpy.random._pickle", "__bit_generator_ctor"),
       ("numpy.random._pickle", "__generator_ctor"),
       ("numpy.random", "__RandomState_ctor"),  # numpy < 1.17
       ("copyreg", "_reconstructor"),
       ("_codecs", "encode"),  # protocol-2 bytes: _codecs.encode(text, "latin1")
       ("pandas._libs.internals", "_unpickle_block"),
       ("pandas.core.internals.blocks", "new_block"),
       ("pandas.core.internals.blocks", "make_block"),
       ("pandas.core.indexes.base", "_new_Index"),
       ("pandas.core.indexes.datetimes", "_new_DatetimeIndex"),
       ("pandas._libs.tslibs.timestamps", "_unpickle_timestamp"),
       ("pandas._libs.tslibs.timedeltas", "_timedelta_unpickle"),
       ("pandas._libs.tslibs.nattype", "__nat_unpickle"),
       ("pandas._libs.arrays", "__pyx_unpickle_NDArrayBacked"),
       ("sklearn.tree._tree", "__pyx_unpickle_Tree"),
       ("numpy.random.bit_generator", "__pyx_unpickle_SeedSequence"),
       # KDTree/BallTree/DistanceMetric.__reduce__: newObj(cls) == cls.__new__(cls)
       ("sklearn.neighbors._kd_tree", "newObj"),
       ("sklearn.neighbors._ball_tree", "newObj"),
       ("sklearn.neighbors._binary_tree", "newObj"),
       ("sklearn.neighbors._dist_metrics", "newObj"),
       ("sklearn.metrics._dist_metrics", "newObj"),
       ("sklearn.neighbors.kd_tree", "newObj"),
       ("sklearn.neighbors.ball_tree", "newObj"),
       ("sklearn.neighbors.dist_metrics", "newObj"),
       ("numpy.random._bit_generator", "__pyx_unpickle_SeedSequence"),
       ("pandas._libs.tslibs.nattype", "_nat_unpickle"),  # pandas >= 3
       ("pandas.core.indexes.interval", "_new_IntervalIndex"),
       ("pandas.core.indexes.period", "_new_PeriodIndex"),
       ("pandas.core.arrays.sparse.array", "_make_sparse"),
       ("pytz", "_p"),  # pytz's timezone unpickler (pandas' datetimes, numpy 1.x stacks)
       ("zoneinfo", "ZoneInfo._unpickle"),  # via getattr(ZoneInfo, "_unpickle")
       ("logging", "getLogger"),  # a Logger pickles as getLogger(name) since 3.7
       }
    | {("_loss", f"__pyx_unpickle_{n}") for n in SKLEARN_CLASSES["sklearn._loss._loss"].split()}
)

# May be held by a model (e.g. FunctionTransformer(func=np.log1p)), never called on load.
# The modules numpy 1.x's _ufunc_reconstruct(module, name) may name.
UFUNC_MODULES = frozenset({"numpy", "numpy.core.umath", "numpy._core.umath",
                           "numpy.core._multiarray_umath", "numpy._core._multiarray_umath"})

REFERENCES = frozenset({(m, n) for m in UFUNC_MODULES for n in NUMPY_UFUNCS})

def kind(module: str, name: str) -> Optional[str]:
    """"class", "function" or "reference" when allowlisted, else None."""
    key = (module, name)
    if key in CLASSES:
        return "class"
    if key in FUNCTIONS:
        return "function"
    if key in REFERENCES:
        return "reference"
    # i13b: torch state dicts (envcheck.inspect.allowlist_torch)
    if key in TORCH_CLASSES:
        return "class"
    if key in TORCH_FUNCTIONS:
        return "function"
    if key in TORCH_REFERENCES:
        return "reference"
    return None
