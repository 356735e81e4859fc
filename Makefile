# Two commands: `make lab` opens the lab, `make test` runs the whole suite.
# Both create .venv on first use and are quick after that.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.labkit-installed

.PHONY: lab test clean

$(STAMP): pyproject.toml labkit/cli/jupyter_settings.py
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "The lab needs Python 3.10 or newer; run: make PYTHON=/path/to/python3.10+ lab")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m labkit jupyter-settings
	@touch $@

# Jupyter refuses to run as root unless told; containers and Binder-like hosts run as root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

lab: $(STAMP)
	$(BIN)/python -m labkit doctor || true
	$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.root_dir=. $(ROOT_FLAG) $(LAB_ARGS) notebooks/00-start-here.ipynb

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) test-artifacts
