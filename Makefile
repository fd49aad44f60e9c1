# Two commands on a fresh machine: `make run` opens the app, `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean dist package package-test install-desktop icons

$(STAMP): pyproject.toml setup.py $(wildcard segstudio/_native/*.c) Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,models,cluster,packaging,jit]"
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
	# the C extension is optional for users (setup.py; `make run` works without a compiler) but not
	# for the tests: without it they would pass on the pure paths alone, the speed lost unnoticed
	$(PY) -c "import segstudio._native.pixels" || { echo "segstudio._native.pixels did not build: gcc and Python headers needed" >&2; exit 1; }
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q --durations=15

lint: $(STAMP)
	$(VENV)/bin/ruff check segstudio tests resources packaging
	$(VENV)/bin/lint-imports

bench: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(VENV)/bin/segstudio bench core --json

# Wheel and sdist in dist/ (the sdist is built first and the wheel from it, as pip would).
dist: $(STAMP)
	$(PY) -m build --no-isolation --outdir dist .

# The standalone app: dist/segstudio/segstudio, one folder, no torch (packaging/segstudio.spec),
# built from the wheel installed into build/pyinstaller/site.
BUNDLE_BUILD := build/pyinstaller
package: $(STAMP)
	rm -rf build/lib $(BUNDLE_BUILD)/wheel $(BUNDLE_BUILD)/site dist/segstudio  # no stale modules in build/lib
	$(PY) -m pip wheel --quiet --no-deps --no-build-isolation --wheel-dir $(BUNDLE_BUILD)/wheel .
	$(PY) -m pip install --quiet --no-deps --no-index --target $(BUNDLE_BUILD)/site $(BUNDLE_BUILD)/wheel/segstudio-*.whl
	$(PY) -m PyInstaller --noconfirm --log-level WARN --distpath dist --workpath $(BUNDLE_BUILD) \
		packaging/segstudio.spec

# Smoke test of the built bundle: screenshot of the sample, import and export of the test sample.
package-test: $(STAMP)
	SEGSTUDIO_BUNDLE=dist/segstudio/segstudio QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q tests/test_bundle.py

# The .desktop entry, AppStream metainfo and icons for the current user (XDG_DATA_HOME).
install-desktop: $(STAMP)
	$(PYTHON) packaging/install_desktop.py --exec "$(abspath $(VENV))/bin/segstudio-gui"

# The application icon's PNG sizes, rendered from its SVG (commit both).
icons: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) resources/icons/render_icons.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache .hypothesis segstudio/_native/*.so
