"""Sandboxed, staged executability checks for untrusted PyTorch code.

``check(code, spec)`` runs on a process-wide warm pool; create a ``CheckerPool`` for
control over size, preloads and isolation. This package imports nothing else from the
project (indexer, server and CLI import it, never the other way round).
"""

from __future__ import annotations

from sandbox.spec import STAGES, STATUSES, CheckResult, CheckSpec, Diagnosis, Example


def check(code: str, spec: CheckSpec | None = None, deadline: float | None = None, hint_provider=None) -> CheckResult:
    """Check ``code`` on the default pool (started on first use, closed at exit).

    hint_provider: optional ``Callable[[Diagnosis], str | None]`` that may prepend a better
    hint (e.g. a block-store lookup of ``diagnosis.symbol`` for an undefined name).
    """
    from sandbox.pool import default_pool

    return default_pool().check(code, spec, deadline, hint_provider=hint_provider)


__all__ = ["STAGES", "STATUSES", "CheckResult", "CheckSpec", "Diagnosis", "Example", "check"]
