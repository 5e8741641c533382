"""The probe's protocol: what the parent (:mod:`envcheck.probe.runner`) and the child
(:mod:`envcheck.probe.child`, run by the package's interpreter) agree on.

Standard library only and Python 3.6+ syntax: the child imports it from a copy placed
beside itself in the probe's control directory (as ``_envcheck_protocol``, a name no
package will have), never from envcheck.  The parent refuses a result whose
``protocol_version`` is not :data:`PROTOCOL_VERSION`.

A result is one JSON object written by the child to the result file named in the request;
the parent reads at most :data:`MAX_RESULT_BYTES` of it.  Everything in it comes from the
package's own process and could be forged by the package: envcheck decides what it can
establish without running package code (installed versions, pickle contents) itself.
"""

PROTOCOL_VERSION = 2

# Stages, in order; the child rewrites the stage file before entering each.
STAGES = ("start", "import", "load", "inputs", "predict", "predict-repeat", "done")

# JSON has no NaN/inf: {"$float": "nan" | "inf" | "-inf"}.
FLOAT_TAG = "$float"
_FLOAT_TAG = FLOAT_TAG

# The most the parent reads of the result file: predictions for a few smoke rows are
# kilobytes; anything near this is a package flooding the channel.
MAX_RESULT_BYTES = 16 * 1024 * 1024

# The name the protocol module has beside the child in the control directory.
COPY_NAME = "_envcheck_protocol.py"


class BadOutput(Exception):
    """predict() returned something that is not one prediction per input row."""


class BadInput(Exception):
    """The smoke inputs could not be turned into a DataFrame (envcheck's side)."""


# --------------------------------------------------------------------------- encoding



def encode_scalar(value):
    """JSON-safe scalar; NaN/inf become {"$float": "nan"|"inf"|"-inf"} (strict JSON)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value != value:
            return {_FLOAT_TAG: "nan"}
        if value in (float("inf"), float("-inf")):
            return {_FLOAT_TAG: "inf" if value > 0 else "-inf"}
        return value
    module = type(value).__module__ or ""
    if module.startswith("numpy") and hasattr(value, "item"):
        return encode_scalar(value.item())
    if isinstance(value, (dict, list, tuple)):
        raise BadOutput("nested %s values" % type(value).__name__)
    if hasattr(value, "__next__") or hasattr(value, "send"):
        raise BadOutput("a %s inside the output" % type(value).__name__)
    # Timestamps, Decimals, bytes...: compared as their text.
    return {"$repr": str(value)[:200], "$type": type(value).__name__}


def encode_nested(values, depth=0):
    if isinstance(values, (list, tuple)):
        if depth > 8:
            raise BadOutput("values nested deeper than 8 levels")
        return [encode_nested(v, depth + 1) for v in values]
    if isinstance(values, dict):
        raise BadOutput("a list of dicts (return an array, a Series or a DataFrame)")
    return encode_scalar(values)


def decode_scalar(value):
    if isinstance(value, dict) and _FLOAT_TAG in value:
        return float(value[_FLOAT_TAG])
    return value


def _type_name(obj):
    t = type(obj)
    return "%s.%s" % (t.__module__, t.__name__)


def encode_output(out):
    """What predict() returned -> {"kind", "dtype", "shape", "values", ...}."""
    if out is None:
        raise BadOutput("predict() returned None")
    if isinstance(out, (str, bytes, dict, set, frozenset)):
        raise BadOutput("predict() returned a %s" % type(out).__name__)
    if (hasattr(out, "__next__") or hasattr(out, "send")) and not hasattr(out, "shape"):
        raise BadOutput("predict() returned a %s (an iterator, consumed once); return an "
                        "array, a Series, a DataFrame or a list" % type(out).__name__)
    type_name = _type_name(out)
    if type_name.startswith("pandas.") and hasattr(out, "columns"):
        return {"kind": "dataframe", "type": type_name,
                "columns": [str(c) for c in out.columns],
                "dtypes": [str(d) for d in out.dtypes],
                "dtype": "mixed", "shape": list(out.shape),
                "values": encode_nested(out.values.tolist())}
    if type_name.startswith("pandas.") and hasattr(out, "dtype") and hasattr(out, "tolist"):
        return {"kind": "series", "type": type_name, "name": str(out.name),
                "dtype": str(out.dtype), "shape": list(out.shape),
                "values": encode_nested(out.tolist())}
    if hasattr(out, "shape") and hasattr(out, "tolist") and hasattr(out, "dtype"):
        # numpy arrays and look-alikes (torch tensors, cupy on host...)
        return {"kind": "ndarray", "type": type_name, "dtype": str(out.dtype),
                "shape": [int(s) for s in out.shape],
                "values": encode_nested(out.tolist())}
    if isinstance(out, (list, tuple)):
        values = encode_nested(list(out))
        shape = [len(values)]
        if values and all(isinstance(v, list) for v in values):
            widths = set(len(v) for v in values)
            if len(widths) == 1:
                shape.append(widths.pop())
        return {"kind": "list", "type": type_name, "dtype": "list", "shape": shape,
                "values": values}
    if isinstance(out, (int, float, bool)) or _type_name(out).startswith("numpy."):
        return {"kind": "scalar", "type": type_name, "dtype": type(out).__name__,
                "shape": [], "values": encode_scalar(out)}
    raise BadOutput("predict() returned a %s, not an array, a Series, a DataFrame or a "
                    "list" % type_name)
