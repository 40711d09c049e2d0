# The two set-up commands: `make run` and `make test`. Both install into .venv when needed.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
BUILD_INPUTS := pyproject.toml setup.py $(wildcard src/birdterm/sim/*.pyx src/birdterm/sim/*.pxd)

.PHONY: run test bench lint install clean

$(PY):
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "birdterm needs Python 3.11+, found " + sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Editable install: compiles the Cython extensions in place; rebuilt when a .pyx changes.
$(STAMP): $(PY) $(BUILD_INPUTS)
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/birdterm

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	@for script in benchmarks/*.py; do $(PY) $$script || exit 1; done

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) build src/*.egg-info src/birdterm/sim/*.c src/birdterm/sim/*.so
