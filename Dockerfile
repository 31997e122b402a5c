# nnrag CPU image: the gRPC server with the default index (torch.nn, torchvision, timm, fourteen PyPI archives (d2l's torch module alone), four transformers modules) built in.
#
#   docker build -t nnrag .
#   docker run -p 50051:50051 nnrag            # serves on 0.0.0.0:50051
#   docker run -e NNRAG_TOKEN=secret ...        # require 'authorization: Bearer secret'
#
# Install steps follow the Makefile: torch/torchvision pinned first (a later resolver
# pass must never swap in another build), then the package itself. For a smaller
# CPU-only torch, build with --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
FROM python:3.11-slim-bookworm

ARG TORCH_INDEX_URL=https://pypi.org/simple

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    OMP_NUM_THREADS=1 \
    NNRAG_HOME=/var/lib/nnrag \
    NNRAG_ADDRESS=0.0.0.0:50051 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

WORKDIR /app

# lightgbm's lib_lightgbm.so links the system OpenMP runtime (libgomp.so.1), which the slim image lacks: without it
# importing lightgbm fails, and with it every predictor RPC. Unpinned: Debian replaces a point release's package on
# its mirrors, and a pinned version that left them breaks the build. libseccomp2: the sandbox's syscall filter
# (sandbox/syscalls.py; without it checks run unfiltered and `nnrag doctor` says so).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 libseccomp2 \
    && rm -rf /var/lib/apt/lists/*

RUN python -m venv /opt/venv \
    && pip install --no-cache-dir pip==26.3 \
    && pip install --no-cache-dir --index-url "${TORCH_INDEX_URL}" torch==2.14.1 torchvision==0.29.1

# Dependencies change less often than code: install them from pyproject.toml first.
COPY pyproject.toml README.md ./
COPY nnrag/__init__.py nnrag/__init__.py
RUN pip install --no-cache-dir . && pip uninstall -y nnrag

COPY nnrag nnrag
COPY corpus corpus
COPY indexer indexer
COPY sandbox sandbox
COPY predictor predictor
COPY rag_server rag_server
COPY proto proto
COPY examples examples
RUN pip install --no-cache-dir --no-deps . && pip check

# The default index, validated in the sandbox and embedded, baked into the image
# (a later `nnrag index` in a container only redoes sources that changed).
RUN nnrag index && nnrag stats

# The small default predictor, trained as `make demo` trains it (CIFAR-10, a LEMUR subsample, 1-2 minutes; the
# LEMUR wheel it reads stays in $NNRAG_HOME/cache for a later `nnrag train-predictor`). Without it Predict, ShouldStop
# and ReportResult answer FAILED_PRECONDITION.
RUN python -c "from nnrag.settings import get_settings; from predictor.api import load_or_train_default; \
load_or_train_default(get_settings().predictor_path)"

# Root inside the container: the sandbox needs it to create namespaces and then
# drops every check to its own unprivileged uid (see sandbox/isolation.py).
EXPOSE 50051
# Healthy: the server answers gRPC health SERVING (BlockService: search, patch, check) and so does PredictorService
# (a predictor is loaded: Predict, ShouldStop, ReportResult).
HEALTHCHECK --interval=30s --timeout=10s --start-period=180s --retries=3 \
    CMD ["sh", "-c", "python -m rag_server.healthcheck 127.0.0.1:50051 && python -m rag_server.healthcheck 127.0.0.1:50051 --service nnrag.v1.PredictorService"]
STOPSIGNAL SIGTERM
CMD ["nnrag", "serve", "--address", "0.0.0.0:50051"]
