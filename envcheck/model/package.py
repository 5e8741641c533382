"""The model package as read from disk: the type every stage shares.

A package format (native, MLflow, ...) produces a :class:`ModelPackage`; nothing
downstream of reading depends on which format it was.  Format-specific facts travel in
the fields at the end (versions recorded beside the artifacts, an example input file),
filled by the format that knows them, so that no stage has to ask which format it holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from envcheck.model.findings import Finding

METADATA_FILE = "metadata.yaml"
REQUIREMENTS_FILE = "requirements.txt"
LOCK_FILE = "requirements.lock"  # written by `envcheck lock`; preferred when present
DEFAULT_INTERFACE = "interface.py"
DEFAULT_ARTIFACT_PATTERNS = ("*.pkl", "*.pickle", "*.joblib")


@dataclass
class ModelPackage:
    root: Path
    metadata_path: Path  # root / "metadata.yaml"
    requirements_path: Path  # the environment source installed (envcheck.read.sources)
    interface_path: Path  # root / metadata["interface"] or "interface.py"
    artifacts: list[Path] = field(default_factory=list)  # files (folders expanded)
    metadata: dict[str, Any] = field(default_factory=dict)  # {} when unreadable
    # Normalized, fully expanded requirement lines ("name[extra]==1.0 ; marker --hash=..."),
    # sorted: what the installer gets and what the env cache key hashes.
    requirement_lines: list[str] = field(default_factory=list)
    # Exact pins of direct requirements: canonical name -> version ("scikit-learn": "1.2.2").
    pins: dict[str, str] = field(default_factory=dict)
    # True when requirements could not be read: nothing that needs an env may run.
    requirements_ok: bool = False
    metadata_ok: bool = False
    # The file that declared python_version, when not metadata_path (MLflow: python_env.yaml).
    python_version_file: Optional[str] = None
    # The key that declared it there ("requires-python" in pyproject.toml, conda's "python").
    python_version_key: str = "python_version"
    # Constraint lines of -c files ("name==1.0 ; marker"): write them to a separate file
    # and pass it with --constraint; they install nothing themselves.
    constraint_lines: list[str] = field(default_factory=list)
    # Installer options the requirements set ("--index-url URL", "--pre"), sorted; valid
    # requirements-file lines.  They change what gets installed: part of the env key.
    installer_options: list[str] = field(default_factory=list)

    @property
    def name(self) -> Optional[str]:
        value = self.metadata.get("name")
        return str(value) if value is not None else None

    @property
    def reference_dir(self) -> Path:
        return self.root / "reference"

    @property
    def settings(self) -> dict[str, Any]:
        """The ``envcheck:`` block of metadata.yaml (tolerances, timeout, allowed warnings)."""
        value = self.metadata.get("envcheck")
        return value if isinstance(value, dict) else {}

    @property
    def python_version(self) -> Optional[str]:
        value = self.metadata.get("python_version")
        return str(value) if value is not None else None

    def relative(self, path: Path) -> str:
        """A path as shown in findings: relative to the package root when inside it."""
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)
    # Filled by the format that knows them (no stage asks which format it holds):
    # an input example shipped with the model (MLflow's input_example.json), the smoke
    # inputs when nothing was recorded;
    smoke_inputs_path: Optional[Path] = None
    # versions recorded beside the artifacts rather than inside them (MLflow's MLmodel),
    # reported under pickle.versions like versions read from a pickle.
    version_findings: list[Finding] = field(default_factory=list)
