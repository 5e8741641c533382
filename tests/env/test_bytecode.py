"""The bytecode store: real envs with real wheels from the registry, real tampering.

Small pure-Python pins (six, attrs) keep each build to a second or two; every test has a
cache of its own, since each breaks, prunes or counts what is in it.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from envcheck.commands.env import render_bytecode_list
from envcheck.env import bytecode, bytecode_env
from envcheck.env.cache import EnvCache
from envcheck.env.interpreters import current_interpreter, find_interpreter
from envcheck.env.layout import MARKER, BuiltEnv, _tampering
from envcheck.env.sandboxed import run_sandboxed
from envcheck.model.findings import Status
from envcheck.model.progress import Progress

HERE = current_interpreter()
FIRST = ["six==1.16.0", "attrs==23.2.0"]
SECOND = ["six==1.16.0", "attrs==23.1.0"]  # the same six wheel, another attrs


def build(cache: EnvCache, reqs: list[str], installer: str = "uv") -> BuiltEnv:
    env, result = cache.ensure(reqs, HERE, installer)
    assert env is not None, [f.message for f in result.findings]
    assert not env.reused
    env.release()
    return env


def six_pyc(env: BuiltEnv) -> Path:
    site = env.path / "lib" / f"python{HERE.major_minor}" / "site-packages"
    return site / "__pycache__" / f"six.{bytecode.cache_tag(HERE)}.pyc"


def entry_of(cache: EnvCache, name: str) -> Path:
    found = [e for e in bytecode.entries(cache.root)
             if json.loads((e / bytecode.ENTRY).read_text())["name"] == name]
    assert len(found) == 1, found
    return found[0]


def journal_events(cache: EnvCache, event: str, name: str) -> list[str]:
    return [line for line in cache.journal() if f" {event} " in line and f"name={name} " in
            line + " "]


def imports_from_pyc(env: BuiltEnv, module: str, pyc: Path) -> bool:
    """Whether the env's interpreter loads ``module``'s code from ``pyc`` (``-v`` says)."""
    proc = subprocess.run([str(env.python), "-I", "-v", "-c", f"import {module}"],
                          capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    return f"code object from '{pyc}'" in proc.stderr


@pytest.mark.slow
def test_a_second_env_links_the_stored_pycs_and_imports_them(tmp_path: Path) -> None:
    cache = EnvCache(tmp_path)
    first = build(cache, FIRST)
    assert journal_events(cache, "bytecode-stored", "six")
    second = build(cache, SECOND)
    # Linked, not compiled again: one inode, shared with the store; journal says so.
    pyc = six_pyc(second)
    stored = entry_of(cache, "six") / "pycs" / "__pycache__" / pyc.name
    assert pyc.stat().st_ino == stored.stat().st_ino == six_pyc(first).stat().st_ino
    assert len(journal_events(cache, "bytecode-linked", "six")) == 1
    assert len(journal_events(cache, "bytecode-stored", "six")) == 1
    assert len(journal_events(cache, "bytecode-stored", "attrs")) == 2  # two versions
    assert imports_from_pyc(second, "six", pyc)
    assert stat_mode(pyc) == 0o444
    meta = json.loads((second.dir / "meta.json").read_text())  # type: ignore[operator]
    assert "six==1.16.0" in meta["bytecode"]["linked"]
    assert meta["bytecode"]["compiled"] == ["attrs==23.1.0"]
    # The env's own manifest covers the linked pyc, and the env verifies clean.
    assert _tampering(second.dir, meta) is None  # type: ignore[arg-type]


def stat_mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


@pytest.mark.slow
def test_pycs_are_unchecked_hash(tmp_path: Path) -> None:
    cache = EnvCache(tmp_path)
    first = build(cache, FIRST)
    second = build(cache, SECOND)
    site = six_pyc(second).parent.parent
    attrs_pycs = list((site / "attrs" / "__pycache__").glob("*.pyc"))
    assert attrs_pycs  # compiled in this env
    for pyc in [six_pyc(first), six_pyc(second), *attrs_pycs]:
        header = pyc.read_bytes()[:16]
        assert int.from_bytes(header[4:8], "little") == bytecode.UNCHECKED_HASH, pyc


@pytest.mark.slow
def test_pip_builds_link_from_the_store_too(tmp_path: Path) -> None:
    cache = EnvCache(tmp_path)
    first = build(cache, FIRST, "uv")
    second = build(cache, SECOND, "pip")  # pip installs with --no-compile
    assert six_pyc(second).stat().st_ino == six_pyc(first).stat().st_ino
    assert imports_from_pyc(second, "six", six_pyc(second))


@pytest.mark.slow
def test_a_tampered_store_pyc_is_found_before_use_and_not_linked(tmp_path: Path) -> None:
    cache = EnvCache(tmp_path)
    first = build(cache, FIRST)
    entry = entry_of(cache, "six")
    stored = entry / "pycs" / "__pycache__" / six_pyc(first).name
    poisoned = stored.read_bytes()[:16] + b"\xe3poisoned"  # header kept, code replaced
    os.chmod(stored, 0o644)
    stored.write_bytes(poisoned)  # in place: the first env's pyc is this inode too
    poisoned_inode = stored.stat().st_ino
    env, result = cache.ensure(SECOND, HERE, "uv")
    assert env is not None, result.findings
    env.release()
    notes = [f.message for f in result.findings if "stored bytecode of six" in f.message]
    assert notes and "its pycs changed since they were compiled" in notes[0], notes
    pyc = six_pyc(env)
    assert pyc.read_bytes() != poisoned
    assert pyc.stat().st_ino != poisoned_inode
    assert journal_events(cache, "bytecode-discard", "six")
    assert len(journal_events(cache, "bytecode-stored", "six")) == 2  # compiled again
    assert imports_from_pyc(env, "six", pyc)
    # The first env shares the poisoned inode: its own manifest finds it at reuse.
    meta = json.loads((first.dir / "meta.json").read_text())  # type: ignore[operator]
    assert "changed" in (_tampering(first.dir, meta) or "")  # type: ignore[arg-type]


@pytest.mark.slow
def test_an_interrupted_store_entry_is_not_used(tmp_path: Path) -> None:
    cache = EnvCache(tmp_path)
    first = build(cache, FIRST)
    entry = entry_of(cache, "six")
    (entry / bytecode.MARKER).unlink()  # killed before the marker was written
    stale_inode = six_pyc(first).stat().st_ino
    second = build(cache, SECOND)
    assert six_pyc(second).stat().st_ino != stale_inode
    assert not journal_events(cache, "bytecode-linked", "six")
    assert len(journal_events(cache, "bytecode-stored", "six")) == 2
    assert (entry_of(cache, "six") / bytecode.MARKER).is_file()  # replaced, complete
    assert imports_from_pyc(second, "six", six_pyc(second))


@pytest.mark.slow
def test_prune_removes_unused_entries_only(tmp_path: Path) -> None:
    cache = EnvCache(tmp_path)
    build(cache, FIRST)
    second = build(cache, SECOND)
    assert {i.status for i in cache.list_bytecode()} == {"ready"}
    shown = render_bytecode_list(cache.list_bytecode())
    six_row = next(line for line in shown.splitlines() if " six 1.16.0 " in line)
    assert f" {HERE.version} " in six_row and six_row.endswith("  2 envs"), shown
    assert shown.splitlines()[-1] == f"{len(cache.list_bytecode())} entries, " + \
        shown.splitlines()[-1].split(", ", 1)[1]
    half = bytecode.store_dir(tmp_path) / ("0" * 64)  # an interrupted compile
    (half / "pycs").mkdir(parents=True)
    # Default prune: only the incomplete entry.
    assert [i.key for i in cache.prune_bytecode()] == [half.name]
    assert cache.prune_bytecode(all=True) == []  # every entry is linked by an env
    cache._remove(second.dir)  # type: ignore[arg-type]
    removed = cache.prune_bytecode(all=True)
    assert [(i.name, i.version) for i in removed] == [("attrs", "23.1.0")]
    left = {(i.name, i.version) for i in cache.list_bytecode()}
    assert ("six", "1.16.0") in left and ("attrs", "23.2.0") in left
    assert ("attrs", "23.1.0") not in left
    # An entry being written or linked (its lock held) is never pruned.
    cache.prune(all=True)
    six = entry_of(cache, "six")
    with bytecode.entry_lock(tmp_path, six.name):
        assert six.name not in [i.key for i in cache.prune_bytecode(all=True)]
    assert cache.prune_bytecode(all=True) and not list(bytecode.entries(tmp_path))


@pytest.mark.slow
def test_linked_pycs_are_read_only_to_the_package(tmp_path: Path) -> None:
    cache = EnvCache(tmp_path)
    build(cache, FIRST)
    second = build(cache, SECOND)
    stored = entry_of(cache, "six") / "pycs" / "__pycache__" / six_pyc(second).name
    before = stored.read_bytes()
    attempt = ("import os, sys\n"
               "p = sys.argv[1]\n"
               "try:\n"
               "    os.chmod(p, 0o644)\n"
               "except OSError as e:\n"
               "    print('chmod refused', e.errno)\n"
               "try:\n"
               "    open(p, 'r+b').write(b'poison')\n"
               "    print('WROTE')\n"
               "except OSError as e:\n"
               "    print('write refused', e.errno)\n")
    proc = run_sandboxed([str(second.python), "-I", "-S", "-c", attempt,
                          str(six_pyc(second))], second.python, io.StringIO())
    assert "write refused" in proc.stdout and "WROTE" not in proc.stdout, proc.stdout
    assert stored.read_bytes() == before


@pytest.mark.slow
def test_build_progress_shows_each_phase_off_a_terminal(tmp_path: Path) -> None:
    stream = io.StringIO()
    env, result = EnvCache(tmp_path).ensure(FIRST, HERE, "uv",
                                            progress=Progress(enabled=True, stream=stream))
    assert env is not None and result.status is Status.PASS
    env.release()
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith(f"Building env {env.key[:12]} (Python {HERE.version}, uv, "
                               "2 requirements)")
    phases = [line.split()[0] for line in lines[1:-1]]
    assert phases == ["venv", "resolve", "download", "install", "compile", "finish"]
    compile_line = next(line for line in lines if line.split()[0] == "compile")
    assert "0 distributions linked from the bytecode store, 4 compiled" in compile_line
    assert re.fullmatch(r"Building env .*: done in \d+\.\ds \(venv \d+\.\ds, resolve "
                        r"\d+\.\ds, download \d+\.\ds, install \d+\.\ds, compile "
                        r"\d+\.\ds, finish \d+\.\ds\)", lines[-1]), lines[-1]
    assert "\x1b" not in stream.getvalue()


@pytest.mark.slow
@pytest.mark.skipif(find_interpreter("3.6") is None, reason="no Python 3.6")
def test_python_36_envs_compile_locally_without_the_store(tmp_path: Path) -> None:
    py36 = find_interpreter("3.6")
    assert py36 is not None and bytecode.cache_tag(py36) is None
    cache = EnvCache(tmp_path)
    env, result = cache.ensure(["six==1.16.0"], py36, "uv")
    assert env is not None, result.findings
    env.release()
    site = env.path / "lib" / "python3.6" / "site-packages"
    assert list((site / "__pycache__").glob("six.cpython-36.pyc"))
    assert not list(bytecode.entries(tmp_path))
    assert (env.dir / MARKER).is_file()  # type: ignore[operator]


@pytest.mark.slow
def test_allow_build_envs_neither_link_nor_store(tmp_path: Path) -> None:
    """With --allow-build the build backends had the env writable: nothing it holds may
    be an inode other envs share."""
    shared = EnvCache(tmp_path)
    first = build(shared, FIRST)
    building = EnvCache(tmp_path, allow_build=True)
    env = build(building, SECOND)
    assert six_pyc(env).is_file() and six_pyc(env).stat().st_ino != six_pyc(first).stat().st_ino
    assert not journal_events(shared, "bytecode-linked", "six")
    stored = journal_events(shared, "bytecode-stored", "attrs")
    assert len(stored) == 1 and "version=23.2.0" in stored[0], stored  # the first env's
    meta = json.loads((env.dir / "meta.json").read_text())  # type: ignore[operator]
    assert meta["bytecode"]["entries"] == [] and meta["bytecode"]["linked"] == []


@pytest.mark.slow
def test_a_store_that_cannot_be_written_does_not_fail_the_build(tmp_path: Path) -> None:
    bytecode.store_dir(tmp_path).write_text("not a directory")  # every write there fails
    env, result = EnvCache(tmp_path).ensure(FIRST, HERE, "uv")
    assert env is not None and result.status is Status.PASS, result.findings
    env.release()
    notes = [f.message for f in result.findings if "could not be stored" in f.message]
    assert any(n.startswith("the bytecode of six 1.16.0 could not be stored: ") for n in notes)
    assert imports_from_pyc(env, "six", six_pyc(env))  # compiled in the env all the same


# ---- a check's new env: its last stage runs while the probe does (verify_later)


def build_for_check(cache: EnvCache, reqs: list[str]) -> BuiltEnv:
    """``ensure`` as a check calls it: the manifest, the store comparison and the
    marker are done in a thread while the caller probes the env."""
    env, result = cache.ensure(reqs, HERE, "uv", verify_later=True)
    assert env is not None, [f.message for f in result.findings]
    assert not env.reused and env._verification is not None  # handed out unfinished
    return env


@pytest.mark.slow
def test_a_new_env_is_marked_only_once_its_manifest_is_written(tmp_path: Path) -> None:
    cache = EnvCache(tmp_path)
    build(cache, FIRST)
    env = build_for_check(cache, SECOND)
    assert env.verified() is None
    env.release()
    assert env.dir is not None and (env.dir / MARKER).is_file()
    meta = json.loads((env.dir / "meta.json").read_text())
    assert meta["status"] == "complete" and _tampering(env.dir, meta) is None
    assert "six==1.16.0" in meta["bytecode"]["linked"]
    assert meta["bytecode"]["compiled"] == ["attrs==23.1.0"]
    # Every linked entry, and attrs 23.1.0's, stored by the last stage.
    assert len(meta["bytecode"]["entries"]) == len(meta["bytecode"]["linked"]) + 1
    assert len(journal_events(cache, "bytecode-stored", "attrs")) == 2
    # The build lock went with the last stage, and was released there.
    from filelock import FileLock
    lock = FileLock(str(tmp_path / "locks" / f"{env.key}.lock"), thread_local=False)
    lock.acquire(timeout=0)
    lock.release()
    again, _ = cache.ensure(SECOND, HERE, "uv")
    assert again is not None and again.reused
    again.release()


@pytest.mark.slow
def test_a_tampered_store_pyc_linked_unverified_is_found_and_the_entry_removed(
        tmp_path: Path) -> None:
    """Linked before it is verified (each pyc is hashed once, by the env's manifest):
    the comparison with the entry's manifest finds the poisoned pyc, removes the entry,
    and the env is never marked; the rebuild (verify_later off, what the pipeline does
    next) compiles six again and stores it anew."""
    cache = EnvCache(tmp_path)
    first = build(cache, FIRST)
    entry = entry_of(cache, "six")
    stored = entry / "pycs" / "__pycache__" / six_pyc(first).name
    os.chmod(stored, 0o644)
    poisoned = stored.read_bytes()[:16] + b"\xe3canary-7c1d"
    stored.write_bytes(poisoned)
    env = build_for_check(cache, SECOND)
    problem = env.verified()
    env.release()
    assert problem is not None and problem.startswith(
        "the stored bytecode of six 1.16.0 had changed since it was compiled ("), problem
    assert "six.cpython-" in problem and problem.endswith("the entry was removed")
    assert not entry.exists() and journal_events(cache, "bytecode-discard", "six")
    assert env.dir is not None and not (env.dir / MARKER).exists()
    cache.discard(env, problem)
    rebuilt = build(cache, SECOND)
    assert six_pyc(rebuilt).read_bytes() != poisoned
    assert imports_from_pyc(rebuilt, "six", six_pyc(rebuilt))
    assert len(journal_events(cache, "bytecode-stored", "six")) == 2


@pytest.mark.slow
def test_a_new_env_changed_before_its_manifest_is_not_marked(tmp_path: Path) -> None:
    """What runs in the env before its manifest is written is caught by the snapshot
    taken before the env was handed out (here a same-size edit, mtime put back)."""
    import threading

    from envcheck.env.layout import VERIFIER

    cache = EnvCache(tmp_path)
    # Both of the verifier's threads busy: the last stage waits until the edit is made.
    hold = threading.Event()
    busy = [VERIFIER.submit(hold.wait) for _ in range(2)]
    try:
        env, _ = cache.ensure(FIRST, HERE, "uv", verify_later=True)
        assert env is not None and env._verification is not None
        module = env.path / "lib" / f"python{HERE.major_minor}" / "site-packages" / "six.py"
        before = module.stat()
        data = module.read_bytes()
        module.unlink()  # a new inode: the one uv linked from its cache stays as it was
        module.write_bytes(data.replace(b"PY2 = ", b"PY3 = ", 1))
        os.utime(module, ns=(before.st_atime_ns, before.st_mtime_ns))
    finally:
        hold.set()
    for task in busy:
        task.result()
    problem = env.verified()
    env.release()
    assert problem is not None and problem.startswith("it changed while it was first used ("), \
        problem
    assert "six.py" in problem
    assert env.dir is not None and not (env.dir / MARKER).exists()
    assert json.loads((env.dir / "meta.json").read_text())["status"] == "failed"


@pytest.mark.slow
def test_a_source_unlike_its_record_is_found_after_linking_unverified(tmp_path: Path) -> None:
    """With verify_later the sources are not hashed before linking (the env's manifest
    hashes them): one that is not what its wheel's RECORD says -- whose stored pycs were
    compiled from another source -- makes the env untrusted, and a distribution compiled
    here with such a file is not stored under its RECORD's key."""
    import shutil

    from envcheck.env import manifest
    from envcheck.env.installers import compile_files_command

    cache = EnvCache(tmp_path / "cache")
    first = build(cache, FIRST)
    venv = tmp_path / "copy"
    shutil.copytree(first.path, venv, symlinks=True)
    site = venv / "lib" / f"python{HERE.major_minor}" / "site-packages"
    six = site / "six.py"
    six.write_bytes(six.read_bytes().replace(b"PY2 = ", b"PY3 = ", 1))
    for pyc in site.rglob("*.pyc"):
        pyc.unlink()

    def compile_run(sources: list[Path]) -> subprocess.CompletedProcess[str]:
        listed = tmp_path / "compile.list"
        listed.write_bytes(b"\0".join(map(os.fsencode, sources)))
        return subprocess.run(compile_files_command(venv / "bin" / "python", listed),
                              capture_output=True, text=True)

    events: list[str] = []
    outcome, _ = bytecode_env.provide(cache.root, venv, HERE, compile_run,
                                  lambda event, *a, **k: events.append(event),
                                  verify_stored=False)
    assert "six==1.16.0" in outcome.linked  # on the RECORD's word
    recorded = manifest.write_manifest(venv, tmp_path / "manifest.json")
    problem = bytecode_env.settle(cache.root, venv, recorded, outcome, lambda *a, **k: None)
    assert problem is not None and problem.startswith(
        "the installed files of six 1.16.0 are not the ones its wheel's RECORD lists "
        "(six.py differs)"), problem
    # Verified before linking (what the rebuild does), six is compiled here, not stored.
    for pyc in site.rglob("*.pyc"):
        pyc.unlink()
    outcome, _ = bytecode_env.provide(cache.root, venv, HERE, compile_run, lambda *a, **k: None)
    assert "six==1.16.0" not in outcome.linked
    assert (site / "__pycache__" / f"six.{bytecode.cache_tag(HERE)}.pyc").is_file()


@pytest.mark.slow
def test_env_list_bytecode_lists_the_store_alone(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """``env list --format json`` stays an array of envs (scripts read it); the store's
    entries have their own listing, as text or as an array of entries."""
    from envcheck.commands.cli import main

    build(EnvCache(tmp_path), FIRST)
    assert main(["env", "list", "--bytecode", "--format", "json", "--cache-dir",
                 str(tmp_path)]) == 0
    entries = json.loads(capsys.readouterr().out)
    six = next(e for e in entries if e["name"] == "six")
    assert six["version"] == "1.16.0" and six["status"] == "ready" and six["pycs"] == 1
    assert six["python"] == HERE.version and len(six["used_by"]) == 1
    assert main(["env", "list", "--format", "json", "--cache-dir", str(tmp_path)]) == 0
    envs = json.loads(capsys.readouterr().out)
    assert isinstance(envs, list) and len(envs) == 1 and "pycs" not in envs[0]
    assert main(["env", "list", "--bytecode", "--cache-dir", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("bytecode store\nKEY ") and " six 1.16.0 " in text
