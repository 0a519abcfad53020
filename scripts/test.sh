#!/usr/bin/env bash
# test.sh - the whole test suite, from a fresh machine: dependencies, build, then ctest
# (GoogleTest unit tests, mpirun -np 2/-np 3 tests, Python parity tests). Extra arguments go
# to ctest (e.g. scripts/test.sh -R tokenizer).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/setup.sh"
bash "$root/scripts/build.sh"
build=${SIMCSEPP_BUILD_DIR:-$root/build}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# One test at a time by default: the machine has 2 cores and the mpirun tests use both.
ctest --test-dir "$build" --output-on-failure --no-tests=error -j "${SIMCSEPP_TEST_JOBS:-1}" "$@"
