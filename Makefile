# Channel Summarizer — the two commands of the quick start:
#   make demo   installs what is missing, builds, starts the local stack and the services, runs a
#               job on the offline demo channel and prints the summaries
#   make test   installs what is missing, builds (normal + ASan/UBSan), starts what tests need and
#               runs every test
SHELL := /bin/bash
JOBS ?= $(shell nproc)

.PHONY: all setup build build-asan build-fuzz test demo stop stack-up stack-down services-up services-down \
        status format clean help bench quality

all: build

help:
	@sed -n '1,6p' Makefile | sed 's/^# \{0,1\}//'
	@echo; echo "Other targets: bench setup build build-asan stack-up stack-down services-up services-down status stop format clean"

setup:
	@deploy/local/setup

build: setup
	@cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build build -j $(JOBS)

build-asan: setup
	@cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCHANSUM_SANITIZE=ON >/dev/null
	@cmake --build build-asan -j $(JOBS)

# libFuzzer targets only (tests/fuzz), with clang; small, its tests carry the label "fuzz".
build-fuzz: setup
	@cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCHANSUM_FUZZ=ON \
	  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ >/dev/null
	@cmake --build build-fuzz -j $(JOBS)

test: build build-asan build-fuzz
	@deploy/local/run-tests

demo: build
	@deploy/local/demo

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
