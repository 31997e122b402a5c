"""Limits and hardening applied inside a check child right after fork, before user code runs.

Order matters: resource limits and the uid drop happen while we are still privileged;
the parent-death signal is set after the uid change (the kernel clears it on a
credential change); the audit hook comes last, as defence in depth only (code that
reaches C bypasses it; the namespaces in ``sandbox.isolation`` are the boundary).
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import sys

from sandbox.isolation import _libc, no_new_privs

PR_SET_PDEATHSIG = 1
RESULT_FD = 3
REQUEST_FD = 4
# Processes and threads of the check's throwaway uid. Threads count too, so it must leave room for
# ordinary thread pools (torch.set_num_threads(64) needs 64 OpenMP threads) while still stopping a
# fork bomb early: each forked copy of a process holding torch takes ~20 ms of CPU to tear down, so
# on 2 cores a fork bomb's copies are gone ~4 s after the check at 256, ~12 s at 512.
NPROC_LIMIT = 256
FILE_SIZE_LIMIT = 64 << 20
OPEN_FILES_LIMIT = 512


def _vm_size_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def redirect_fds(result_fd: int, output_fd: int, request_fd: int) -> None:
    """stdin from /dev/null, stdout+stderr into the capture pipe, result pipe on fd 3,
    request pipe on fd 4; every other inherited descriptor is closed."""
    high = [os.dup(fd) for fd in (result_fd, output_fd, request_fd)]  # out of the way of 0-4
    result_fd, output_fd, request_fd = (os.dup2(fd, 100 + i) for i, fd in enumerate(high))
    devnull = os.open("/dev/null", os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(output_fd, 1)
    os.dup2(output_fd, 2)
    os.dup2(result_fd, RESULT_FD, inheritable=False)
    os.dup2(request_fd, REQUEST_FD, inheritable=False)
    os.closerange(REQUEST_FD + 1, 1 << 20)
    sys.stdout = open(1, "w", buffering=1, closefd=False, encoding="utf-8", errors="replace")
    sys.stderr = open(2, "w", buffering=1, closefd=False, encoding="utf-8", errors="replace")


def apply_limits(timeout_s: float, memory_mb: int, drop_uid: int | None) -> None:
    """RLIMIT_AS (current size + budget), CPU, FSIZE, NOFILE, CORE; NPROC only with a private uid."""
    resource.setrlimit(resource.RLIMIT_AS, (_vm_size_bytes() + memory_mb * (1 << 20),) * 2)
    cpu = int(timeout_s) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))
    resource.setrlimit(resource.RLIMIT_NOFILE, (OPEN_FILES_LIMIT, OPEN_FILES_LIMIT))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # oversize writes fail with EFBIG instead of killing
    if drop_uid is not None:
        resource.setrlimit(resource.RLIMIT_NPROC, (NPROC_LIMIT, NPROC_LIMIT))
        os.setgroups([])
        os.setresgid(drop_uid, drop_uid, drop_uid)
        os.setresuid(drop_uid, drop_uid, drop_uid)
    _libc.prctl(PR_SET_PDEATHSIG, ctypes.c_ulong(signal.SIGKILL), 0, 0, 0)
    no_new_privs()


def scrub_environment(workdir: str) -> None:
    keep = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL") if k in os.environ}
    os.environ.clear()
    os.environ.update(keep)
    os.environ.update({
        "HOME": workdir, "TMPDIR": workdir, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONDONTWRITEBYTECODE": "1",
    })
    import tempfile

    tempfile.tempdir = workdir


_BLOCKED_EVENTS = frozenset({
    "socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg", "subprocess.Popen", "os.system",
    "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty", "pty.spawn", "os.startfile",
    "webbrowser.open", "urllib.Request", "http.client.connect", "ftplib.connect", "smtplib.connect",
})
_PATH_EVENTS = frozenset({
    "os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.symlink", "os.link",
    "os.truncate", "os.utime", "shutil.rmtree", "shutil.move", "shutil.copyfile",
})
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def install_audit_hook(workdir: str) -> None:
    """Refuse processes, sockets and writes outside the work dir at the Python level."""
    root = os.path.realpath(workdir)
    allowed_devices = ("/dev/null",)

    def inside(path: object) -> bool:
        if isinstance(path, int):
            return True
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if not isinstance(path, str):
            path = os.fspath(path)  # type: ignore[arg-type]
        real = os.path.realpath(path)
        return real == root or real.startswith(root + os.sep) or real in allowed_devices

    def hook(event: str, args: tuple) -> None:
        if event in _BLOCKED_EVENTS:
            raise PermissionError(f"sandbox: {event} is not allowed")
        if event == "open":
            path, mode, flags = (tuple(args) + (None, None, None))[:3]
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (isinstance(flags, int) and flags & _WRITE_FLAGS)
            if writing and path is not None and not inside(path):
                raise PermissionError(f"sandbox: writing {path!r} outside the work dir is not allowed")
        elif event in _PATH_EVENTS:
            for arg in args[:2]:
                if isinstance(arg, (str, bytes, os.PathLike)) and not inside(arg):
                    raise PermissionError(f"sandbox: {event} on {arg!r} outside the work dir is not allowed")

    sys.addaudithook(hook)
