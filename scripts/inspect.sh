#!/bin/bash
# SPDX-License-Identifier: MIT
# Print the pinned state of a running quicsteer instance, readably, with
# bpftool: steering state, per-CPU counters summed, socket slots, worker
# counters, programs.  Never prints key material.
# Usage: scripts/inspect.sh [INSTANCE]   (default: default)  [--json]
set -euo pipefail

inst=default json=0
for a in "$@"; do
	case $a in
	--json) json=1 ;;
	-h | --help)
		sed -n '3,6p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*) inst=$a ;;
	esac
done
pin=/sys/fs/bpf/quicsteer/$inst
if [[ $(id -u) != 0 ]]; then
	echo "inspect: reading pinned BPF maps needs root (sudo $0 $*)" >&2
	exit 1
fi
if [[ ! -d $pin ]]; then
	echo "inspect: no instance '$inst': $pin does not exist" >&2
	running=$(ls /sys/fs/bpf/quicsteer 2>/dev/null | tr '\n' ' ')
	[[ -n $running ]] && echo "inspect: pinned instances: $running" >&2
	exit 1
fi
for tool in bpftool jq; do
	command -v $tool >/dev/null || { echo "inspect: $tool not found (run scripts/setup.sh)" >&2; exit 1; }
done

dump() { bpftool -j map dump pinned "$pin/$1"; }

state=$(dump qs_state | jq '.[0].formatted.value')
stats=$(dump qs_steer_stats | jq '[.[0].formatted.values[].value] |
	reduce .[] as $v ({}; . as $a | reduce ($v | keys_unsorted[]) as $k ($a; .[$k] += $v[$k]))')
percpu=$(dump qs_steer_stats | jq -c '[.[0].formatted.values[] | {cpu, value}]')
keys=$(dump qs_cid_keys | jq '[.[] | .formatted | select(.value.installed == 1) | .key]')
# socket slots: index = listener*256 + gen*64 + worker; value = socket cookie
slots=$(bpftool -j map dump pinned "$pin/qs_socks" 2>/dev/null | jq '[.[] | .formatted | select(.value != null) |
	{slot: .key, listener: (.key / 256 | floor), gen: (.key % 256 / 64 | floor),
	 worker: (.key % 64), cookie: .value}]')
workers=$(dump qs_worker_stats | jq '[.[] | .formatted | select(.value.starts > 0) |
	{slot: .key, gen: (.key / 64 | floor), worker: (.key % 64)} + .value]')
# session ticket keys: the loader's runtime file lists name hashes and roles only
tkfile=/run/quicsteer/$inst/ticket-keys
tickets=$(if [[ -r $tkfile ]]; then
	awk '$1 == "key" {printf "{\"name_hash\":\"%s\",\"role\":\"%s\",\"not_after\":%s}\n", $2, $3, $4}' "$tkfile" |
		jq -s --arg src "$(awk '$1 == "source" {print $2}' "$tkfile")" \
			--arg reload "$(sed -n 's/^last_reload //p' "$tkfile")" \
			--argjson version "$(awk '$1 == "version" {print $2}' "$tkfile")" \
			--argjson lifetime "$(awk '$1 == "lifetime" {print $2}' "$tkfile")" \
			'{source: $src, version: $version, lifetime_s: $lifetime, last_reload: $reload, keys: .}'
else
	echo null
fi)
# the XDP guard, when the instance runs with --xdp-guard
guard=null
if [[ -e $pin/qs_guard_stats ]]; then
	# blocklist keys: prefixlen (host order) + 16 address bytes; IPv4 as ::ffff:a.b.c.d
	guard=$(jq -n --argjson stats "$(dump qs_guard_stats | jq '[.[0].formatted.values[].value] |
		reduce .[] as $v ({}; . as $a | reduce ($v | keys_unsorted[]) as $k ($a; .[$k] += $v[$k]))')" \
		--argjson limits "$(dump qs_guard_cfg | jq '.[0].formatted.value')" \
		--argjson sources "$(bpftool -j map show pinned "$pin/qs_guard_src" | jq .max_entries)" \
		--argjson blocklist "$(dump qs_guard_block | jq '
			def hex4: . as $n | [range(0; 4)] | map(($n / pow(16; 3 - .) | floor) % 16 |
				"0123456789abcdef"[.:. + 1]) | join("") | sub("^0{1,3}"; "");
			[.[] | .formatted | (.key.addr | map(tonumber)) as $a | .key.prefixlen as $l |
			{prefix: (if ($a[0:10] | all(. == 0)) and $a[10] == 255 and $a[11] == 255 and $l >= 96
				then "\($a[12]).\($a[13]).\($a[14]).\($a[15])/\($l - 96)"
				else ([range(0; 8)] | map($a[2 * .] * 256 + $a[2 * . + 1] | hex4) | join(":")) +
					"/\($l)" end),
			 hits: .value.hits}]')" \
		'{stats: $stats, limits: $limits, sources_max: $sources, blocklist: $blocklist}')
fi
guard_progs=$(for i in $(ls /sys/class/net 2>/dev/null); do
	ip -j -d link show dev "$i" 2>/dev/null | jq -c --arg i "$i" '.[0].xdp.prog // empty |
		select(.name == "qs_guard" or .name == "xdp_dispatcher") | {interface: $i, id, name}'
done | jq -s '.')

progs=$(for p in "$pin"/qs_steer_l* "$pin"/qs_baseline_l*; do
	if [[ -e $p ]]; then bpftool -j prog show pinned "$p"; fi
done | jq -s '.')

if ((json)); then
	jq -n --arg instance "$inst" --argjson state "$state" --argjson steer_stats "$stats" \
		--argjson cid_configs "$keys" --argjson slots "$slots" --argjson workers "$workers" \
		--argjson programs "$progs" --argjson ticket_keys "$tickets" \
		--argjson xdp_guard "$guard" '$ARGS.named'
	exit 0
fi

echo "instance $inst ($pin)"
echo
echo "state:    current generation $(jq .cur_gen <<<"$state"), minting with config id" \
	"$(jq .cur_config <<<"$state"), live workers per generation $(jq -c .live <<<"$state")"
echo "CID keys: config ids installed $(jq -c . <<<"$keys") (key material is never shown)"
echo
echo "steering counters (all CPUs):"
jq -r 'to_entries[] | "  \(.key | . + " " * (14 - length)) \(.value)"' <<<"$stats"
echo "  per CPU: $(jq -r 'map("cpu\(.cpu): routed \(.value.cid_routed) new \(.value.new_flow)") | join(", ")' <<<"$percpu")"
echo
echo "socket slots (listener/gen/worker -> socket cookie):"
jq -r '.[] | "  slot \(.slot)\tlistener \(.listener) gen \(.gen) worker \(.worker)\tcookie \(.cookie)"' <<<"$slots"
echo
echo "workers:"
printf '  %-8s %-8s %-6s %-10s %-10s %-10s %-10s %-10s %-10s\n' \
	gen/id pid starts rx rx_short rx_long cid_own cid_foreign malformed
jq -r '.[] | "\(.gen)/\(.worker) \(.pid) \(.starts) \(.rx_datagrams) \(.rx_short) \(.rx_long) \(.rx_cid_own) \(.rx_cid_foreign) \(.rx_malformed)"' <<<"$workers" |
	while read -r a b c d e f g h i; do
		printf '  %-8s %-8s %-6s %-10s %-10s %-10s %-10s %-10s %-10s\n' "$a" "$b" "$c" "$d" "$e" "$f" "$g" "$h" "$i"
	done
echo
echo "HTTP/3 per worker:"
printf '  %-8s %-9s %-7s %-10s %-10s %-7s %-7s %-9s %-9s %-9s %-9s %-12s\n' \
	gen/id accepted active handshakes migrations resets retries 2xx 3xx 4xx 5xx tx_bytes
jq -r '.[] | "\(.gen)/\(.worker) \(.conn_accepted) \(.conn_active) \(.handshakes) \(.migrations) \(.stateless_resets) \(.retries) \(.req_2xx) \(.req_3xx) \(.req_4xx) \(.req_5xx) \(.tx_bytes)"' <<<"$workers" |
	while read -r a b c d e f g h i j k l; do
		printf '  %-8s %-9s %-7s %-10s %-10s %-7s %-7s %-9s %-9s %-9s %-9s %-12s\n' \
			"$a" "$b" "$c" "$d" "$e" "$f" "$g" "$h" "$i" "$j" "$k" "$l"
	done
if [[ $guard != null ]]; then
	echo
	echo "XDP guard (this network namespace's interfaces: $(jq -r 'map("\(.interface) (\(.name) id \(.id))") | join(", ") | if . == "" then "none visible" else . end' <<<"$guard_progs")):"
	echo "  limits per source: Initials $(jq -r '"\(.limits.initial_rate)/s burst \(.limits.initial_burst)"' <<<"$guard"), unknown versions $(jq -r '"\(.limits.unknown_rate)/s burst \(.limits.unknown_burst)"' <<<"$guard") (burst 0: off)"
	jq -r '.stats | to_entries[] | "  \(.key | . + " " * (24 - length)) \(.value)"' <<<"$guard"
	echo "  blocklist ($(jq '.blocklist | length' <<<"$guard") prefixes):"
	jq -r '.blocklist[] | "    \(.prefix)\thits \(.hits)"' <<<"$guard"
fi
echo
echo "session tickets and 0-RTT per worker:"
printf '  %-8s %-8s %-8s %-8s %-9s %-9s %-9s %-9s %-9s %-9s %-9s %-9s\n' \
	gen/id full resumed tickets tkt_fail 0rtt_ok replay settings rej_other early_req deferred 425
jq -r '.[] | "\(.gen)/\(.worker) \(.hs_full) \(.hs_resumed) \(.tickets_issued) \(.ticket_unknown_key + .ticket_expired + .ticket_corrupt) \(.early_accepted) \(.early_rej_replay) \(.early_rej_settings) \(.early_rej_policy + .early_rej_other) \(.req_early) \(.req_deferred) \(.req_too_early)"' <<<"$workers" |
	while read -r a b c d e f g h i j k l; do
		printf '  %-8s %-8s %-8s %-8s %-9s %-9s %-9s %-9s %-9s %-9s %-9s %-9s\n' \
			"$a" "$b" "$c" "$d" "$e" "$f" "$g" "$h" "$i" "$j" "$k" "$l"
	done
if [[ $tickets != null ]]; then
	echo "ticket keys ($(jq -r .source <<<"$tickets"), lifetime $(jq .lifetime_s <<<"$tickets") s," \
		"last re-read: $(jq -r .last_reload <<<"$tickets"); names hashed, material never shown):"
	jq -r '.keys[] | "  \(.name_hash)  \(.role)\(if .not_after > 0 then "  until \(.not_after | todate)" else "" end)"' <<<"$tickets"
fi
echo
echo "programs:"
jq -r '.[] | "  id \(.id) \(.name) \(.type), \(.run_cnt // "-") runs, \(if .run_cnt and .run_cnt > 0 then "\(.run_time_ns / .run_cnt | floor) ns/run" else "run time needs sysctl kernel.bpf_stats_enabled=1" end)"' <<<"$progs"
[[ $(jq length <<<"$progs") != 0 ]] || echo "  none (steering off: plain SO_REUSEPORT hashing)"
