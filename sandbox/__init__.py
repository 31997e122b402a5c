"""Sandboxed, staged executability checks for untrusted PyTorch code.

``check(code, spec)`` runs on a process-wide warm pool; create a ``CheckerPool`` for
control over size, preloads and isolation. This package imports nothing else from the
project (indexer, server and CLI import it, never the other way round).
"""

from __future__ import annotations

from sandbox.spec import STAGES, STATUSES, CheckResult, CheckSpec, Diagnosis, Example


def check(code: str, spec: CheckSpec | None = None, deadline: float | None = None) -> CheckResult:
    """Check ``code`` on the default pool (started on first use, closed at exit)."""
    from sandbox.pool import default_pool

    return default_pool().check(code, spec, deadline)


__all__ = ["STAGES", "STATUSES", "CheckResult", "CheckSpec", "Diagnosis", "Example", "check"]
