"""CheckerPool: warm sandbox workers behind a thread-safe ``check`` call.

Each worker is a separate Python process (``sandbox.worker``) that set up its isolation,
imported torch/torchvision/timm once and forks one child per check. The caller only
talks JSON over pipes with it, so nothing the checked code does (crash, ``os._exit``,
hang, memory bomb) can reach the caller's process; a worker that stops answering is
killed and replaced.
"""

from __future__ import annotations

import fcntl
import json
import logging
import math
import os
import queue
import random
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import weakref
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterable, Iterator

from sandbox.diagnose import HintProvider, diagnose_deadline, enrich
from sandbox.isolation import IsolationInfo
from sandbox.spec import STAGES, CheckResult, CheckSpec, Diagnosis
from sandbox.worker import CANCEL_LINE, worker_command

DEFAULT_PRELOAD: tuple[str, ...] = ("torch", "torchvision", "timm")
MAX_CODE_BYTES = 2 << 20
WORKER_GRACE_S = 10.0  # beyond the check's own timeout, before the worker itself is presumed stuck
# ``CheckSpec.timeout_s`` is CPU time of the check's process, so a busy machine does not turn a
# pass into a timeout; the wall clock is capped at this multiple (hangs that use no CPU), or
# at the caller's deadline when it gives one.
WALL_FACTOR = 4.0
CANCEL_GRACE_S = 5.0  # after a cancel line, before the worker itself is presumed stuck
log = logging.getLogger("nnrag.sandbox")
EXIT_WAIT_S = 2.0  # how long a worker whose output closed is waited for, to say how it ended
CANCEL_POLL_S = 0.05  # how often a waiting check looks at its cancel event
UID_SPAN = 1 << 16
MAX_TIMEOUT_S = 86_400.0  # a day of CPU time: far beyond any real check, far below what select() and RLIMIT_CPU overflow on
# Below this a timeout judges the budget, not the code: at 1 ms every check, a correct model's too, "timed out in parse"
# using no CPU, a result an audit stores as a verdict on the code. ``nnrag check --timeout`` had this floor alone.
MIN_TIMEOUT_S = 0.1
MIN_MEMORY_MB = 64
MAX_MEMORY_MB = 1 << 20  # 1 TiB: beyond it RLIMIT_AS overflows in the check's process
_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)


class WorkerError(RuntimeError):
    """The worker process died or stopped answering (not the checked code's fault)."""


def _worker_env() -> dict[str, str]:
    """A scrubbed environment: nothing from the caller except what Python needs to start."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "HOME": "/tmp",
        "PYTHONPATH": _PACKAGE_ROOT,
        "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    if os.environ.get("VIRTUAL_ENV"):
        env["VIRTUAL_ENV"] = os.environ["VIRTUAL_ENV"]
    return env


FALLBACK_PREFIX = "nnrag-sandbox-"
OWNER_FILE = ".owner"  # in a fallback dir: flock-ed by the process that made it, for as long as it lives
_swept = threading.Lock()  # held once the first worker of this process has swept /tmp


def claim_fallback_dir(tmp_dir: str | None = None) -> tuple[str, int]:
    """A new work dir for a worker without a mount namespace, and the descriptor of its owner lock (held until closed).

    The lock file is locked before it gets its name, so a sweep never finds it unlocked while its owner lives."""
    path = tempfile.mkdtemp(prefix=FALLBACK_PREFIX, dir=tmp_dir)
    fd, unnamed = tempfile.mkstemp(dir=path, prefix=OWNER_FILE + "-")
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.rename(unnamed, os.path.join(path, OWNER_FILE))
    return path, fd


def release_fallback_dir(path: str, owner_fd: int) -> None:
    """Remove the dir, then let go of its lock."""
    shutil.rmtree(path, ignore_errors=True)
    os.close(owner_fd)


def sweep_orphaned_fallback_dirs(tmp_dir: str | None = None) -> list[str]:
    """Remove the fallback dirs whose owner died without cleaning up (SIGKILL, the OOM killer): their lock is free.

    Why a lock and not a pid: pids are reused and several pid namespaces may share one /tmp, so a dead pid does not
    prove a dir is orphaned, while the kernel releases a flock however its holder died. Dirs without an owner file
    (an older version's, or one being made) and dirs of other users are left alone."""
    removed = []
    for path in Path(tmp_dir or tempfile.gettempdir()).glob(FALLBACK_PREFIX + "*"):
        try:
            if path.is_symlink() or not path.is_dir() or path.lstat().st_uid != os.getuid():
                continue
            fd = os.open(path / OWNER_FILE, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:  # gone meanwhile (another sweep), or no owner file
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)  # its owner is alive
            continue
        release_fallback_dir(str(path), fd)
        removed.append(str(path))
    return removed


class _WorkerProcess:
    """The caller's handle on one worker process: start, handshake, request/response."""

    def __init__(self, index: int, config: dict, start_timeout_s: float):
        self.index = index
        self.start_timeout_s = start_timeout_s
        self.log = tempfile.TemporaryFile()
        # Work dirs live in the worker's private /tmp when it has a mount namespace; without one
        # they go here, and the pool removes this even when the worker was killed.
        if _swept.acquire(blocking=False):  # once per process: what killed owners left (the lock stays held)
            sweep_orphaned_fallback_dirs()
        self.fallback_dir, owner_fd = claim_fallback_dir()
        # Removed when the handle is collected or the interpreter exits, too: a pool that was never closed (no ``with``,
        # no close()) left one empty dir in /tmp per worker per process (45 here in a day of tests and benches).
        self._remove_fallback_dir = weakref.finalize(self, release_fallback_dir, self.fallback_dir, owner_fd)
        config = {**config, "fallback_dir": self.fallback_dir}
        self.proc = subprocess.Popen(
            worker_command(config), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
            env=_worker_env(), cwd="/", close_fds=True, start_new_session=True,
        )
        self.buffer = b""
        self.handshake: dict | None = None
        self.started = time.monotonic()
        self.checks = 0
        self.unanswered = False  # a request was sent and its answer not read: the protocol is out of step
        self._handshake_lock = threading.Lock()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _how_it_ended(self) -> str:
        """"was killed by SIGKILL" or "exited with code 1", once the process is reaped (its stdout closes just before;
        "exited (code None)" was all a worker killed mid-check said)."""
        try:
            code = self.proc.wait(timeout=EXIT_WAIT_S)
        except subprocess.TimeoutExpired:
            return "closed its output but is still running"
        if code < 0:
            try:
                return f"was killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"was killed by signal {-code}"
        return f"exited with code {code}"

    def _stderr_tail(self) -> str:
        try:
            self.log.seek(0)
            return self.log.read()[-2000:].decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""

    def _readline(self, deadline: float, cancel: threading.Event | None = None) -> bytes:
        """One protocol line. When ``cancel`` fires, the worker is told to kill the running check
        (its answer still comes, so the protocol stays in step)."""
        fd = self.proc.stdout.fileno()
        cancel_sent = False
        while b"\n" not in self.buffer:
            if cancel is not None and not cancel_sent and cancel.is_set():
                self._send_cancel()
                cancel_sent = True
                deadline = min(deadline, time.monotonic() + CANCEL_GRACE_S)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("worker did not answer in time")
            wait = remaining if cancel is None or cancel_sent else min(remaining, CANCEL_POLL_S)
            ready, _, _ = select.select([fd], [], [], wait)
            if ready:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    raise WorkerError(f"worker {self.index} {self._how_it_ended()}: {self._stderr_tail() or 'it wrote nothing to stderr'}")
                self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line

    def ensure_ready(self) -> dict:
        with self._handshake_lock:  # .isolation may ask while a check thread waits on the same worker
            if self.handshake is None:
                try:
                    self.handshake = json.loads(self._readline(self.started + self.start_timeout_s))
                except TimeoutError as exc:
                    raise WorkerError(f"worker {self.index} did not start within {self.start_timeout_s:g} s: {self._stderr_tail()}") from exc
                except ValueError as exc:
                    raise WorkerError(f"worker {self.index} sent a bad handshake: {self._stderr_tail()}") from exc
            return self.handshake

    def _send_cancel(self) -> None:
        try:
            self.proc.stdin.write(CANCEL_LINE + b"\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # the worker is gone: reading its answer fails next and it is replaced

    def request(self, payload: dict, deadline: float, cancel: threading.Event | None = None) -> dict:
        """Send one request and read its answer. Until the answer is read, ``unanswered`` stays set:
        whatever interrupts the wait (a timeout, Ctrl-C, a bug), the answer is still on its way and
        would be taken for the next request's, so the pool replaces such a worker (``CheckerPool.check``)."""
        self.ensure_ready()
        self.unanswered = True
        try:
            self.proc.stdin.write(json.dumps(payload).encode() + b"\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise WorkerError(f"worker {self.index} is gone: {exc}") from exc
        self.checks += 1
        line = self._readline(deadline, cancel)
        self.unanswered = False
        return json.loads(line)

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()
        self._close_files()

    def stop(self, wait_s: float = 3.0) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=wait_s)
        except (OSError, subprocess.TimeoutExpired):
            self.kill()
        self._close_files()

    def _close_files(self) -> None:
        self._remove_fallback_dir()
        for fh in (self.proc.stdin, self.proc.stdout, self.log):
            try:
                fh.close()
            except (OSError, ValueError):
                pass


class CheckerPool:
    """A pool of warm, isolated sandbox workers. Thread-safe; use as a context manager.

    size: worker processes (default: CPU cores). preload: modules each worker imports once.
    isolation: "auto" (best the machine allows), "strict" (fail without namespaces), "uid"
    (throwaway uid, no namespaces: what an unprivileged container gets), "none".
    audit_hook: add the Python audit hook inside checks (defence in depth; tests turn it off
    to prove the OS isolation holds on its own). syscall_filter: load ``sandbox.syscalls``' seccomp filter in checks
    where libseccomp is available (tests turn it off to prove the budgets hold for forking code without it). hint_provider: default enrichment of
    diagnoses (e.g. a block-store lookup of an undefined name), see ``sandbox.diagnose``.
    """

    def __init__(
        self,
        size: int | None = None,
        preload: tuple[str, ...] = DEFAULT_PRELOAD,
        isolation: str = "auto",
        *,
        audit_hook: bool = True,
        syscall_filter: bool = True,
        output_limit: int = 16384,
        hint_provider: HintProvider | None = None,
        start_timeout_s: float = 300.0,
    ):
        if isolation not in ("auto", "strict", "uid", "none"):
            raise ValueError(f"isolation must be 'auto', 'strict', 'uid' or 'none', not {isolation!r}")
        self.size = max(1, int(size or os.cpu_count() or 1))
        self.preload = tuple(preload)
        self.isolation_mode = isolation
        self.audit_hook = audit_hook
        self.syscall_filter = syscall_filter
        self.output_limit = output_limit
        self.hint_provider = hint_provider
        self.start_timeout_s = start_timeout_s
        self.uid_base = random.randrange(1 << 20, 1 << 30) & ~(UID_SPAN - 1)
        self._lock = threading.Lock()
        self._closed = False
        self._idle: queue.Queue[_WorkerProcess] = queue.Queue()
        self._workers: list[_WorkerProcess] = []
        self.restarts = 0
        for index in range(self.size):
            worker = self._spawn(index)
            self._workers.append(worker)
            self._idle.put(worker)

    # --- lifecycle ---------------------------------------------------------------------------
    def _spawn(self, index: int) -> _WorkerProcess:
        span = UID_SPAN // self.size
        config = {"preload": list(self.preload), "isolation": self.isolation_mode,
                  "uid_base": self.uid_base + index * span, "uid_span": span, "syscall_filter": self.syscall_filter}
        return _WorkerProcess(index, config, self.start_timeout_s)

    def _replace(self, worker: _WorkerProcess, why: str) -> _WorkerProcess:
        """A fresh worker in ``worker``'s place, logged with ``why`` (a server's operators saw calls fail with
        WorkerError and no line saying a worker had died and been replaced)."""
        log.warning("sandbox worker replaced", extra={"fields": {"worker": worker.index, "why": why[:300]}})
        worker.kill()
        if self._closed:  # a check that waited on a worker the close stopped: no fresh worker (and its imports) for it
            raise PoolClosed("the sandbox is shutting down (CheckerPool closed)")
        fresh = self._spawn(worker.index)
        with self._lock:
            self._workers[worker.index] = fresh
            self.restarts += 1
        return fresh

    def wait_ready(self) -> "CheckerPool":
        """Block until every worker finished its imports (optional: checks wait anyway)."""
        for worker in list(self._workers):
            worker.ensure_ready()
        return self

    @property
    def isolation(self) -> IsolationInfo:
        """The isolation the workers measured at startup (waits for one worker)."""
        handshake = self._workers[0].ensure_ready()
        return IsolationInfo.from_dict(handshake["isolation"])

    def isolation_if_ready(self) -> IsolationInfo | None:
        """The measured isolation once any worker has finished starting, else None (never waits)."""
        for worker in list(self._workers):
            if worker.handshake is not None:
                return IsolationInfo.from_dict(worker.handshake["isolation"])
        return None

    @property
    def uid_range(self) -> range:
        """Throwaway uids this pool's checks run under (only when isolation.uid_drop)."""
        return range(self.uid_base, self.uid_base + UID_SPAN)

    def worker_pids(self) -> list[int]:
        return [w.proc.pid for w in self._workers]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for worker in self._workers:
            worker.stop()

    def __enter__(self) -> "CheckerPool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- checks --------------------------------------------------------------------------------
    def check(self, code: str, spec: CheckSpec | None = None, deadline: float | None = None,
              hint_provider: HintProvider | None = None, *, cancel: threading.Event | None = None) -> CheckResult:
        """Check ``code`` in a fresh sandboxed child; blocks until a worker is free.

        deadline: absolute ``time.monotonic()`` by which the answer is needed; it caps
        ``spec.timeout_s`` (waiting for a free worker counts against it).
        cancel: set it (from any thread) when the answer is no longer wanted, e.g. the RPC's
        client went away: the check's process is killed at once and a "timeout" result with
        error_type "Cancelled" comes back; the worker stays warm.
        Raises ValueError for a spec the sandbox cannot enforce (``validate_spec``). Whatever
        interrupts the wait (KeyboardInterrupt included) costs the worker, which is replaced.
        """
        if self._closed:
            raise PoolClosed("CheckerPool is closed")
        spec = spec or CheckSpec()
        started = time.monotonic()
        if not isinstance(code, str):
            raise TypeError(f"code must be str, not {type(code).__name__}")
        validate_spec(spec)
        problem = oversize_problem(code)
        if problem:
            return self._finish(rejected_result(problem, spec), started, hint_provider)
        worker = self._take_worker(deadline, cancel)
        if worker is None:
            kind = "cancelled" if cancel is not None and cancel.is_set() else "deadline"
            return self._finish(_caller_ended(spec, kind), started, hint_provider)
        try:
            timeout_s = spec.timeout_s if deadline is None else min(spec.timeout_s, deadline - time.monotonic())
            if timeout_s <= 0:
                return self._finish(_caller_ended(spec, "deadline"), started, hint_provider)
            if not worker.alive():
                worker = self._replace(worker, "it had exited while idle")
            try:
                worker.ensure_ready()  # a worker still importing torch: its start-up is not the check's time
            except WorkerError as exc:
                worker = self._replace(worker, f"it did not start: {exc}")
            started = time.monotonic()
            wall_s = timeout_s * WALL_FACTOR if deadline is None else max(min(timeout_s * WALL_FACTOR, deadline - started), timeout_s)
            # budget_s and deadline_bound let the worker say whether the code, the machine or the caller's deadline ended it
            payload = {"code": code, "spec": spec.to_dict(), "timeout_s": timeout_s, "wall_s": wall_s, "budget_s": spec.timeout_s,
                       "deadline_bound": deadline is not None and wall_s < spec.timeout_s * WALL_FACTOR,
                       "audit_hook": self.audit_hook, "output_limit": self.output_limit}
            try:
                worker.ensure_ready()
                response = worker.request(payload, time.monotonic() + wall_s + WORKER_GRACE_S, cancel)
            except (TimeoutError, WorkerError, ValueError) as exc:
                worker = self._replace(worker, str(exc) or type(exc).__name__)
                stuck = f"worker {worker.index} did not answer within {wall_s + WORKER_GRACE_S:g} s; it was replaced"
                result = _worker_failure(stuck if isinstance(exc, TimeoutError) else str(exc))
                return self._finish(result, started, hint_provider)
            if "error" in response:
                return self._finish(_worker_failure(response["error"]), started, hint_provider)
            return self._finish(CheckResult.from_dict(response["result"]), started, hint_provider)
        finally:
            try:
                if worker.unanswered:  # interrupted (KeyboardInterrupt, any error) before its answer came: never reuse it
                    worker = self._replace(worker, "the check was interrupted before its answer came")
            finally:  # even a second interrupt must not lose the slot (later checks would wait forever); a dead worker is replaced on use
                self._idle.put(worker)

    def _take_worker(self, deadline: float | None, cancel: threading.Event | None) -> _WorkerProcess | None:
        """An idle worker, or None when the deadline passes or ``cancel`` fires first."""
        while cancel is None or not cancel.is_set():
            wait = None if deadline is None else deadline - time.monotonic()
            if wait is not None and wait <= 0:
                return None
            if cancel is not None:
                wait = CANCEL_POLL_S if wait is None else min(wait, CANCEL_POLL_S)
            try:
                return self._idle.get(timeout=wait)
            except queue.Empty:
                continue
        return None

    def _finish(self, result: CheckResult, started: float, hint_provider: HintProvider | None) -> CheckResult:
        result.wall_ms = round((time.monotonic() - started) * 1000, 3)
        enrich(result.diagnosis, hint_provider or self.hint_provider)
        return result

    def check_many(self, items: Iterable[tuple[str, CheckSpec | None]], hint_provider: HintProvider | None = None) -> Iterator[CheckResult]:
        """Check many items on all workers at once; results come back in input order. A caller that stops early (closes
        the generator, Ctrl-C while waiting) has the running checks killed and the queued ones dropped at once. Why:
        ``nnrag audit`` interrupted waited for every running and queued check to end (up to 2 x 120 s per worker)."""
        cancel = threading.Event()
        executor = ThreadPoolExecutor(max_workers=self.size, thread_name_prefix="nnrag-check")
        pending: deque = deque()
        try:
            for code, spec in items:
                pending.append(executor.submit(self.check, code, spec, None, hint_provider, cancel=cancel))
                if len(pending) >= 2 * self.size:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            if pending:  # stopped early: nothing still pending is wanted
                cancel.set()
            executor.shutdown(wait=True, cancel_futures=True)


def validate_spec(spec: CheckSpec) -> None:
    """Raise ValueError naming what is wrong with ``spec``, before anything is sent to a worker.

    Why up front: a number the worker cannot use (NaN, inf, 1e20 s, a memory budget that overflows
    RLIMIT_AS) would otherwise fail deep in the worker or the check's process and read as the
    checked code's fault; and a bad spec is the caller's mistake for every code it checks, so an
    audit must stop at once rather than record thousands of refusals as done.
    """
    unknown = [s for s in spec.stages if s not in STAGES]
    if unknown or not spec.stages:
        raise ValueError(f"unknown stages {unknown or '(none given)'}; use names from {list(STAGES)}")
    if not _number_within(spec.timeout_s, MIN_TIMEOUT_S, MAX_TIMEOUT_S):
        raise ValueError(f"timeout_s must be a number of seconds in [{MIN_TIMEOUT_S:g}, {MAX_TIMEOUT_S:g}], not {spec.timeout_s!r}")
    if not _number_within(spec.memory_mb, MIN_MEMORY_MB, MAX_MEMORY_MB):
        raise ValueError(f"memory_mb must be a number of MiB in [{MIN_MEMORY_MB}, {MAX_MEMORY_MB}], not {spec.memory_mb!r}")
    if spec.max_params is not None and (not _number_within(spec.max_params, 0, float("inf")) or spec.max_params <= 0):
        raise ValueError(f"max_params must be positive, not {spec.max_params!r}")


def _number_within(value: object, low: float, high: float) -> bool:
    """A real number (not a bool, not NaN) in [low, high]."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value) and low <= value <= high


def oversize_problem(code: str) -> str | None:
    """Why ``code`` is too big to check (over MAX_CODE_BYTES), or None."""
    size = len(code.encode("utf-8", "replace"))
    if size > MAX_CODE_BYTES:
        return f"code is {size:,} bytes (UTF-8); the limit is {MAX_CODE_BYTES:,} bytes"
    return None


def code_problem(code: str) -> str | None:
    """Why ``code`` cannot be checked as sent (over ``MAX_CODE_BYTES``, the sandbox's own limit, so a check in process
    and one over the wire refuse the same files; or holding a lone surrogate, which UTF-8 cannot carry), or None.
    The server, the SDK (before sending) and the predictor ask this: a file over the gRPC message limit failed with
    "Sent message larger than max", one with a surrogate with a raw UnicodeEncodeError, and the predictor in process
    answered and stored code of any size that every call over the wire refused."""
    try:
        size = len(code.encode("utf-8"))
    except UnicodeEncodeError as exc:
        line = code.count("\n", 0, exc.start) + 1
        column = exc.start - (code.rfind("\n", 0, exc.start) + 1) + 1
        return (f"holds a lone surrogate {code[exc.start]!r} (line {line}, column {column}), which UTF-8 cannot encode: "
                "decode the file's bytes with an encoding (or errors='replace') instead of errors='surrogateescape'")
    if size > MAX_CODE_BYTES:
        return f"{size:,} bytes (UTF-8), at most {MAX_CODE_BYTES:,}"
    return None


def rejected_result(message: str, spec: CheckSpec, hint: str = "send smaller code") -> CheckResult:
    """The result of code refused before any sandbox ran (empty, oversized): no stage ran, so none failed."""
    return CheckResult(status="rejected", stages={s: "skipped" for s in spec.stages if s in STAGES}, failed_stage=None, error_type="Rejected",
                       message=message, diagnosis=Diagnosis(message, hint, "rejected"))


def _caller_ended(spec: CheckSpec, kind: str) -> CheckResult:
    """The result of a check the caller ended before it started: cancelled ("cancelled") or its deadline passed
    ("deadline") while waiting for a free worker. Labelled like a cancel or deadline during a run (not "Timeout",
    which blames the code): ``sandbox.spec.is_verdict`` is False for both."""
    error_type = "Cancelled" if kind == "cancelled" else "DeadlineExceeded"
    what = "the caller cancelled the check" if kind == "cancelled" else "the caller's deadline passed"
    return CheckResult(status="timeout", stages={s: "skipped" for s in spec.stages}, error_type=error_type,
                       message=f"{what} while it waited for a free worker; nothing ran", diagnosis=diagnose_deadline(kind, "the wait for a worker", 0.0, spec.timeout_s))


class PoolClosed(RuntimeError):
    """A check asked of, or still waiting on, a closed pool. Why its own class: a server shutting down answers such a
    call UNAVAILABLE; a check waiting on a worker the close stopped used to spawn a fresh worker after the close (a
    shutdown waited 16 s on such a thread) and answer "the sandbox worker failed"."""


def _worker_failure(message: str) -> CheckResult:
    return CheckResult(status="crashed", error_type="WorkerError", message=message[:2000],
                       diagnosis=Diagnosis("the sandbox worker failed (not the checked code)", "retry the check; report it if it persists", "worker"))


_default_pool: CheckerPool | None = None
_default_lock = threading.Lock()


def default_pool() -> CheckerPool:
    """A process-wide pool, created on first use and closed at exit."""
    global _default_pool
    with _default_lock:
        if _default_pool is None or _default_pool._closed:
            import atexit

            _default_pool = CheckerPool()
            atexit.register(_default_pool.close)
        return _default_pool
