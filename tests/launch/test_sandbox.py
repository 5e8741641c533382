"""The probe sandbox against real attacks with harmless payloads, on the real kernel.

Each attack is a small Python program run confined; each test asserts both that it was
stopped and what the layer report says.  ``ENVCHECK_SANDBOX=off`` runs show the same
attack succeeding, so these tests can fail.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import pytest

from envcheck.launch import sandbox

REPO = Path(__file__).resolve().parents[2]
PYENV = Path(os.environ.get("PYENV_ROOT", "/root/.pyenv")) / "versions"
NAMESPACES = "no-userns,no-pidns,no-mountns,no-netns"
# Each protecting the secrets on its own.
SECRET_GUARDS = {
    "all layers": "",
    "landlock alone": f"{NAMESPACES},no-uid",
    "uid alone": f"{NAMESPACES},no-landlock",
    "userns alone": "no-pidns,no-mountns,no-netns,no-landlock,no-uid",
    "namespaces alone": "no-landlock,no-uid",
}


def _landlock_abi() -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    abi = libc.syscall(ctypes.c_long(444), None, ctypes.c_long(0), ctypes.c_long(1))
    return max(int(abi), 0)


def _userns_works() -> bool:
    return shutil.which("unshare") is not None and subprocess.run(
        ["unshare", "--user", "--map-root-user", "true"], capture_output=True).returncode == 0


LANDLOCK_ABI = _landlock_abi()
USERNS = _userns_works()
needs_landlock = pytest.mark.skipif(LANDLOCK_ABI < 1, reason="kernel without Landlock")
needs_landlock_net = pytest.mark.skipif(LANDLOCK_ABI < 4, reason="Landlock ABI < 4: no TCP")
needs_userns = pytest.mark.skipif(not USERNS, reason="no user namespaces here")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="uid switch needs root")


def system_python() -> str:
    """An interpreter uid 65534 can reach (a pyenv one under /root, mode 700, it cannot)."""
    if not os.path.exists("/usr/bin/python3"):
        pytest.skip("no /usr/bin/python3 for uid 65534 to run")
    return "/usr/bin/python3"


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    report: sandbox.SandboxReport


@dataclass
class Dirs:
    """World-traversable dirs, so the uid 65534 layer can apply too."""

    root: Path
    writable: Path
    read_only: Path     # e.g. the package: readable, not writable
    outside: Path       # e.g. the home dir: neither


@pytest.fixture
def dirs() -> Iterator[Dirs]:
    root = Path(tempfile.mkdtemp(prefix="envcheck-sandbox-test-"))
    root.chmod(0o755)
    made = Dirs(root, root / "scratch", root / "pkg", root / "home")
    for path in (made.writable, made.read_only, made.outside):
        path.mkdir(mode=0o755)
    yield made
    shutil.rmtree(root)


def spec_for(dirs: Dirs, python: str, allow_network: bool = False,
             extra_read_only: tuple[Path, ...] = (), memory_bytes: Optional[int] = None,
             max_file_bytes: Optional[int] = None) -> sandbox.SandboxSpec:
    # The base interpreter's prefix and, when ``python`` is a venv's, the venv itself.
    prefixes = subprocess.run([python, "-c", "import sys; print(sys.base_prefix); "
                               "print(sys.prefix)"], capture_output=True, text=True,
                              check=True).stdout.split()
    return sandbox.SandboxSpec(
        read_only=[*sandbox.default_read_only_paths(), *map(Path, prefixes), dirs.read_only,
                   *extra_read_only],
        writable=[dirs.writable], allow_network=allow_network,
        env={"PATH": "/usr/bin:/bin", "HOME": str(dirs.writable), "TMPDIR": str(dirs.writable)},
        memory_bytes=memory_bytes, max_file_bytes=max_file_bytes)


def confined(code: str, spec: sandbox.SandboxSpec, *args: str,
             python: str = sys.executable, **popen_kwargs: object) -> Run:
    proc = sandbox.launch([python, "-c", textwrap.dedent(code), *args], spec,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen_kwargs)
    out, err = proc.popen.communicate(timeout=60)
    return Run(proc.popen.returncode, out.decode(), err.decode(), proc.report(timeout=5))


def held(run: Run) -> dict[str, bool]:
    return {name: layer["held"] for name, layer in run.report.layers.items()}


# --- secrets of other processes ---------------------------------------------------------------

# Runs the sandbox from a process whose initial environment (the one /proc shows) holds the
# token, like envcheck with a CI secret; it adds its own pid to the confined argv and prints
# the program's stdout and the report.
DRIVER = """
import json, os, sys
from pathlib import Path
from envcheck.launch import sandbox
spec, argv = json.loads(sys.argv[1])
argv.append(str(os.getpid()))
spec = sandbox.SandboxSpec(read_only=[Path(p) for p in spec["read_only"]],
                           writable=[Path(p) for p in spec["writable"]], env=spec["env"])
proc = sandbox.launch(argv, spec, stdout=-1)
out = proc.popen.communicate()[0].decode()
print(json.dumps({"out": out, "layers": proc.report().layers,
                  "missing": proc.report().missing()}))
"""

READ_SECRETS = """
import os, sys
token, driver = sys.argv[1].encode(), sys.argv[2]
found = [f"env:{k}" for k, v in os.environ.items() if token in v.encode()]
try:
    everyone = os.listdir("/proc")
except OSError:
    everyone = []       # Landlock without a fresh /proc: not even the list
for pid in [driver, "1", *everyone]:
    try:
        with open(f"/proc/{pid}/environ", "rb") as environ:
            if token in environ.read():
                found.append(pid)
    except OSError:
        pass
print(" ".join(found) or "none", os.path.exists(f"/proc/{driver}"))
"""


def read_secrets(dirs: Dirs, python: str, mode: str) -> tuple[str, dict[str, bool], list[str]]:
    token = f"canary-{uuid.uuid4()}"
    spec = spec_for(dirs, python)
    driver_env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO),
                  "ENVCHECK_FAKE_TOKEN": token, "ENVCHECK_SANDBOX": mode}
    payload = json.dumps([{"read_only": [str(p) for p in spec.read_only],
                           "writable": [str(p) for p in spec.writable], "env": spec.env},
                          [python, "-c", READ_SECRETS, token]])
    result = subprocess.run([sys.executable, "-B", "-c", DRIVER, payload], env=driver_env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    reply = json.loads(result.stdout)
    assert reply["out"], result.stderr
    return reply["out"].strip(), {k: v["held"] for k, v in reply["layers"].items()}, \
        reply["missing"]


@pytest.mark.parametrize("mode", SECRET_GUARDS.values(), ids=SECRET_GUARDS.keys())
def test_the_parents_secret_is_not_readable(dirs: Dirs, mode: str) -> None:
    if "no-landlock" not in mode and LANDLOCK_ABI < 1:
        pytest.skip("kernel without Landlock")
    if mode == SECRET_GUARDS["uid alone"] and os.geteuid() != 0:
        pytest.skip("uid switch needs root")
    if mode in (SECRET_GUARDS["userns alone"], SECRET_GUARDS["namespaces alone"]) \
            and not USERNS:
        pytest.skip("no user namespaces here")
    python = system_python() if mode == SECRET_GUARDS["uid alone"] else sys.executable
    out, layers, missing = read_secrets(dirs, python, mode)
    assert out.startswith("none "), out
    assert not any(gap.startswith("secrets") for gap in missing)
    if mode == SECRET_GUARDS["landlock alone"]:
        assert layers["landlock"] and not layers["pidns"] and not layers["uid"]
        assert out == "none True"       # the driver is visible, its environ is not readable
    if mode == SECRET_GUARDS["uid alone"]:
        assert layers["uid"] and not layers["landlock"] and not layers["pidns"]
    if mode == SECRET_GUARDS["userns alone"]:
        assert layers["userns"] and not layers["pidns"] and not layers["landlock"]
        assert out == "none True"       # visible, same uid outside, yet not readable
    if mode == SECRET_GUARDS["namespaces alone"]:
        assert layers["userns"] and layers["pidns"] and layers["mountns"]
        assert not layers["landlock"]
        assert out == "none False"      # the driver is not even visible


def test_with_the_sandbox_off_the_secret_is_read(dirs: Dirs) -> None:
    out, layers, missing = read_secrets(dirs, sys.executable, "off")
    assert out.split()[0] != "none"     # the attack works: the test above can fail
    assert not any(layers.values())
    assert any(gap.startswith("secrets") for gap in missing)


# --- the filesystem ------------------------------------------------------------------------

WRITE_AND_READ = """
import sys
for path in sys.argv[1:4]:
    try:
        with open(path, "w") as file:
            file.write("written")
        print("wrote", end=" ")
    except OSError:
        print("denied", end=" ")
try:
    print(open(sys.argv[4]).read())
except OSError:
    print("unreadable")
"""


def write_and_read(dirs: Dirs) -> Run:
    netrc = dirs.outside / ".netrc"
    netrc.write_text("machine example.org password canary")
    netrc.chmod(0o644)
    return confined(WRITE_AND_READ, spec_for(dirs, sys.executable),
                    str(dirs.writable / "ok"), str(dirs.read_only / "planted.py"),
                    str(dirs.root / "planted"), str(netrc))


@needs_landlock
def test_writes_only_in_writable_and_reads_nothing_outside(dirs: Dirs) -> None:
    run = write_and_read(dirs)
    assert run.stdout.split() == ["wrote", "denied", "denied", "unreadable"], run.stderr
    assert (dirs.writable / "ok").read_text() == "written"
    assert not (dirs.read_only / "planted.py").exists()
    assert not (dirs.root / "planted").exists()
    landlock = run.report.layers["landlock"]
    assert landlock["held"] and landlock["abi"] == LANDLOCK_ABI
    assert not any(gap.startswith("filesystem") for gap in run.report.missing())


def test_with_the_sandbox_off_writes_and_reads_succeed(dirs: Dirs,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVCHECK_SANDBOX", "off")
    run = write_and_read(dirs)
    assert run.stdout.split()[:3] == ["wrote", "wrote", "wrote"]
    assert "canary" in run.stdout
    assert not run.report.held("landlock")
    assert any(gap.startswith("filesystem") for gap in run.report.missing())


# --- the network ---------------------------------------------------------------------------

CONNECT = """
import socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5).close()
    print("connected")
except OSError as exc:
    print("refused", exc.errno)
"""


@pytest.fixture
def listener() -> Iterator[int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    yield server.getsockname()[1]
    server.close()


@pytest.mark.parametrize("mode,allow,expected,layer", [
    pytest.param("", False, "refused", "netns", marks=needs_userns),
    pytest.param("no-netns", False, "refused", "landlock", marks=needs_landlock_net),
    ("", True, "connected", None),
    ("off", False, "connected", None),
])
def test_tcp_to_localhost(dirs: Dirs, listener: int, monkeypatch: pytest.MonkeyPatch,
                          mode: str, allow: bool, expected: str, layer: Optional[str]) -> None:
    monkeypatch.setenv("ENVCHECK_SANDBOX", mode)
    run = confined(CONNECT, spec_for(dirs, sys.executable, allow_network=allow), str(listener))
    assert run.stdout.split()[0] == expected, run.stdout + run.stderr
    network_gaps = [gap for gap in run.report.missing() if gap.startswith("network")]
    if layer == "netns":
        assert run.report.held("netns") and not network_gaps
    elif layer == "landlock":
        assert run.report.layers["landlock"]["tcp_blocked"] and not run.report.held("netns")
        assert network_gaps == ["network: only TCP is blocked; UDP and other protocols are open"]
    elif allow:
        assert not run.report.held("netns") and not run.report.layers["landlock"]["tcp_blocked"]
        assert not network_gaps      # asked for
    else:
        assert network_gaps == ["network: open"]


# --- descendants ---------------------------------------------------------------------------

DAEMON = """
import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        null = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        time.sleep(1)
        open(sys.argv[1], "w").write("survived")
    os._exit(0)
os.wait()
"""


def marked_processes(marker: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(int(pid))
        except OSError:
            pass
    return found


@pytest.mark.parametrize("mode,layer", [("", "pidns"), ("no-pidns", "subreaper"),
                                        ("off", None)])
def test_a_daemon_does_not_outlive_the_probe(dirs: Dirs, monkeypatch: pytest.MonkeyPatch,
                                             mode: str, layer: Optional[str]) -> None:
    monkeypatch.setenv("ENVCHECK_SANDBOX", mode)
    canary = dirs.writable / "daemon-canary"
    marker = f"daemon-marker-{uuid.uuid4()}"
    run = confined(DAEMON, spec_for(dirs, sys.executable), str(canary), marker)
    assert run.returncode == 0, run.stderr
    time.sleep(2)
    if layer is None:       # the attack works unconfined: the test can fail
        assert canary.read_text() == "survived"
        assert any(gap.startswith("descendants") for gap in run.report.missing())
        return
    assert run.report.held(layer)
    assert not canary.exists()
    assert marked_processes(marker) == []
    assert not any(gap.startswith("descendants") for gap in run.report.missing())


# --- exit status -----------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["", "no-pidns", "off"])
@pytest.mark.parametrize("code,returncode", [
    ("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)", -signal.SIGSEGV),
    ("raise SystemExit(3)", 3),
    ("pass", 0),
])
def test_exit_status_and_death_by_signal_propagate(dirs: Dirs, monkeypatch: pytest.MonkeyPatch,
                                                   mode: str, code: str,
                                                   returncode: int) -> None:
    monkeypatch.setenv("ENVCHECK_SANDBOX", mode)
    run = confined(code, spec_for(dirs, sys.executable))
    assert run.returncode == returncode, run.stderr
    assert run.report.error is None


def test_a_failed_exec_is_127_after_a_report(dirs: Dirs) -> None:
    spec = spec_for(dirs, sys.executable)
    proc = sandbox.launch([str(dirs.read_only / "missing-python")], spec,
                          stderr=subprocess.PIPE)
    err = proc.popen.communicate(timeout=30)[1].decode()
    assert proc.popen.returncode == 127
    assert "cannot exec" in err
    assert proc.report().error is None


# --- the report ------------------------------------------------------------------------------

FORGE = """
import json, os, sys
forged = json.dumps({name: {"held": True} for name in sys.argv[1].split()}).encode()
os.write(int(sys.argv[2]), b"kept")
for fd in range(3, 1024):
    if fd != int(sys.argv[2]):
        try:
            os.write(fd, forged)
        except OSError:
            pass
# Also through the fds of its ancestors below the test (the waiter held the report once);
# never above: unconfined, that would scribble on the test runner's own pipes.
pid = os.getppid()
while pid not in (0, int(sys.argv[3])):
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                with open(f"/proc/{pid}/fd/{fd}", "wb") as pipe:
                    pipe.write(forged)
            except OSError:
                pass
        with open(f"/proc/{pid}/stat", "rb") as stat:
            pid = int(stat.read().rpartition(b")")[2].split()[1])
    except OSError:
        break
"""


@pytest.mark.parametrize("mode", ["", "off"])
def test_the_report_cannot_be_forged(dirs: Dirs, monkeypatch: pytest.MonkeyPatch,
                                     mode: str) -> None:
    monkeypatch.setenv("ENVCHECK_SANDBOX", mode)
    kept_r, kept_w = os.pipe()
    try:
        run = confined(FORGE, spec_for(dirs, sys.executable), " ".join(sandbox.LAYERS),
                       str(kept_w), str(os.getpid()), pass_fds=(kept_w,))
        os.close(kept_w)
        assert os.read(kept_r, 4) == b"kept"     # pass_fds reach the program
    finally:
        os.close(kept_r)
    assert run.returncode == 0, run.stderr
    assert run.report.error is None
    assert set(run.report.layers) == set(sandbox.LAYERS)
    if mode == "off":       # all "held" would be the forgery
        assert not any(held(run).values())


def test_a_silent_confine_is_reported(dirs: Dirs) -> None:
    report_r, report_w = os.pipe()
    os.close(report_w)        # what a confine.py that died first leaves behind
    proc = sandbox.ConfinedProcess(subprocess.Popen(["true"]), report_r, False)
    proc.popen.wait()
    report = proc.report()
    assert report.error == "confine.py exited before reporting its layers"
    assert report.missing()[0].startswith("sandbox: ")
    assert len(report.missing()) == 7      # nothing is isolated


# --- degradation -----------------------------------------------------------------------------

def test_off_disables_every_layer(dirs: Dirs, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVCHECK_SANDBOX", "off")
    run = confined("import os; print(os.getuid())", spec_for(dirs, sys.executable))
    assert run.stdout.strip() == str(os.getuid())
    assert set(run.report.layers) == set(sandbox.LAYERS)
    assert not any(held(run).values())


@needs_root
@needs_landlock
def test_without_userns_the_other_layers_still_hold(dirs: Dirs,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVCHECK_SANDBOX", "no-userns")
    python = system_python()
    run = confined("import os; open('out', 'w'); print(os.getuid(), len(os.listdir('/proc')))",
                   spec_for(dirs, python), python=python, cwd=dirs.writable)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split()[0] == "65534"
    layers = held(run)
    assert not layers["userns"]
    assert all(layers[name] for name in ("pidns", "mountns", "netns", "uid", "nonewprivs",
                                         "landlock", "rlimits"))
    assert (dirs.writable / "out").stat().st_uid == 65534
    assert run.report.missing() == []


@needs_root
def test_the_uid_switch_is_skipped_when_65534_cannot_reach_the_interpreter(
        dirs: Dirs, monkeypatch: pytest.MonkeyPatch) -> None:
    hidden = Path(tempfile.mkdtemp())       # mode 700: like /root
    try:
        python = hidden / "python"
        python.symlink_to(os.path.realpath(sys.executable))
        monkeypatch.setenv("ENVCHECK_SANDBOX", "no-userns")
        run = confined("import os; print(os.getuid())", spec_for(dirs, sys.executable),
                       python=str(python))
    finally:
        shutil.rmtree(hidden)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "0"
    assert run.report.layers["uid"] == {"held": False,
                                        "reason": f"uid 65534 cannot reach {python}"}


def test_unknown_layer_names_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVCHECK_SANDBOX", "no-userns, no-landlock")
    assert sandbox.sandbox_disabled_layers() == {"userns", "landlock"}
    monkeypatch.setenv("ENVCHECK_SANDBOX", "no-seccomp")
    with pytest.raises(ValueError, match="no-seccomp"):
        sandbox.sandbox_disabled_layers()


# --- limits --------------------------------------------------------------------------------

def test_memory_and_file_size_are_bounded(dirs: Dirs) -> None:
    code = """
    try:
        bytearray(1 << 30)
        print("allocated", end=" ")
    except MemoryError:
        print("no-memory", end=" ")
    try:
        open("big", "wb").write(b"x" * (1 << 21))
        print("wrote")
    except OSError:
        print("too-big")
    """
    spec = spec_for(dirs, sys.executable, memory_bytes=512 << 20, max_file_bytes=1 << 20)
    run = confined(code, spec, cwd=dirs.writable)
    assert run.stdout.split() == ["no-memory", "too-big"], run.stderr
    assert run.report.layers["rlimits"]["as"] == 512 << 20
    assert run.report.layers["rlimits"]["fsize"] == 1 << 20


# --- interpreters ----------------------------------------------------------------------------

def _pyenv(version: str) -> str:
    found = sorted(PYENV.glob(f"{version}.*/bin/python{version}"))
    if not found:
        pytest.skip(f"no pyenv Python {version} under {PYENV}")
    return str(found[-1])


PROBE = """
import os, sys
open(os.path.join(os.environ["HOME"], "ok"), "w").write(sys.version)
try:
    open(os.path.join(sys.argv[1], "planted"), "w")
    print("wrote")
except OSError:
    print("denied")
"""


@needs_landlock
@pytest.mark.parametrize("version", ["3.8", "3.13"])
def test_pyenv_interpreters_run_confined(dirs: Dirs, version: str) -> None:
    python = _pyenv(version)
    run = confined(PROBE, spec_for(dirs, python), str(dirs.read_only), python=python)
    assert (run.returncode, run.stdout.strip()) == (0, "denied"), run.stderr
    assert (dirs.writable / "ok").read_text().startswith(version)
    assert run.report.missing() == []


@needs_landlock
def test_a_venv_interpreter_runs_confined(dirs: Dirs, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    assert python.is_symlink()      # the base interpreter's prefix must be readable too
    spec = spec_for(dirs, str(python), extra_read_only=(venv,))
    run = confined(PROBE + "print(sys.prefix)", spec, str(dirs.read_only), python=str(python))
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["denied", str(venv)]
    assert run.report.missing() == []
