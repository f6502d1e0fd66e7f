# syllo: two commands on a fresh machine.
#   make demo   build a tiny model and SYLLO puzzles, train it, watch it live
#   make test   the whole test suite (ruff, mypy on the pure modules, pytest)
#
# Both create (or reuse) .venv inside the repo. torch is installed first, pinned
# to a CPU build, so the plain `torch>=2.4` requirement in pyproject.toml is
# already met and pip never pulls a multi-GB CUDA build. On a GPU box, install
# your own torch build first and run: make setup TORCH_SPEC=  (empty: keep yours).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.syllo-installed
PY_DIRS := syllo_train syllo_tui tests bench

.PHONY: setup demo test lint torture clean-demo

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@if [ -n "$(TORCH_SPEC)" ]; then $(PY) -m pip install --quiet "$(TORCH_SPEC)"; fi
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev,lora]'
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	bash scripts/demo.sh

lint: setup
	$(VENV)/bin/ruff check $(PY_DIRS)
	$(VENV)/bin/ruff format --check $(PY_DIRS)
	$(VENV)/bin/mypy

# The quick suite: everything but the torture suite (tests/reliability, marker
# `reliability`), which `make torture` runs at full counts.
test: lint
	rm -rf test-artifacts
	$(VENV)/bin/pytest -q -p no:cacheprovider -m "not reliability"

torture: setup
	SYLLO_TORTURE_SCALE=full $(VENV)/bin/pytest -q -p no:cacheprovider -m reliability tests/reliability

clean-demo:
	rm -rf runs/demo runs/tiny-model data/demo status/events.jsonl status/training_status.json status/train.log
