"""Which distribution provides an import name: the one table envcheck has.

Used to say "add X to requirements.txt" (reading the interface, explaining a failed
import at load time) and to tell whether an import is covered by a requirement.
"""

from __future__ import annotations

from typing import Iterable, Optional

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


# Well-known runtime dependencies (canonical names), so that an import brought in by a
# listed requirement is a warning, not a failure.  Closed transitively below.
TRANSITIVE: dict[str, tuple[str, ...]] = {
    "scikit-learn": ("numpy", "scipy", "joblib", "threadpoolctl"),
    "scipy": ("numpy",),
    "pandas": ("numpy", "python-dateutil", "pytz", "tzdata"),
    "python-dateutil": ("six",),
    "xgboost": ("numpy", "scipy"),
    "lightgbm": ("numpy", "scipy"),
    "catboost": ("numpy", "pandas", "scipy", "graphviz", "matplotlib", "plotly", "six"),
    "statsmodels": ("numpy", "scipy", "pandas", "patsy", "packaging"),
    "patsy": ("numpy",),
    "imbalanced-learn": ("scikit-learn", "numpy", "scipy", "joblib", "threadpoolctl"),
    "scikit-image": ("numpy", "scipy", "networkx", "pillow", "imageio", "tifffile",
                     "packaging", "lazy-loader"),
    "matplotlib": ("numpy", "pillow", "packaging", "pyparsing", "python-dateutil", "cycler",
                   "kiwisolver", "fonttools", "contourpy"),
    "seaborn": ("numpy", "pandas", "matplotlib"),
    "torch": ("filelock", "typing-extensions", "sympy", "networkx", "jinja2", "fsspec"),
    "torchvision": ("torch", "numpy", "pillow"),
    "tensorflow": ("numpy", "protobuf", "absl-py", "h5py", "keras", "six", "termcolor",
                   "wrapt", "grpcio", "packaging", "ml-dtypes", "opt-einsum", "gast",
                   "flatbuffers", "astunparse", "requests", "typing-extensions"),
    "keras": ("numpy", "h5py", "absl-py", "rich", "namex", "optree", "ml-dtypes", "packaging"),
    "transformers": ("numpy", "huggingface-hub", "tokenizers", "requests", "pyyaml", "regex",
                     "tqdm", "packaging", "safetensors", "filelock"),
    "huggingface-hub": ("filelock", "fsspec", "requests", "tqdm", "pyyaml", "packaging",
                        "typing-extensions"),
    "sentence-transformers": ("transformers", "torch", "scikit-learn", "scipy", "tqdm",
                              "huggingface-hub", "pillow"),
    "requests": ("urllib3", "idna", "certifi", "charset-normalizer"),
    "shap": ("numpy", "scipy", "scikit-learn", "pandas", "tqdm", "numba", "cloudpickle",
             "slicer", "packaging"),
    "numba": ("numpy", "llvmlite"),
    "umap-learn": ("numpy", "scipy", "scikit-learn", "numba", "pynndescent", "tqdm"),
    "pynndescent": ("numpy", "scipy", "scikit-learn", "numba", "llvmlite", "joblib"),
    "onnxruntime": ("numpy", "protobuf", "packaging", "flatbuffers", "sympy", "coloredlogs"),
    "pyarrow": ("numpy",),
    "h5py": ("numpy",),
    "mlflow": ("numpy", "pandas", "scikit-learn", "scipy", "pyyaml", "requests", "click",
               "cloudpickle", "packaging", "protobuf", "sqlalchemy", "flask", "jinja2"),
    "prophet": ("numpy", "pandas", "matplotlib", "cmdstanpy", "holidays", "tqdm"),
    "pmdarima": ("numpy", "scipy", "scikit-learn", "pandas", "statsmodels", "joblib",
                 "cython", "packaging", "urllib3"),
    "category-encoders": ("numpy", "scikit-learn", "scipy", "statsmodels", "pandas", "patsy"),
    "opencv-python": ("numpy",),
    "opencv-python-headless": ("numpy",),
    "spacy": ("numpy", "requests", "tqdm", "pydantic", "jinja2", "packaging", "thinc",
              "srsly", "typer"),
    "gensim": ("numpy", "scipy", "smart-open"),
    "nltk": ("click", "joblib", "regex", "tqdm"),
    "flask": ("werkzeug", "jinja2", "itsdangerous", "click", "blinker"),
    "pydantic": ("pydantic-core", "typing-extensions", "annotated-types"),
}


def _closure() -> dict[str, frozenset[str]]:
    out: dict[str, frozenset[str]] = {}
    for dist in TRANSITIVE:
        seen: set[str] = set()
        todo = list(TRANSITIVE[dist])
        while todo:
            dep = todo.pop()
            if dep not in seen and dep != dist:
                seen.add(dep)
                todo.extend(TRANSITIVE.get(dep, ()))
        out[dist] = frozenset(seen)
    return out


_TRANSITIVE_CLOSURE = _closure()


def brought_in(direct: Iterable[str]) -> frozenset[str]:
    """The distributions the known ``direct`` ones pull in (canonical names)."""
    return frozenset().union(*(_TRANSITIVE_CLOSURE.get(d, frozenset()) for d in direct))
