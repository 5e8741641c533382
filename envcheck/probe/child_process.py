"""Process-level helpers of the probe, run inside the package's process (standard
library, Python 3.6+): resource limits, memory readings, the installed distributions as
the interpreter sees them, the model's feature names, and dying with the parent."""

import os
import sys
import time
import traceback


def _now():
    return time.perf_counter()


def _peak_memory_mb():
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    if sys.platform == "darwin":
        return round(peak / (1024.0 * 1024.0), 1)
    return round(peak / 1024.0, 1)


def _count_user_processes(uid):
    count = 0
    try:
        names = os.listdir("/proc")
    except OSError:
        return None
    for name in names:
        if name.isdigit():
            try:
                if os.stat("/proc/" + name).st_uid == uid:
                    count += 1
            except OSError:
                pass
    return count


def apply_limits(request):
    """Resource limits, set here (not in the parent's preexec_fn, which is unsafe when the
    parent has threads).  Both soft and hard limits are lowered so the package cannot
    raise them again."""
    applied = {}
    try:
        import resource
    except ImportError:
        return applied
    # No core files in the temp dir from a segfaulting package.
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ValueError, OSError):
        pass
    memory = request.get("memory_bytes")
    if memory and hasattr(resource, "RLIMIT_AS"):
        try:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
            applied["memory_bytes"] = memory
        except (ValueError, OSError) as exc:
            applied["memory_error"] = str(exc)
    # RLIMIT_NPROC counts every process of the *user*, and the kernel does not enforce it
    # for root (CAP_SYS_RESOURCE): as root the fork-bomb backstop is the timeout, which
    # kills the whole process group.  Otherwise allow what the user runs now + headroom.
    headroom = request.get("nproc_headroom")
    if headroom and hasattr(resource, "RLIMIT_NPROC") and hasattr(os, "geteuid"):
        uid = os.geteuid()
        if uid == 0:
            applied["nproc"] = "not enforced for root"
        else:
            running = _count_user_processes(uid)
            if running is not None:
                soft, hard = resource.getrlimit(resource.RLIMIT_NPROC)
                limit = running + int(headroom)
                if hard != resource.RLIM_INFINITY:
                    limit = min(limit, hard)
                try:
                    resource.setrlimit(resource.RLIMIT_NPROC, (limit, limit))
                    applied["nproc"] = limit
                except (ValueError, OSError) as exc:
                    applied["nproc_error"] = str(exc)
    return applied


def installed_distributions():
    """{canonical name: version} of every distribution the env's interpreter sees."""
    found = {}

    def canonical(name):
        out = []
        for ch in name.lower():
            out.append("-" if ch in "-_." else ch)
        text = "".join(out)
        while "--" in text:
            text = text.replace("--", "-")
        return text

    try:
        from importlib import metadata as importlib_metadata  # 3.8+
    except ImportError:
        importlib_metadata = None
    if importlib_metadata is not None:
        for dist in importlib_metadata.distributions():
            name = dist.metadata["Name"]
            if name:
                found.setdefault(canonical(name), dist.version)
        return found
    try:
        import pkg_resources
    except ImportError:
        return found
    for dist in pkg_resources.working_set:
        found.setdefault(canonical(dist.project_name), dist.version)
    return found


def model_features(model):
    """feature_names_in_/n_features_in_ on the returned object or one attribute below it
    (interfaces often wrap the estimator: ``self.model``, ``self.pipeline``)."""
    candidates = [("model", model)]
    try:
        attrs = vars(model)
    except TypeError:
        attrs = {}
    for name in sorted(attrs):
        if not name.startswith("__"):
            candidates.append(("model." + name, attrs[name]))
    for where, obj in candidates:
        names = _safe_getattr(obj, "feature_names_in_")
        count = _safe_getattr(obj, "n_features_in_")
        if names is None and count is None:
            continue
        out = {"found_on": where}
        if names is not None:
            try:
                out["feature_names_in"] = [str(n) for n in list(names)]
            except Exception:
                pass
        if count is not None:
            try:
                out["n_features_in"] = int(count)
            except Exception:
                pass
        return out
    return {}


def _safe_getattr(obj, name):
    try:
        return getattr(obj, name, None)
    except Exception:  # properties of arbitrary objects may raise anything
        return None


def die_with_parent(parent_pid):
    """End this probe -- and every process the package started in its group -- when
    envcheck dies (even by SIGKILL, which it cannot forward).  The probe runs in its own
    session, so nothing else would stop it, and its timeout lives in the parent.

    Linux: the kernel sends SIGKILL the moment the parent exits (PR_SET_PDEATHSIG).
    Everywhere: a daemon thread notices the re-parenting within 0.5 s and kills the
    whole process group (the probe is its leader), grandchildren included."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            libc = ctypes.CDLL(None, use_errno=True)
            PR_SET_PDEATHSIG = 1
            libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except Exception:  # no libc/prctl: the thread below still works
            pass
    if not parent_pid or not hasattr(os, "getppid") or not hasattr(os, "killpg"):
        return

    def kill_group():
        import signal

        try:
            os.killpg(0, signal.SIGKILL)
        except OSError:
            os._exit(137)

    if os.getppid() != parent_pid:  # the parent died before the prctl above
        kill_group()

    def watch():
        while True:
            time.sleep(0.5)
            if os.getppid() != parent_pid:
                kill_group()

    try:
        import threading

        threading.Thread(target=watch, name="envcheck-parent-watch", daemon=True).start()
    except Exception:  # cannot start a thread (limits): the prctl above still holds
        pass


def describe_exception(exc, package_root, max_message, max_lines, probe_file):
    """What the parent needs to know of an exception: type, message, the missing module
    of an ImportError, the traceback's tail, and the frames in the package's own files."""
    kind = type(exc)
    out = {"exception_type": kind.__name__ if kind.__module__ == "builtins"
           else "%s.%s" % (kind.__module__, kind.__name__),
           "exception_message": str(exc)[:max_message]}
    name = getattr(exc, "name", None)
    if isinstance(exc, ImportError) and name:
        out["missing_module"] = str(name)
    lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
    out["traceback_tail"] = "\n".join("".join(lines).splitlines()[-max_lines:])
    frames = []
    for frame in traceback.extract_tb(exc.__traceback__):
        filename = os.path.abspath(frame.filename)
        if filename != probe_file and filename.startswith(package_root + os.sep):
            frames.append({"file": os.path.relpath(filename, package_root),
                           "line": frame.lineno, "function": frame.name,
                           "code": frame.line or ""})
    out["package_frames"] = frames[-10:]
    return out
