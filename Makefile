# Channel Summarizer — the two commands of the quick start:
#   make demo   installs what is missing, builds, starts the local stack and the services, runs a
#               job on the offline demo channel and prints the summaries
#   make test   installs what is missing, builds (normal + ASan/UBSan), runs `make check`, starts
#               what tests need and runs every test
#   make check  the fast loop before make test: clang-format, clang-tidy on changed files, unit tests
#   make chaos  the chaos suite at scale: 200-video jobs under every fault, each server also killed
#               with SIGKILL (docs/reliability.md); make test runs it with 50-video jobs
SHELL := /bin/bash
JOBS ?= $(shell nproc)

.PHONY: all setup build build-asan build-fuzz check test chaos demo stop stack-up stack-down services-up services-down \
        status format clean help bench quality

all: build

help:
	@sed -n '1,8p' Makefile | sed 's/^# \{0,1\}//'
	@echo; echo "Other targets: check bench setup build build-asan stack-up stack-down services-up services-down status stop format clean"

setup:
	@deploy/local/setup

build: setup
	@cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null
	@cmake --build build -j $(JOBS)

build-asan: setup
	@cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCHANSUM_SANITIZE=ON >/dev/null
	@cmake --build build-asan -j $(JOBS)

# libFuzzer targets only (tests/fuzz), with clang; small, its tests carry the label "fuzz".
build-fuzz: setup
	@cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCHANSUM_FUZZ=ON \
	  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ >/dev/null
	@cmake --build build-fuzz -j $(JOBS)

# Under 3 minutes after a build on 2 cores (deploy/local/check says what it runs).
check: build
	@deploy/local/check

# check first (it runs the unit tests of the normal build, so run-tests does not repeat them).
test: check build-asan build-fuzz
	@CHANSUM_UNIT_DONE=1 deploy/local/run-tests

demo: build
	@deploy/local/demo

# The chaos suite (tests/chaos) with CHAOS_VIDEOS videos per job (default 200) and every scenario,
# the SIGKILL of each server included; a stack of its own on shifted ports (CHAOS_PORT_SHIFT), the
# shared stack untouched. Run as the binary, not through ctest, so the bigger jobs are not held to
# make test's per-test timeout; each scenario is bounded by its own. Figures: build/chaos/*.md.
chaos: build
	@CHAOS_VIDEOS=$(or $(CHAOS_VIDEOS),200) build/bin/chaos_suite_chaostest --gtest_color=no

# Benchmarks (bench/, docs/benchmarks.md); not part of make test. Takes ~15 min on 2 cores.
bench:
	@bench/run

# WER and key-word recall of the embedded ASR and summarizer on the demo corpus (docs/quality.md).
quality: build
	@build/bin/chansum-quality --out docs/quality.md

stop:
	@deploy/local/services down
	@deploy/local/stack down

stack-up: setup
	@deploy/local/stack up
stack-down:
	@deploy/local/stack down
services-up: build
	@deploy/local/services up
services-down:
	@deploy/local/services down
status:
	@deploy/local/stack status; deploy/local/services status

format:
	@git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

clean:
	rm -rf build build-asan build-fuzz
