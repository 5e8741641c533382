"""envcheck.env.manifest on copies of a real venv built from PyPI: every way of
changing an env is reported, and what does not change its content is not."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

import pytest

from envcheck.env.manifest import (
    RACY_NS,
    ChangedSinceSnapshot,
    take_snapshot,
    verify_manifest,
    write_manifest,
)

pytestmark = pytest.mark.slow

SECRET = "SECRET-canary-41d7e0"


def _uv() -> Optional[str]:
    try:
        from uv import find_uv_bin  # the `uv` wheel of the test extra
        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real venv with a pure-Python module, a compiled extension and bytecode."""
    venv = tmp_path_factory.mktemp("pristine") / "venv"
    reqs = ["six==1.16.0", "PyYAML==6.0.1"]
    uv = _uv()
    if uv:
        env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
        subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)],
                       check=True, env=env)
        # Copies, not uv's default hardlinks into its cache: the tests edit these files.
        subprocess.run([uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"),
                        "--link-mode=copy", "--compile-bytecode", *reqs], check=True, env=env)
    else:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                        "--disable-pip-version-check", *reqs], check=True)
    return venv


def copy_env(pristine: Path, where: Path) -> tuple[Path, Path]:
    root = where / "env"
    shutil.copytree(pristine, root, symlinks=True)
    return root, where / "manifest.json"


@pytest.fixture
def env(pristine: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A fresh copy of the venv and its manifest (its files all too new to be trusted,
    so every verify here re-hashes: the slow path)."""
    root, manifest = copy_env(pristine, tmp_path)
    write_manifest(root, manifest)
    return root, manifest


@pytest.fixture(scope="module")
def settled(pristine: Path,
            tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """Copies whose files are older than RACY_NS when pinned, so that their identities
    are trusted (the fast path).  One sleep for all the tests that need one."""
    copies = {name: copy_env(pristine, tmp_path_factory.mktemp(name))
              for name in ("untouched", "touched", "deep")}
    time.sleep(RACY_NS / 1e9 + 0.2)
    for root, manifest in copies.values():
        write_manifest(root, manifest)
    return copies


def site(root: Path) -> Path:
    (sp,) = root.glob("lib/python*/site-packages")
    return sp


def rel(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def entries(manifest: Path) -> dict[str, dict[str, list[Any]]]:
    """The recorded entries, read from the manifest's second line."""
    body = json.loads(manifest.read_text().splitlines()[1])
    dirs: dict[str, dict[str, list[Any]]] = body["dirs"]
    return dirs


def test_an_untouched_env_verifies_clean(env: tuple[Path, Path]) -> None:
    root, manifest = env
    assert verify_manifest(root, manifest) == []
    assert verify_manifest(root, manifest, deep=True) == []


def test_a_dropped_pth_file_is_added(env: tuple[Path, Path]) -> None:
    root, manifest = env
    (site(root) / "evil.pth").write_text("import os\n")
    assert verify_manifest(root, manifest) == [f"added {rel(root, site(root) / 'evil.pth')}"]


def test_same_size_edit_with_restored_mtime_is_changed(env: tuple[Path, Path]) -> None:
    root, manifest = env
    module = site(root) / "six.py"
    before = module.stat()
    text = module.read_bytes()
    module.write_bytes(text.replace(b"PY2 = ", b"PY3 = ", 1))  # same size
    os.utime(module, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = module.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert verify_manifest(root, manifest) == [f"changed {rel(root, module)} (sha256 differs)"]


def test_a_bigger_edit_is_changed_without_hashing(env: tuple[Path, Path]) -> None:
    root, manifest = env
    module = site(root) / "yaml" / "__init__.py"
    size = module.stat().st_size
    with module.open("a") as f:
        f.write("\nimport os\n")
    assert verify_manifest(root, manifest) == [
        f"changed {rel(root, module)} (size {size} -> {size + 11})"]


def test_an_added_hardlink_is_added(env: tuple[Path, Path]) -> None:
    root, manifest = env
    os.link(site(root) / "six.py", site(root) / "seven.py")
    # six.py itself got a new st_ctime (its link count changed): re-hashed, not reported.
    assert verify_manifest(root, manifest) == [f"added {rel(root, site(root) / 'seven.py')}"]


def test_a_chmod_is_a_mode_change(env: tuple[Path, Path]) -> None:
    root, manifest = env
    module = site(root) / "six.py"
    module.chmod(0o755)
    (site(root) / "yaml").chmod(0o777)
    assert verify_manifest(root, manifest) == [
        f"mode changed {rel(root, module)} (-rw-r--r-- -> -rwxr-xr-x)",
        f"mode changed {rel(root, site(root) / 'yaml')} (drwxr-xr-x -> drwxrwxrwx)"]
    module.chmod(0o644)
    (site(root) / "yaml").chmod(0o755)
    assert verify_manifest(root, manifest) == []


def test_a_removed_file_and_a_removed_directory(env: tuple[Path, Path]) -> None:
    root, manifest = env
    (site(root) / "six.py").unlink()
    shutil.rmtree(site(root) / "yaml")  # one line for the directory, not one per file
    assert verify_manifest(root, manifest) == [f"removed {rel(root, site(root) / 'six.py')}",
                                               f"removed {rel(root, site(root) / 'yaml')}"]


def test_a_retargeted_symlink_is_changed(env: tuple[Path, Path]) -> None:
    root, manifest = env
    python = root / "bin" / "python"
    was = os.readlink(python)
    python.unlink()
    python.symlink_to("/bin/sh")
    assert verify_manifest(root, manifest) == [
        f"changed bin/python (symlink to '/bin/sh', was {was!r})"]


def test_a_file_replaced_by_a_symlink_is_a_type_change(env: tuple[Path, Path]) -> None:
    root, manifest = env
    module = site(root) / "six.py"
    copy = root.parent / "six-copy.py"
    shutil.copy2(module, copy)
    module.unlink()
    module.symlink_to(copy)  # the same content, through a link
    assert verify_manifest(root, manifest) == [
        f"type changed {rel(root, module)} (file -> symlink)"]


def test_bytecode_written_by_an_import_is_added(pristine: Path, tmp_path: Path) -> None:
    root, manifest = copy_env(pristine, tmp_path)
    cache = site(root) / "yaml" / "__pycache__"
    shutil.rmtree(cache)  # pinned without bytecode, as an install without compiling
    write_manifest(root, manifest)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([str(root / "bin" / "python"), "-c", "import yaml"], check=True, env=env)
    found = verify_manifest(root, manifest)
    assert all(line.startswith("added ") for line in found)  # and uv's _virtualenv's pyc
    ours = [line for line in found if rel(root, cache) in line]
    assert ours[0] == f"added {rel(root, cache)}" and ours[1].endswith(".pyc")


def test_a_touch_and_a_cp_a_restore_verify_clean(env: tuple[Path, Path],
                                                 pristine: Path) -> None:
    root, manifest = env
    module = site(root) / "six.py"
    module.touch()
    restored = site(root) / "yaml" / "__init__.py"
    restored.unlink()
    shutil.copy2(site(pristine) / "yaml" / "__init__.py", restored)  # new inode, same bytes
    assert verify_manifest(root, manifest) == []


def test_a_fast_verify_reads_no_entry_and_a_touch_is_refreshed(
        settled: dict[str, tuple[Path, Path]]) -> None:
    root, manifest = settled["untouched"]
    lines = manifest.read_text().splitlines()
    manifest.write_text(lines[0] + "\n{broken")  # the fast path only needs the first line
    assert verify_manifest(root, manifest) == []

    root, manifest = settled["touched"]
    module = site(root) / "six.py"
    recorded = entries(manifest)[rel(root, module.parent)]["six.py"]
    assert recorded[3] > 0  # a trusted st_ctime_ns: old enough when pinned
    module.touch()
    assert verify_manifest(root, manifest) == []
    refreshed = entries(manifest)[rel(root, module.parent)]["six.py"]
    # The new identity is recorded, its st_ctime as untrusted: it is too recent.
    assert refreshed[2] == module.stat().st_mtime_ns != recorded[2]
    assert refreshed[3] == -1 and refreshed[5] == recorded[5]


def test_fresh_files_are_pinned_untrusted_and_rehashed(env: tuple[Path, Path]) -> None:
    root, manifest = env
    recorded = entries(manifest)[rel(root, site(root))]["six.py"]
    assert recorded[3] == -1  # copied just now: within RACY_NS of the walk
    assert verify_manifest(root, manifest) == []


def test_deep_rehashes_what_the_fast_path_trusts(
        settled: dict[str, tuple[Path, Path]]) -> None:
    root, manifest = settled["deep"]
    header, body = manifest.read_text().splitlines()
    dirs = json.loads(body)["dirs"]
    dirs[rel(root, site(root))]["six.py"][5] = "0" * 64  # a forged digest: same fingerprint
    manifest.write_text(header + "\n" + json.dumps({**json.loads(body), "dirs": dirs}))
    assert verify_manifest(root, manifest) == []
    assert verify_manifest(root, manifest, deep=True) == [
        f"changed {rel(root, site(root) / 'six.py')} (sha256 differs)"]


def test_symlinks_out_of_the_env_are_recorded_not_followed(pristine: Path,
                                                          tmp_path: Path) -> None:
    root, manifest = copy_env(pristine, tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET)
    (site(root) / "leak.txt").symlink_to(outside / "secret.txt")
    (site(root) / "leakdir").symlink_to(outside, target_is_directory=True)
    os.mkfifo(site(root) / "pipe")  # would block a reader
    pinned = write_manifest(root, manifest)
    here = pinned.dirs[rel(root, site(root))]
    assert here["leak.txt"] == [here["leak.txt"][0], str(outside / "secret.txt")]
    assert stat.S_ISFIFO(here["pipe"][0]) and len(here["pipe"]) == 1
    assert not any(d.startswith(rel(root, site(root) / "leakdir")) for d in pinned.dirs)
    assert SECRET not in manifest.read_text()
    (outside / "secret.txt").write_text("changed outside: not the env's content")
    assert verify_manifest(root, manifest) == []


def test_the_manifest_must_be_outside_the_root(env: tuple[Path, Path]) -> None:
    root, _ = env
    with pytest.raises(ValueError, match="must be outside"):
        write_manifest(root, root / "lib" / "manifest.json")


HEADER = '{"format": 1, "fingerprint": "x"}\n'


@pytest.mark.parametrize("text", [None, "", "{}\n{}", HEADER + "[]",
                                  HEADER + '{"mode": 1, "dirs": {"": 1}}',
                                  HEADER + '{"mode": 1, "dirs": {"": {"a": [33188, 1]}}}'])
def test_no_or_a_malformed_manifest_is_no_verdict(env: tuple[Path, Path],
                                                  text: Optional[str]) -> None:
    root, manifest = env
    if text is None:
        manifest.unlink()
    else:
        manifest.write_text(text)
    (found,) = verify_manifest(root, manifest)
    assert found.startswith(f"cannot verify {root}: ")


# ---- a manifest hashed after a snapshot (a new env's, while its first probe runs)


def test_a_same_size_edit_after_the_snapshot_is_refused(pristine: Path, tmp_path: Path) -> None:
    """What the snapshot saw is what the manifest may vouch for: an edit made after it
    (size kept, mtime put back) raises, names the file, and writes no manifest."""
    root, manifest = copy_env(pristine, tmp_path)
    snapshot = take_snapshot(root)
    module = site(root) / "six.py"
    before = module.stat()
    module.write_bytes(module.read_bytes().replace(b"PY2 = ", b"PY3 = ", 1))
    os.utime(module, ns=(before.st_atime_ns, before.st_mtime_ns))
    with pytest.raises(ChangedSinceSnapshot) as raised:
        write_manifest(root, manifest, snapshot)
    assert raised.value.differences == [f"changed {rel(root, module)} after the build"]
    assert not manifest.exists()


def test_a_file_removed_after_the_snapshot_is_refused(pristine: Path, tmp_path: Path) -> None:
    root, manifest = copy_env(pristine, tmp_path)
    snapshot = take_snapshot(root)
    (site(root) / "six.py").unlink()
    with pytest.raises(ChangedSinceSnapshot, match="six.py could not be read"):
        write_manifest(root, manifest, snapshot)


def test_another_link_of_a_file_after_the_snapshot_is_no_change(pristine: Path,
                                                                tmp_path: Path) -> None:
    """uv links wheel files from its cache into every env, the store its pycs: another
    env linking (or unlinking) the same inode moves only st_nlink and st_ctime."""
    root, manifest = copy_env(pristine, tmp_path)
    snapshot = take_snapshot(root)
    module = site(root) / "six.py"
    before = module.stat()
    os.link(module, tmp_path / "elsewhere.py")  # outside the root, like another env
    assert module.stat().st_nlink == before.st_nlink + 1
    recorded = write_manifest(root, manifest, snapshot)
    assert recorded.sha256(rel(root, module)) == hashlib.sha256(module.read_bytes()).hexdigest()
    assert verify_manifest(root, manifest) == []
    # A file added after the snapshot is not in the manifest: the next verify finds it.
    (site(root) / "late.pth").write_text("import os\n")
    assert verify_manifest(root, manifest) == [f"added {rel(root, site(root) / 'late.pth')}"]


def test_an_edit_that_also_links_the_file_is_refused(pristine: Path, tmp_path: Path) -> None:
    """The link-count exception covers a link and nothing else: with the content
    changed too, the size or mtime gives it away unless both were put back -- and then
    the edit must also have changed the link count, which this one does not hide."""
    root, manifest = copy_env(pristine, tmp_path)
    snapshot = take_snapshot(root)
    module = site(root) / "six.py"
    os.link(module, tmp_path / "elsewhere.py")
    module.write_bytes(module.read_bytes() + b"\n# appended\n")
    with pytest.raises(ChangedSinceSnapshot):
        write_manifest(root, manifest, snapshot)
