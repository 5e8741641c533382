"""bento.yaml of a built bento: its Python, its models and what its API schema says.

* Python: ``env/python/version.txt`` (BentoML < 1.3 writes it), else bento.yaml's
  ``image.python_version`` (1.3+), else ``docker.python_version`` (1.0-1.2);
* models: the tags bento.yaml lists (top-level ``models`` and each service's ``models``),
  each a model-store entry under ``models/<name>/<version>/`` (``bentoml export`` copies
  them in; a bento in the local store keeps them outside: that is a layout error);
* smoke inputs: the entry route's JSON schema (``schema.routes``) when every input is a
  named scalar (``def predict(self, tenure: float, ...)``): one column each.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from envcheck.model.findings import Finding, error, warning
from envcheck.read.bentoml_package import BENTO_PYTHON_VERSION, BENTO_YAML

# JSON schema types -> envcheck feature types (envcheck.compare.inputs).
SCHEMA_TYPES = {"number": "float", "integer": "int", "boolean": "bool", "string": "string"}


def bento_python(root: Path, bento: dict[str, Any], lines: dict[tuple[str, ...], int]
                 ) -> tuple[Optional[str], Optional[str], list[Finding]]:
    """(version, the file that declared it, findings)."""
    version_file = root / BENTO_PYTHON_VERSION
    if version_file.is_file():
        with version_file.open("rb") as handle:  # "3.11.7\n": a few bytes are all it needs
            text = handle.read(64).decode("utf-8", "replace").strip()
        return (text or None), BENTO_PYTHON_VERSION, []
    for section in ("image", "docker"):
        block = bento.get(section)
        if isinstance(block, dict) and block.get("python_version") is not None:
            return str(block["python_version"]), f"{BENTO_YAML} {section}.python_version", []
    return None, None, [warning(f"neither {BENTO_PYTHON_VERSION} nor {BENTO_YAML} "
                                f"image.python_version names the bento's Python: the "
                                f"interpreter is chosen without it", file=BENTO_YAML,
                                line=lines.get(("image",)))]


def _tag_of(entry: Any) -> Optional[str]:
    if isinstance(entry, str):
        return entry
    if isinstance(entry, dict) and isinstance(entry.get("tag"), str):
        return str(entry["tag"])
    return None


def bento_model_tags(bento: dict[str, Any]) -> list[str]:
    """Every model tag bento.yaml names, first the top-level ones, in order, once each."""
    tags: list[str] = []
    services = bento.get("services")
    groups = [bento.get("models")] + [s.get("models") for s in services
                                      if isinstance(s, dict)] if isinstance(services, list) \
        else [bento.get("models")]
    for group in groups:
        for entry in group if isinstance(group, list) else []:
            tag = _tag_of(entry)
            if tag and tag not in tags:
                tags.append(tag)
    return tags


def model_directory(root: Path, tag: str) -> tuple[Optional[Path], Optional[Finding]]:
    """``models/<name>/<version>`` of ``tag`` inside the bento, or the layout error."""
    name, _, version = tag.partition(":")
    models = (root / "models").resolve()
    directory = (models / name / version) if version else None
    # Resolved, links included: models/ itself must be the bento's, and the entry inside it.
    inside = models.is_relative_to(root.resolve())
    if directory is not None and not (inside and directory.resolve().is_relative_to(models)):
        return None, error(f"model tag {tag!r} in {BENTO_YAML} points outside models/",
                           file=BENTO_YAML, details={"model": tag})
    if directory is None or not directory.is_dir():
        expected = f"models/{name}/{version or '<version>'}/"
        return None, error(
            f"{BENTO_YAML} names model {tag} but {expected} is missing: a bento in the local "
            f"store keeps its models outside it; export it with `bentoml export {tag.split(':')[0]}"
            f" --output folder` (it copies the models in)", file=BENTO_YAML,
            details={"model": tag, "expected": expected})
    return directory, None


def schema_features(bento: dict[str, Any]) -> list[dict[str, str]]:
    """The entry route's inputs as envcheck features, or [] when they do not say enough."""
    schema = bento.get("schema")
    routes = schema.get("routes") if isinstance(schema, dict) else None
    if not isinstance(routes, list) or not routes:
        return []
    named = [r for r in routes if isinstance(r, dict) and r.get("name") == "predict"]
    route = named[0] if named else routes[0]
    inputs = route.get("input") if isinstance(route, dict) else None
    properties = inputs.get("properties") if isinstance(inputs, dict) else None
    if not isinstance(properties, dict) or not properties:
        return []
    features: list[dict[str, str]] = []
    for name, spec in properties.items():
        kind = SCHEMA_TYPES.get(str(spec.get("type"))) if isinstance(spec, dict) else None
        if kind is None:
            return []  # an array, an object, a file: not one column per input
        features.append({"name": str(name), "type": kind})
    return features
