# Developer tasks. `make help` lists them; every target runs in the current Python environment.

PYTHON ?= python
IMAGE ?= groxpi

.DEFAULT_GOAL := help
.PHONY: help install test run zipapp bench bench-quick docker clean lint typecheck

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: ## Install groxpi in editable mode with the test and dev tools
	$(PYTHON) -m pip install -e '.[test,dev]'

test: ## Run the whole test suite with coverage (the CI command)
	$(PYTHON) -m pytest --cov=groxpi --cov-report=term-missing

run: ## Serve on http://localhost:5000/ (configure with GROXPI_* variables)
	$(PYTHON) -m groxpi

zipapp: ## Build dist/groxpi.pyz (single file; same Python version and platform only)
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

docker: ## Build the container image (needs a Docker engine)
	docker build -f docker/Dockerfile -t $(IMAGE) .

clean: ## Remove build artefacts and caches
	rm -rf dist build .pytest_cache .mypy_cache .ruff_cache .hypothesis htmlcov .coverage .coverage.* coverage.xml
	find . \( -path ./.git -o -path './.venv*' -o -path ./venv \) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +

lint: ## Lint and check formatting with ruff
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .

typecheck: ## Type-check with mypy (strict; settings in pyproject.toml)
	$(PYTHON) -m mypy
