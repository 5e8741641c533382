"""envcheck.env.distributions on real venvs built from PyPI, checked against what
importlib.metadata reports inside them, and on hostile site-packages content."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Optional

import pytest

from envcheck.env.distributions import (
    MAX_METADATA_BYTES,
    installed_distributions,
    pth_files,
    read_distributions,
    read_pyvenv_cfg,
    site_packages_dirs,
)

pytestmark = pytest.mark.slow

SMALL = ["six==1.16.0", "packaging==23.2", "PyYAML==6.0.1"]
OLD = ["scikit-learn==0.24.2"]  # cp38 manylinux wheels: numpy, scipy, joblib, threadpoolctl
SECRET = "SECRET-canary-7f3a9c"

# What importlib.metadata says inside the env, keyed like the reader's dict.
IMPORTLIB = r"""
import importlib.metadata as md, json, re
out = {}
for d in md.distributions():
    name = d.metadata["Name"]
    if name:
        out.setdefault(re.sub(r"[-_.]+", "-", name).lower(), d.version)
print(json.dumps(out))
"""


def _uv() -> Optional[str]:
    try:
        from uv import find_uv_bin  # the `uv` wheel of the test extra
        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


def make_venv(path: Path, python: str, requirements: list[str]) -> Path:
    """A real venv at ``path`` (uv if there is one, else venv + pip)."""
    uv = _uv()
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}  # PyPI only: use `python`
    if uv:
        subprocess.run([uv, "venv", "-q", "--python", python, str(path)], check=True, env=env)
        if requirements:
            subprocess.run([uv, "pip", "install", "-q", "--python",
                            str(path / "bin" / "python"), *requirements], check=True, env=env)
    else:
        subprocess.run([python, "-m", "venv", str(path)], check=True)
        if requirements:
            subprocess.run([str(path / "bin" / "python"), "-m", "pip", "install", "-q",
                            "--disable-pip-version-check", *requirements], check=True)
    return path


def find_python(version: str) -> Optional[str]:
    pyenv = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    found = sorted(glob.glob(os.path.join(pyenv, "versions", f"{version}.*", "bin",
                                          f"python{version}")))
    return found[-1] if found else shutil.which(f"python{version}")


def importlib_view(venv: Path) -> dict[str, str]:
    out = subprocess.run([str(venv / "bin" / "python"), "-I", "-c", IMPORTLIB],
                         capture_output=True, text=True, check=True).stdout
    found: dict[str, str] = json.loads(out)
    return found


def versions(venv: Path) -> dict[str, str]:
    return {key: dist.version for key, dist in installed_distributions(venv).items()}


@pytest.fixture(scope="module")
def small_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_venv(tmp_path_factory.mktemp("small") / "venv", sys.executable, SMALL)


@pytest.fixture(scope="module")
def old_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    python = find_python("3.8")
    if python is None:
        pytest.skip("no Python 3.8 (pyenv) on this machine")
    return make_venv(tmp_path_factory.mktemp("old") / "venv", python, OLD)


@pytest.fixture(scope="module")
def virtualenv_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What envcheck builds: a virtualenv (seeded pip, setuptools, their .pth) + pip."""
    pytest.importorskip("virtualenv")
    venv = tmp_path_factory.mktemp("virtualenv") / "venv"
    subprocess.run([sys.executable, "-m", "virtualenv", "-q", "--no-download",
                    "--no-periodic-update", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                    "--disable-pip-version-check", SMALL[0]], check=True)
    return venv


@pytest.fixture
def bare_env(tmp_path: Path) -> Path:
    """A fresh venv with nothing installed, to be vandalised by one test."""
    return make_venv(tmp_path / "venv", sys.executable, [])


def site(venv: Path) -> Path:
    (only,) = site_packages_dirs(venv)
    return only


def add_dist(venv: Path, entry: str, metadata: bytes, filename: str = "METADATA") -> Path:
    path = site(venv) / entry
    if filename:
        path.mkdir()
        (path / filename).write_bytes(metadata)
    else:  # a legacy .egg-info file
        path.write_bytes(metadata)
    return path


@pytest.mark.parametrize("which", ["small_env", "old_env", "virtualenv_env"])
def test_agrees_with_importlib_metadata_inside_the_env(which: str,
                                                       request: pytest.FixtureRequest) -> None:
    venv = request.getfixturevalue(which)
    dists, problems = read_distributions(venv)
    assert problems == []
    assert {key: dist.version for key, dist in dists.items()} == importlib_view(venv)


def test_names_versions_and_paths(small_env: Path) -> None:
    dists = installed_distributions(small_env)
    assert {key: (d.name, d.version) for key, d in dists.items()} == {
        "six": ("six", "1.16.0"), "packaging": ("packaging", "23.2"),
        "pyyaml": ("PyYAML", "6.0.1")}
    assert dists["pyyaml"].path == site(small_env) / "PyYAML-6.0.1.dist-info"


def test_old_interpreter_env(old_env: Path) -> None:
    assert site(old_env).parent.name == "python3.8"
    assert read_pyvenv_cfg(old_env)["version"].startswith("3.8.")
    got = versions(old_env)
    assert got["scikit-learn"] == "0.24.2" and {"numpy", "scipy", "joblib"} <= set(got)


def test_legacy_and_odd_metadata_agree_with_importlib(bare_env: Path) -> None:
    add_dist(bare_env, "legacy_file-1.0.egg-info",
             b"Metadata-Version: 1.0\nName: legacy-file\nVersion: 1.0\n", filename="")
    add_dist(bare_env, "legacy_dir-2.0.egg-info", b"Name: legacy_dir\nVersion: 2.0\n\nbody",
             filename="PKG-INFO")
    add_dist(bare_env, "crlf-3.0.dist-info", b"Metadata-Version: 2.1\r\nname: CRLF\r\n"
             b"VERSION: 3.0 \r\n\r\nName: not-this\r\n")
    folded = add_dist(bare_env, "folded-4.0.DIST-INFO",  # the suffix is matched case-blind
                      b"Metadata-Version: 2.1\nSummary: a\n  Name: injected\nName: folded\n"
                      b"Version: 4.0\n")
    (folded / "PKG-INFO").write_bytes(b"Name: shadowed\nVersion: 9\n")  # METADATA wins
    fallback = add_dist(bare_env, "fallback-5.0.dist-info", b"")  # empty: PKG-INFO next
    (fallback / "PKG-INFO").write_bytes(b"Name: fallback\nVersion: 5.0\n")
    kept = bare_env / "share" / "linked-6.0.dist-info"  # a symlink within the venv is fine
    kept.mkdir(parents=True)
    (kept / "METADATA").write_text("Name: linked\nVersion: 6.0\n")
    (site(bare_env) / kept.name).symlink_to(kept, target_is_directory=True)
    got = versions(bare_env)
    assert got == importlib_view(bare_env)
    assert got == {"legacy-file": "1.0", "legacy-dir": "2.0", "crlf": "3.0 ", "folded": "4.0",
                   "fallback": "5.0", "linked": "6.0"}  # "3.0 ": email keeps trailing blanks


def test_tolerates_bad_encodings_and_huge_files(bare_env: Path) -> None:
    add_dist(bare_env, "latin-1.0.dist-info",
             b"Name: latin\nVersion: 1.0\nAuthor: Jos\xe9 \xff\xfe\n\nd\xe9j\xe0 vu")
    body = b"x" * (2 * MAX_METADATA_BYTES)
    add_dist(bare_env, "huge-1.0.dist-info", b"Name: huge\nVersion: 1.0\n\n" + body)
    add_dist(bare_env, "endless-1.0.dist-info", b"Summary: " + body)  # no header end at all
    add_dist(bare_env, "nameless-1.0.dist-info", b"Version: 1.0\n")
    dists, problems = read_distributions(bare_env)
    assert {key: dist.version for key, dist in dists.items()} == {"latin": "1.0", "huge": "1.0"}
    assert sorted(Path(p.split(":")[0]).name for p in problems) == [
        "endless-1.0.dist-info", "nameless-1.0.dist-info"]


def test_first_of_two_same_names_wins_and_the_other_is_reported(bare_env: Path) -> None:
    add_dist(bare_env, "Dup-1.0.dist-info", b"Name: Dup\nVersion: 1.0\n")
    add_dist(bare_env, "dup-2.0.dist-info", b"Name: dup\nVersion: 2.0\n")
    dists, problems = read_distributions(bare_env)
    assert dists["dup"].version == "1.0"
    assert problems == [f"{site(bare_env) / 'dup-2.0.dist-info'}: ignored, dup is already "
                        f"installed by {site(bare_env) / 'Dup-1.0.dist-info'}"]


def test_symlinks_out_of_the_venv_are_never_read(bare_env: Path, tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    canary.write_text(f"Metadata-Version: 2.1\nName: stolen\nVersion: 6.6.6\n"
                      f"Summary: {SECRET}\n\n{SECRET}\n")
    outside = tmp_path / "outside.dist-info"
    outside.mkdir()
    (outside / "METADATA").write_text(canary.read_text())
    sp = site(bare_env)
    (sp / "abs-1.0.dist-info").mkdir()
    (sp / "abs-1.0.dist-info" / "METADATA").symlink_to(canary)
    relative = sp / "rel-1.0.dist-info"
    relative.mkdir()
    (relative / "METADATA").symlink_to(os.path.relpath(canary, relative))
    (sp / "dir-1.0.dist-info").symlink_to(outside, target_is_directory=True)
    (sp / "egg-1.0.egg-info").symlink_to(canary)
    (sp / "environ-1.0.dist-info").mkdir()
    (sp / "environ-1.0.dist-info" / "METADATA").symlink_to("/proc/self/environ")
    # The hazard is real: inside the env, importlib.metadata reads them all.
    assert importlib_view(bare_env)["stolen"] == "6.6.6"

    dists, problems = read_distributions(bare_env)
    assert dists == {}
    assert len(problems) == 5 and all("refused, it resolves outside the venv" in p
                                      for p in problems)
    assert SECRET not in repr((dists, problems, read_pyvenv_cfg(bare_env)))


def test_a_site_packages_symlinked_out_of_the_venv_is_ignored(bare_env: Path,
                                                              tmp_path: Path) -> None:
    inside = site(bare_env)
    elsewhere = tmp_path / "elsewhere" / inside.parent.name / "site-packages"
    elsewhere.mkdir(parents=True)
    add_dist(bare_env, "real-1.0.dist-info", b"Name: real\nVersion: 1.0\n")
    planted = elsewhere / "planted-1.0.dist-info"
    planted.mkdir()
    (planted / "METADATA").write_text("Name: planted\nVersion: 1\n")
    if (bare_env / "lib64").is_symlink():  # venv and uv make lib64 -> lib
        (bare_env / "lib64").unlink()
    (bare_env / "lib64").symlink_to(elsewhere.parent.parent)
    assert site_packages_dirs(bare_env) == [inside]
    assert versions(bare_env) == {"real": "1.0"}


def test_fifo_metadata_does_not_block(bare_env: Path) -> None:
    info = site(bare_env) / "fifo-1.0.dist-info"
    info.mkdir()
    os.mkfifo(info / "METADATA")
    result: list[object] = []
    reader = threading.Thread(target=lambda: result.append(read_distributions(bare_env)),
                              daemon=True)
    reader.start()
    reader.join(10)
    assert result, "read_distributions blocked on a FIFO"
    assert result[0] == ({}, [f"{info / 'METADATA'}: unreadable (not a regular file)"])


def test_pth_files_are_listed_never_run(bare_env: Path, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    pth = site(bare_env) / "zz_evil.pth"
    pth.write_text(f"import pathlib; pathlib.Path({str(marker)!r}).touch()\n")
    (site(bare_env) / "aa_paths.pth").write_text("/somewhere\n")
    listed = [p for p in pth_files(bare_env) if p.name != "_virtualenv.pth"]  # uv's, < 3.10
    assert listed == [site(bare_env) / "aa_paths.pth", pth]
    installed_distributions(bare_env)
    read_pyvenv_cfg(bare_env)
    assert not marker.exists()
    importlib_view(bare_env)  # the env's interpreter, by contrast, runs it
    assert marker.exists()


def test_read_pyvenv_cfg_of_uv_venv_and_virtualenv_styles(small_env: Path,
                                                          tmp_path: Path) -> None:
    cfg = read_pyvenv_cfg(small_env)
    assert cfg["version"] == ".".join(map(str, sys.version_info[:3]))
    assert cfg["include-system-site-packages"] == "false"
    assert Path(cfg["home"]).is_dir()

    (tmp_path / "pyvenv.cfg").write_text(
        "Home = /opt/py/bin\nimplementation=CPython\nversion_info = 3.8.10.final.0\n"
        "not a setting\n\nInclude-System-Site-Packages =  true  \n")
    assert read_pyvenv_cfg(tmp_path) == {
        "home": "/opt/py/bin", "implementation": "CPython", "version_info": "3.8.10.final.0",
        "include-system-site-packages": "true", "version": "3.8.10"}
    assert read_pyvenv_cfg(tmp_path / "nowhere") == {}


def test_site_packages_layouts(tmp_path: Path) -> None:
    def tree(name: str, *dirs: str, cfg: str = "version = 3.11.7\n") -> Path:
        root = tmp_path / name
        for d in dirs:
            (root / d).mkdir(parents=True)
        (root / "pyvenv.cfg").write_text(cfg)
        return root

    posix = tree("posix", "lib/python3.11/site-packages")
    (posix / "lib64").symlink_to("lib")
    assert site_packages_dirs(posix) == [posix / "lib/python3.11/site-packages"]
    fedora = tree("fedora", "lib/python3.11/site-packages", "lib64/python3.11/site-packages")
    assert site_packages_dirs(fedora) == [fedora / "lib64/python3.11/site-packages",
                                          fedora / "lib/python3.11/site-packages"]
    windows = tree("windows", "Lib/site-packages")
    assert site_packages_dirs(windows) == [windows / "Lib/site-packages"]
    two = tree("two", "lib/python3.12/site-packages", "lib/python3.11/site-packages")
    assert site_packages_dirs(two) == [two / "lib/python3.11/site-packages"]
    free = tree("free", "lib/python3.13t/site-packages", cfg="version_info = 3.13.0\n")
    assert site_packages_dirs(free) == [free / "lib/python3.13t/site-packages"]
