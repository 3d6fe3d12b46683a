# XTiny: two commands set everything up on a fresh machine.
#   make demo  -> venv + install + the end-to-end job on the built-in synthetic dataset
#   make test  -> venv + install + the test suite
PYTHON ?= python3.11
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.xtiny-installed

.PHONY: install demo demo-quick test lint bench-cpu clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (Python 3.11) on PATH"; exit 2; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade "pip>=23" "setuptools>=64" wheel
	$(BIN)/python -m pip install -q -e ".[dev,mni,echonet]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/xtiny demo

demo-quick: $(STAMP)
	$(BIN)/xtiny demo --quick

test: $(STAMP)
	bash scripts/ensure_chromium.sh
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check xtiny datasets sensitivity evaluation tests bench

bench-cpu: $(STAMP)
	$(BIN)/python bench/run_all.py --cpu

clean:
	rm -rf xtiny_work .pytest_cache
