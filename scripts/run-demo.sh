#!/bin/bash
# SPDX-License-Identifier: MIT
# make run: start quicsteerd in the foreground on UDP 4433 (all addresses,
# IPv4 and IPv6), one worker per CPU, instance "demo", serving www/ over
# HTTP/3 with the development certificate from scripts/gen-certs.sh, its
# .php scripts through a php-fpm pool quicsteerd starts and stops.
# Ctrl-C stops it and removes its pins.  QS_ARGS adds flags, e.g.
# QS_ARGS="--workers 4".
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PORT=${PORT:-4433}
INST=${INSTANCE:-demo}

[[ -s $ROOT/certs/server.crt ]] || "$ROOT/scripts/gen-certs.sh"
chmod -R a+rX "$ROOT/www"
# the workers run as www-data, PHP as quicsteer-php: every directory above
# www/ must let them pass
for u in www-data quicsteer-php; do
	if ! setpriv --reuid=$u --regid=$u --clear-groups test -r "$ROOT/www/index.php" 2>/dev/null; then
		echo "run-demo: $u cannot read $ROOT/www (a parent directory is not searchable);" >&2
		echo "run-demo: give it a docroot it can read with QS_ARGS=\"--docroot DIR\"" >&2
	fi
done
cat <<MSG
quicsteerd: starting instance '$INST' on udp and tcp [::]:$PORT serving $ROOT/www (Ctrl-C stops it)
  fetch:        gtlsclient --exit-on-all-streams-close --no-quic-dump 127.0.0.1 $PORT https://127.0.0.1:$PORT/index.php
  over TCP:     curl -k --http2 -i https://127.0.0.1:$PORT/index.php   (--http1.1 for HTTP/1.1; alt-svc names h3)
  static page:  gtlsclient -q --exit-on-all-streams-close 127.0.0.1 $PORT https://127.0.0.1:$PORT/index.html
  migrate:      gtlsclient --change-local-addr=10ms --exit-on-all-streams-close 127.0.0.1 $PORT https://127.0.0.1:$PORT/index.php
  0-RTT:        run this twice; the second run resumes and sends its GET in 0-RTT (the page says so):
                gtlsclient --session-file=/tmp/qs.sess --tp-file=/tmp/qs.tp --wait-for-ticket --exit-on-all-streams-close --no-quic-dump 127.0.0.1 $PORT https://127.0.0.1:$PORT/index.php
  reload:       sudo quicsteerctl -i $INST reload   (new workers; connections in flight finish)
  status:       sudo quicsteerctl -i $INST status   (--json for scripts)
  inspect:      sudo scripts/inspect.sh $INST
  metrics:      curl -s http://127.0.0.1:${METRICS_PORT:-9473}/metrics   (health: /health)
  PHP:          www/*.php through a php-fpm pool the server manages (--fastcgi managed)
MSG
# shellcheck disable=SC2086
exec "$ROOT/quicsteerd" --foreground --instance "$INST" --listen "[::]:$PORT" \
	--cert "$ROOT/certs/server.crt" --key "$ROOT/certs/server.key" --docroot "$ROOT/www" \
	--fastcgi managed --metrics "127.0.0.1:${METRICS_PORT:-9473}" \
	${QS_ARGS:-}
