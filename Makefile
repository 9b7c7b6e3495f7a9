# Developer tasks. `make help` lists them; every target runs in the current Python environment.

PYTHON ?= python
IMAGE ?= groxpi
UV ?= $(PYTHON) -m uv
# `make lock` resolves against public PyPI whatever index uv is configured with,
# so the pins and hashes hold anywhere; the files name no index.
LOCK_INDEX ?= https://pypi.org/simple/
LOCK_ARGS ?=
# The image's version label and tag: always groxpi's own version.
VERSION := $(shell sed -n 's/^__version__ = "\(.*\)"$$/\1/p' groxpi/__init__.py)
# Its source label: this checkout's origin remote, any credentials in it removed.
SOURCE_URL ?= $(shell git remote get-url origin 2>/dev/null \
	| sed -E 's%^(https?://)[^/@]*@%\1%; s%^git@([^:]+):%https://\1/%; s%\.git$$%%')
LOCK = $(UV) pip compile --quiet --universal --python-version 3.11 --generate-hashes \
	--default-index $(LOCK_INDEX) --custom-compile-command 'make lock' $(LOCK_ARGS)

.DEFAULT_GOAL := help
.PHONY: help install lock test run zipapp bench bench-quick docker clean lint typecheck

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: ## Install groxpi in editable mode with the test and dev tools, as pinned (like CI)
	$(PYTHON) -m pip install --require-hashes -r requirements/test.txt
	$(PYTHON) -m pip install --no-deps -e .

lock: ## Re-pin requirements/*.txt after a pyproject.toml change (LOCK_ARGS=--upgrade: newest)
	$(LOCK) pyproject.toml -o requirements/runtime.txt
	$(LOCK) pyproject.toml --extra test --extra dev -c requirements/runtime.txt -o requirements/test.txt
	$(LOCK) requirements/build.in -c requirements/test.txt \
		--no-emit-package pip --no-emit-package setuptools -o requirements/build.txt

test: ## Run the whole test suite with coverage (the CI command)
	$(PYTHON) -m pytest --cov=groxpi --cov-report=term-missing

run: ## Serve on http://localhost:5000/ (configure with GROXPI_* variables)
	$(PYTHON) -m groxpi

zipapp: ## Build dist/groxpi.pyz (single file; same Python version and platform only)
	@$(PYTHON) -c "import shiv.cli" 2>/dev/null || { \
		echo "zipapp: installing shiv as pinned in requirements/build.txt"; \
		$(PYTHON) -m pip install -q --require-hashes --no-deps -r requirements/build.txt; }
	$(PYTHON) build_zipapp.py

bench: ## Full benchmarks vs proxpi/devpi/ceilings (long; BENCH_ARGS="--duration 30" to shorten)
	@command -v wrk >/dev/null 2>&1 && command -v nginx >/dev/null 2>&1 || { \
		echo "bench: installing wrk and nginx-light with apt-get"; \
		$$([ "$$(id -u)" = 0 ] || echo sudo) sh -c 'apt-get update -qq && apt-get install -y -qq wrk nginx-light'; }
	@$(PYTHON) -c "import duckdb, matplotlib, psutil, moto" 2>/dev/null || $(PYTHON) -m pip install -q -e '.[test,bench]'
	$(PYTHON) -m bench $(BENCH_ARGS)

bench-quick: ## The same benchmarks with short runs against the local upstream (< 4 min); exits 4 on a missed threshold
	@command -v wrk >/dev/null 2>&1 && command -v nginx >/dev/null 2>&1 || { \
		echo "bench: installing wrk and nginx-light with apt-get"; \
		$$([ "$$(id -u)" = 0 ] || echo sudo) sh -c 'apt-get update -qq && apt-get install -y -qq wrk nginx-light'; }
	@$(PYTHON) -c "import duckdb, matplotlib, psutil, moto" 2>/dev/null || $(PYTHON) -m pip install -q -e '.[test,bench]'
	$(PYTHON) -m bench --quick --upstream local $(BENCH_ARGS)

docker: ## Build the container image, tagged $(IMAGE) and $(IMAGE):<version> (needs a Docker engine)
	docker build -f docker/Dockerfile --build-arg VERSION=$(VERSION) \
		--build-arg SOURCE_URL=$(SOURCE_URL) -t $(IMAGE) -t $(IMAGE):$(VERSION) .

clean: ## Remove build artefacts and caches
	rm -rf dist build .pytest_cache .mypy_cache .ruff_cache .hypothesis htmlcov .coverage .coverage.* coverage.xml
	find . \( -path ./.git -o -path './.venv*' -o -path ./venv \) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +

lint: ## Lint and check formatting with ruff
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .

typecheck: ## Type-check with mypy (strict; settings in pyproject.toml)
	$(PYTHON) -m mypy
