#!/bin/bash
# SPDX-License-Identifier: MIT
# make bench-tcp: HTTPS over TCP, quicsteer against nginx from Debian, both
# with the same certificate, the same php-fpm pool (one for both, pm=static)
# and the same number of workers, TLS 1.3 and keep-alive:
#   - a 1 KB static file and hello.php over HTTP/2, loaded with h2load
#     (nghttp2-client: CONNS connections x STREAMS streams each),
#   - the same over HTTP/1.1, loaded with wrk (CONNS connections),
# in one run, every round starting each server afresh in alternating order;
# medians reported with the ratio quicsteer / nginx.  Target: >= 1.0x on all
# four.  A benchmark, not a test: it fails (exit 1) only when a measurement
# fails (a server does not come up, a client reports errors).
#
# Env: ROUNDS (3), SECONDS_PER_RUN (5), CONNS (8), STREAMS (8), CHILDREN (8),
#      WORKERS (2)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
ROUNDS=${ROUNDS:-3}
DUR=${SECONDS_PER_RUN:-5}
CONNS=${CONNS:-8}
STREAMS=${STREAMS:-8}
CHILDREN=${CHILDREN:-8}
WORKERS=${WORKERS:-2}
INST=benchtcp$$
QPORT=$((20000 + RANDOM % 20000))
NPORT=$((QPORT + 1))
TMP=$(mktemp -d /tmp/qs-bench-tcp.XXXXXX)
qpid= npid= fpid=

die() { echo "bench-tcp: $*" >&2; exit 1; }
[[ $(id -u) == 0 ]] || die "needs root (sudo make bench-tcp)"
cleanup() {
	[[ -n $npid ]] && kill "$npid" 2>/dev/null && wait "$npid" 2>/dev/null
	[[ -n $qpid ]] && kill "$qpid" 2>/dev/null && wait "$qpid" 2>/dev/null
	[[ -n $fpid ]] && kill -QUIT "$fpid" 2>/dev/null && wait "$fpid" 2>/dev/null
	rm -rf "$TMP" "/sys/fs/bpf/quicsteer/$INST" "/run/quicsteer/$INST"
	return 0
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

missing=()
command -v nginx >/dev/null || missing+=(nginx)
command -v wrk >/dev/null || missing+=(wrk)
command -v h2load >/dev/null || missing+=(nghttp2-client)
if ((${#missing[@]})); then
	echo "bench-tcp: installing ${missing[*]} from Debian"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null
	command -v systemctl >/dev/null && systemctl disable --now nginx >/dev/null 2>&1 || true
fi
[[ -s $ROOT/certs/server.crt ]] || "$ROOT/scripts/gen-certs.sh" >/dev/null

DOC=$TMP/www
mkdir -p "$DOC"
head -c 1024 /dev/urandom >"$DOC/1k.bin"
printf '<?php echo "Hello, world!\\n";' >"$DOC/hello.php"
chmod -R a+rX "$TMP"

# one pool for both; each server runs only for its own measurements
start_fpm bench-tcp "$CHILDREN"

cat >"$TMP/nginx.conf" <<EOF
worker_processes $WORKERS;
pid $TMP/nginx.pid;
error_log $TMP/nginx-error.log;
user www-data;
events { worker_connections 4096; }
http {
	access_log off;
	keepalive_requests 1000000;
	upstream php { server unix:$SOCK; keepalive $((CHILDREN / WORKERS > 0 ? CHILDREN / WORKERS : 1)); }
	server {
		listen 127.0.0.1:$NPORT ssl http2;
		ssl_certificate $ROOT/certs/server.crt;
		ssl_certificate_key $ROOT/certs/server.key;
		ssl_protocols TLSv1.3;
		root $DOC;
		location ~ \.php\$ {
			include /etc/nginx/fastcgi_params;
			fastcgi_param SCRIPT_FILENAME \$document_root\$fastcgi_script_name;
			fastcgi_keep_conn on;
			fastcgi_pass php;
		}
	}
}
EOF

start_qs() {
	"$ROOT/quicsteerd" --foreground --instance "$INST" --workers "$WORKERS" \
		--listen "127.0.0.1:$QPORT" --cert "$ROOT/certs/server.crt" \
		--key "$ROOT/certs/server.key" --docroot "$DOC" --fastcgi "unix:$SOCK" \
		--php-max-children "$CHILDREN" --log-file "$TMP/quicsteerd.log" &
	qpid=$!
	wait_started bench-tcp "/sys/fs/bpf/quicsteer/$INST" "$TMP/quicsteerd.log"
}
start_nginx() {
	nginx -c "$TMP/nginx.conf" -p "$TMP" -g 'daemon off;' &
	npid=$!
	for _ in $(seq 50); do
		curl -ksf -o /dev/null "https://127.0.0.1:$NPORT/1k.bin" && return 0
		sleep 0.1
	done
	cat "$TMP/nginx-error.log" >&2
	die "nginx does not answer"
}
stop() { # NAME of the variable holding the PID
	local p=${!1}
	[[ -n $p ]] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	printf -v "$1" '%s' ""
	return 0
}

# h2 PORT PATH: requests/s over HTTP/2 (h2load), failing on any error
h2() {
	local out
	out=$(h2load -c "$CONNS" -m "$STREAMS" -D "$DUR" "https://127.0.0.1:$1$2" 2>&1)
	grep -q "0 failed, 0 errored" <<<"$out" || { echo "$out" >&2; die "h2load saw errors on $2"; }
	grep -q "2xx" <<<"$out" || true
	awk '/^finished in/ {for (i = 1; i <= NF; i++) if ($i == "req/s,") print $(i - 1)}' <<<"$out"
}
# h1 PORT PATH: requests/s over HTTP/1.1 (wrk, keep-alive)
h1() {
	local out
	out=$(wrk -t 2 -c "$CONNS" -d "${DUR}s" "https://127.0.0.1:$1$2" 2>&1)
	grep -q "Non-2xx\|Socket errors" <<<"$out" && { echo "$out" >&2; die "wrk saw errors on $2"; }
	awk '/Requests\/sec/ {print $2}' <<<"$out"
}

run() { # SERVER: one round of the four measurements, "name rps" lines
	local port
	if [[ $1 == qs ]]; then start_qs; port=$QPORT; else start_nginx; port=$NPORT; fi
	echo "h2-1k $(h2 "$port" /1k.bin)"
	echo "h2-php $(h2 "$port" /hello.php)"
	echo "h1-1k $(h1 "$port" /1k.bin)"
	echo "h1-php $(h1 "$port" /hello.php)"
	if [[ $1 == qs ]]; then stop qpid; else stop npid; fi
}

median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

declare -A rps
echo "bench-tcp: $ROUNDS rounds x {quicsteer, nginx} x {HTTP/2 h2load, HTTP/1.1 wrk} x {1 KB file, hello.php},"
echo "  ${DUR}s each, $WORKERS workers each, $CONNS connections (HTTP/2: $STREAMS streams each), TLS 1.3,"
echo "  php-fpm pm=static $CHILDREN children (one pool for both)"
for ((r = 1; r <= ROUNDS; r++)); do
	order=(qs nginx)
	((r % 2)) || order=(nginx qs)
	for srv in "${order[@]}"; do
		# in this shell, so that the exit trap knows the server to stop
		run "$srv" >"$TMP/run"
		while read -r name v; do
			[[ -n $v ]] || die "$srv: no figure for $name"
			rps[$srv-$name]+="$v "
			printf '  round %d %-6s %-7s %10.0f req/s\n' "$r" "$srv" "$name" "$v"
		done <"$TMP/run"
	done
done
echo
printf '%-8s %14s %14s %8s\n' "" "quicsteer" "nginx" "ratio"
for name in h2-1k h2-php h1-1k h1-php; do
	q=$(median <<<"${rps[qs-$name]}")
	n=$(median <<<"${rps[nginx-$name]}")
	awk -v name="$name" -v q="$q" -v n="$n" 'BEGIN {
		r = n > 0 ? q / n : 0
		printf "%-8s %10.0f r/s %10.0f r/s %7.2fx  %s\n", name, q, n, r, (r >= 1.0 ? "MET" : "MISSED")
	}'
done
