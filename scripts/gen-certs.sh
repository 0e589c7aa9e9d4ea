#!/bin/bash
# SPDX-License-Identifier: MIT
# Make a development certificate and key in certs/ (self-signed, EC P-256,
# for localhost, 127.0.0.1 and ::1).  Never for production: clients must be
# told to skip verification.  Usage: scripts/gen-certs.sh [DIR]
set -euo pipefail
dir=${1:-$(cd "$(dirname "$0")/.." && pwd)/certs}
mkdir -p "$dir"
if [[ -s $dir/server.crt && -s $dir/server.key ]]; then
	echo "gen-certs: $dir/server.crt and server.key exist, keeping them"
	exit 0
fi
umask 077
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-keyout "$dir/server.key" -out "$dir/server.crt" -days 825 \
	-subj "/CN=localhost" \
	-addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" 2>/dev/null
chmod 644 "$dir/server.crt"
echo "gen-certs: wrote $dir/server.crt and $dir/server.key (self-signed, development only)"
