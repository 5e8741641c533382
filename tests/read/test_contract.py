"""interface.contract (static): parses, defines load_model, imports covered by requirements."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Optional

import pytest

from envcheck.model.distributions import distributions_for
from envcheck.model.findings import Severity, Status
from envcheck.model.package import ModelPackage
from envcheck.read.contract import check_interface
from envcheck.read.requirements import parse_requirements

LOAD = "def load_model():\n    return None\n"


def make(tmp_path: Path, interface: str, requirements: Optional[str] = "numpy==1.26.4\n",
         python: Optional[str] = None, extra: Optional[dict[str, str]] = None):  # noqa: ANN201
    (tmp_path / "interface.py").write_text(textwrap.dedent(interface), encoding="utf-8")
    for name, text in (extra or {}).items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    reqs = None
    if requirements is not None:
        (tmp_path / "requirements.txt").write_text(requirements)
        reqs = parse_requirements(tmp_path / "requirements.txt", tmp_path)
    pkg = ModelPackage(root=tmp_path, metadata_path=tmp_path / "metadata.yaml",
                       requirements_path=tmp_path / "requirements.txt",
                       interface_path=tmp_path / "interface.py",
                       metadata={"python_version": python} if python else {})
    return check_interface(pkg, reqs)


def only(result, severity: Severity):  # noqa: ANN001, ANN201
    return [f for f in result.findings if f.severity is severity]


# --------------------------------------------------------------------------- passing

def test_good_interface_passes(tmp_path: Path) -> None:
    result = make(tmp_path, """\
        import os, pickle, json
        from __future__ import annotations  # stdlib
        import numpy as np
        from . import helpers
        import features  # sibling module
        from mypkg.sub import thing  # sibling package
        try:
            import ujson as fastjson
        except ImportError:
            fastjson = None
        from typing import TYPE_CHECKING
        if TYPE_CHECKING:
            import pandas
        if __name__ == "__main__":
            import matplotlib

        def load_model():
            with open("model.pkl", "rb") as fh:
                return pickle.load(fh)
        """, extra={"features.py": "", "mypkg/__init__.py": ""})
    assert result.id == "interface.contract"
    assert result.status is Status.PASS, result.findings


@pytest.mark.parametrize("definition", [
    "load_model = lambda: None\n",
    "def _load():\n    return 1\nload_model = _load\n",
    "import functools\ndef _load(path):\n    return path\nload_model = functools.partial(_load, 'm.pkl')\n",
    "class load_model:\n    pass\n",
    "from helpers import load_model\n",
    "try:\n    " + LOAD.replace("\n    ", "\n        ") + "except Exception:\n    raise\n",
    "def load_model(path='model.pkl'):\n    return path\n",
])
def test_load_model_forms(tmp_path: Path, definition: str) -> None:
    result = make(tmp_path, definition, extra={"helpers.py": LOAD})
    assert result.status is Status.PASS, result.findings


def test_import_covered_by_mapped_distribution(tmp_path: Path) -> None:
    result = make(tmp_path, "import sklearn.linear_model\nimport yaml\nfrom PIL import Image\n" + LOAD,
                  requirements="Scikit-Learn==1.5.2\nPyYAML==6.0.1\npillow==10.0.0\n")
    assert result.status is Status.PASS, result.findings


def test_distribution_map() -> None:
    assert distributions_for("sklearn.ensemble") == ("scikit-learn",)
    assert distributions_for("cv2")[0] == "opencv-python"
    assert distributions_for("google.protobuf.message") == ("protobuf",)
    assert distributions_for("typing_extensions") == ("typing-extensions",)
    assert distributions_for("dateutil.parser") == ("python-dateutil",)


# --------------------------------------------------------------------------- failing

def test_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    result = make(tmp_path, "import os\n\ndef load_model(:\n    pass\n")
    assert result.status is Status.FAIL
    (finding,) = result.findings
    assert (finding.file, finding.line, finding.column) == ("interface.py", 3, 16)
    assert "syntax error" in finding.message


@pytest.mark.skipif(sys.version_info < (3, 10), reason="match statements parse on 3.10+ only")
def test_syntax_newer_than_target_python(tmp_path: Path) -> None:
    source = "def load_model(kind='a'):\n    match kind:\n        case 'a':\n            return 1\n"
    assert make(tmp_path, source, python="3.11").status is Status.PASS
    result = make(tmp_path, source, python="3.8")
    assert result.status is Status.FAIL
    (finding,) = result.findings
    assert finding.line == 2 and "Python 3.8" in finding.message


def test_missing_load_model(tmp_path: Path) -> None:
    result = make(tmp_path, "def load():\n    return 1\n")
    assert result.status is Status.FAIL
    assert "does not define load_model()" in result.findings[0].message


def test_nested_load_model_is_named(tmp_path: Path) -> None:
    result = make(tmp_path, "def outer():\n    def load_model():\n        return 1\n")
    (finding,) = result.findings
    assert finding.severity is Severity.ERROR and finding.line == 2
    assert "nested" in finding.message


@pytest.mark.parametrize("value,kind", [("None", "constant"), ("'model.pkl'", "constant"),
                                        ("{}", "dict"), ("[load]", "list")])
def test_load_model_bound_to_literal(tmp_path: Path, value: str, kind: str) -> None:
    result = make(tmp_path, f"def load():\n    return 1\n\nload_model = {value}\n")
    (finding,) = result.findings
    assert finding.severity is Severity.ERROR and finding.line == 4
    assert f"assigned a {kind} value" in finding.message


def test_async_load_model_fails(tmp_path: Path) -> None:
    result = make(tmp_path, "async def load_model():\n    return 1\n")
    assert result.status is Status.FAIL and "coroutine" in result.findings[0].message


def test_required_argument_warns(tmp_path: Path) -> None:
    result = make(tmp_path, "def load_model(path):\n    return path\n")
    assert result.status is Status.WARN and "path" in result.findings[0].message


def test_star_import_warns(tmp_path: Path) -> None:
    result = make(tmp_path, "from helpers import *\n", extra={"helpers.py": LOAD})
    assert result.status is Status.WARN and result.findings[0].line == 1


def test_uncovered_import_names_distribution(tmp_path: Path) -> None:
    result = make(tmp_path, "import numpy\nimport xgboost as xgb\nfrom sklearn.pipeline import Pipeline\n" + LOAD)
    assert result.status is Status.FAIL
    errors = only(result, Severity.ERROR)
    assert [(f.line, f.details["import"], f.details["distribution"]) for f in errors] == [
        (2, "xgboost", "xgboost"), (3, "sklearn.pipeline", "scikit-learn")]
    assert "the distribution scikit-learn" in errors[1].message


def test_transitive_dependency_warns(tmp_path: Path) -> None:
    result = make(tmp_path, "import numpy as np\nimport joblib\n" + LOAD,
                  requirements="scikit-learn==1.5.2\n")
    assert result.status is Status.WARN
    messages = [f.message for f in result.findings]
    assert "`import numpy` relies on scikit-learn to bring in numpy; pin numpy" in messages[0]
    assert [f.details["distribution"] for f in result.findings] == ["numpy", "joblib"]


def test_function_level_import_warns(tmp_path: Path) -> None:
    result = make(tmp_path, "def load_model():\n    import torch\n    return torch.load('m.pt')\n")
    assert result.status is Status.WARN
    (finding,) = result.findings
    assert finding.line == 2 and finding.details["distribution"] == "torch"


def test_stdlib_module_missing_on_target_python(tmp_path: Path) -> None:
    result = make(tmp_path, "import tomllib\n" + LOAD, python="3.8")
    (finding,) = result.findings
    assert finding.severity is Severity.ERROR and "from Python 3.11" in finding.message
    assert make(tmp_path, "import tomllib\n" + LOAD, python="3.11").status is Status.PASS


def test_bad_requirements_downgrade_import_errors(tmp_path: Path) -> None:
    """numpy's line is unreadable: requirements.parse fails; here only a warning."""
    result = make(tmp_path, "import numpy\n" + LOAD, requirements="numpy=1.26.4\n")
    assert result.status is Status.WARN


def test_no_requirements_file(tmp_path: Path) -> None:
    result = make(tmp_path, "import xgboost\n" + LOAD, requirements=None)
    assert result.status is Status.PASS
    assert "not compared" in result.findings[0].message


def test_null_bytes(tmp_path: Path) -> None:
    (tmp_path / "interface.py").write_bytes(b"import os\x00\n")
    pkg = ModelPackage(root=tmp_path, metadata_path=tmp_path / "m", requirements_path=tmp_path / "r",
                       interface_path=tmp_path / "interface.py")
    result = check_interface(pkg, None)
    assert result.status is Status.FAIL and result.findings[0].file == "interface.py"


def test_non_utf8_byte_in_a_comment_is_refused_at_its_line(tmp_path: Path) -> None:
    """ast.parse(bytes) accepts it; importing the file does not (BUG-1)."""
    (tmp_path / "interface.py").write_bytes(b"import os\n# caf\xe9\n" + LOAD.encode())
    pkg = ModelPackage(root=tmp_path, metadata_path=tmp_path / "metadata.yaml",
                       requirements_path=tmp_path / "requirements.txt",
                       interface_path=tmp_path / "interface.py")
    result = check_interface(pkg, None)
    assert result.status is Status.FAIL
    (finding,) = only(result, Severity.ERROR)
    assert (finding.file, finding.line) == ("interface.py", 2)
    assert "is not UTF-8 (byte 0xe9 at line 2)" in finding.message


def test_declared_encoding_is_honoured(tmp_path: Path) -> None:
    (tmp_path / "interface.py").write_bytes(
        b"# -*- coding: latin-1 -*-\n# caf\xe9\n" + LOAD.encode())
    pkg = ModelPackage(root=tmp_path, metadata_path=tmp_path / "metadata.yaml",
                       requirements_path=tmp_path / "requirements.txt",
                       interface_path=tmp_path / "interface.py")
    assert only(check_interface(pkg, None), Severity.ERROR) == []
