"""OS isolation for sandbox workers: network and mount namespaces, a per-check pid namespace, uid drop.

Why here and not in Python: an audit hook can be bypassed by any code that reaches C
(ctypes, a native extension), so the boundary is the kernel. A warm worker calls
``setup_worker_isolation`` once, before importing torch, and every check it forks
inherits the namespaces:

- network: a fresh network namespace with no interface up (no loopback, no internet);
- IPC: a fresh IPC namespace (SysV shared memory, semaphores, message queues of the host are out of reach);
- filesystem: a private mount namespace where every mount is read-only and ``/tmp`` is a
  private tmpfs (the per-check temp dirs live there and vanish with the worker);
- processes: each check child is pid 1 of its own pid namespace (when it dies the kernel
  kills whatever it left behind) and runs under a throwaway uid, so RLIMIT_NPROC counts
  only its own processes and it cannot signal or read ``/proc/<pid>/environ`` of others;
- per check: its own mount namespace with a fresh ``/proc`` of its pid namespace (no other
  process, nor its command line, is visible) and a fresh tmpfs ``/tmp`` that is freed when
  the check's last process dies (nothing one check leaves there reaches the next), and an IPC
  namespace of its own, destroyed with its SysV objects when its last process dies.

Python 3.11 has no ``os.unshare``/``mount``, so we call libc through ctypes. Everything
degrades gracefully: ``IsolationInfo`` says what is actually active.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import subprocess
import sys
from dataclasses import asdict, dataclass, field

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18

AT_FDCWD = -100
AT_RECURSIVE = 0x8000
MOUNT_ATTR_RDONLY = 0x1
SYS_MOUNT_SETATTR = {"x86_64": 442, "aarch64": 442}.get(platform.machine())
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36

TMPFS_SIZE = "size=1024m,mode=1777"
# What no isolation mode contains. The checked code runs in the process that reports its result, so
# it can write a result line of its own on the result pipe (a descriptor it holds, reachable through
# /proc/self/fd however it is renumbered) and then fail: a verdict is evidence about honest code only.
NEVER_CONTAINED: tuple[str, ...] = (
    "verdicts: the checked code runs in the process that reports its result, so it can forge its own result "
    "(status, stages, params) before failing; a check measures whether honest code runs, it proves nothing about adversarial code",
    "reading: checks can read the files any user may read (world-readable ones: the project's code, the Python "
    "installation, /etc); the isolation makes the filesystem read-only and hides a private $HOME, it does not hide the rest",
)


@dataclass
class IsolationInfo:
    """What isolation the sandbox workers actually run under (measured, not assumed)."""

    network: str = "none"  # "netns" (no interfaces) | "none"
    filesystem: str = "none"  # "readonly-root+private-tmp" | "none"
    details: list[str] = field(default_factory=list)
    processes: str = "none"  # "pidns+uid" | "pidns" | "none"
    uid_drop: bool = False  # checks run under a throwaway uid
    pid_namespace: bool = False  # each check is pid 1 of its own pid namespace
    check_mounts: bool = False  # each check gets its own /proc (its processes only) and an empty /tmp
    syscall_filter: bool = False  # each check runs under ``sandbox.syscalls``' seccomp filter

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "IsolationInfo":
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def summary(self) -> str:
        return f"network={self.network} filesystem={self.filesystem} processes={self.processes}"

    def not_contained(self) -> list[str]:
        """What checked code CAN do under this isolation (empty with every layer active).

        Whatever the isolation, every check has a wall timeout that kills its process group,
        RLIMIT_AS/CPU/FSIZE/NOFILE, a private work dir removed afterwards, a scrubbed
        environment, closed descriptors, and descendants that leave its process group are
        killed by the worker (a child subreaper). The rest needs the kernel's namespaces or a uid.
        """
        gaps = []
        if self.network == "none":
            gaps.append("network: checks can open sockets (the internet, services on loopback)")
        if self.filesystem == "none":
            gaps.append("filesystem: checks can write and delete whatever this user can outside their work dir "
                        "($HOME, the project, /tmp)")
        if not self.uid_drop:
            gaps.append("processes: checks run as this user, so they can signal its other processes (the caller included) "
                        "and read their /proc/<pid>/environ; no RLIMIT_NPROC, so a fork bomb is only stopped by the "
                        "timeout's process-group kill")
        elif not self.pid_namespace:
            gaps.append("processes: no pid namespace; a throwaway uid with RLIMIT_NPROC stands in for it")
        if not self.syscall_filter:
            gaps.append("system calls: no seccomp filter, so checks can fork through ctypes (their processes share one "
                        "budget, but CPU of children reaped with SIGCHLD ignored is lost), exec, clear their parent-death "
                        "signal and outlive a killed worker, add kernel keys that outlive them, and hold memory in memfds")
        if not self.check_mounts:
            gaps.append("processes: checks can list every process on the machine and read its command line (/proc/<pid>/cmdline)")
            if self.filesystem != "none":
                gaps.append("filesystem: files a check leaves in the worker's private /tmp are visible to its later checks")
            gaps.append("IPC: SysV shared memory, semaphores and message queues a check makes outlive it and reach later checks"
                        + (" and the host's" if self.network == "none" else ""))
        return gaps


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64), ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)), f"unshare({flags:#x})")


def setns(fd: int, nstype: int) -> None:
    _check(_libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype)), f"setns({nstype:#x})")


def new_pid_namespace_for_next_fork(active_pidns_fd: int) -> None:
    """Make the next fork() pid 1 of a fresh pid namespace.

    unshare(CLONE_NEWPID) only works while the namespace for children is still the active
    one (else EINVAL), so first point it back at our own namespace with setns().
    """
    setns(active_pidns_fd, CLONE_NEWPID)
    unshare(CLONE_NEWPID)


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = lambda s: s.encode() if s is not None else None  # noqa: E731
    _check(_libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)), f"mount {target}")


def no_new_privs() -> None:
    _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)


def become_child_subreaper() -> bool:
    """Orphaned descendants of our children (a check's child that called setsid) are re-parented
    to us instead of init, so the worker can find and kill them without a pid namespace."""
    return _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def _make_all_mounts_readonly() -> str:
    """Recursively read-only: mount_setattr(AT_RECURSIVE) when the kernel has it, else remount each."""
    if SYS_MOUNT_SETATTR is not None:
        attr = _MountAttr(MOUNT_ATTR_RDONLY, 0, 0, 0)
        ret = _libc.syscall(ctypes.c_long(SYS_MOUNT_SETATTR), ctypes.c_int(AT_FDCWD), b"/", ctypes.c_uint(AT_RECURSIVE), ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)))
        if ret == 0:
            return "mount_setattr(AT_RECURSIVE, RDONLY)"
    targets = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            targets.append(line.split()[4])
    for target in sorted(set(targets), key=len):
        try:
            mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
        except OSError:
            pass
    return "remount,bind,ro per mount"


def _python_paths() -> list[str]:
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))}
    paths.update(p for p in sys.path if p and os.path.isabs(p))
    return sorted(os.path.realpath(p) for p in paths if os.path.exists(p))


def _private_ancestors() -> dict[str, set[str]]:
    """Directories on the way to the Python installation that other users cannot traverse."""
    needed: dict[str, set[str]] = {}
    for path in _python_paths():
        parts = path.strip("/").split("/")
        for depth in range(1, len(parts)):
            ancestor = "/" + "/".join(parts[:depth])
            if not os.stat(ancestor).st_mode & 0o001:
                needed.setdefault(ancestor, set()).add(parts[depth])
                break
    return needed


def _expose_python_to_other_users() -> list[str]:
    """Checks run under a throwaway uid, which cannot enter a private directory such as
    /root; when the Python installation lives under one (pyenv in /root), mount a tmpfs
    over that directory inside our namespace holding bind mounts of just the needed
    subdirectories. As a bonus the rest of it (caches, keys) is invisible to checks."""
    needed = _private_ancestors()
    if not needed:
        return []
    stash = "/tmp/.nnrag-orig"
    for ancestor, children in sorted(needed.items(), key=lambda kv: -len(kv[0])):
        os.makedirs(stash, exist_ok=True)
        mount(ancestor, stash, None, MS_BIND | MS_REC)
        mount("tmpfs", ancestor, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
        for child in sorted(children):
            source, target = os.path.join(stash, child), os.path.join(ancestor, child)
            if os.path.isdir(source):
                os.makedirs(target, exist_ok=True)
            else:
                open(target, "a").close()
            mount(source, target, None, MS_BIND | MS_REC)
        _libc.umount2(stash.encode(), ctypes.c_int(2))  # MNT_DETACH
        os.rmdir(stash)
    return sorted(needed)


def _paths_under_tmp() -> list[str]:
    """Python installation and project paths under /tmp (a CI checkout with its venv there):
    the private /tmp would hide them from the checks, so they are bound back in."""
    project = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
    under = sorted({p for p in _python_paths() + [project] if p.startswith("/tmp/")})
    return [p for p in under if not any(p.startswith(q + "/") for q in under)]


def _mount_private_tmp() -> list[str]:
    """Mount the private tmpfs over /tmp, then bind the paths the worker needs back in,
    read-only, through a descriptor of the original /tmp kept open across the mount."""
    keep = _paths_under_tmp()
    original_tmp = os.open("/tmp", os.O_PATH | os.O_DIRECTORY) if keep else -1
    try:
        mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, TMPFS_SIZE)
        for path in keep:
            os.makedirs(path, exist_ok=True)
            mount(f"/proc/self/fd/{original_tmp}/{os.path.relpath(path, '/tmp')}", path, None, MS_BIND | MS_REC)
            mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
    finally:
        if original_tmp >= 0:
            os.close(original_tmp)
    return keep


def private_check_mounts() -> None:
    """Called in a forked check child, still privileged, when it is pid 1 of its own pid namespace:
    a mount namespace of its own with a fresh /tmp (the worker's kept paths bound back in) and a
    fresh procfs for its pid namespace. Why: the worker's /proc is the host's, where any check
    could read every process's command line, and the worker's /tmp outlives checks, so files one
    check leaves there (written through ctypes, past the audit hook) would reach the next. Both
    mounts die with the check's last process. Also an IPC namespace of its own: SysV shared memory
    is not a file, and a segment one check made outlived it (host memory held) and reached the next."""
    unshare(CLONE_NEWNS | CLONE_NEWIPC)
    _mount_private_tmp()
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY)


def _probe_check_mounts() -> str:
    """Fork once the way checks are forked (pid 1 of a new pid namespace) and set up
    ``private_check_mounts`` there: "" when it works and /proc shows only that process, else why not."""
    own_pidns = os.open("/proc/self/ns/pid", os.O_RDONLY)
    own_ipc = os.readlink("/proc/self/ns/ipc")
    read_end, write_end = os.pipe()
    try:
        unshare(CLONE_NEWPID)
        pid = os.fork()
        if pid == 0:
            try:
                private_check_mounts()
                visible = sorted(e for e in os.listdir("/proc") if e.isdigit())
                problem = f"/proc still shows pids {visible[:5]}" if visible != ["1"] else ""
                if os.readlink("/proc/self/ns/ipc") == own_ipc:
                    problem = "the IPC namespace is the worker's"
                os.write(write_end, (problem or "ok").encode())
            except BaseException as exc:  # noqa: BLE001 - reported to the parent, never raised in a fork
                os.write(write_end, (str(exc) or type(exc).__name__).encode())
            finally:
                os._exit(0)
        os.close(write_end)
        write_end = -1
        answer = os.read(read_end, 4096).decode("utf-8", "replace")
        os.waitpid(pid, 0)
        return "" if answer == "ok" else answer or "the probe process died"
    except OSError as exc:
        return str(exc)
    finally:
        setns(own_pidns, CLONE_NEWPID)  # the next fork is back in our own pid namespace
        for fd in (own_pidns, read_end, write_end):
            if fd >= 0:
                os.close(fd)


def _write(path: str, text: str) -> None:
    with open(path, "w") as fh:
        fh.write(text)


def setup_worker_isolation(mode: str = "auto") -> IsolationInfo:
    """Put the calling (single-threaded, torch not yet imported) process into its sandbox.

    mode: "auto" (best available, degrade silently), "strict" (raise when network or
    filesystem isolation is unavailable), "uid" (no namespaces, throwaway uid only, as in an
    unprivileged container), "none" (nothing; rlimits and the audit hook only).
    """
    info = IsolationInfo()
    if become_child_subreaper():
        info.details.append("processes: the worker is a child subreaper (a check's escaped descendants come back to it and are killed)")
    if mode == "none":
        info.details.append("isolation disabled by configuration")
        return info
    _add_syscall_filter(info)
    is_root = os.geteuid() == 0
    try:
        if mode == "uid":  # namespaces off on purpose: what an unprivileged container gets
            raise OSError(0, "namespaces skipped (isolation='uid')")
        if is_root:
            unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC)
            info.details.append("unshare(CLONE_NEWNS|CLONE_NEWNET|CLONE_NEWIPC) as root")
        else:
            uid, gid = os.geteuid(), os.getegid()
            unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC)
            _write("/proc/self/setgroups", "deny")
            _write("/proc/self/uid_map", f"0 {uid} 1")
            _write("/proc/self/gid_map", f"0 {gid} 1")
            info.details.append("unshare(CLONE_NEWUSER|CLONE_NEWNS|CLONE_NEWNET|CLONE_NEWIPC) in a user namespace")
        info.network = "netns"
        info.details.append("network: private namespace, no interface up (no loopback, no internet)")
    except OSError as exc:
        info.details.append(f"namespaces unavailable: {exc}")
        if mode == "strict":
            raise
        if is_root and not _private_ancestors():  # noqa: SIM102  # e.g. an unprivileged container running as root
            info.uid_drop = True
            info.processes = "uid"
            info.details.append("processes: checks still run under a throwaway uid with RLIMIT_NPROC (no namespaces)")
        return info
    try:
        mount(None, "/", None, MS_REC | MS_PRIVATE)
        if is_root:
            mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=1m")  # scratch for the stash below
            exposed = _expose_python_to_other_users()
            _libc.umount2(b"/tmp", ctypes.c_int(2))  # MNT_DETACH
            if exposed:
                info.details.append(f"filesystem: {', '.join(exposed)} replaced by a tmpfs showing only the Python installation")
        how = _make_all_mounts_readonly()
        kept = _mount_private_tmp()
        info.filesystem = "readonly-root+private-tmp"
        info.details.append(f"filesystem: every mount read-only ({how}); /tmp is a private tmpfs ({TMPFS_SIZE})")
        if kept:
            info.details.append(f"filesystem: {', '.join(kept)} kept visible (read-only) through the private /tmp")
    except OSError as exc:
        info.details.append(f"mount isolation unavailable: {exc}")
        if mode == "strict":
            raise
    info.pid_namespace = True
    info.uid_drop = is_root
    info.processes = "pidns+uid" if is_root else "pidns"
    info.details.append("processes: each check is pid 1 of its own pid namespace" + (", under a throwaway uid with RLIMIT_NPROC" if is_root else ""))
    if info.filesystem != "none":
        problem = _probe_check_mounts()
        info.check_mounts = not problem
        info.details.append("per check: a fresh /proc (only its own processes) and a fresh /tmp and IPC namespace" if not problem
                            else f"per-check /proc and /tmp unavailable: {problem}")
    return info


def _add_syscall_filter(info: IsolationInfo) -> None:
    from sandbox.syscalls import syscall_filter_available

    problem = syscall_filter_available()
    info.syscall_filter = not problem
    info.details.append("system calls: a seccomp filter refuses fork, exec, namespaces, mounts, kernel keys, memfd and io_uring "
                        "to every check" if not problem else f"system calls: no seccomp filter ({problem})")


def detect_isolation(timeout_s: float = 60.0, mode: str = "auto") -> IsolationInfo:
    """Start a probe worker (no preloads) and report the isolation it really got, measured inside."""
    from sandbox.worker import probe_command

    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    proc = subprocess.run(probe_command(mode), capture_output=True, text=True, timeout=timeout_s, env=env)
    if proc.returncode != 0:
        return IsolationInfo(details=[f"probe failed: {proc.stderr.strip()[-500:]}"])
    import json

    return IsolationInfo.from_dict(json.loads(proc.stdout.strip().splitlines()[-1]))
