# Two commands do everything: `make run` (workflow on the bundled sample) and
# `make test` (the whole test suite). Both create .venv/ first when it is
# missing or older than requirements.txt.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= all
BENCH_ARGS ?=

.PHONY: setup run test test-fast bench lint format report sample clean clean-downloads

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is needed; run make PYTHON=python3.11 ...")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/snakemake --cores $(CORES)

# Tests run in TEST_WORKERS processes (pytest-xdist): much of a workflow test is waiting on
# child processes, so even 2 cores gain. A test file runs whole in one worker (--dist loadfile):
# its module fixtures (one Snakemake run for many cases) run once, and one local SLURM at a
# time owns /etc/slurm/slurm.conf. TEST_WORKERS=0 runs them in this process.
TEST_WORKERS ?= 3
test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

# The unit tests alone (tests/unit, under a minute): no snakemake runs, and not the few marked
# slow, which start separate Dask scheduler and worker processes.
test-fast: $(STAMP)
	$(BIN)/python -m pytest tests/unit -m "not slow"

# Workflow vs eager baselines and the bytes/compute floors on generated lesson-size and larger
# inputs, three raster layouts (slow: ~30 min; checks free disk first); report in results/benchmark.md.
# The 64x raster too: make bench BENCH_ARGS="--big" (~45 GB of disk). Smoke test: BENCH_ARGS="--quick".
# Many sample-sized datasets (cost per extra table + scene pair): BENCH_ARGS="--only datasets --datasets 12 50".
bench: $(STAMP)
	$(BIN)/python -m snakedask_tools.benchmark $(BENCH_ARGS)

# Self-contained HTML report of the last run (figures, provenance, config, versions, runtimes).
# Give it the run's own config files: make report CONFIG="my.yaml".
report: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --configfile config/config.yaml $(CONFIG) --forcerun run_info
	$(BIN)/snakemake --report results/report.html --configfile config/config.yaml $(CONFIG)

lint: $(STAMP)
	$(BIN)/ruff check scripts workflow/scripts tests
	$(BIN)/ruff format --check scripts workflow/scripts tests
	$(BIN)/snakefmt --check workflow
	$(BIN)/snakemake --lint

# Rewrite the Python and Snakemake files in the project's style (what `make lint` checks).
format: $(STAMP)
	$(BIN)/ruff check --fix scripts workflow/scripts tests
	$(BIN)/ruff format scripts workflow/scripts tests
	$(BIN)/snakefmt workflow

# Rewrite the bundled sample (deterministic: the committed files are its output).
sample: $(STAMP)
	$(BIN)/python -m snakedask_tools.make_sample_data --sample --out resources/sample

# The products, logs and timings of runs; the downloads in resources/ stay (make clean-downloads).
clean:
	rm -rf results/tables results/scenes results/run_info results/report_pages results/report.html logs benchmarks .snakemake

# The downloaded raw files too (resources/tables, resources/scenes): the next run fetches them again.
clean-downloads: clean
	rm -rf resources/tables resources/scenes
