# certwatch: `make run` starts it on its defaults, `make test` runs lint, types and every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian packages the tests and benchmarks need; installed when missing.
TEST_DEBS := openssl prometheus prometheus-alertmanager rsyslog rsyslog-gnutls systemd procps
BENCH_DEBS := mtail

.PHONY: run test lint types unit bench soak fuzz install debs-test debs-bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@# bytecode caches for the editable package, as a regular install has (start-up 0.1 s shorter)
	$(BIN)/python -m compileall -q daemon/certwatch
	@touch $@

install: $(STAMP)

run: $(STAMP)
	$(BIN)/certwatch run

debs-test:
	@.ci/debs.sh $(TEST_DEBS)

debs-bench:
	@.ci/debs.sh $(BENCH_DEBS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP) debs-test
	$(BIN)/pytest -q

test: lint types unit

# Figures and ratios against references measured in the same run (mtail, a bare uvloop receiver); ~15 min on 2 cores.
# BENCH_ARGS=--quick for a short run. Exits 1 only when a measurement fails.
bench: $(STAMP) debs-bench
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# A long run under mixed UDP/TCP/TLS traffic with failing and recovering origins, scrapes, API calls, reloads and
# one restart; RSS, descriptors, tasks and loop lag every 10 s. SOAK_SECONDS=300 for a shorter run (default 1800).
SOAK_SECONDS ?= 1800
soak: $(STAMP) debs-test
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,bench]'
	$(BIN)/python bench/soak.py --seconds $(SOAK_SECONDS)

# atheris harnesses (tests/fuzz), one target after another, FUZZ_SECONDS each (FUZZ_SECONDS=1800 for a longer run;
# FUZZ_TARGETS="engine udp" for some). Corpora, logs and crashing inputs in tests/fuzz/out. Exits 1 on a finding.
FUZZ_SECONDS ?= 180
FUZZ_TARGETS ?=
fuzz: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,fuzz]'
	$(BIN)/python tests/fuzz/run.py --seconds $(FUZZ_SECONDS) $(FUZZ_TARGETS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis bench/out tests/fuzz/out
