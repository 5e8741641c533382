"""Which distribution provides an import name: the one table envcheck has.

Used to say "add X to requirements.txt" (reading the interface, explaining a failed
import at load time) and to tell whether an import is covered by a requirement.
"""

from __future__ import annotations

from typing import Optional

from packaging.utils import canonicalize_name

# Import name -> distributions that provide it (canonical names).  Only names whose
# distribution differs from the import are needed: ``numpy`` -> ``numpy`` is implied.
IMPORT_TO_DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "sklearn": ("scikit-learn",),
    "skimage": ("scikit-image",),
    "skopt": ("scikit-optimize",),
    "imblearn": ("imbalanced-learn",),
    "yaml": ("pyyaml",),
    "ruamel": ("ruamel-yaml",),
    "cv2": ("opencv-python", "opencv-python-headless", "opencv-contrib-python",
            "opencv-contrib-python-headless"),
    "PIL": ("pillow",),
    "bs4": ("beautifulsoup4",),
    "dateutil": ("python-dateutil",),
    "dotenv": ("python-dotenv",),
    "jose": ("python-jose",),
    "jwt": ("pyjwt",),
    "magic": ("python-magic",),
    "docx": ("python-docx",),
    "pptx": ("python-pptx",),
    "serial": ("pyserial",),
    "usb": ("pyusb",),
    "zmq": ("pyzmq",),
    "attr": ("attrs",),
    "OpenSSL": ("pyopenssl",),
    "Crypto": ("pycryptodome", "pycrypto"),
    "Cryptodome": ("pycryptodomex",),
    "fitz": ("pymupdf",),
    "Levenshtein": ("levenshtein", "python-levenshtein"),
    "MySQLdb": ("mysqlclient",),
    "psycopg2": ("psycopg2", "psycopg2-binary"),
    "pkg_resources": ("setuptools",),
    "mpl_toolkits": ("matplotlib",),
    "google.protobuf": ("protobuf",),
    "Bio": ("biopython",),
    "umap": ("umap-learn",),
    "faiss": ("faiss-cpu", "faiss-gpu"),
    "tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tensorflow-macos",
                   "tensorflow-intel", "tf-nightly"),
    "keras": ("keras", "tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tensorflow-macos"),
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu"),
    "torch": ("torch",),
    "xgboost": ("xgboost", "xgboost-cpu"),
    "lightgbm": ("lightgbm",),
    "catboost": ("catboost",),
    "statsmodels": ("statsmodels",),
    "sentence_transformers": ("sentence-transformers",),
    "fbprophet": ("fbprophet",),
    "igraph": ("igraph", "python-igraph"),
    "win32api": ("pywin32",),
    "win32con": ("pywin32",),
    "gi": ("pygobject",),
    "rdkit": ("rdkit", "rdkit-pypi"),
    "tzlocal": ("tzlocal",),
    "websocket": ("websocket-client",),
    "slugify": ("python-slugify",),
    "multipart": ("python-multipart",),
    "lz4": ("lz4",),
    "snappy": ("python-snappy",),
}


def _known(module: str) -> Optional[tuple[str, ...]]:
    """The table's entry for the longest known prefix of the dotted ``module``."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        found = IMPORT_TO_DISTRIBUTIONS.get(".".join(parts[:n]))
        if found:
            return found
    return None


def distributions_for(module: str) -> tuple[str, ...]:
    """Distributions that may provide the dotted ``module`` (canonical names)."""
    return _known(module) or (canonicalize_name(module.split(".")[0]),)


def distribution_for(module: str) -> str:
    """The one distribution to add to requirements.txt for a missing ``module``: the
    known one, else the import name as written (pip normalizes it)."""
    known = _known(module)
    return known[0] if known else module.split(".")[0]
