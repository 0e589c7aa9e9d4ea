# SPDX-License-Identifier: MIT
# A short, bounded libFuzzer run of every fuzz target (make fuzz runs them
# longer): parsers of untrusted bytes must not crash on what it finds.

# run_fuzzer NAME: 300,000 runs of .output/NAME from an empty corpus
run_fuzzer() {
	local f=$ROOT/.output/$1 corpus
	[[ -x $f ]] || { need "fuzz target $1 (clang with libFuzzer: libclang-rt-14-dev)"; return; }
	corpus=$(mktemp -d /tmp/qs-fuzz.XXXXXX)
	defer "rm -rf $corpus"
	(cd "$corpus" && "$f" -runs=300000 -seed=1 "$corpus" 2>&1 | tail -3)
}

test_fuzz_static_paths_and_ranges() { run_fuzzer fuzz_static; }
test_fuzz_fcgi_records_and_cgi_headers() { run_fuzzer fuzz_fcgi; }
