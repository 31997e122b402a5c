"""Imported first by every benchmark script: offline hub, one thread per process, the repo on sys.path.

Why: on 2 shared cores torch's default thread count is 10-300x slower, and nothing may
reach a hub. Scripts run as ``python bench/<name>.py``, so this folder is on sys.path.
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

# The dev target list lives in ../shared beside the checkout (CI clones with it there).
TARGETS = Path(os.environ.get("NNRAG_TARGETS", REPO.parent / "shared" / "data" / "nnrag_targets_dev.json"))
