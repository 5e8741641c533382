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

# The most the parent reads of the result file: predictions for a few smoke rows are
# kilobytes; anything near this is a package flooding the channel.
MAX_RESULT_BYTES = 16 * 1024 * 1024

# The name the protocol module has beside the child in the control directory.
COPY_NAME = "_envcheck_protocol.py"
