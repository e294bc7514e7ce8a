# The two commands of the README: `make demo` and `make test`. Both work on a fresh machine that
# has only Python 3.11+: they create .venv and install the project into it first.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test install docs bench clean

# --strict turns every warning (a broken link or anchor, a page outside the nav) into a failure; not
# --quiet, which hides the warnings from strict mode too. The theme's notice about its future is off.
MKDOCS := NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall when pyproject.toml changes; the stamp files record what is installed.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/dnn data demo
	$(BIN)/dnn train configs/demo.yaml

# the tests, then the documentation site with --strict: a broken link or page fails CI too
test: $(VENV)/.installed-test
	$(BIN)/python -m pytest
	$(MKDOCS) build --strict --site-dir site

$(VENV)/.installed-docs: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[docs]'
	touch $(VENV)/.installed $@

# the documentation site in site/ (open site/index.html); the reference is generated from the code
docs: $(VENV)/.installed-docs
	$(MKDOCS) build --strict --site-dir site

# The benchmark's own environment: the project plus its peers (torch, scikit-learn), never in
# the runtime dependencies. OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, when set on a machine, slow
# NumPy's BLAS: they are unset for the benchmark only, and the table names the kernel that ran.
BENCH_VENV ?= bench/.venv

$(BENCH_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -e '.[bench]'
	touch $@

# BENCH_ARGS: e.g. "--rounds 2" (the engines take turns twice, each keeps its fastest) or "--cases E"
BENCH_ARGS ?=

bench: $(BENCH_VENV)/.installed
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BENCH_VENV)/bin/python bench/run.py --out bench/results/latest.md $(BENCH_ARGS)

clean:
	rm -rf $(VENV) runs .pytest_cache site
