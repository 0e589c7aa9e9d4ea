#!/bin/bash
# SPDX-License-Identifier: MIT
# Raise the kernel's UDP buffer limits for a QUIC server; see --help.  The
# Debian package installs it as /usr/sbin/quicsteer-tune-sysctl.
set -euo pipefail

# for tests: a copy of /proc/sys and of /etc/sysctl.d to work on instead
PROC_SYS=${QS_PROC_SYS:-/proc/sys}
SYSCTL_D=${QS_SYSCTL_D:-/etc/sysctl.d}
PERSIST_FILE=$SYSCTL_D/60-quicsteer.conf

usage() {
	echo "Usage: ${0##*/} [--check | --dry-run] [--persist]"
	cat <<'EOF'
Raise the kernel's UDP buffer limits for quicsteer (QUIC is UDP: what TCP
gets from the kernel's autotuning, a QUIC server gets only from large
socket buffers).  A value is only ever raised, never lowered.

  (no option)  set the values now (sysctl), until the next boot
  --persist    also write /etc/sysctl.d/60-quicsteer.conf, read at boot
               (each value the larger of the one below and the one now)
  --dry-run    print what would change (and the file --persist would
               write); change nothing
  --check      like --dry-run, and exit 1 when something would change
               (for monitoring)
  -h, --help   this help

The values, and why:
  net.core.rmem_max = 7340032 (7 MiB)
      the largest receive buffer a socket may ask for with SO_RCVBUF.
      quicsteerd sets its workers' (--rcvbuf, 4 MiB) with SO_RCVBUFFORCE,
      which passes this limit, but falls back to SO_RCVBUF, capped here,
      without CAP_NET_ADMIN; other QUIC programs (clients, gtlsclient)
      always use SO_RCVBUF.  7 MiB holds 60 ms at 1 Gbit/s: a worker busy
      that long still drops nothing.
  net.core.wmem_max = 7340032 (7 MiB)
      the same for send buffers (SO_SNDBUF): GSO sends a flight of up to
      64 KB in one call, and one socket carries all of a worker's
      connections.
  net.core.netdev_max_backlog = 8192
      packets queued per CPU between the driver and UDP (RPS, loopback,
      generic XDP).  The default 1000 is 1 ms at 1M datagrams a second;
      drops there show in the second column of /proc/net/softnet_stat.
  net.ipv4.udp_mem = 3 pages figures: min, pressure, max
      all UDP sockets' memory together; above max every UDP socket drops.
      Raised (only) to hold a full receive buffer for every CPU and two
      listeners, 2 x CPUs x 4 MiB, twice over.
EOF
}

dry=0 check=0 persist=0
for a in "$@"; do
	case $a in
	--dry-run) dry=1 ;;
	--check) dry=1 check=1 ;;
	--persist) persist=1 ;;
	-h|--help) usage; exit 0 ;;
	*) echo "tune-sysctl: unknown option '$a'" >&2; usage >&2; exit 2 ;;
	esac
done

page=$(getconf PAGESIZE)
cpus=$(nproc)
udp_pages=$((2 * 2 * cpus * 4 * 1024 * 1024 / page))

# plan NAME WANTED: "NAME VALUE|NOW|CHANGE": VALUE the larger of NOW and
# WANTED (what --persist writes: never less than the admin set), CHANGE 1
# when NOW is less than WANTED
plan() {
	local name=$1 want=$2 path cur
	path=$PROC_SYS/${name//.//}
	if [[ ! -r $path ]]; then
		echo "tune-sysctl: $name: not in this kernel ($path), skipped" >&2
		return
	fi
	read -r -a cur <"$path"
	if [[ $name == net.ipv4.udp_mem ]]; then
		# min and pressure scale with max, as the kernel sizes them (1/2, 3/4)
		if ((cur[2] < want)); then
			echo "$name $((want / 2)) $((want * 3 / 4)) $want|${cur[*]}|1"
		else
			echo "$name ${cur[*]}|${cur[*]}|0"
		fi
	elif ((cur[0] < want)); then
		echo "$name $want|${cur[*]}|1"
	else
		echo "$name ${cur[0]}|${cur[*]}|0"
	fi
}

settings=$(
	plan net.core.rmem_max 7340032
	plan net.core.wmem_max 7340032
	plan net.core.netdev_max_backlog 8192
	plan net.ipv4.udp_mem "$udp_pages"
)

changes=0
while IFS='|' read -r setting now change; do
	read -r name value <<<"$setting"
	((change)) || continue
	changes=$((changes + 1))
	if ((dry)); then
		echo "would set $name = $value (now $now)"
	else
		echo "$value" >"$PROC_SYS/${name//.//}"
		echo "set $name = $value (was $now)"
	fi
done <<<"$settings"
((changes)) || echo "tune-sysctl: every value is as large as quicsteer wants already"

if ((persist)); then
	file=$(
		echo "# written by quicsteer's tune-sysctl.sh --persist: UDP buffers for QUIC"
		echo "# (quicsteer-tune-sysctl --help says why each value)"
		while IFS='|' read -r setting _; do
			read -r name value <<<"$setting"
			echo "$name = $value"
		done <<<"$settings"
	)
	if ((dry)); then
		echo "would write $PERSIST_FILE:"
		while IFS= read -r line; do echo "    $line"; done <<<"$file"
	else
		mkdir -p "$SYSCTL_D"
		echo "$file" >"$PERSIST_FILE.new"
		mv "$PERSIST_FILE.new" "$PERSIST_FILE"
		echo "wrote $PERSIST_FILE"
	fi
fi
((check && changes)) && exit 1
exit 0
