# SPDX-License-Identifier: MIT
# Shared by the bench scripts (sourced).

# wait_started BENCH PIN_DIR LOG: wait (10 s at most) until quicsteerd has
# pinned its maps, then a moment for its workers; if it never does, show
# its log and exit 1
wait_started() {
	for _ in $(seq 200); do
		if [[ -e $2/qs_worker_stats ]]; then
			sleep 0.3
			return 0
		fi
		sleep 0.05
	done
	echo "$1: quicsteerd did not start:" >&2
	cat "$3" >&2
	exit 1
}
