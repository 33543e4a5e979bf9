# Two commands do all the set-up on a fresh machine:
#   make demo   train a CNN, convert it to int8 and run the on-device runtime on held-back images
#   make test   install everything the tests need, then run them (what CI runs)
#   make dist-check  build the sdist and wheel in a temp dir, twine check, check their contents
# VENV=/path/to/venv uses an existing virtual environment instead of ./.venv.
#   make bench  run every comparison bench once and regenerate docs/BENCHMARKS.md (minutes;
#               the Ultralytics rows need the bench environment described in bench/vs_ultralytics.py)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test lint venv dist-check clean bench

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

venv: $(PY)
	$(PY) -m pip install --quiet -e '.[convert,dev,mqtt]'

demo: venv
	$(VENV)/bin/edge-sdk demo

bench: venv
	$(PY) bench/report.py

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check edge_sdk devices converters
	$(VENV)/bin/mypy
	$(VENV)/bin/vermin --target=3.10- --no-tips --violations edge_sdk devices converters tests
	$(VENV)/bin/lint-imports

test: venv lint
	$(VENV)/bin/pytest -q -ra

# Needs the dev extra (build, twine): run after make venv / make test.
dist-check: $(PY)
	$(PY) ci/check_dist.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
