"""Generated gRPC stubs for the ``nnrag.v1`` API (``proto/nnrag/v1``). Regenerate with ``make proto``."""
