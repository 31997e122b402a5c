"""A warm sandbox worker: imports torch once, then forks one fresh child per check.

Protocol (trusted, JSON lines): the pool writes one request per line on the worker's
stdin; the worker answers one line on its original stdout (fd 1 is redirected to stderr
so that library chatter cannot corrupt the protocol). The first line it writes is a
handshake with the isolation it measured.

Why fork per check: a fresh process per check means no state leaks between checks and a
crash, ``os._exit`` or a hang only costs that child; forking a process that already
imported torch/timm costs milliseconds instead of the seconds of a cold start.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import select
import shutil
import signal
import sys
import tempfile
import time
from typing import Any

from sandbox.isolation import IsolationInfo, new_pid_namespace_for_next_fork, setup_worker_isolation

LINGER_S = 2.0  # without a pid namespace, how long after a check the worker sweeps for its escaped descendants
CONTROL_FD = 0  # the pool's request pipe; while a check runs, the only thing it may send is a cancel line
CANCEL_LINE = b'{"cancel": true}'
RESULT_LIMIT = 8 << 20
WARMUP_CODE = """
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 10)

    def forward(self, x):
        x = F.relu(self.bn(self.conv(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
"""


def worker_command(config: dict[str, Any]) -> list[str]:
    return [sys.executable, "-m", "sandbox.worker", json.dumps(config)]


def probe_command(mode: str = "auto") -> list[str]:
    return [sys.executable, "-m", "sandbox.worker", "--probe", mode]


class Worker:
    def __init__(self, config: dict[str, Any]):
        self.config = config
        self.isolation = IsolationInfo()
        self.base_dir = "/tmp"
        self.pidns_fd: int | None = None
        self.uid_counter = 0
        self.spare: dict | None = None
        self.used: dict | None = None
        self.dying: list[dict] = []
        self.sweep_until = 0.0  # without a pid namespace: look for a finished check's escaped descendants until then
        self.cancel_pending = False  # a cancel line arrived in the same read as its request
        self.control_buffer = b""  # bytes read from the pool not yet handled (see _control_input)

    def start(self) -> None:
        self.isolation = setup_worker_isolation(self.config.get("isolation", "auto"))
        if self.isolation.syscall_filter and not self.config.get("syscall_filter", True):
            self.isolation.syscall_filter = False
            self.isolation.details.append("system calls: the seccomp filter is turned off by configuration")
        if self.isolation.filesystem == "none":
            self.base_dir = self.config.get("fallback_dir") or tempfile.mkdtemp(prefix="nnrag-sandbox-")
            os.makedirs(self.base_dir, exist_ok=True)
            os.chmod(self.base_dir, 0o711)  # a check under a throwaway uid must reach its own work dir
        os.environ["HOME"] = self.base_dir
        if self.isolation.pid_namespace:
            self.pidns_fd = os.open("/proc/self/ns/pid", os.O_RDONLY)
        os.environ["OMP_NUM_THREADS"] = "1"
        for name in self.config.get("preload", []):
            try:
                importlib.import_module(name)
            except Exception as exc:  # noqa: BLE001 - a missing optional preload is not fatal
                self.isolation.details.append(f"preload {name} failed: {exc}")
        import torch

        torch.set_num_threads(1)
        from sandbox import runner  # noqa: F401 - imported here so children need not

        try:
            importlib.import_module("sandbox.infer_input")
        except ImportError:
            pass
        self._warm_up()
        gc.collect()
        gc.freeze()  # children fork with a frozen heap: fewer copy-on-write faults

    def _warm_up(self) -> None:
        """Run every code path once in the worker itself (trusted code) so children start hot."""
        from sandbox.runner import MODULE_NAME, run_check
        from sandbox.spec import CheckSpec

        run_check(WARMUP_CODE, CheckSpec(stages=("parse", "compile", "import", "instantiate", "forward", "backward", "train_step")), lambda _: None)
        sys.modules.pop(MODULE_NAME, None)

    # --- one check -----------------------------------------------------------------------------
    # The next check's child is forked ahead of time ("spare"): forking a process that holds
    # torch costs tens of ms of page-table copying, which then overlaps with the caller's work
    # instead of adding to each check's latency. The spare waits for its request on a pipe.
    def _next_uid(self) -> int | None:
        if not self.isolation.uid_drop:
            return None
        self.uid_counter += 1
        return int(self.config.get("uid_base", 1 << 24)) + self.uid_counter % int(self.config.get("uid_span", 1 << 12))

    def fork_spare(self) -> None:
        workdir = tempfile.mkdtemp(prefix="check-", dir=self.base_dir)
        uid = self._next_uid()
        if uid is not None:
            os.chown(workdir, uid, uid)
        req_r, req_w = os.pipe()
        r_res, w_res = os.pipe()
        r_out, w_out = os.pipe()
        if self.isolation.pid_namespace and self.pidns_fd is not None:
            try:
                new_pid_namespace_for_next_fork(self.pidns_fd)
            except OSError as exc:
                self.isolation.pid_namespace = False
                self.isolation.details.append(f"per-check pid namespace disabled: {exc}")
        pid = os.fork()
        if pid == 0:  # the check child
            try:
                for fd in (req_w, r_res, r_out):
                    os.close(fd)
                _child(req_r, w_res, w_out, workdir, uid, self.isolation.check_mounts, self.isolation.syscall_filter)
            finally:
                os._exit(70)
        for fd in (req_r, w_res, w_out):
            os.close(fd)
        self.spare = {"pid": pid, "req_w": req_w, "r_res": r_res, "r_out": r_out, "workdir": workdir}

    def recycle(self) -> None:
        """Hand the last check's child to the reaper and fork the next spare.

        A finished child exits by itself right after reporting; tearing down its copy of the
        address space takes tens of ms, so we do not wait for it here: ``reap`` collects it
        later, then removes its work dir. It is SIGKILLed now, with its process group (and, as
        pid 1 of its pid namespace, every process of it): its answer is in, and code that wrote
        its result early and went on in processes of its own ran through the next check.
        """
        used, self.used = self.used, None
        if used is not None:
            if not used.get("reaped"):
                _kill_group(used["pid"])
                _kill(used["pid"])
            self.dying.append(used)
            if not self.isolation.pid_namespace:
                self.sweep_until = time.monotonic() + LINGER_S
        if self.spare is None:
            self.fork_spare()
        self.reap()

    def shutdown(self) -> None:
        """Stop the spare (its request pipe closes, so it exits) and reap every child."""
        if self.spare is not None:
            os.close(self.spare["req_w"])
            self.dying.append(self.spare)
            self.spare = None
        for child in self.dying:
            _kill_group(child["pid"])
        self.reap(block=True)
        if self.base_dir != "/tmp":
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def reap(self, block: bool = False) -> None:
        still = []
        for child in self.dying:
            done = child.get("reaped", False)
            if not done:
                try:
                    done = os.waitpid(child["pid"], 0 if block else os.WNOHANG)[0] != 0
                except ChildProcessError:
                    done = True
            if done:
                if not self.isolation.pid_namespace:
                    _kill_group(child["pid"])  # leftovers in its process group (no pid namespace to do it)
                for fd in (child["r_res"], child["r_out"]):
                    os.close(fd)
                shutil.rmtree(child["workdir"], ignore_errors=True)
                continue
            still.append(child)  # SIGKILLed already (``recycle``, ``shutdown``): reaped by a later call
        self.dying = still
        self.kill_strays()

    def kill_strays(self) -> None:
        """Without a pid namespace, a check's descendant that left its process group (setsid) is
        re-parented to this worker (a child subreaper) when the check's process ends: every child
        of ours that is not a tracked check process is such a stray, and is killed."""
        if self.isolation.pid_namespace:
            return
        tracked = {child["pid"] for child in self.dying}
        tracked.update(child["pid"] for child in (self.spare, self.used) if child is not None)
        for pid in _children_of(os.getpid()):
            if pid in tracked:
                continue
            _kill_group(pid)
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, os.WNOHANG)  # never block here: a zombie left now is reaped by the next sweep
            except (ProcessLookupError, ChildProcessError):
                pass

    def run(self, request: dict[str, Any]) -> dict[str, Any]:
        # ``timeout_s`` is CPU time of the check's process: a check on a busy machine gets the same
        # work done as on a quiet one. ``wall_s`` (default: the same) caps the wall clock, for
        # checks that hang without using the CPU (sleeping, blocked on a pipe).
        timeout_s = float(request["timeout_s"])
        wall_s = max(float(request.get("wall_s") or timeout_s), timeout_s)
        payload = json.dumps(request).encode()
        for attempt in range(2):
            if self.spare is None:
                self.fork_spare()
            child, self.spare = self.spare, None
            start = time.monotonic()
            try:
                _write_all(child["req_w"], payload)
                os.close(child["req_w"])
                break
            except OSError:  # the spare died while waiting: use a fresh one
                os.close(child["req_w"])
                self.used = child
                self.recycle()
        self.used = child  # tracked before reaping: the stray sweep must not take it for an escaped process
        self.reap()
        memory_mb = int((request.get("spec") or {}).get("memory_mb") or 0) or None
        outcome = self._collect(child["pid"], child["r_res"], child["r_out"], start + wall_s, int(request.get("output_limit", 16384)),
                                cpu_budget=timeout_s, memory_mb=memory_mb)
        outcome["worker_ms"] = round((time.monotonic() - start) * 1000, 3)
        child["reaped"] = outcome["wait_status"] is not None
        return _assemble(outcome, request)

    def _control_input(self, chunk: bytes) -> bool:
        """Bytes the pool sent while a check runs: True when they hold a cancel line. Anything else
        (the start of a next request) is kept for ``_request_lines``: dropping it would leave the
        pool waiting for an answer to a request the worker never saw."""
        self.control_buffer += chunk
        *lines, tail = self.control_buffer.split(b"\n")
        kept = [line for line in lines if line.strip() != CANCEL_LINE]
        self.control_buffer = b"".join(line + b"\n" for line in kept) + tail
        return len(kept) < len(lines)

    def _held_beside(self, pid: int, tree: list[int], forked: "ForkedMemory") -> float:
        """MiB the check holds outside its own address space (which RLIMIT_AS bounds): the private memory of the
        processes it forked, and its files in its own ``/tmp``, a tmpfs, so RAM (read through ``/proc/<pid>/root``;
        only with per-check mounts, else ``/tmp`` is the host's). Why the files: 896 MiB written under a 128 MiB
        budget passed."""
        held = forked.mib(tree[1:]) if len(tree) > 1 else 0.0
        if self.isolation.check_mounts:
            try:
                tmp = os.statvfs(f"/proc/{pid}/root/tmp")
                held += (tmp.f_blocks - tmp.f_bfree) * tmp.f_frsize / (1 << 20)
            except OSError:
                pass
        return held

    def _collect(self, pid: int, r_res: int, r_out: int, deadline: float, output_limit: int,
                 cpu_budget: float | None = None, memory_mb: int | None = None) -> dict[str, Any]:
        """Read the check's output and result until it reports, dies, or passes a limit: its CPU budget (all its
        processes), the wall deadline, a cancel, or ``memory_mb`` held beside its own address space (``_held_beside``: the
        processes it forked, each with its own RLIMIT_AS, and its files in /tmp): ``held_mib`` says how much."""
        held_mib = None
        forked = ForkedMemory()
        line_start = 0  # where the first result line not read yet starts
        res_buf, out_buf = bytearray(), bytearray()
        out_dropped = 0
        final: dict | None = None
        partial: dict | None = None
        open_fds = {r_res, r_out}
        timed_out = overflow = False
        limit = "wall"
        cancelled, self.cancel_pending = self.cancel_pending, False
        watch_control = True
        wait_status: int | None = None
        while open_fds and not cancelled:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = final is None
                break
            tree = _process_tree(pid)
            if cpu_budget is not None and final is None and (_cpu_seconds(tree) or 0.0) >= cpu_budget:
                timed_out, limit = True, "cpu"
                break
            if memory_mb is not None and final is None and (held := self._held_beside(pid, tree, forked)) > memory_mb:
                held_mib = round(held)
                break
            ready, _, _ = select.select(list(open_fds) + ([CONTROL_FD] if watch_control else []), [], [], min(remaining, 0.25))
            if not ready:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    wait_status = status
                    _drain(r_out, out_buf, output_limit)
                    _drain(r_res, res_buf, RESULT_LIMIT)
                    break
                continue
            for fd in ready:
                chunk = os.read(fd, 1 << 16)
                if fd == CONTROL_FD:  # a cancel line from the pool (its caller went away), or EOF (pool closed)
                    watch_control = bool(chunk)
                    cancelled = not chunk or self._control_input(chunk)
                    continue
                if not chunk:
                    open_fds.discard(fd)
                elif fd == r_out:
                    room = output_limit - len(out_buf)
                    out_buf += chunk[:max(room, 0)]
                    out_dropped += max(len(chunk) - max(room, 0), 0)
                elif len(res_buf) < RESULT_LIMIT:
                    res_buf += chunk
                else:
                    overflow = True
            if cancelled:
                break
            if final is None:
                final, line_start = _final_line(res_buf, line_start)
                if final is not None:  # the child flushed its output before the result: drain and go
                    break
        partial, final2 = _parse_lines(res_buf)
        final = final or final2
        timed_out = timed_out or (cancelled and final is None)
        usage = _usage(pid)  # read before the kill: the CPU the check used, whether it finished or a limit ended it
        if final is None or timed_out or held_mib is not None:
            _kill_group(pid)
            if wait_status is None:
                _, wait_status = os.waitpid(pid, 0)
        _drain(r_out, out_buf, output_limit)
        return {
            "final": final, "partial": partial, "timed_out": timed_out, "cancelled": cancelled and final is None, "wait_status": wait_status,
            "limit": limit, "held_mib": held_mib, **usage, "result_unreadable": final is None and (overflow or _has_result_line(res_buf)),
            "stdout": out_buf.decode("utf-8", "replace") + (f"\n[... {out_dropped} more bytes of output dropped]" if out_dropped else ""),
        }


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _process_tree(pid: int) -> list[int]:
    """``pid`` and its live (or unreaped) descendants, from ``/proc/<pid>/task/<tid>/children``; just ``pid`` where the
    kernel does not list children. In a pid namespace an orphan is re-parented to the check's pid 1, so the tree holds
    every process of the check."""
    tree, queue = [], [pid]
    while queue and len(tree) < 4096:
        current = queue.pop()
        tree.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children", "rb") as fh:
                    queue.extend(int(child) for child in fh.read().split())
        except (OSError, ValueError):
            continue
    return tree


def _cpu_seconds(tree: list[int]) -> float | None:
    """User + system CPU seconds the check has used so far: every thread of the child and of the processes it started
    (and reaped), None when /proc cannot tell (the child's RLIMIT_CPU stays the backstop). Why the whole tree: a check
    that forked (through ctypes, past the audit hook) spun both cores while its own process showed 0.13 s, and its end
    at the wall cap read as a busy machine, not as the code's fault."""
    total = None
    for member in tree:
        try:
            with open(f"/proc/{member}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
            total = (total or 0.0) + sum(int(f) for f in fields[11:15]) / _CLOCK_TICKS  # utime, stime, cutime, cstime
        except (OSError, IndexError, ValueError):
            continue
    return total


class ForkedMemory:
    """MiB of memory the processes a check forked hold of their own (private pages, ``smaps_rollup``): a forked copy
    shares the worker's torch with it until it writes, so its RSS would count torch once per copy. Reading one
    process's ``smaps_rollup`` walks its whole address space (~14 ms for a torch process), so each call reads for at
    most ``SCAN_S`` (processes not yet read first, then the longest unread) and sums the last figure of each live one:
    a fork bomb of 256 copies cost 3.6 s per poll and stalled the worker past the pool's deadline."""

    SCAN_S = 0.02

    def __init__(self) -> None:
        self.read_at: dict[int, float] = {}
        self.private: dict[int, float] = {}

    def mib(self, pids: list[int]) -> float:
        until = time.monotonic() + self.SCAN_S
        for pid in sorted(pids, key=lambda p: self.read_at.get(p, 0.0)):
            if time.monotonic() > until:
                break
            self.private[pid], self.read_at[pid] = _private_kib(pid) / 1024, time.monotonic()
        return sum(self.private.get(pid, 0.0) for pid in pids)


def _private_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as fh:
            return sum(int(line.split()[1]) for line in fh if line.startswith((b"Private_Clean:", b"Private_Dirty:")))
    except (OSError, IndexError, ValueError):
        return 0


def _run_queue_seconds(tree: list[int]) -> float | None:
    """Seconds the check's threads (of all its processes) spent runnable but waiting for a CPU
    (``/proc/PID/task/*/schedstat``), None where the kernel does not tell. Why: it tells a machine too busy to run the
    check from code that sleeps or blocks."""
    total = None
    for member in tree:
        try:
            for task in os.listdir(f"/proc/{member}/task"):
                with open(f"/proc/{member}/task/{task}/schedstat", "rb") as fh:
                    total = (total or 0.0) + int(fh.read().split()[1]) / 1e9
        except (OSError, IndexError, ValueError):
            continue
    return total


def _usage(pid: int) -> dict[str, float | None]:
    tree = _process_tree(pid)
    return {"cpu_s": _cpu_seconds(tree), "wait_s": _run_queue_seconds(tree)}


def _children_of(parent: int) -> list[int]:
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 1 and int(fields[1]) == parent:
            children.append(int(entry))
    return children


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _drain(fd: int, buf: bytearray, limit: int) -> None:
    try:
        while True:
            ready, _, _ = select.select([fd], [], [], 0)
            if not ready:
                return
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return
            if len(buf) < limit:
                buf += chunk[: limit - len(buf)]
    except OSError:
        return


def _parse_lines(buf: bytearray) -> tuple[dict | None, dict | None]:
    partial = final = None
    for line in bytes(buf).split(b"\n"):
        try:
            if line.startswith(b"U "):
                partial = json.loads(line[2:])
            elif line.startswith(b"R "):
                final = json.loads(line[2:])
        except (ValueError, RecursionError):  # garbled, or nested past the parser's depth
            continue
    return partial, final


def _final_line(buf: bytearray, start: int) -> tuple[dict | None, int]:
    """The first final ("R ") result among the complete lines of ``buf`` from ``start``, and where the next unread line
    starts. Why each line once: after one garbled "R " line the whole buffer was parsed again at every read, and a
    check that then wrote megabytes of progress and a byte of output every 20 ms kept the worker busy for 17 s."""
    while (end := buf.find(b"\n", start)) >= 0:
        line, start = bytes(buf[start:end]), end + 1
        if line.startswith(b"R "):
            try:
                return json.loads(line[2:]), start
            except (ValueError, RecursionError):
                continue
    return None, start


def _has_result_line(buf: bytearray) -> bool:
    """The child began its final "R " line (which then did not parse: cut at RESULT_LIMIT, or garbled)."""
    return bytes(buf).startswith(b"R ") or b"\nR " in buf


def _assemble(outcome: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    """The CheckResult dict: the child's own report, or one built from how it died."""
    from sandbox.diagnose import diagnose_status
    from sandbox.spec import CheckResult, CheckSpec, Diagnosis, result_problem

    final, partial = outcome["final"], outcome["partial"]
    if outcome.get("held_mib") is not None:
        return _over_memory_budget(outcome, request)
    if final is not None and not outcome["timed_out"] and (problem := result_problem(final)):
        return _bad_result(problem, outcome)
    if final is not None and not outcome["timed_out"]:
        result = CheckResult.from_dict(final)
        result.cpu_s = outcome.get("cpu_s")  # the worker's measure, never the child's own word (README: "cpu_s: the CPU it had used")
    else:
        if not _valid_partial(partial):
            partial = None  # progress the checked code wrote itself: how it died is still told below
        partial = partial or {"status": "crashed", "current_stage": "parse"}
        stage = partial.pop("current_stage", None) or "parse"
        result = CheckResult.from_dict({**partial, "status": "crashed"})
        result.failed_stage = stage
        result.stages[stage] = "failed"
        status = outcome["wait_status"]
        sig = os.WTERMSIG(status) if status is not None and os.WIFSIGNALED(status) else None
        code = os.WEXITSTATUS(status) if status is not None and os.WIFEXITED(status) else None
        spec = CheckSpec.from_dict(request.get("spec") or {})
        if outcome["timed_out"] or sig == signal.SIGXCPU:
            result.status, result.cpu_s = "timeout", outcome.get("cpu_s")
            result.error_type, result.message, result.diagnosis = _time_limit(outcome, request, stage, sig == signal.SIGXCPU)
        elif outcome.get("result_unreadable"):
            result.error_type = "SandboxInternalError"
            result.message = f"the check's result could not be read back (over the {RESULT_LIMIT >> 20} MiB limit, or garbled) after {stage}"
            result.diagnosis = Diagnosis("the checker could not read its own result for this code", "report this code to the nnrag maintainers", "internal")
        else:
            result.status = "crashed"
            if sig is not None:
                result.error_type = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else f"signal {sig}"
                result.message = f"the process was killed by {result.error_type} during {stage}"
            else:
                result.error_type = "Exit"
                result.message = f"the process exited with code {code} during {stage} without reporting a result"
            result.diagnosis = diagnose_status("crashed", stage, signal_number=sig, exit_code=code, memory_mb=spec.memory_mb, params=result.params,
                                               output=outcome["stdout"])
        for name in spec.stages:
            result.stages.setdefault(name, "skipped")
    result.stdout = outcome["stdout"]
    data = result.to_dict()
    data["worker_ms"] = outcome.get("worker_ms")
    return data


def _valid_partial(partial: Any) -> bool:
    """Whether a progress ("U ") report can stand for the check's state: an object of result fields and a known
    ``current_stage``. Why: ``U []`` and ``U {"current_stage": [1]}`` raised in the worker and read as a WorkerError."""
    from sandbox.spec import STAGES, result_problem

    return (isinstance(partial, dict) and partial.get("current_stage", "parse") in STAGES
            and result_problem({**partial, "status": "crashed"}) is None)


def _over_memory_budget(outcome: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    """The CheckResult dict of a check killed because the processes it started and its files in /tmp held more than its
    memory budget (``_held_beside``)."""
    from sandbox.spec import CheckResult, CheckSpec, Diagnosis

    spec = CheckSpec.from_dict(request.get("spec") or {})
    partial = outcome["partial"] if _valid_partial(outcome["partial"]) else {}
    stage, done = partial.get("current_stage", "parse"), partial.get("stages", {})
    message = (f"the processes the check started and its files in /tmp held {outcome['held_mib']:,} MiB together during {stage}, "
               f"over its {spec.memory_mb:,} MiB budget")
    result = CheckResult("oom", stages={name: "skipped" for name in spec.stages} | done | {stage: "failed"}, failed_stage=stage, error_type="MemoryError",
                         message=message, diagnosis=Diagnosis(f"exceeded the memory budget ({spec.memory_mb} MB) at {stage} in processes it started or files it wrote",
                                                              "do not start processes or write large files in a model (a check runs the model in one "
                                                              "process, and its /tmp is memory)", "oom"),
                         stdout=outcome["stdout"])
    return {**result.to_dict(), "worker_ms": outcome.get("worker_ms")}


def _bad_result(problem: str, outcome: dict[str, Any]) -> dict[str, Any]:
    """The CheckResult dict of a check whose final result line was not a result: only code that writes on the
    checker's result descriptor itself makes one, so it is the code's crash, not the checker's."""
    from sandbox.spec import CheckResult, Diagnosis

    result = CheckResult("crashed", error_type="BadResult", message=f"the check's result line is malformed: {problem}",
                         diagnosis=Diagnosis("the checked code wrote a malformed result on the checker's result descriptor",
                                             "do not write to file descriptor 3", "bad_result"), stdout=outcome["stdout"])
    return {**result.to_dict(), "worker_ms": outcome.get("worker_ms")}


def _time_limit(outcome: dict[str, Any], request: dict[str, Any], stage: str, sigxcpu: bool) -> tuple[str, str, Any]:
    """error_type, message and diagnosis of a check a time limit ended. Only the CPU budget, or a wall-clock cap
    passed while the code sat idle (sleeping, blocked), blame the code; a wall-clock cap passed while the machine
    was busy, the caller's deadline and a cancel are "WallTimeout", "DeadlineExceeded" and "Cancelled", which
    ``sandbox.spec.is_verdict`` tells apart from verdicts."""
    from sandbox.diagnose import diagnose_deadline, diagnose_status, diagnose_wall

    timeout_s, cpu_s = float(request["timeout_s"]), outcome.get("cpu_s")
    budget_s = float(request.get("budget_s") or timeout_s)
    wall_s = float(request.get("wall_s") or timeout_s)
    if outcome.get("cancelled"):
        return "Cancelled", f"the caller cancelled the check during {stage}; its process was killed", diagnose_deadline("cancelled", stage, cpu_s, budget_s)
    on_cpu = sigxcpu or outcome.get("limit") == "cpu"
    if request.get("deadline_bound") and (not on_cpu or timeout_s < budget_s):
        message = f"the caller's deadline ended the check during {stage}, {_cpu_text(cpu_s)} of its {budget_s:g} s CPU budget used"
        return "DeadlineExceeded", message, diagnose_deadline("deadline", stage, cpu_s, budget_s)
    if on_cpu:
        return "Timeout", f"the check exceeded its {timeout_s:g} s CPU budget during {stage}", diagnose_status("timeout", stage, timeout_s=timeout_s)
    cause = wall_cause(cpu_s, outcome.get("wait_s"), float(outcome.get("worker_ms") or wall_s * 1000) / 1000)
    message = f"the check passed its wall-clock cap of {wall_s:g} s during {stage} with {_cpu_text(cpu_s)} of its {budget_s:g} s CPU budget used"
    return ("Timeout" if cause == "idle" else "WallTimeout"), message, diagnose_wall(cause, stage, cpu_s, budget_s, wall_s)


IDLE_SHARE = 0.5  # of the wall time neither on a CPU nor waiting for one: the code itself waited (sleep, I/O, a lock)
BUSY_CPU_SHARE = 0.1  # without run-queue figures: at least this share of the wall time on a CPU reads as a busy machine


def wall_cause(cpu_s: float | None, wait_s: float | None, elapsed_s: float) -> str:
    """Why a check reached its wall-clock cap before its CPU budget: "idle" (the code slept or blocked most of the
    time: its own hang), "busy" (it was runnable but the machine gave it too little CPU), or "unknown" (it used
    little CPU and the kernel gives no run-queue figures: either). Why: a timeout on an overloaded machine was stored
    as the model's failure and never checked again."""
    if cpu_s is None or elapsed_s <= 0:
        return "unknown"
    if wait_s is None:
        return "busy" if cpu_s >= BUSY_CPU_SHARE * elapsed_s else "unknown"
    return "idle" if elapsed_s - cpu_s - wait_s >= IDLE_SHARE * elapsed_s else "busy"


def _cpu_text(cpu_s: float | None) -> str:
    return "an unknown amount of CPU" if cpu_s is None else f"{cpu_s:.2f} s of CPU"


def _child(req_fd: int, w_res: int, w_out: int, workdir: str, uid: int | None, check_mounts: bool = False,
           syscall_filter: bool = False) -> None:
    """Runs in the forked child: wait for the request, harden, run the staged check, report.

    syscall_filter: load ``sandbox.syscalls``' seccomp filter after the limits, before the checked code runs.

    check_mounts: give the check its own /proc and /tmp (``isolation.private_check_mounts``), done
    before the request arrives so it costs the check nothing; its work dir is then made afresh
    in that /tmp. When that fails, the check is not run (fail closed): an internal error is reported."""
    from sandbox import guard
    from sandbox.runner import run_check
    from sandbox.spec import CheckSpec

    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    guard.redirect_fds(w_res, w_out, req_fd)
    os.setsid()
    mount_error = _check_mounts(workdir, uid) if check_mounts else ""
    os.chdir("/" if mount_error else workdir)
    guard.scrub_environment(workdir)
    chunks = []
    while chunk := os.read(guard.REQUEST_FD, 1 << 20):
        chunks.append(chunk)
    if not chunks:  # the worker went away before sending a request
        os._exit(0)
    os.close(guard.REQUEST_FD)
    request = json.loads(b"".join(chunks))
    if mount_error:
        _fail_closed(f"the check's private /proc and /tmp could not be set up: {mount_error}")
    spec = CheckSpec.from_dict(request.get("spec") or {})
    guard.apply_limits(float(request["timeout_s"]), int(spec.memory_mb), uid)
    if syscall_filter:  # fail closed, as the mounts do: a check the filter should hold does not run without it
        try:
            from sandbox.syscalls import install_syscall_filter

            install_syscall_filter()
        except Exception as exc:  # noqa: BLE001 - reported as the checker's failure, never raised in a fork
            _fail_closed(f"the syscall filter could not be loaded: {exc}")
    if request.get("audit_hook", True):
        guard.install_audit_hook(workdir)

    def send(tag: bytes, data: dict) -> None:
        line = tag + json.dumps(data, default=repr).encode() + b"\n"
        if len(line) > RESULT_LIMIT // 4:  # the worker would cut it and read the check as having died without a word
            if tag != b"R ":
                return  # a progress report: the final result says the same
            line = tag + json.dumps(_internal_error(f"the check's result was {len(line):,} bytes, over the limit")).encode() + b"\n"
        _write_all(guard.RESULT_FD, line)

    try:
        result = run_check(request["code"], spec, lambda partial: send(b"U ", partial))
    except BaseException as exc:  # noqa: BLE001 - a bug of ours (or a hostile BaseException escaping the runner)
        import traceback

        from sandbox.diagnose import exception_text

        result = _internal_error(f"{type(exc).__name__}: {exception_text(exc)}", traceback.format_exc())
    sys.stdout.flush()
    sys.stderr.flush()
    send(b"R ", result)
    os._exit(0)


def _check_mounts(workdir: str, uid: int | None) -> str:
    """Set up the check's own /proc and /tmp and its work dir in there: "" or what went wrong."""
    from sandbox.isolation import private_check_mounts

    try:
        private_check_mounts()
        os.makedirs(workdir, mode=0o700)
        if uid is not None:
            os.chown(workdir, uid, uid)
    except OSError as exc:
        return str(exc)
    return ""


def _fail_closed(message: str) -> None:
    """In the check child: report that the checker could not set up the check (``message``) and exit without running
    the code."""
    from sandbox.guard import RESULT_FD

    _write_all(RESULT_FD, b"R " + json.dumps(_internal_error(message)).encode() + b"\n")
    os._exit(0)


def _internal_error(message: str, traceback_text: str = "") -> dict[str, Any]:
    return {"status": "crashed", "error_type": "SandboxInternalError", "message": message[:2000], "traceback": traceback_text[-4000:],
            "diagnosis": {"problem": "the checker failed on this code", "hint": "report this code to the nnrag maintainers", "kind": "internal"}}


def _request_lines(worker: Worker):
    """Request lines from stdin (after any already read during a check, ``worker.control_buffer``);
    while waiting, finished children are reaped and cleaned up."""
    while True:
        while b"\n" not in worker.control_buffer:
            ready, _, _ = select.select([0], [], [], 0.1 if worker.dying or worker.sweep_until > time.monotonic() else None)
            if not ready:
                worker.reap()
                continue
            chunk = os.read(0, 1 << 20)
            if not chunk:
                return
            worker.control_buffer += chunk
        line, _, worker.control_buffer = worker.control_buffer.partition(b"\n")
        rest = [part.strip() for part in worker.control_buffer.split(b"\n") if part.strip()]
        if rest and all(part == CANCEL_LINE for part in rest):  # sent right behind its request: nothing else can follow one
            worker.cancel_pending, worker.control_buffer = True, b""
        yield line


def serve(config: dict[str, Any]) -> None:
    protocol = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    worker = Worker(config)
    worker.start()
    worker.fork_spare()
    protocol.write(json.dumps({"ready": True, "pid": os.getpid(), "isolation": worker.isolation.to_dict()}).encode() + b"\n")
    for line in _request_lines(worker):
        request = json.loads(line)
        if request.get("cancel"):  # arrived after its check had already answered: nothing to stop
            continue
        try:
            response = {"id": request.get("id"), "result": worker.run(request)}
        except Exception as exc:  # noqa: BLE001 - a worker bug must be reported, not hang the pool
            response = {"id": request.get("id"), "error": f"{type(exc).__name__}: {exc}"}
        protocol.write(json.dumps(response).encode() + b"\n")
        worker.recycle()  # after answering: reaping and the next fork overlap with the caller
    worker.shutdown()


def probe(mode: str = "auto") -> None:
    """Set up isolation like a worker and print what is measurably in force (for doctor)."""
    info = setup_worker_isolation(mode)
    import socket

    try:
        socket.create_connection(("127.0.0.1", 9), timeout=0.5).close()
        info.details.append("probe: loopback connect succeeded (network reachable)")
    except OSError as exc:
        info.details.append(f"probe: loopback connect refused ({exc.strerror or exc})")
    try:
        with open("/nnrag-probe", "w"):
            pass
        os.remove("/nnrag-probe")
        info.details.append("probe: writing to / succeeded (filesystem writable)")
    except OSError as exc:
        info.details.append(f"probe: writing to / refused ({exc.strerror or exc})")
    print(json.dumps(info.to_dict()))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--probe"]:
        probe(*sys.argv[2:3])
    else:
        serve(json.loads(sys.argv[1]) if len(sys.argv) > 1 else {})
