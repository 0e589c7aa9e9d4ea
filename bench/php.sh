#!/bin/bash
# SPDX-License-Identifier: MIT
# make bench-php: requests/s and latency for a hello-world PHP script through
# quicsteer over HTTP/3, next to
#   (a) qs-fcgi-bench driving the same php-fpm pool directly over FastCGI
#       (the ceiling: php-fpm's own capacity), and
#   (b) nginx from Debian (HTTP/1.1 over TLS, fastcgi_pass with keepalive)
#       in front of the same pool, loaded with wrk,
# in one run, rounds interleaved, medians reported.  Targets: quicsteer >=
# 0.9x the raw FastCGI ceiling and >= 1.0x nginx.  Then the demo page
# (www/index.php) through quicsteer plain and with `accept-encoding: br, zstd,
# gzip`: req/s and bytes per response (target: compressed >= 0.85x plain).
# A benchmark, not a test.
# nginx and wrk are installed from Debian on first use (root).
#
# Env: ROUNDS (3), SECONDS_PER_RUN (5), CHILDREN (php-fpm pool, 8),
#      CONNS (client connections, 8), DEPTH (requests in flight per HTTP/3
#      connection, 4), WORKERS (quicsteer workers, 2), QS_EXTRA_ARGS (more
#      quicsteerd options, e.g. "--access-log /tmp/a/access.log")
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
ROUNDS=${ROUNDS:-3}
DUR=${SECONDS_PER_RUN:-5}
CHILDREN=${CHILDREN:-8}
CONNS=${CONNS:-8}
DEPTH=${DEPTH:-4}
WORKERS=${WORKERS:-2}
INST=benchphp$$
QPORT=$((20000 + RANDOM % 20000))
NPORT=$((QPORT + 1))
TMP=$(mktemp -d /tmp/qs-bench-php.XXXXXX)
qpid= npid= fpid=

[[ $(id -u) == 0 ]] || { echo "bench-php: needs root (sudo make bench-php)" >&2; exit 1; }
cleanup() {
	[[ -n $npid ]] && kill "$npid" 2>/dev/null && wait "$npid" 2>/dev/null
	[[ -n $qpid ]] && kill "$qpid" 2>/dev/null && wait "$qpid" 2>/dev/null
	[[ -n $fpid ]] && kill -QUIT "$fpid" 2>/dev/null && wait "$fpid" 2>/dev/null
	rm -rf "$TMP" "/sys/fs/bpf/quicsteer/$INST" "/run/quicsteer/$INST"
	return 0
}
trap cleanup EXIT

missing=()
command -v nginx >/dev/null || missing+=(nginx)
command -v wrk >/dev/null || missing+=(wrk)
if ((${#missing[@]})); then
	echo "bench-php: installing ${missing[*]} from Debian"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null
	# the package's own service is not ours: keep it from holding port 80
	command -v systemctl >/dev/null && systemctl disable --now nginx >/dev/null 2>&1 || true
fi

DOC=$TMP/www
mkdir -p "$DOC"
printf '<?php echo "Hello, world!\\n";' >"$DOC/hello.php"
cp "$ROOT/www/index.php" "$DOC/index.php"	# the demo page, for compression
chmod -R a+rX "$TMP"

# One php-fpm pool for all three.  Each server runs only for its own
# measurements: php-fpm gives every kept-alive connection a child, so a
# server idling on its connections would hold the pool from the others.
start_fpm bench-php "$CHILDREN"

cat >"$TMP/nginx.conf" <<EOF
worker_processes $WORKERS;
pid $TMP/nginx.pid;
error_log $TMP/nginx-error.log;
user www-data;
events { worker_connections 1024; }
http {
	access_log off;
	upstream php { server unix:$SOCK; keepalive $((CHILDREN / WORKERS > 0 ? CHILDREN / WORKERS : 1)); }
	server {
		listen 127.0.0.1:$NPORT ssl;
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

start_quic() {
	"$ROOT/quicsteerd" --foreground --instance "$INST" --workers "$WORKERS" \
		--listen "127.0.0.1:$QPORT" --cert "$ROOT/certs/server.crt" \
		--key "$ROOT/certs/server.key" --docroot "$DOC" --fastcgi "unix:$SOCK" \
		--php-max-children "$CHILDREN" --log-file "$TMP/quicsteerd.log" ${QS_EXTRA_ARGS:-} &
	qpid=$!
	wait_started bench-php "/sys/fs/bpf/quicsteer/$INST" "$TMP/quicsteerd.log"
}
stop() { # NAME of the variable holding the PID
	local p=${!1}
	[[ -n $p ]] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	printf -v "$1" '%s' ""
	return 0
}

# CPU ticks (user + system) of a process and its children
ticks() {
	local p sum=0 t
	[[ -n $1 ]] || { echo 0; return; }
	for p in "$1" $(pgrep -P "$1" || true); do
		t=$(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null) || continue
		sum=$((sum + t))
	done
	echo "$sum"
}
HZ=$(getconf CLK_TCK)
TIMEFORMAT='%U %S'

# measure SERVER_PID CLIENT...: the client's "req/s p50 p99" (from its
# parser on stdout) followed by the CPU microseconds per request of the
# server, of php-fpm and of the client, over the same interval.
measure() {
	local srv=$1 s0 f0 s1 f1 out cpu
	shift
	s0=$(ticks "$srv") f0=$(ticks "$fpid")
	{ time "$@" >"$TMP/client.out"; } 2>"$TMP/client.time"
	s1=$(ticks "$srv") f1=$(ticks "$fpid")
	read -r out <"$TMP/client.out"
	cpu=$(tail -1 "$TMP/client.time")
	awk -v o="$out" -v s=$((s1 - s0)) -v f=$((f1 - f0)) -v c="$cpu" -v hz="$HZ" -v d="$DUR" 'BEGIN {
		split(o, a, " "); split(c, u, " "); n = a[1] * d
		if (n <= 0) n = 1
		printf "%s %.1f %.1f %.1f\n", o, s / hz * 1e6 / n, f / hz * 1e6 / n, (u[1] + u[2]) * 1e6 / n
	}'
}

raw_client() {
	"$ROOT/.output/qs-fcgi-bench" "$SOCK" "$DOC/hello.php" "$CHILDREN" "$DUR" |
		jq -r '"\(.req_per_s) \(.p50_ms) \(.p99_ms)"'
}
quic_client() {
	"$ROOT/.output/quicsteer-load" -k --json -c "$CONNS" -m "$DEPTH" -d "$DUR" \
		--expect-size 14 "https://127.0.0.1:$QPORT/hello.php" |
		jq -r '"\(.req_per_s) \(.latency_ms.p50) \(.latency_ms.p99)"'
}
nginx_client() { # wrk prints "Requests/sec: N" and, with --latency, percentiles
	wrk -t 2 -c "$CONNS" -d "${DUR}s" --latency "https://127.0.0.1:$NPORT/hello.php" |
		awk '/Requests\/sec/ {r = $2}
		     / 50% / {p50 = $2} / 99% / {p99 = $2}
		     function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
		     END { printf "%s %.3f %.3f\n", r, ms(p50), ms(p99) }'
}
run_raw() {
	measure "" raw_client
}
run_quic() {
	start_quic
	measure "$qpid" quic_client
	stop qpid
}
run_nginx() {
	nginx -c "$TMP/nginx.conf" -p "$TMP" -g 'daemon off;' &
	npid=$!
	sleep 0.5
	measure "$npid" nginx_client
	stop npid
}

declare -A rps p50 p99 us_srv us_fpm us_cli
echo "bench-php: $ROUNDS rounds x {raw FastCGI, quicsteer HTTP/3, nginx HTTP/1.1+TLS}, ${DUR}s each,"
echo "  hello.php, php-fpm pm=static $CHILDREN children (one pool for all), $WORKERS server workers,"
echo "  $CONNS client connections (HTTP/3: $DEPTH requests in flight each; raw: $CHILDREN connections)"
for ((r = 1; r <= ROUNDS; r++)); do
	for what in raw quic nginx; do
		read -r a b c us uf uc < <(run_$what)
		rps[$what]+="$a "
		p50[$what]+="$b "
		p99[$what]+="$c "
		us_srv[$what]+="$us " us_fpm[$what]+="$uf " us_cli[$what]+="$uc "
		printf '  round %d %-6s %10.0f req/s  p50 %7.3f ms  p99 %7.3f ms   CPU us/req: server %5.1f php-fpm %5.1f client %5.1f\n' \
			"$r" "$what" "$a" "$b" "$c" "$us" "$uf" "$uc"
	done
done
med() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
R=$(med "${rps[raw]}") Q=$(med "${rps[quic]}") N=$(med "${rps[nginx]}")
awk -v r="$R" -v q="$Q" -v n="$N" -v rp="$(med "${p50[raw]}")" -v qp="$(med "${p50[quic]}")" \
	-v np="$(med "${p50[nginx]}")" -v r9="$(med "${p99[raw]}")" -v q9="$(med "${p99[quic]}")" \
	-v n9="$(med "${p99[nginx]}")" 'BEGIN {
	printf "\nmedians:\n"
	printf "  raw FastCGI (ceiling)   %9.0f req/s   p50 %7.3f ms   p99 %7.3f ms\n", r, rp, r9
	printf "  quicsteer HTTP/3        %9.0f req/s   p50 %7.3f ms   p99 %7.3f ms\n", q, qp, q9
	printf "  nginx HTTP/1.1 + TLS    %9.0f req/s   p50 %7.3f ms   p99 %7.3f ms\n", n, np, n9
	printf "  quicsteer / ceiling     %6.2fx   target >= 0.9x   %s\n", q / r, (q / r >= 0.9 ? "MET" : "MISSED")
	printf "  quicsteer / nginx       %6.2fx   target >= 1.0x   %s\n", q / n, (q / n >= 1.0 ? "MET" : "MISSED")
	printf "(2 CPUs shared by php-fpm, the server and the load generator: figures are\n"
	printf " bounded by the machine; the ratios are what this compares)\n"
}'
echo "CPU microseconds per request (medians; where the ceiling's CPU goes instead):"
for what in raw quic nginx; do
	printf '  %-22s server %6.1f   php-fpm %6.1f   client %6.1f\n' \
		"$(case $what in raw) echo "raw FastCGI" ;; quic) echo "quicsteer HTTP/3" ;; nginx) echo "nginx HTTP/1.1 + TLS" ;; esac)" \
		"$(med "${us_srv[$what]}")" "$(med "${us_fpm[$what]}")" "$(med "${us_cli[$what]}")"
done

# The demo page through quicsteer, plain and with `accept-encoding: br, zstd,
# gzip` (http/encode.c picks zstd), rounds interleaved: what compression costs.
demo_client() { # [ACCEPT-ENCODING]: "req/s bytes-per-response"
	local hdr=()
	[[ -n ${1:-} ]] && hdr=(-H "accept-encoding:$1")
	"$ROOT/.output/quicsteer-load" -k --json -c "$CONNS" -m "$DEPTH" -d "$DUR" "${hdr[@]}" \
		"https://127.0.0.1:$QPORT/index.php" |
		jq -r '"\(.req_per_s) \(.body_bytes / ([.requests_completed, 1] | max) | floor)"'
}
start_quic
declare -A drps dbytes
for ((r = 1; r <= ROUNDS; r++)); do
	for what in plain compressed; do
		read -r a b < <(demo_client "$([[ $what == compressed ]] && echo 'br, zstd, gzip')")
		drps[$what]+="$a " dbytes[$what]+="$b "
		printf '  demo page round %d %-10s %9.0f req/s %6d bytes/response\n' "$r" "$what" "$a" "$b"
	done
done
stop qpid
awk -v p="$(med "${drps[plain]}")" -v c="$(med "${drps[compressed]}")" \
	-v pb="$(med "${dbytes[plain]}")" -v cb="$(med "${dbytes[compressed]}")" 'BEGIN {
	printf "demo page (www/index.php) over HTTP/3, medians:\n"
	printf "  plain                   %9.0f req/s   %6d bytes/response\n", p, pb
	printf "  br, zstd, gzip accepted %9.0f req/s   %6d bytes/response\n", c, cb
	printf "  compressed / plain      %6.2fx   target >= 0.85x   %s\n", c / p, (c / p >= 0.85 ? "MET" : "MISSED")
}'
