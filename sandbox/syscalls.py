"""A seccomp filter for the check's process: the system calls no model needs and hostile code uses.

Why a filter and not more accounting: what the kernel lets a process do past its namespaces and rlimits was each
audit's finding. A check forked (through ctypes, past the audit hook) to spread its CPU and memory over processes the
budgets did not count (with SIGCHLD ignored, their CPU vanished from every total), exec'd a fresh image under an
address-space limit sized for torch, cleared its parent-death signal to outlive a killed worker, added keys to the
kernel's per-uid keyring (not namespaced: they outlived the check), held memory in memfds or in a tmpfs mounted in a
user namespace of its own. Honest model code does none of it: forking, exec and namespaces are refused by the audit
hook already. Threads stay allowed (``clone`` with ``CLONE_THREAD``; ``clone3`` answers ENOSYS, so libc falls back to
``clone``). Applied last in the forked check child, before the checked code runs; every thread it starts inherits it.
"""

from __future__ import annotations

import errno

# Refused with EPERM: processes, exec, namespaces and mounts, kernel keys, memory outside every budget, io_uring
# (its own async path around the rest), and the filter's own prctl escape hatches below.
REFUSED = (
    "fork", "vfork", "execve", "execveat",
    "unshare", "setns", "mount", "umount2", "pivot_root", "chroot",
    "fsopen", "fsconfig", "fsmount", "fspick", "open_tree", "move_mount", "mount_setattr",
    "add_key", "request_key", "keyctl",
    "memfd_create", "memfd_secret", "userfaultfd",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "bpf", "ptrace", "process_vm_writev",
)
CLONE_THREAD = 0x00010000
PR_SET_PDEATHSIG = 1


def syscall_filter_available() -> str:
    """"" when the filter can be built here, else why not (libseccomp missing, an unknown architecture)."""
    try:
        _build()
    except (ImportError, OSError, RuntimeError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return ""


def install_syscall_filter() -> None:
    """Load the filter into this process (no_new_privs must be set). Raises when it cannot be loaded."""
    _build().load()


def _build():
    import pyseccomp as seccomp

    refused = seccomp.ERRNO(errno.EPERM)
    rules = seccomp.SyscallFilter(seccomp.ALLOW)
    for name in REFUSED:
        try:
            rules.add_rule(refused, name)
        except (OSError, ValueError):  # a call this kernel or libseccomp does not know (memfd_secret): nothing to refuse
            continue
    rules.add_rule(refused, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, CLONE_THREAD, 0))  # a process, not a thread
    rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")  # its flags are behind a pointer: libc falls back to clone
    rules.add_rule(refused, "prctl", seccomp.Arg(0, seccomp.EQ, PR_SET_PDEATHSIG))  # dies with its worker
    return rules
