# gps3async: the Go plugin's targets (build, install, test) plus demo, bench and lint.
# Every target bootstraps a virtualenv in $(VENV) from the project's own files.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# make test runs on this many pytest-xdist workers (many tests wait on stalls, retries, timeouts and
# detached agents: four workers keep two cores busy; the suite took 16.4 min with three, 12.4-14.9 with four,
# 11.3-14.3 once the in-process variants ran only where the front door is the subject; 11.3 for 1173 tests
# with list/expire, Object Lock, the upload journal, the flaky-network flows and the Python-less bundle, at load 5-7).
TEST_WORKERS ?= 4
# make wheels / make deploy (docs/operators-guide.md): where the wheels go, where the plugin goes, and on which hosts.
WHEELS ?= wheels
# make wheels: the oldest glibc of the cluster's hosts (2.17: RHEL/CentOS 7; 2.28: RHEL 8).
GLIBC ?= 2.17
PREFIX ?= /usr/local/gps3async
HOSTS ?=
HOSTS_FILE ?=
# make bench ENDPOINT=https://... BUCKET=... S3_PREFIX=...: measure on that S3 store (credentials from AWS_*).
# (Not PREFIX: that is where make deploy installs the plugin.)
BENCH_TARGET = $(if $(ENDPOINT),--endpoint $(ENDPOINT) --bucket $(BUCKET) --prefix $(S3_PREFIX))
# make bench GO_PLUGIN=/path/to/gpbackup_s3_plugin: the Go plugin's tiny calls in the same per-invocation table.
BENCH_TARGET += $(if $(GO_PLUGIN),--go-plugin $(GO_PLUGIN))
# make bench GREENPLUM_PATH=$GPHOME/greenplum_path.sh: tiny calls as gprestore makes them (bash sources it first).
BENCH_TARGET += $(if $(GREENPLUM_PATH),--greenplum-path $(GREENPLUM_PATH))

.DEFAULT_GOAL := help
.PHONY: help build wheels install deploy test lint fmt typecheck check demo bench bench-4g clean

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

# The native client is compiled by pip's install (setup.py): a change to its C source rebuilds the environment.
$(STAMP): setup.cfg setup.py pyproject.toml $(wildcard gps3async/native/*.c gps3async/native/*.h)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,dev,bench]'
	touch $(STAMP)

build: $(STAMP) ## build a wheel into dist/
	$(BIN)/pip wheel --quiet --no-deps --wheel-dir dist .
	@ls dist/*.whl

wheels: $(STAMP) ## every wheel the plugin needs (itself included) into $$(WHEELS)/, for the oldest glibc (GLIBC=2.17)
	$(BIN)/python -m gps3async.deploy wheels --output $(WHEELS) --glibc $(GLIBC)

deploy: ## build a bundle (its own Python) for PREFIX from $$(WHEELS)/, install it on every host (HOSTS, HOSTS_FILE)
	$(PYTHON) -m gps3async.deploy install --prefix $(PREFIX) --wheels $(WHEELS) \
		$(if $(HOSTS_FILE),--hosts-file $(HOSTS_FILE)) $(foreach host,$(HOSTS),--host $(host))

install: $(STAMP) ## install gpbackup_s3_plugin (the native client where a C compiler is; linked into $$GPHOME/bin)
	@if [ -n "$$GPHOME" ]; then ln -sf "$(abspath $(BIN))/gpbackup_s3_plugin" "$$GPHOME/bin/gpbackup_s3_plugin" && \
		echo "linked $$GPHOME/bin/gpbackup_s3_plugin"; fi
	@if [ "$$(head -c 4 $(BIN)/gpbackup_s3_plugin)" = "$$(printf '\177ELF')" ]; then echo "gpbackup_s3_plugin is the native client"; \
		else echo "gpbackup_s3_plugin is the Python client: no C compiler (cc, gcc, clang or pip's ziglang) was found"; fi
	@echo "executablepath: $(abspath $(BIN))/gpbackup_s3_plugin"

test: $(STAMP) ## run the whole test suite against the S3 servers it starts itself (rclone, a Ceph RGW)
	$(BIN)/pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --durations=10 $(PYTEST_ARGS)

lint: $(STAMP) ## ruff (check + format), mypy --strict, the layering (import-linter), the C client with -Werror
	$(BIN)/ruff check gps3async tests bench setup.py
	$(BIN)/ruff format --check gps3async tests bench setup.py
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m gps3async.native build --strict --output $(VENV)/native-lint/gpbackup_s3_plugin >/dev/null

fmt: $(STAMP) ## format the code
	$(BIN)/ruff format gps3async tests bench setup.py
	$(BIN)/ruff check --fix gps3async tests bench setup.py

typecheck: $(STAMP) ## mypy --strict only
	$(BIN)/mypy

check: lint test ## lint, then test

demo: $(STAMP) ## backup and restore round trip through the plugin against an embedded local S3 server
	$(BIN)/python -m bench.demo

bench: $(STAMP) ## gps3async vs s5cmd, aws s3 cp and rclone on 1 GiB (ENDPOINT= BUCKET= S3_PREFIX= for your S3, GO_PLUGIN=, GREENPLUM_PATH=)
	$(BIN)/python -m bench.run --size 1GiB $(BENCH_TARGET)

bench-4g: $(STAMP) ## the same with 4 GiB
	$(BIN)/python -m bench.run --size 4GiB $(BENCH_TARGET)

clean: ## remove build output and caches (keeps the virtualenv)
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .bench
