"""nnrag: retrieval-augmented code synthesis for neural-network code.

This package holds what sits above every other part: settings, the CLI and the
generated gRPC stubs (``nnrag.v1``). Import direction across the project:
rag_server -> indexer, predictor, sandbox; indexer -> corpus, sandbox;
predictor -> sandbox, corpus; sandbox imports none of them.
"""

__version__ = "0.1.0"
