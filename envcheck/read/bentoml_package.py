"""The model package read from BentoML's files: a model-store entry or a built bento.

A *model-store entry* is the directory ``bentoml.<framework>.save_model`` writes
(``$BENTOML_HOME/models/<name>/<version>/``): ``model.yaml`` and the saved model.  A
*bento* is what ``bentoml build`` / ``bentoml export --output folder`` writes:
``bento.yaml``, ``env/python/requirements.txt`` (and ``version.txt`` before BentoML 1.3),
``models/<name>/<version>/`` (a model-store entry each) and ``src/``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from envcheck.model.package import ModelPackage

MODEL_YAML = "model.yaml"
BENTO_YAML = "bento.yaml"
BENTO_REQUIREMENTS = "env/python/requirements.txt"
BENTO_PYTHON_VERSION = "env/python/version.txt"

# BentoML module -> (how its saved model is read, the file it saves, the distributions
# the loader imports).  bentoml.sklearn writes with joblib.dump
# (_bentoml_impl/frameworks/sklearn.py), bentoml.picklable_model with cloudpickle.
MODULES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "bentoml.sklearn": ("joblib", "saved_model.pkl", ("scikit-learn", "joblib")),
    "bentoml.picklable_model": ("cloudpickle", "saved_model.pkl", ("cloudpickle",)),
}


def is_model_store_entry(path: Path) -> bool:
    return (Path(path) / MODEL_YAML).is_file()


def is_bento(path: Path) -> bool:
    return (Path(path) / BENTO_YAML).is_file()


@dataclass
class BentoModel:
    """One model-store entry as model.yaml describes it (all strings as written)."""

    directory: Path
    name: str = ""
    version: str = ""
    module: str = ""  # "bentoml.sklearn"
    framework_name: Optional[str] = None  # context.framework_name
    framework_versions: dict[str, str] = field(default_factory=dict)  # distribution -> version
    bentoml_version: Optional[str] = None
    python_version: Optional[str] = None  # context.python_version: what saved it
    metadata: dict[str, Any] = field(default_factory=dict)  # the user's save_model(metadata=)
    # Where each key path is written in model.yaml (for findings).
    lines: dict[tuple[str, ...], int] = field(default_factory=dict)

    @property
    def tag(self) -> str:
        return f"{self.name}:{self.version}" if self.version else self.name

    @property
    def serialization(self) -> Optional[str]:
        known = MODULES.get(self.module)
        return known[0] if known else None

    @property
    def model_file(self) -> Optional[Path]:
        known = MODULES.get(self.module)
        return self.directory / known[1] if known else None


@dataclass
class BentomlModelPackage(ModelPackage):
    """A ModelPackage read from a model-store entry (``metadata_path`` = model.yaml) or a
    bento (``metadata_path`` = bento.yaml)."""

    kind: str = "model"  # "model" (a model-store entry) or "bento"
    model: Optional[BentoModel] = None  # the model the generated loader loads
    other_models: list[BentoModel] = field(default_factory=list)  # a bento's other models
    bento: dict[str, Any] = field(default_factory=dict)  # bento.yaml
    # Where the environment came from, said in package.layout: a file of the package, or
    # "context.framework_versions" when envcheck synthesized the pins.
    environment_source: str = ""

    @property
    def model_yaml(self) -> str:
        """model.yaml of the loaded model, as shown in findings."""
        if self.model is None:
            return MODEL_YAML
        return self.relative(self.model.directory / MODEL_YAML)
