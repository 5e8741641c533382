"""The model package read from an MLflow model directory (a folder with an ``MLmodel``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from envcheck.model.package import ModelPackage

MLMODEL_FILE = "MLmodel"


def is_mlflow_model(path: Path) -> bool:
    return (Path(path) / MLMODEL_FILE).is_file()


@dataclass
class MlflowModelPackage(ModelPackage):
    """A ModelPackage read from an MLflow model directory (``metadata_path`` = MLmodel)."""

    mlmodel: dict[str, Any] = field(default_factory=dict)
    flavor: Optional[str] = None  # "sklearn" or "python_function": what the loader uses
    serialization_format: Optional[str] = None  # sklearn flavor: pickle|cloudpickle|skops
    model_file: Optional[Path] = None
    sklearn_version: Optional[str] = None  # recorded in MLmodel at save time
    trusted_by_model: list[str] = field(default_factory=list)  # MLmodel skops_trusted_types
