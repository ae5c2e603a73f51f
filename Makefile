# Two entry points (see README.md): `make reproduce` and `make test`.
# Both create .venv with the machine's python3 if it is missing and install the package
# with the extras they need; the install is redone only when pyproject.toml changes.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NOTEBOOK_SOURCES := $(wildcard notebooks/*.py)
# JupyterLab settings shipped with the project (open a notebook .py as a notebook),
# installed into the venv's JupyterLab.
LAB_OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.json
LAB_PORT ?= 8888

.PHONY: install notebooks lab test test-slow reproduce lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,notebooks]'
	touch $(STAMP)

$(LAB_OVERRIDES): notebooks/jupyterlab-overrides.json $(STAMP)
	mkdir -p $(dir $@)
	cp notebooks/jupyterlab-overrides.json $@

install: $(STAMP) $(LAB_OVERRIDES)

# The py:percent files are the source; the paired .ipynb are generated (and ignored by git).
notebooks: $(STAMP)
	$(BIN)/jupytext --sync $(NOTEBOOK_SOURCES)

# JupyterLab on the repository (double-click a notebook .py under notebooks/ to open it).
lab: install
	$(BIN)/jupyter lab --ServerApp.root_dir=$(CURDIR) --LabApp.default_url=/lab/tree/notebooks \
		--port=$(LAB_PORT) $(LAB_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check pvqmodel tests notebooks

# Unit, invariant and statistical tests, then every notebook executed with small parameters.
test: lint notebooks $(LAB_OVERRIDES)
	PVQ_FAST=1 $(BIN)/python -m pytest tests --nbmake $(NOTEBOOK_SOURCES:.py=.ipynb)

# The long Monte Carlo runs deselected by default.
test-slow: $(STAMP)
	$(BIN)/python -m pytest tests -m slow

reproduce: $(STAMP)
	$(BIN)/pvqmodel reproduce

clean:
	rm -rf figures/*.png figures/*.pdf data/processed/*.csv data/processed/MANIFEST.json \
		notebooks/*.ipynb
