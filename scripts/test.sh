#!/usr/bin/env bash
# test.sh - install what the tests need, build, and run the whole suite:
# the normal build, then AddressSanitizer+UBSan, then ThreadSanitizer.
# Run as root on Debian 12 (mounting needs /dev/fuse and root for the
# loop-device tests). This is what CI runs (.ci/run).
#
# Design: one build directory per variant (build, build-asan, build-tsan),
# reused across runs, so a second run only rebuilds what changed. Any
# sanitizer report fails the test that triggered it: the options below
# make the sanitizers exit non-zero, and the integration harness fails a
# test whose daemon log shows a report.
#
# Environment:
#   CRRFS_SKIP_SANITIZERS=1   only the normal build (a quick local run)
#   CRRFS_SKIP_BENCH=1        skip the bench/run smoke run
#   CRRFS_JOBS=N              build parallelism (default: nproc)
#   CRRFS_BUILD=DIR           build directory (default: build); the
#                             sanitizer builds go to DIR-asan, DIR-tsan
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
cd "$(dirname "$0")/.."
root=$PWD
jobs=${CRRFS_JOBS:-$(nproc)}
b=${CRRFS_BUILD:-build}

scripts/deps.sh test

# gcc's TSan runtime cannot map its shadow memory with more than 28 bits
# of mmap randomisation (newer kernels default to 32).
if [[ -r /proc/sys/vm/mmap_rnd_bits ]] &&
	(($(cat /proc/sys/vm/mmap_rnd_bits) > 28)); then
	sysctl -q -w vm.mmap_rnd_bits=28 || true
fi

build() {	# build DIR [cmake options...]
	local dir=$1
	shift
	cmake -S . -B "$dir" -DCRRFS_WERROR=ON "$@" >/dev/null
	cmake --build "$dir" -j"$jobs"
}

section() { printf '\n=== %s\n' "$*"; }

# Every suite runs even when an earlier one failed, so one CI run shows
# all failures; the exit status says whether any did.
failed=()
suite() {	# suite NAME ctest-args...
	local name=$1
	shift
	ctest --output-on-failure "$@" || failed+=("$name")
}

finish() {
	if ((${#failed[@]})); then
		section "FAILED: ${failed[*]}"
		exit 1
	fi
	section "all tests passed"
	exit 0
}

section "normal build: all tests"
build "$b"

# The benchmark harness runs once, small, on the binary just built: every
# workload against the local peers, and replication to a fresh RGW against
# rclone sync and aws s3 sync, so a change that breaks bench/run fails CI.
# It asserts no time (a few minutes here); it comes before the suites so
# ctest's summary stays last.
if [[ ${CRRFS_SKIP_BENCH:-0} != 1 ]]; then
	section "bench/run --quick smoke"
	bench/run --quick --runs 1 --binary "$b/crrfs" \
		--out "$b/bench-smoke" || failed+=("bench smoke")
fi
suite "unit" --test-dir "$b" -L unit -j"$jobs"
suite "integration" --test-dir "$b" -L integration

[[ ${CRRFS_SKIP_SANITIZERS:-0} == 1 ]] && finish

# Sanitizer builds are optimised (-O2 -g): the tests run several times
# faster than at -O0 and the reports keep their line numbers.
section "AddressSanitizer + UndefinedBehaviorSanitizer: all tests"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=23
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
build "$b-asan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCRRFS_ASAN=ON
suite "asan unit" --test-dir "$b-asan" -L unit -j"$jobs"
suite "asan integration" --test-dir "$b-asan" -L integration
unset ASAN_OPTIONS UBSAN_OPTIONS

# Under TSan everything runs 5-15x slower. The unit tests (which include
# the store's concurrent commit tests) run in full; every integration
# test runs once, in its 'nocache' variant: with the kernel's attribute
# and entry caches off every operation reaches the daemon's threads, so
# it is the variant that exercises them hardest. The 'cache' variant adds
# kernel behaviour, not daemon concurrency, and already ran twice above.
# The replication tests have one variant; the dir ones run here (the
# queue, its workers, the inbox and the control socket are the daemon's
# most threaded parts; test_repl_trust races renames against the queue
# and two stores against each other); the S3 ones would mostly measure
# RGW and the AWS CLI under a slowed-down daemon; they ran in both builds
# above.
section "ThreadSanitizer: unit tests, integration tests (nocache, repl_dir, repl_trust)"
export TSAN_OPTIONS="suppressions=$root/tests/tsan.supp:halt_on_error=0:exitcode=66:second_deadlock_stack=1"
build "$b-tsan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCRRFS_TSAN=ON
suite "tsan unit" --test-dir "$b-tsan" -L unit -j"$jobs"
suite "tsan integration" --test-dir "$b-tsan" -L integration \
	-R '/nocache$|^integ/test_repl_(dir|trust)/'
finish
