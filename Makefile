# Fresh machine: `make demo` or `make test`. Both create .venv in the repo root first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export OMP_NUM_THREADS := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install test demo bench proto lint clean

install: $(STAMP)

# torch/torchvision first and pinned: pip takes them from this machine's disk, and
# a later resolver pass must never swap in a different build.
$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

test: lint
	$(PY) -m pytest -q

lint: $(STAMP)
	$(PY) -m ruff check .

demo: $(STAMP)
	$(PY) -m rag_server.demo

bench: $(STAMP)
	for b in bench/bench_*.py; do $(PY) $$b || exit 1; done

proto: $(STAMP)
	$(PY) -m nnrag.protogen

clean:
	rm -rf $(VENV) build *.egg-info
