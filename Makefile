# Two commands on a fresh machine: `make run` opens the app, `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,models,cluster]"
	# click to segment (issue 20): sam2 is an sdist built against the torch just installed, without
	# its optional CUDA extension (SAM2_BUILD_CUDA=0), hence no build isolation
	SAM2_BUILD_CUDA=0 $(PY) -m pip install --quiet --no-build-isolation -e ".[sam]"
	# labelme's own shape drawing, the reference of tests/io/test_labelme_interop.py (GPL, a test
	# tool only, never imported by segstudio; --no-deps: its package pulls in Qt5 and onnxruntime)
	$(PY) -m pip install --quiet --no-deps "labelme>=5.5"
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/segstudio

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q --durations=15

lint: $(STAMP)
	$(VENV)/bin/ruff check segstudio tests resources
	$(VENV)/bin/lint-imports

bench: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(VENV)/bin/segstudio bench core --json

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .hypothesis
