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
	$(BIN)/python -m pip install -q --upgrade "pip>=23" "setuptools>=77" wheel
	$(BIN)/python -m pip install -q -e ".[dev,mni,echonet]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/xtiny demo

demo-quick: $(STAMP)
	$(BIN)/xtiny demo --quick

test: $(STAMP)
	bash scripts/ensure_chromium.sh
	bash scripts/ensure_mricron_data.sh
	bash scripts/ensure_lungct_archives.sh $(BIN)/python
	@# bytecode once: where PYTHONDONTWRITEBYTECODE is set, every process of the suite would compile xtiny again
	$(BIN)/python -m compileall -q -j 2 xtiny datasets sensitivity evaluation tests >/dev/null
	$(BIN)/python -m pytest -q

# ruff, then the layer rules of pyproject.toml ([tool.importlinter]) on an installed copy of the package: the
# editable install maps xtiny.datasets/.sensitivity/.evaluation from outside xtiny/, which import-linter cannot see.
lint: $(STAMP)
	$(BIN)/ruff check xtiny datasets sensitivity evaluation tests bench
	@rm -rf build/lint build/lib  # a stale build/lib would ship moved modules back into the copy
	@$(BIN)/python -m pip install -q --no-deps --no-build-isolation --target build/lint . >/dev/null 2>&1 \
	  || { echo "make lint: could not install a copy of xtiny into build/lint"; exit 2; }
	cd build/lint && PYTHONPATH=. ../../$(BIN)/lint-imports ../../pyproject.toml --no-cache

bench-cpu: $(STAMP)
	$(BIN)/python bench/run_all.py --cpu

clean:
	rm -rf xtiny_work .pytest_cache
