"""The loader envcheck generates for a BentoML model: the saved model read with the
library that wrote it, in the package's env, inside the sandbox -- never bentoml itself.

``bentoml.sklearn`` saves with ``joblib.dump`` (joblib comes with scikit-learn),
``bentoml.picklable_model`` with cloudpickle.  It is MLflow's loader template
(:mod:`envcheck.read.mlflow_loader`) with the BentoML facts filled in: after loading it
compares the installed scikit-learn with model.yaml's ``context.framework_versions`` and,
when scikit-learn itself said nothing, raises scikit-learn's own warning so
``load.warnings`` fails naming both versions; any other library the context records
(cloudpickle for a picklable model) installed in another version is a warning there.
Written outside the package.
"""

from __future__ import annotations

from pathlib import Path

from envcheck.read.bentoml_package import MODEL_YAML, BentoModel
from envcheck.read.mlflow_loader import render_source, write_generated

LOADER_NAME = "envcheck_bentoml_loader.py"  # never "bentoml.py": it would shadow bentoml


def render_loader(model: BentoModel) -> str:
    model_file = model.model_file
    return render_source(
        what="BentoML", how="framework",
        model_dir=str(model.directory), model_file=str(model_file) if model_file else None,
        # The template's "sklearn" path reads MODEL_FILE with FORMAT; it is the path for
        # every framework the loader knows (picklable_model included).
        flavor="sklearn", fmt=model.serialization, loader_module=None, code_dir=None,
        recorded=model.framework_versions.get("scikit-learn"),
        recorded_others={d: v for d, v in model.framework_versions.items() if d != "scikit-learn"},
        recorded_in=f"{MODEL_YAML} context.framework_versions", trusted_user=[], trusted_model=[])


def write_loader(model: BentoModel) -> Path:
    """Write the loader for ``model`` into the per-process temp dir (never the package)."""
    return write_generated(render_loader(model), LOADER_NAME)
