"""Confine this process with every sandbox layer the machine offers, then exec the probe.

Standalone on purpose: standard library only, no envcheck import, so it can run as
``python -I -S`` with nothing of the caller's on its path.  envcheck.launch.sandbox starts it:

    python -I -S confine.py SPEC_FD REPORT_FD -- PROGRAM [ARG ...]

SPEC_FD    an inherited pipe; read to EOF it holds one JSON object::

               {"read_only": [path, ...], "writable": [path, ...], "allow_network": bool,
                "memory_bytes": int|null, "max_file_bytes": int|null,
                "max_processes": int|null, "env": {name: value, ...},
                "disable": [layer, ...], "keep_fds": [fd, ...]}

REPORT_FD  an inherited pipe; just before the exec one JSON object
           ``{layer: {"held": bool, "reason": str (when not held), ...details}}`` is
           written to it and it is closed, so the program can neither write nor forge it.
           EOF without data means confine.py died before reporting.
PROGRAM    an absolute path, exec'd with execve (no PATH search) and spec["env"] as its
           whole environment; fds other than 0, 1, 2 and spec["keep_fds"] are closed.

Process tree: the waiter (outside) -> init (pid 1 of the pid namespace, when there is
one) -> PROGRAM.  The waiter exits as the program did (same code, or the same signal);
127 if the exec fails.  Each layer is attempted on its own, a failure recorded with its
reason.  See envcheck/launch/sandbox.py for the threat model.
"""

from __future__ import annotations

import ctypes
import encodings.ascii  # noqa: F401 - now: after a uid switch the stdlib may be unreadable
import json
import os
import resource
import signal
import stat
import sys

TYPE_CHECKING = False   # not typing.TYPE_CHECKING: importing typing slows every probe start
if TYPE_CHECKING:
    from typing import Any, Callable, Optional

LAYERS = ("userns", "pidns", "mountns", "netns", "subreaper", "uid", "nonewprivs",
          "landlock", "rlimits")
NOBODY = 65534
CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x20000, 0x10000000, 0x20000000, 0x40000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 0x2, 0x4, 0x8, 0x4000, 0x40000
PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 1, 36, 38

# Landlock (linux/landlock.h).  The syscall numbers are those of the generic table.
SYS_LANDLOCK = {"x86_64": (444, 445, 446), "aarch64": (444, 445, 446)}
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1
FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
FS_ABI1 = (1 << 13) - 1           # EXECUTE .. MAKE_SYM
FS_REFER, FS_TRUNCATE, FS_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15   # ABI 2, 3, 5
FS_FILE_ONLY = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1                   # ABI 4
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1         # ABI 6
# Sinks every program expects to write to, e.g. open("/dev/null", "w") (which truncates).
DEVICE_SINKS = ("/dev/null", "/dev/zero", "/dev/full")
# What of a shared /proc the probe may read: system-wide facts and, through "self", its
# own pid.  Landlock does not stop reading a same-uid process's /proc/<pid>/environ.
PROC_SHARED = ("cpuinfo", "meminfo", "stat", "loadavg", "uptime", "version",
               "filesystems", "cgroups", "sys", "self")

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class NotHeld(Exception):
    """A layer that does not apply here (the reason is the message)."""


class RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64),
                ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class PathBeneathAttr(ctypes.Structure):
    _pack_ = 1      # the kernel's struct is __attribute__((packed)): 12 bytes
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _check(result: int, what: str) -> int:
    if result == -1:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")
    return result


def _syscall(name: str, number: int, *args: Any) -> int:
    # Variadic: pass every integer as a C long, or the upper register half is garbage.
    cargs = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
    return _check(_libc.syscall(ctypes.c_long(number), *cargs), name)


def _prctl(option: int, value: int) -> None:
    _check(_libc.prctl(option, ctypes.c_ulong(value), ctypes.c_ulong(0), ctypes.c_ulong(0),
                       ctypes.c_ulong(0)), f"prctl({option})")


def _unshare(flags: int) -> None:
    if hasattr(os, "unshare"):      # Python 3.12+
        os.unshare(flags)
    else:
        _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def _mount(source: Optional[str], target: str, fstype: Optional[str], flags: int) -> None:
    _check(_libc.mount(source and source.encode(), target.encode(), fstype and fstype.encode(),
                       ctypes.c_ulong(flags), None), f"mount {target}")


class Layers:
    """The report: one entry per layer, filled in as the layers are attempted."""

    def __init__(self, disabled: set[str]) -> None:
        self.disabled = disabled
        self.report: dict[str, dict[str, Any]] = {}

    def attempt(self, name: str, apply: Callable[[], Optional[dict[str, Any]]]) -> bool:
        if name in self.disabled:
            return self.skip(name, "disabled (ENVCHECK_SANDBOX)")
        try:
            details = apply() or {}
        except NotHeld as exc:
            return self.skip(name, str(exc))
        except Exception as exc:  # a missing facility must never stop the probe
            return self.skip(name, f"{type(exc).__name__}: {exc}")
        self.report[name] = {"held": True, **details}
        return True

    def skip(self, name: str, reason: str) -> bool:
        self.report[name] = {"held": False, "reason": reason}
        return False

    def held(self, name: str) -> bool:
        return bool(self.report.get(name, {}).get("held"))


# --- the namespaces, entered by the waiter -------------------------------------------------

def enter_userns() -> dict[str, Any]:
    uid, gid = os.geteuid(), os.getegid()
    _unshare(CLONE_NEWUSER)
    # An inner root would keep its namespace capabilities across execve and could unmount
    # the fresh /proc; any other inner uid loses them at exec.  The outer ids stay the
    # same, so file access is unchanged.
    inner_uid, inner_gid = uid or NOBODY, gid or NOBODY
    for name, text in (("setgroups", "deny"), ("uid_map", f"{inner_uid} {uid} 1"),
                       ("gid_map", f"{inner_gid} {gid} 1")):
        with open(f"/proc/self/{name}", "w") as file:
            file.write(text)
    return {"uid": inner_uid}


def fresh_proc() -> None:
    """In init: a private mount namespace whose /proc shows only the sandbox's processes."""
    _unshare(CLONE_NEWNS)
    _mount(None, "/", None, MS_REC | MS_PRIVATE)   # nothing we mount leaks to the host
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    # A private /dev/shm: POSIX semaphores and shared memory (joblib, multiprocessing)
    # work, and the host's segments of other processes are out of sight.
    if os.path.isdir("/dev/shm"):
        _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV)


# --- the layers the program process applies to itself ---------------------------------------

def switch_uid(spec: dict[str, Any], program: str) -> dict[str, Any]:
    """Become uid/gid 65534, so envcheck's /proc/<pid>/environ is another user's."""
    if os.geteuid() != 0:
        raise NotHeld("not root")
    groups = os.getgroups()
    os.setgroups([])
    # Trial first: the saved ids stay 0 so we can come back if 65534 cannot reach a path;
    # os.access() then checks with the real ids, i.e. exactly as the kernel will.
    os.setresgid(NOBODY, NOBODY, 0)
    os.setresuid(NOBODY, NOBODY, 0)
    blocked = [program] if not os.access(program, os.X_OK) else []
    blocked += [p for p in spec["read_only"] if os.path.exists(p)
                and not os.access(p, os.R_OK | (os.X_OK if os.path.isdir(p) else 0))]
    blocked += [p for p in spec["writable"] if not os.access(os.path.dirname(p), os.X_OK)]
    os.setresuid(0, 0, 0)
    os.setresgid(0, 0, 0)
    if blocked:
        os.setgroups(groups)
        raise NotHeld(f"uid {NOBODY} cannot reach {', '.join(blocked)}")
    for top in spec["writable"]:          # the private dirs become the new user's
        for root, dirs, files in os.walk(top):
            for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
                os.chown(name, NOBODY, NOBODY, follow_symlinks=False)
    os.setresgid(NOBODY, NOBODY, NOBODY)
    os.setresuid(NOBODY, NOBODY, NOBODY)
    return {"uid": NOBODY}


def landlock(spec: dict[str, Any], fresh_proc: bool) -> dict[str, Any]:
    numbers = SYS_LANDLOCK.get(os.uname().machine)
    if numbers is None:
        raise NotHeld(f"Landlock syscall numbers unknown on {os.uname().machine}")
    create, add_rule, restrict_self = numbers
    abi = _syscall("landlock_create_ruleset", create, None, 0,
                   LANDLOCK_CREATE_RULESET_VERSION)
    fs = FS_ABI1 | (FS_REFER if abi >= 2 else 0) | (FS_TRUNCATE if abi >= 3 else 0) \
        | (FS_IOCTL_DEV if abi >= 5 else 0)
    net = NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 and not spec["allow_network"] else 0
    scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0
    # The struct grew with the ABI; an older kernel rejects a size it does not know.
    attr = RulesetAttr(fs, net, scoped)
    ruleset = _syscall("landlock_create_ruleset", create, ctypes.byref(attr),
                       8 if abi < 4 else 16 if abi < 6 else 24, 0)
    try:
        read_only = spec["read_only"]
        if not fresh_proc and "/proc" in read_only:
            read_only = [p for p in read_only if p != "/proc"]
            read_only += [f"/proc/{name}" for name in PROC_SHARED]
        rules = [(p, FS_EXECUTE | FS_READ_FILE | FS_READ_DIR) for p in read_only]
        rules += [(p, FS_READ_FILE | FS_WRITE_FILE | FS_TRUNCATE | FS_IOCTL_DEV)
                  for p in DEVICE_SINKS]
        rules += [(p, fs) for p in spec["writable"]]
        if fresh_proc and os.path.isdir("/dev/shm"):
            rules.append(("/dev/shm", fs))  # the private tmpfs mounted above
        for path, access in rules:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            try:
                if not stat.S_ISDIR(os.fstat(fd).st_mode):
                    access &= FS_FILE_ONLY     # directory rights on a file: EINVAL
                rule = PathBeneathAttr(access & fs, fd)
                _syscall(f"landlock_add_rule {path}", add_rule, ruleset,
                         LANDLOCK_RULE_PATH_BENEATH, ctypes.byref(rule), 0)
            finally:
                os.close(fd)
        _syscall("landlock_restrict_self", restrict_self, ruleset, 0)
    finally:
        os.close(ruleset)
    return {"abi": abi, "tcp_blocked": bool(net), "scoped": bool(scoped)}


def set_rlimits(spec: dict[str, Any], own_uid: bool) -> dict[str, Any]:
    limits = {"core": (resource.RLIMIT_CORE, 0),
              "as": (resource.RLIMIT_AS, spec["memory_bytes"]),
              "fsize": (resource.RLIMIT_FSIZE, spec["max_file_bytes"]),
              # RLIMIT_NPROC counts every task of the uid; only with a uid (or user
              # namespace) of its own does that mean the sandbox's tasks only.
              "nproc": (resource.RLIMIT_NPROC, spec["max_processes"] if own_uid else None)}
    applied = {}
    for name, (which, value) in limits.items():
        if value is not None:
            resource.setrlimit(which, (value, value))
            applied[name] = value
    return applied


def close_fds(keep: set[int]) -> None:
    # Python opens its own fds close-on-exec; this catches anything else inherited.
    for fd in [int(n) for n in os.listdir("/proc/self/fd")]:
        if fd > 2 and fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass     # the listdir's own fd, already closed


def become_program(layers: Layers, spec: dict[str, Any], argv: list[str],
                   report_fd: int) -> None:
    keep = set(spec["keep_fds"])
    close_fds(keep | {report_fd})
    if layers.held("userns"):
        layers.skip("uid", "not needed: the user namespace maps us to another uid")
    else:
        layers.attempt("uid", lambda: switch_uid(spec, argv[0]))
    # Also what keeps setuid programs (sudo on a CI runner) from elevating the probe.
    layers.attempt("nonewprivs", lambda: _prctl(PR_SET_NO_NEW_PRIVS, 1))
    layers.attempt("landlock", lambda: landlock(spec, layers.held("mountns")))
    layers.attempt("rlimits",
                   lambda: set_rlimits(spec, layers.held("userns") or layers.held("uid")))
    with open(report_fd, "w") as report:
        json.dump(layers.report, report)
    # Python ignores these at startup; an ignored disposition would survive the exec.
    for sig in (signal.SIGPIPE, signal.SIGXFSZ):
        signal.signal(sig, signal.SIG_DFL)
    try:
        os.execve(argv[0], argv, spec["env"])
    except OSError as exc:
        print(f"confine.py: cannot exec {argv[0]}: {exc}", file=sys.stderr)
        os._exit(127)


# --- process plumbing -----------------------------------------------------------------------

def spawn(child: Callable[[], None]) -> int:
    """Fork; the child runs ``child``, which execs or exits; returns the child's pid."""
    pid = os.fork()
    if pid == 0:
        try:
            child()
        except BaseException as exc:
            print(f"confine.py: {exc!r}", file=sys.stderr)
        os._exit(127)
    return pid


def reap_until(pid: int) -> int:
    """Wait status of ``pid``; reaps the orphans re-parented to us meanwhile."""
    while True:
        done, status = os.waitpid(-1, 0)
        if done == pid:
            return status


def descendants(ancestor: int) -> list[int]:
    parent_of = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as stat_file:
                    # "pid (comm) state ppid ...": comm may hold spaces and parentheses
                    fields = stat_file.read().rpartition(b")")[2].split()
                parent_of[int(name)] = int(fields[1])
            except (OSError, IndexError, ValueError):
                continue     # exited meanwhile
    found: list[int] = []
    frontier = {ancestor}
    while frontier:
        frontier = {pid for pid, ppid in parent_of.items() if ppid in frontier}
        found += frontier
    return found


def kill_descendants() -> None:
    """SIGKILL all below us until no child is left; as subreaper we inherit every orphan."""
    while True:
        for pid in descendants(os.getpid()):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def exit_like(status: int) -> None:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))   # the program crashed, not us
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
        os._exit(128 + sig)
    os._exit(os.waitstatus_to_exitcode(status))


def run_init(layers: Layers, spec: dict[str, Any], argv: list[str], report_fd: int,
             status_fd: int) -> None:
    """pid 1 of the new pid namespace: its exit makes the kernel kill every process left.

    The program is not pid 1 itself because pid 1 ignores every signal it has no handler
    for, even its own os.kill(getpid(), SIGSEGV), and must reap orphans.  pid 1 cannot die
    by a signal either, so it hands the program's wait status to the waiter via a pipe.
    """
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)    # the waiter killed alone: take all down
    layers.attempt("mountns", fresh_proc)
    program = spawn(lambda: become_program(layers, spec, argv, report_fd))
    os.close(report_fd)
    status = reap_until(program)
    os.write(status_fd, str(status).encode())
    os._exit(0)


def main() -> None:
    args = sys.argv[1:]
    if len(args) < 4 or args[2] != "--" or not os.path.isabs(args[3]):
        sys.exit("usage: python -I -S confine.py SPEC_FD REPORT_FD -- /ABS/PROGRAM [ARG ...]")
    spec_fd, report_fd, argv = int(args[0]), int(args[1]), args[3:]
    parent = os.getppid()
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # envcheck killed (even SIGKILL): so are we
    if os.getppid() != parent:  # it died before the prctl took effect
        os._exit(137)
    with open(spec_fd, "rb") as spec_pipe:
        spec = json.load(spec_pipe)
    layers = Layers(set(spec["disable"]))

    layers.attempt("userns", enter_userns)
    # Without a user namespace only root may unshare these; each is tried anyway.
    pidns = layers.attempt("pidns", lambda: _unshare(CLONE_NEWPID))
    if spec["allow_network"]:
        layers.skip("netns", "not wanted: the spec allows the network")
    else:
        layers.attempt("netns", lambda: _unshare(CLONE_NEWNET))

    if pidns:
        layers.skip("subreaper", "not needed: the pid namespace ends with its pid 1")
        status_r, status_w = os.pipe()
        init = spawn(lambda: run_init(layers, spec, argv, report_fd, status_w))
        os.close(report_fd)
        os.close(status_w)
        init_status = reap_until(init)
        with open(status_r, "rb") as status_pipe:
            told = status_pipe.read()
        exit_like(int(told) if told else init_status)
    else:
        layers.skip("mountns", "not needed: there is no pid namespace to show in /proc")
        subreaper = layers.attempt("subreaper", lambda: _prctl(PR_SET_CHILD_SUBREAPER, 1))
        program = spawn(lambda: become_program(layers, spec, argv, report_fd))
        os.close(report_fd)
        status = reap_until(program)
        if subreaper:
            kill_descendants()
        exit_like(status)


if __name__ == "__main__":
    main()
