# openhsm top-level Makefile: the two README commands and their parts.
#   make run    install packages (first time), build, start openhsmd with data in ./var
#   make test   install test packages, build, unit + e2e tests, unit tests under ASan+UBSan, fuzz
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
DATA       ?= ./var
PYTHON     ?= /usr/bin/python3
FUZZ_SECONDS ?= 20
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps test-deps build run test unit e2e e2e-under-load asan fuzz clean

all: build

deps:
	@scripts/install-deps.sh

test-deps:
	@scripts/install-deps.sh --test

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

run: build
	$(BUILD)/bin/openhsmd --data $(DATA)

test: test-deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOHSM_TESTS=ON >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)
	$(MAKE) --no-print-directory unit e2e asan fuzz

unit:
	ctest --test-dir $(BUILD) --output-on-failure

e2e:
	OHSM_BIN=$(abspath $(BUILD))/bin $(PYTHON) -m pytest -q tests/e2e

# The e2e tests with LOAD CPU-burning processes beside them (tests/e2e/conftest.py, OHSM_LOAD).
LOAD ?= 2
e2e-under-load:
	OHSM_LOAD=$(LOAD) OHSM_BIN=$(abspath $(BUILD))/bin $(PYTHON) -m pytest -q tests/e2e

asan:
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DOHSM_TESTS=ON -DOHSM_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j$(JOBS)
	ctest --test-dir $(ASAN_BUILD) --output-on-failure

FUZZERS ?= frame obj mask audit kmu tokfile approval userrec model http ec2 backup kms_blob kms_trail kms_wal kms_ops p11_attr p11_mech

fuzz:
	@if command -v clang >/dev/null 2>&1; then \
	  cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DOHSM_FUZZ=ON >/dev/null && \
	  cmake --build $(FUZZ_BUILD) -j$(JOBS) --target $(addprefix fuzz_,$(FUZZERS)) && \
	  for f in $(FUZZERS); do \
	    mkdir -p $(FUZZ_BUILD)/corpus-$$f && \
	    $(FUZZ_BUILD)/bin/fuzz_$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 -close_fd_mask=1 \
	        $(FUZZ_BUILD)/corpus-$$f fuzz/corpus/$$f || exit 1; \
	  done; \
	else echo "fuzz: clang not found, skipped"; fi

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
