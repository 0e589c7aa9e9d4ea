#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# scripts/setup.sh - install and build everything quicsteer needs (Debian 12 "bookworm").
#
#   1. Debian packages from bookworm (only the missing ones).
#   2. ngtcp2-client (gtlsclient), ngtcp2-server (gtlsserver, the benchmark's reference server)
#      and libnghttp3-dev (nghttp3 >= 1.x) from bookworm-backports,
#      through a private apt configuration (the system's apt sources are never changed).
#   3. OpenSSL >= 3.5 and ngtcp2 >= 1.12 with libngtcp2_crypto_ossl, when pkg-config does not
#      find them: built, static, from Debian's own SOURCE packages (openssl from trixie,
#      ngtcp2 from sid, falling back to the next suite) into a cache prefix outside the
#      checkout. No trixie/sid binary package is ever installed.
#   4. bpffs mounted at /sys/fs/bpf; kernel BTF present; the system user quicsteer-php
#      the managed php-fpm pool runs as (--php-user).
#   5. With --tests, the clients only the test suite needs (make test asks for them):
#      a curl with HTTP/3 built from Debian's curl SOURCE package against the prefix's
#      OpenSSL and ngtcp2 (installed as $PREFIX/bin/curl, never on PATH: the system curl stays
#      as it is); Debian's chromium and libnss3-tools (certutil); puppeteer-core from npm
#      (tests/tools/browser/package-lock.json, `npm ci` into $DEPS/browser).
#   6. A summary of versions and the PKG_CONFIG_PATH to use.
#
# Idempotent: a second run finds everything present and does nothing.
# Options: --check (report what is missing; exit 1 if anything is, 0 otherwise; installs
# nothing; fast, and works without root), --tests (the test clients too), --help.
# Environment: QUICSTEER_DEPS (cache root, default /var/cache/quicsteer/deps),
# QUICSTEER_DEBIAN_MIRROR, QUICSTEER_DEBIAN_SECURITY_MIRROR.

set -euo pipefail
umask 022

# ---------------------------------------------------------------- configuration

DEPS=${QUICSTEER_DEPS:-/var/cache/quicsteer/deps}
PREFIX=$DEPS/prefix
MIRROR=${QUICSTEER_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${QUICSTEER_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
CODENAME=bookworm
if [[ -r /etc/os-release ]]; then
  # shellcheck disable=SC1091
  CODENAME=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
fi
PC_PATH_PREFIX="$PREFIX/lib/pkgconfig:$PREFIX/lib64/pkgconfig"
export PKG_CONFIG_PATH="$PC_PATH_PREFIX${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"

# the managed php-fpm pool's user (quicsteerd --php-user): not the workers', so PHP cannot
# signal or trace them
PHP_USER=quicsteer-php

MIN_OPENSSL=3.5
MIN_NGTCP2=1.12
MIN_NGHTTP3=1.0
# curl >= 8.13 speaks HTTP/3 through ngtcp2's OpenSSL (>= 3.5) backend
MIN_CURL=8.13
MIN_NODE=18

# Source suites, in order of preference (the first suite with a new-enough version that
# can actually be downloaded wins; within a suite, the newest version).
OPENSSL_SUITES=(trixie forky sid)
NGTCP2_SUITES=(sid forky trixie)
NGHTTP3_SUITES=(sid forky trixie "$CODENAME-backports")
CURL_SUITES=(trixie "$CODENAME-backports")

DEB_PKGS=(clang llvm libclang-rt-14-dev libbpf-dev libxdp-dev xdp-tools bpftool libelf-dev zlib1g-dev pkg-config
  cmake make gcc libinih-dev libseccomp-dev php-fpm iproute2 jq procps ca-certificates dpkg-dev
  build-essential perl xz-utils patch python3 gdb libnghttp2-dev nghttp2-client python3-h2
  libbrotli-dev libzstd-dev brotli zstd gzip)
# --tests: the browser test's (bookworm-security has the current chromium)
TEST_DEB_PKGS=(chromium libnss3-tools)

OPENSSL_CONFIG=(--prefix="$PREFIX" --libdir=lib no-docs no-tests no-shared)
NGTCP2_CMAKE=(-DCMAKE_BUILD_TYPE=Release -DENABLE_LIB_ONLY=ON -DENABLE_OPENSSL=ON
  -DOPENSSL_ROOT_DIR="$PREFIX" -DOPENSSL_USE_STATIC_LIBS=TRUE
  -DENABLE_SHARED_LIB=OFF -DENABLE_STATIC_LIB=ON -DCMAKE_POSITION_INDEPENDENT_CODE=ON
  -DBUILD_TESTING=OFF -DCMAKE_INSTALL_PREFIX="$PREFIX" -DCMAKE_INSTALL_LIBDIR=lib)
NGHTTP3_CMAKE=(-DCMAKE_BUILD_TYPE=Release -DENABLE_LIB_ONLY=ON
  -DENABLE_SHARED_LIB=OFF -DENABLE_STATIC_LIB=ON -DCMAKE_POSITION_INDEPENDENT_CODE=ON
  -DBUILD_TESTING=OFF -DCMAKE_INSTALL_PREFIX="$PREFIX" -DCMAKE_INSTALL_LIBDIR=lib)
# The curl tool alone, HTTP only, static libcurl; nothing optional but HTTP/2 (the system's
# nghttp2), HTTP/3 and zlib. Only the binary is installed: no libcurl.pc lands in the prefix.
CURL_CMAKE=(-DCMAKE_BUILD_TYPE=Release -DHTTP_ONLY=ON -DBUILD_SHARED_LIBS=OFF
  -DBUILD_STATIC_LIBS=ON -DBUILD_CURL_EXE=ON -DBUILD_TESTING=OFF -DBUILD_LIBCURL_DOCS=OFF
  -DBUILD_MISC_DOCS=OFF -DENABLE_CURL_MANUAL=OFF -DCURL_USE_OPENSSL=ON
  -DOPENSSL_ROOT_DIR="$PREFIX" -DOPENSSL_USE_STATIC_LIBS=TRUE -DUSE_NGTCP2=ON -DUSE_NGHTTP2=ON
  -DCURL_USE_LIBPSL=OFF -DUSE_LIBIDN2=OFF -DCURL_USE_LIBSSH2=OFF -DCURL_USE_LIBSSH=OFF
  -DCURL_BROTLI=OFF -DCURL_ZSTD=OFF -DCURL_USE_GSSAPI=OFF -DUSE_LIBRTMP=OFF -DENABLE_ARES=OFF
  -DCURL_DISABLE_LDAP=ON)
CURL_BIN=$PREFIX/bin/curl
BROWSER_DIR=$DEPS/browser            # puppeteer-core: npm ci of tests/tools/browser
BROWSER_LOCK=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/tools/browser/package-lock.json

# A stamp is valid only if its key (first line) matches: changing the build options here
# invalidates it and forces a rebuild.
STAMP_FORMAT=1
STAMPS=$DEPS/stamps
LOGS=$DEPS/logs
APT_BIN=$DEPS/apt/bin       # private apt config: bookworm + updates + security + backports
APT_SRC=$DEPS/apt/src       # private apt config: deb-src lines only (trixie, forky, sid, backports)
JOBS=$(nproc 2>/dev/null || echo 2)

WITH_TESTS=0                # --tests

# ---------------------------------------------------------------- helpers

log() { printf 'setup: %s\n' "$*"; }
warn() { printf 'setup: warning: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo $((t / 1000)); }
T_START=$(now_ms)
since() { echo "$(( ($(now_ms) - $1) / 1000 ))s"; }

usage() {
  cat <<EOF
Usage: scripts/setup.sh [--tests] [--check | --help]

Installs and builds what quicsteer needs on Debian 12 (bookworm). Run as root
(e.g. through 'sudo make run'). Idempotent: a second run does nothing.

  (no option)  install what is missing: bookworm packages, ngtcp2-client,
               ngtcp2-server and libnghttp3-dev from bookworm-backports,
               OpenSSL >= $MIN_OPENSSL and ngtcp2 >= $MIN_NGTCP2 (libngtcp2_crypto_ossl) built
               statically from Debian source packages into \$QUICSTEER_DEPS/prefix;
               mount bpffs; check BTF; create the system user $PHP_USER.
  --check      only report what is missing; exit 1 if anything is, else 0.
               Installs nothing and does not need root.
  --tests      also what only the test suite needs (make test): a curl with
               HTTP/3 built from Debian's source into \$QUICSTEER_DEPS/prefix/bin
               (never on PATH), chromium and libnss3-tools, node and npm when
               missing, puppeteer-core from npm into \$QUICSTEER_DEPS/browser.
  --help       this text.

Cache root: \$QUICSTEER_DEPS (now $DEPS); prefix $PREFIX.
Use:        PKG_CONFIG_PATH=$PC_PATH_PREFIX
EOF
}

# Print the tail of a log and die.
die_log() {
  local msg=$1 logf=$2
  if [[ -f $logf ]]; then
    printf 'setup: --- last lines of %s ---\n' "$logf" >&2
    tail -n 40 "$logf" >&2 || true
    printf 'setup: --- end of %s ---\n' "$logf" >&2
  fi
  die "$msg (full log: $logf)"
}

# Upstream part of a Debian version: strip epoch and revision.
upstream_of() { local v=${1#*:}; echo "${v%-*}"; }
ver_ge() { dpkg --compare-versions "$1" ge "$2"; }

# Sort Debian versions, newest first (few items: insertion sort via dpkg).
sort_versions_desc() {
  local out=() v i j
  while IFS= read -r v; do
    [[ -n $v ]] || continue
    out+=("$v")
    i=$((${#out[@]} - 1))
    while (( i > 0 )) && dpkg --compare-versions "${out[i-1]}" lt "${out[i]}"; do
      j=${out[i-1]}; out[i-1]=${out[i]}; out[i]=$j; i=$((i - 1))
    done
  done
  (( ${#out[@]} )) && printf '%s\n' "${out[@]}"
  return 0
}

# ---------------------------------------------------------------- state checks

# Stamp key per component (first line of the stamp file).
stamp_key() {
  case $1 in
    openssl) echo "key=openssl|$STAMP_FORMAT|${OPENSSL_CONFIG[*]}" ;;
    ngtcp2) echo "key=ngtcp2|$STAMP_FORMAT|${NGTCP2_CMAKE[*]}" ;;
    nghttp3) echo "key=nghttp3|$STAMP_FORMAT|${NGHTTP3_CMAKE[*]}" ;;
    # rebuilt when the libraries it links change
    curl) echo "key=curl|$STAMP_FORMAT|${CURL_CMAKE[*]}|$(pkg-config --modversion libssl libngtcp2_crypto_ossl libnghttp3 2>/dev/null | paste -sd,)" ;;
    browser) echo "key=browser|$STAMP_FORMAT|node=$(node_major)|lock=$(sha256sum <"$BROWSER_LOCK" 2>/dev/null | cut -d' ' -f1)" ;;
  esac
}
stamp_valid() {
  local f=$STAMPS/$1 line
  [[ -f $f ]] || return 1
  IFS= read -r line <"$f" || return 1
  [[ $line == "$(stamp_key "$1")" ]]
}
stamp_field() { # stamp_field COMPONENT FIELD -> value or empty
  local f=$STAMPS/$1
  [[ -f $f ]] || return 0
  sed -n "s/^$2=//p" "$f" | head -n 1
}

# pc_ok MODULE MINVERSION COMPONENT: pkg-config finds MODULE >= MINVERSION, and if the .pc
# lives in our prefix, the component's build stamp is valid (the build finished).
pc_ok() {
  local mod=$1 min=$2 comp=$3 dir
  command -v pkg-config >/dev/null 2>&1 || return 1
  pkg-config --atleast-version="$min" "$mod" 2>/dev/null || return 1
  dir=$(pkg-config --variable=pcfiledir "$mod" 2>/dev/null) || return 1
  case $dir in
    "$PREFIX"/*) stamp_valid "$comp" || return 1 ;;
  esac
  return 0
}
pc_in_prefix() {
  local dir
  dir=$(pkg-config --variable=pcfiledir "$1" 2>/dev/null) || return 1
  [[ $dir == "$PREFIX"/* ]]
}

openssl_ok() {
  pc_ok openssl "$MIN_OPENSSL" openssl && pc_ok libssl "$MIN_OPENSSL" openssl &&
    pc_ok libcrypto "$MIN_OPENSSL" openssl || return 1
  if pc_in_prefix libssl; then [[ -f $PREFIX/lib/libssl.a && -f $PREFIX/lib/libcrypto.a ]] || return 1; fi
  return 0
}
ngtcp2_ok() {
  pc_ok libngtcp2 "$MIN_NGTCP2" ngtcp2 && pc_ok libngtcp2_crypto_ossl "$MIN_NGTCP2" ngtcp2
}
nghttp3_ok() { pc_ok libnghttp3 "$MIN_NGHTTP3" nghttp3; }

# the HTTP/3 curl: built, its stamp current, and it says so
curl_ok() {
  [[ -x $CURL_BIN ]] && stamp_valid curl || return 1
  "$CURL_BIN" -V 2>/dev/null | grep -q '^Features:.* HTTP3'
}
node_major() { local v; v=$(node --version 2>/dev/null) || return 0; v=${v#v}; echo "${v%%.*}"; }
node_ok() { command -v npm >/dev/null 2>&1 && (( $(node_major || echo 0) >= MIN_NODE )); }
browser_npm_ok() { [[ -f $BROWSER_DIR/node_modules/puppeteer-core/package.json ]] && stamp_valid browser; }

# Key of the final link test: the versions it was run with.
linktest_key() {
  printf 'key=linktest|%s|openssl=%s|ngtcp2=%s|nghttp3=%s\n' "$STAMP_FORMAT" \
    "$(pkg-config --modversion libssl 2>/dev/null)" \
    "$(pkg-config --modversion libngtcp2_crypto_ossl 2>/dev/null)" \
    "$(pkg-config --modversion libnghttp3 2>/dev/null)"
}
linktest_ok() {
  local line
  [[ -f $DEPS/stamp ]] || return 1
  IFS= read -r line <"$DEPS/stamp" || return 1
  [[ $line == "$(linktest_key)" ]]
}

bpffs_mounted() {
  local _dev mnt type _rest
  while read -r _dev mnt type _rest; do
    [[ $mnt == /sys/fs/bpf && $type == bpf ]] && return 0
  done </proc/mounts
  return 1
}

# Debian packages not installed (status "ii"), among the arguments.
missing_debs() {
  local -A have=()
  local name st
  while read -r name st; do
    [[ $st == ii ]] && have[$name]=1
  done < <(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "$@" 2>/dev/null || true)
  for name in "$@"; do
    [[ -n ${have[$name]:-} ]] || echo "$name"
  done
}

gtlsclient_ok() { [[ -x /usr/bin/gtlsclient ]]; }
gtlsserver_ok() { [[ -x /usr/sbin/gtlsserver ]]; }

# Fill the NEED_* variables and the MISSING list (human-readable).
collect_missing() {
  MISSING=()
  mapfile -t NEED_DEBS < <(missing_debs "${DEB_PKGS[@]}")
  local p
  for p in "${NEED_DEBS[@]}"; do MISSING+=("debian package $p (bookworm)"); done
  NEED_GTLS=0
  if ! gtlsclient_ok; then NEED_GTLS=1; MISSING+=("ngtcp2-client (/usr/bin/gtlsclient, bookworm-backports)"); fi
  NEED_GTLSSERVER=0
  if ! gtlsserver_ok; then NEED_GTLSSERVER=1; MISSING+=("ngtcp2-server (/usr/sbin/gtlsserver, bookworm-backports)"); fi
  if ! openssl_ok; then MISSING+=("OpenSSL >= $MIN_OPENSSL (pkg-config openssl/libssl)"); fi
  if ! ngtcp2_ok; then MISSING+=("libngtcp2 >= $MIN_NGTCP2 with libngtcp2_crypto_ossl"); fi
  if ! nghttp3_ok; then MISSING+=("libnghttp3 >= $MIN_NGHTTP3 (libnghttp3-dev, bookworm-backports)"); fi
  if ! linktest_ok; then MISSING+=("static link test of OpenSSL/ngtcp2/nghttp3 (stamp $DEPS/stamp)"); fi
  if (( WITH_TESTS )); then
    mapfile -t NEED_TEST_DEBS < <(missing_debs "${TEST_DEB_PKGS[@]}")
    for p in "${NEED_TEST_DEBS[@]}"; do MISSING+=("debian package $p (--tests)"); done
    if ! curl_ok; then MISSING+=("curl with HTTP/3 ($CURL_BIN, --tests)"); fi
    if ! node_ok; then MISSING+=("node >= $MIN_NODE and npm (--tests)"); fi
    if ! browser_npm_ok; then MISSING+=("puppeteer-core in $BROWSER_DIR (npm ci of tests/tools/browser, --tests)"); fi
  fi
  if ! bpffs_mounted; then MISSING+=("bpffs mounted at /sys/fs/bpf"); fi
  if [[ ! -e /sys/kernel/btf/vmlinux ]]; then MISSING+=("kernel BTF (/sys/kernel/btf/vmlinux)"); fi
  if ! getent passwd "$PHP_USER" >/dev/null; then MISSING+=("system user $PHP_USER (the php-fpm pool's)"); fi
  return 0
}

# ---------------------------------------------------------------- private apt configs

APT_BIN_UPDATED=0
APT_SRC_UPDATED=0

write_if_changed() { # write_if_changed FILE CONTENT
  if [[ ! -f $1 ]] || [[ "$(cat "$1")" != "$2" ]]; then printf '%s\n' "$2" >"$1"; fi
}

apt_common_opts() { # apt_common_opts DIR
  printf '%s\n' -o "Dir::Etc::sourcelist=$1/sources.list" -o Dir::Etc::sourceparts=- \
    -o "Dir::State::Lists=$1/lists" -o "Dir::Cache=$1/cache" -o DPkg::Lock::Timeout=600 \
    -o Acquire::Languages=none -o Acquire::Retries=3
}
apt_bin() {
  local opts; mapfile -t opts < <(apt_common_opts "$APT_BIN")
  DEBIAN_FRONTEND=noninteractive apt-get "${opts[@]}" "$@"
}
# apt_install LOGFILE ARGS...: apt-get install ARGS (packages, -t SUITE) through the private
# binary config, non-interactive, keeping changed configuration files
apt_install() {
  local logf=$1; shift
  apt_bin_update_once
  apt_bin install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@" >"$logf" 2>&1
}
apt_src() {
  local opts; mapfile -t opts < <(apt_common_opts "$APT_SRC")
  apt-get "${opts[@]}" "$@"
}
apt_src_cache() {
  local opts; mapfile -t opts < <(apt_common_opts "$APT_SRC")
  apt-cache "${opts[@]}" "$@"
}

prepare_apt_dir() { # prepare_apt_dir DIR CONTENT
  mkdir -p "$1/lists/partial" "$1/cache/archives/partial"
  write_if_changed "$1/sources.list" "$2"
}

apt_bin_update_once() {
  (( APT_BIN_UPDATED )) && return 0
  [[ -r $KEYRING ]] || die "$KEYRING missing (package debian-archive-keyring)"
  local s="[signed-by=$KEYRING]"
  prepare_apt_dir "$APT_BIN" "# quicsteer private apt sources (binary packages, $CODENAME only)
deb $s $MIRROR $CODENAME main
deb $s $MIRROR $CODENAME-updates main
deb $s $SECURITY_MIRROR $CODENAME-security main
deb $s $MIRROR $CODENAME-backports main"
  local t; t=$(now_ms)
  log "  apt-get update (private config $APT_BIN: $CODENAME, -updates, -security, -backports)"
  apt_bin update >"$LOGS/apt-bin-update.log" 2>&1 ||
    die_log "apt-get update failed" "$LOGS/apt-bin-update.log"
  log "  apt-get update done ($(since "$t"))"
  APT_BIN_UPDATED=1
}

apt_src_update_once() {
  (( APT_SRC_UPDATED )) && return 0
  [[ -r $KEYRING ]] || die "$KEYRING missing (package debian-archive-keyring)"
  local s="[signed-by=$KEYRING]"
  prepare_apt_dir "$APT_SRC" "# quicsteer private apt sources: SOURCE packages only (never binaries)
deb-src $s $MIRROR trixie main
deb-src $s $MIRROR trixie-updates main
deb-src $s $SECURITY_MIRROR trixie-security main
deb-src $s $MIRROR forky main
deb-src $s $MIRROR sid main
deb-src $s $MIRROR $CODENAME-backports main"
  local t; t=$(now_ms)
  log "  apt-get update (private deb-src config $APT_SRC: trixie, forky, sid, $CODENAME-backports)"
  if ! apt_src update >"$LOGS/apt-src-update.log" 2>&1; then
    # One suite missing or broken (e.g. a renamed testing suite) must not stop us.
    warn "apt-get update of the deb-src config reported errors (see $LOGS/apt-src-update.log); going on with what it got"
    compgen -G "$APT_SRC/lists/*Sources*" >/dev/null ||
      die_log "no source index could be downloaded" "$LOGS/apt-src-update.log"
  fi
  log "  apt-get update done ($(since "$t"))"
  APT_SRC_UPDATED=1
}

# ---------------------------------------------------------------- source builds

# fetch_source PKG MINVERSION SUITE... : download and unpack the newest new-enough version of
# source package PKG from the first suite that has one and serves it (404 -> next).
# Sets SRC_DIR, SRC_VERSION, SRC_SUITE.
fetch_source() {
  local pkg=$1 min=$2; shift 2
  local logf=$LOGS/$pkg-fetch.log work=$DEPS/src/$pkg
  apt_src_update_once
  : >"$logf"
  local madison
  madison=$(apt_src_cache madison "$pkg" 2>>"$logf" || true)
  printf '%s\n' "$madison" >>"$logf"
  local cands=() s v vs tried=" "
  for s in "$@"; do
    mapfile -t vs < <(awk -F'|' -v s="$s" '
      $3 ~ /Sources[[:space:]]*$/ {
        n = split($3, a, " "); split(a[2], b, "/"); suite = b[1]
        if (suite == s || index(suite, s "-") == 1) { v = $2; gsub(/[[:space:]]/, "", v); print v }
      }' <<<"$madison" | sort -u | sort_versions_desc)
    for v in "${vs[@]}"; do
      if ver_ge "$(upstream_of "$v")" "$min"; then cands+=("$v@$s");
      else log "  $pkg $v ($s) is older than $min, skipped"; fi
    done
  done
  (( ${#cands[@]} )) || die_log "no source package $pkg >= $min in suites $*" "$logf"
  local c dsc
  # One work dir for all candidates: files already downloaded for a failed candidate (often
  # the big .orig tarball, shared between Debian revisions) are reused by apt, not fetched again.
  rm -rf "$work"; mkdir -p "$work"
  chown _apt "$work" 2>/dev/null || true   # lets apt download sandboxed as _apt
  for c in "${cands[@]}"; do
    v=${c%@*}; s=${c##*@}
    [[ $tried == *" $v "* ]] && continue
    tried+="$v "
    rm -rf "$work/src"
    log "  downloading source $pkg $v ($s)"
    if ! (cd "$work" && apt_src source --download-only "$pkg=$v") >>"$logf" 2>&1; then
      warn "download of source $pkg $v ($s) failed (404 on the mirror?); trying the next candidate"
      continue
    fi
    dsc=$work/${pkg}_${v#*:}.dsc
    [[ -f $dsc ]] || { warn "no $dsc after download"; continue; }
    if ! dpkg-source -x "$dsc" "$work/src" >>"$logf" 2>&1; then
      warn "dpkg-source -x failed for $pkg $v; trying the next candidate"
      continue
    fi
    SRC_DIR=$work/src SRC_VERSION=$v SRC_SUITE=$s
    return 0
  done
  die_log "could not download any usable source of $pkg >= $min (tried:$tried)" "$logf"
}

write_stamp() { # write_stamp COMPONENT VERSION SUITE UPSTREAM
  mkdir -p "$STAMPS"
  {
    stamp_key "$1"
    echo "debian_source=$1 $2"
    echo "suite=$3"
    echo "version=$4"
    echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  } >"$STAMPS/$1.tmp"
  mv "$STAMPS/$1.tmp" "$STAMPS/$1"
}

build_openssl() {
  local t logf=$LOGS/openssl-build.log; t=$(now_ms)
  rm -f "$STAMPS/openssl" "$STAMPS/ngtcp2" "$DEPS/stamp"
  fetch_source openssl "$MIN_OPENSSL" "${OPENSSL_SUITES[@]}"
  log "  building OpenSSL $SRC_VERSION from $SRC_SUITE (static; make -j$JOBS, several minutes; log $logf)"
  (
    cd "$SRC_DIR"
    ./Configure "${OPENSSL_CONFIG[@]}"
    nice -n 10 make -j"$JOBS"
    make install_sw
  ) >"$logf" 2>&1 || die_log "OpenSSL build failed" "$logf"
  [[ -f $PREFIX/lib/libssl.a && -f $PREFIX/lib/libcrypto.a ]] ||
    die_log "OpenSSL installed no $PREFIX/lib/libssl.a" "$logf"
  write_stamp openssl "$SRC_VERSION" "$SRC_SUITE" "$(pkg-config --modversion libssl)"
  rm -rf "$DEPS/src/openssl"
  log "  OpenSSL $(pkg-config --modversion libssl) installed in $PREFIX ($(since "$t"))"
}

cmake_build() { # cmake_build NAME LOGFILE CMAKE_ARGS...
  local name=$1 logf=$2; shift 2
  (
    cd "$SRC_DIR"
    cmake -S . -B _build "$@"
    nice -n 10 cmake --build _build -j"$JOBS"
    cmake --install _build
  ) >"$logf" 2>&1 || die_log "$name build failed" "$logf"
}

build_ngtcp2() {
  local t logf=$LOGS/ngtcp2-build.log args; t=$(now_ms)
  rm -f "$STAMPS/ngtcp2" "$DEPS/stamp"
  fetch_source ngtcp2 "$MIN_NGTCP2" "${NGTCP2_SUITES[@]}"
  args=("${NGTCP2_CMAKE[@]}")
  if ! pc_in_prefix libssl; then   # a system OpenSSL >= 3.5 (e.g. Debian 13+): use it
    args=("${args[@]/-DOPENSSL_ROOT_DIR=*/}"); args=("${args[@]/-DOPENSSL_USE_STATIC_LIBS=*/}")
    local a clean=(); for a in "${args[@]}"; do [[ -n $a ]] && clean+=("$a"); done; args=("${clean[@]}")
  fi
  log "  building ngtcp2 $SRC_VERSION from $SRC_SUITE (static, lib only, OpenSSL backend; log $logf)"
  cmake_build ngtcp2 "$logf" "${args[@]}"
  [[ -f $PREFIX/lib/pkgconfig/libngtcp2_crypto_ossl.pc ]] ||
    die_log "ngtcp2 built no libngtcp2_crypto_ossl (OpenSSL QUIC TLS API not detected?)" "$logf"
  write_stamp ngtcp2 "$SRC_VERSION" "$SRC_SUITE" "$(pkg-config --modversion libngtcp2)"
  rm -rf "$DEPS/src/ngtcp2"
  log "  ngtcp2 $(pkg-config --modversion libngtcp2) installed in $PREFIX ($(since "$t"))"
}

build_nghttp3() {
  local t logf=$LOGS/nghttp3-build.log; t=$(now_ms)
  rm -f "$STAMPS/nghttp3" "$DEPS/stamp"
  fetch_source nghttp3 "$MIN_NGHTTP3" "${NGHTTP3_SUITES[@]}"
  log "  building nghttp3 $SRC_VERSION from $SRC_SUITE (static, lib only; log $logf)"
  cmake_build nghttp3 "$logf" "${NGHTTP3_CMAKE[@]}"
  write_stamp nghttp3 "$SRC_VERSION" "$SRC_SUITE" "$(pkg-config --modversion libnghttp3)"
  rm -rf "$DEPS/src/nghttp3"
  log "  nghttp3 $(pkg-config --modversion libnghttp3) installed in $PREFIX ($(since "$t"))"
}

# curl from Debian's source package with cmake (Debian's patches touch only the autotools
# files), against the prefix's OpenSSL and ngtcp2. Static archives need their order: curl's
# cmake puts libssl before libngtcp2_crypto_ossl, which needs it; the link line ends with
# pkg-config's order again.
build_curl() {
  local t logf=$LOGS/curl-build.log args; t=$(now_ms)
  rm -f "$STAMPS/curl"
  fetch_source curl "$MIN_CURL" "${CURL_SUITES[@]}"
  args=("${CURL_CMAKE[@]}")
  if ! pc_in_prefix libssl; then   # a system OpenSSL >= 3.5: use it
    args=("${args[@]/-DOPENSSL_ROOT_DIR=*/}"); args=("${args[@]/-DOPENSSL_USE_STATIC_LIBS=*/}")
    local a clean=(); for a in "${args[@]}"; do [[ -n $a ]] && clean+=("$a"); done; args=("${clean[@]}")
  fi
  log "  building curl $SRC_VERSION from $SRC_SUITE (HTTP/3 with ngtcp2 + OpenSSL; log $logf)"
  (
    cd "$SRC_DIR"
    cmake -S . -B _build "${args[@]}" \
      -DCMAKE_C_STANDARD_LIBRARIES="$(pkg-config --static --libs libngtcp2_crypto_ossl)"
    nice -n 10 cmake --build _build -j"$JOBS" --target curl
    install -D -m 755 _build/src/curl "$CURL_BIN"
  ) >"$logf" 2>&1 || die_log "curl build failed" "$logf"
  "$CURL_BIN" -V >>"$logf" 2>&1 || die_log "$CURL_BIN does not run" "$logf"
  "$CURL_BIN" -V | grep -q '^Features:.* HTTP3' ||
    die_log "$CURL_BIN was built without HTTP3 (ngtcp2 or nghttp3 not found by curl's cmake?)" "$logf"
  write_stamp curl "$SRC_VERSION" "$SRC_SUITE" "$(upstream_of "$SRC_VERSION")"
  rm -rf "$DEPS/src/curl"
  log "  $("$CURL_BIN" -V | head -n 1) -> $CURL_BIN ($(since "$t"))"
}

# puppeteer-core as tests/tools/browser/package-lock.json pins it, outside the checkout
install_browser_npm() {
  local t logf=$LOGS/npm-browser.log; t=$(now_ms)
  [[ -f $BROWSER_LOCK ]] || die "$BROWSER_LOCK missing"
  rm -f "$STAMPS/browser"
  rm -rf "$BROWSER_DIR"; mkdir -p "$BROWSER_DIR"
  cp "$BROWSER_LOCK" "$(dirname "$BROWSER_LOCK")/package.json" "$BROWSER_DIR/"
  log "  npm ci in $BROWSER_DIR (puppeteer-core; log $logf)"
  (cd "$BROWSER_DIR" && npm ci --ignore-scripts --no-audit --no-fund) >"$logf" 2>&1 ||
    die_log "npm ci of puppeteer-core failed (the npm registry reachable?)" "$logf"
  mkdir -p "$STAMPS"
  { stamp_key browser; echo "puppeteer-core=$(jq -r .version "$BROWSER_DIR/node_modules/puppeteer-core/package.json")"; } \
    >"$STAMPS/browser.tmp"
  mv "$STAMPS/browser.tmp" "$STAMPS/browser"
  log "  puppeteer-core $(stamp_field browser puppeteer-core) installed ($(since "$t"))"
}

# --tests: chromium and certutil from bookworm(-security), node and npm (Debian's, only when
# no node >= MIN_NODE with npm is there: one from elsewhere is left alone), puppeteer-core,
# the HTTP/3 curl. Needs the QUIC libraries of step 3.
test_clients() {
  local debs=("${NEED_TEST_DEBS[@]}")
  node_ok || debs+=(nodejs npm)
  if (( ${#debs[@]} )); then
    log "[5/6] installing Debian packages for the tests: ${debs[*]}"
    apt_install "$LOGS/apt-install-tests.log" "${debs[@]}" ||
      die_log "apt-get install of the test clients failed" "$LOGS/apt-install-tests.log"
    node_ok || die "node >= $MIN_NODE with npm still missing after installing nodejs and npm"
  fi
  if ! browser_npm_ok; then install_browser_npm; else log "  puppeteer-core present in $BROWSER_DIR"; fi
  if ! curl_ok; then build_curl; else log "  $("$CURL_BIN" -V | head -n 1) present"; fi
}

# The flags a consumer (the Makefile) uses: OpenSSL and ngtcp2 static from the prefix,
# nghttp3 from pkg-config (shared from backports, or static if built into the prefix).
link_cflags() { pkg-config --cflags libngtcp2_crypto_ossl libnghttp3; }
link_libs() {
  local n3
  if pc_in_prefix libnghttp3; then n3=$(pkg-config --static --libs libnghttp3); else n3=$(pkg-config --libs libnghttp3); fi
  echo "$(pkg-config --static --libs libngtcp2_crypto_ossl) $n3"
}

link_test() {
  local t tmp logf=$LOGS/linktest.log hdr cflags libs extra=() out; t=$(now_ms)
  pkg-config --static --libs libngtcp2_crypto_ossl >/dev/null 2>&1 ||
    die "pkg-config --static --libs libngtcp2_crypto_ossl fails (PKG_CONFIG_PATH=$PKG_CONFIG_PATH)"
  if pc_in_prefix libssl; then [[ -f $PREFIX/lib/libssl.a ]] || die "$PREFIX/lib/libssl.a missing"; fi
  hdr="$(pkg-config --variable=includedir libngtcp2_crypto_ossl)/ngtcp2/ngtcp2_crypto_ossl.h"
  [[ -f $hdr ]] || die "$hdr missing"
  grep -q 'ngtcp2_crypto_ossl_init *(' "$hdr" && extra+=(-DHAVE_NGTCP2_CRYPTO_OSSL_INIT)
  tmp=$(mktemp -d /tmp/quicsteer-linktest.XXXXXX)
  cat >"$tmp/t.c" <<'EOF'
#include <stdio.h>
#include <string.h>
#include <openssl/ssl.h>
#include <openssl/crypto.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_ossl.h>
#include <nghttp3/nghttp3.h>

int main(void) {
  /* OpenSSL >= 3.5 QUIC TLS API, as used by ngtcp2's ossl backend. */
  __typeof__(&SSL_set_quic_tls_cbs) volatile quic_tls_cbs = SSL_set_quic_tls_cbs;
#ifdef HAVE_NGTCP2_CRYPTO_OSSL_INIT
  if (ngtcp2_crypto_ossl_init() != 0) return 2;
#endif
  SSL_CTX *ctx = SSL_CTX_new(TLS_method());
  if (ctx == NULL || quic_tls_cbs == NULL) return 3;
  SSL_CTX_free(ctx);
  printf("openssl=%s ngtcp2=%s nghttp3=%s\n", OpenSSL_version(OPENSSL_VERSION_STRING),
         ngtcp2_version(0)->version_str, nghttp3_version(0)->version_str);
  return 0;
}
EOF
  cflags=$(link_cflags); libs=$(link_libs)
  LINK_CMD="cc ${extra[*]} $cflags -o t t.c $libs"
  {
    echo "+ $LINK_CMD"
    # shellcheck disable=SC2086
    (cd "$tmp" && cc "${extra[@]}" $cflags -o t t.c $libs)
  } >"$logf" 2>&1 || { rm -rf "$tmp"; die_log "static link test failed" "$logf"; }
  out=$("$tmp/t" 2>>"$logf") || { rm -rf "$tmp"; die_log "link test program failed to run" "$logf"; }
  echo "$out" >>"$logf"
  local ldd_out; ldd_out=$(ldd "$tmp/t" 2>&1 || true)
  if pc_in_prefix libssl && [[ $ldd_out =~ lib(ssl|crypto)\.so ]]; then
    echo "$ldd_out" >>"$logf"; rm -rf "$tmp"
    die_log "link test binary loads a shared libssl/libcrypto (must be the static $PREFIX build)" "$logf"
  fi
  [[ $out == "openssl=$(pkg-config --modversion libssl) "* ]] || {
    rm -rf "$tmp"; die_log "link test runs a different OpenSSL than pkg-config reports: $out" "$logf"; }
  rm -rf "$tmp"
  {
    linktest_key
    echo "# quicsteer dependency stamp, written $(date -u +%Y-%m-%dT%H:%M:%SZ) by scripts/setup.sh"
    echo "PKG_CONFIG_PATH=$PC_PATH_PREFIX"
    echo "runtime: $out"
    local c
    for c in openssl ngtcp2 nghttp3; do
      if [[ -f $STAMPS/$c ]]; then echo "$c: built from Debian source $(stamp_field "$c" debian_source) ($(stamp_field "$c" suite))"; fi
    done
    echo "cflags: ${extra[*]} $cflags"
    echo "libs: $libs"
  } >"$DEPS/stamp.tmp"
  mv "$DEPS/stamp.tmp" "$DEPS/stamp"
  log "  static link test ok: $out ($(since "$t"))"
}

# ---------------------------------------------------------------- summary

first_line() { local s; s=$("$@" 2>/dev/null) || true; echo "${s%%$'\n'*}"; }

summary() {
  local bpftool_bin origin c
  bpftool_bin=$(command -v bpftool || echo /usr/sbin/bpftool)
  log "summary:"
  log "  clang:      $(first_line clang --version)"
  log "  libbpf:     $(pkg-config --modversion libbpf 2>/dev/null || echo '?')   libxdp: $(pkg-config --modversion libxdp 2>/dev/null || echo '?')"
  log "  bpftool:    $(first_line "$bpftool_bin" version)"
  for c in openssl:libssl ngtcp2:libngtcp2_crypto_ossl nghttp3:libnghttp3; do
    local comp=${c%%:*} mod=${c#*:}
    if pc_in_prefix "$mod"; then
      origin="static in prefix, from Debian source $(stamp_field "$comp" debian_source) ($(stamp_field "$comp" suite))"
    else
      origin="system package"
    fi
    log "  $(printf '%-11s' "$comp:") $(pkg-config --modversion "$mod" 2>/dev/null || echo missing) ($origin)"
  done
  log "  gtlsclient: $(command -v gtlsclient || echo missing)"
  log "  gtlsserver: $(gtlsserver_ok && echo /usr/sbin/gtlsserver || echo missing)"
  if (( WITH_TESTS )); then
    log "  curl (h3):  $(first_line "$CURL_BIN" -V || true) ($CURL_BIN)"
    log "  chromium:   $(command -v chromium >/dev/null && first_line chromium --version || echo missing)"
    log "  node:       $(node --version 2>/dev/null || echo missing); puppeteer-core $(stamp_field browser puppeteer-core) in $BROWSER_DIR"
  fi
  log "  prefix:     $PREFIX"
  log "  use:        PKG_CONFIG_PATH=$PC_PATH_PREFIX"
  log "  link with:  $(link_libs 2>/dev/null || echo '?')"
}

# ---------------------------------------------------------------- main

do_check() {
  collect_missing
  if (( ${#MISSING[@]} == 0 )); then
    log "check: everything present ($(since "$T_START"))"
    return 0
  fi
  local m
  for m in "${MISSING[@]}"; do log "check: missing: $m"; done
  if (( WITH_TESTS )); then
    log "check: ${#MISSING[@]} item(s) missing; run scripts/setup.sh --tests as root (or 'sudo make test')"
  else
    log "check: ${#MISSING[@]} item(s) missing; run scripts/setup.sh as root (or 'sudo make run')"
  fi
  return 1
}

do_setup() {
  if (( EUID != 0 )); then
    die "must run as root: use 'sudo make run', or run scripts/setup.sh as root (it installs Debian packages, builds into $DEPS and mounts bpffs)"
  fi
  mkdir -p "$DEPS" "$LOGS" "$STAMPS"
  exec 9>"$DEPS/.lock"
  if ! flock -n 9; then log "another setup.sh is running; waiting for it"; flock 9; fi

  collect_missing
  if (( ${#MISSING[@]} == 0 )); then
    summary
    log "everything present, nothing to do ($(since "$T_START"))"
    return 0
  fi
  log "to do: ${#MISSING[@]} item(s) missing (logs in $LOGS)"
  local t

  # 1. bookworm packages
  t=$(now_ms)
  if (( ${#NEED_DEBS[@]} )); then
    log "[1/6] installing Debian packages: ${NEED_DEBS[*]}"
    apt_install "$LOGS/apt-install.log" "${NEED_DEBS[@]}" ||
      die_log "apt-get install failed" "$LOGS/apt-install.log"
    mapfile -t NEED_DEBS < <(missing_debs "${DEB_PKGS[@]}")
    (( ${#NEED_DEBS[@]} == 0 )) || die "still missing after install: ${NEED_DEBS[*]}"
    log "[1/6] Debian packages installed ($(since "$t"))"
  else
    log "[1/6] Debian packages: all ${#DEB_PKGS[@]} present ($(since "$t"))"
  fi

  # 2. bookworm-backports: ngtcp2-client (gtlsclient), ngtcp2-server (gtlsserver),
  #    libnghttp3-dev (nghttp3 >= 1.x)
  t=$(now_ms)
  local bpo=()
  (( NEED_GTLS )) && bpo+=(ngtcp2-client)
  (( NEED_GTLSSERVER )) && bpo+=(ngtcp2-server)
  # Only if neither the system nor our prefix has a usable nghttp3.
  nghttp3_ok || bpo+=(libnghttp3-dev)
  if (( ${#bpo[@]} )); then
    log "[2/6] installing from $CODENAME-backports: ${bpo[*]}"
    apt_bin_update_once
    local p
    for p in "${bpo[@]}"; do
      if apt_install "$LOGS/apt-install-$p.log" -t "$CODENAME-backports" "$p"; then
        log "  $p $(dpkg-query -W -f='${Version}' "$p") installed"
        if [[ $p == ngtcp2-server ]]; then
          # The package enables a demo daemon (ngtcp2d.service, localhost:7777); the benchmark
          # starts gtlsserver itself, so none should run on its own.
          systemctl disable --now ngtcp2d.service >/dev/null 2>&1 || true
        fi
      elif [[ $p == libnghttp3-dev ]]; then
        warn "libnghttp3-dev from $CODENAME-backports failed to install (see $LOGS/apt-install-$p.log); nghttp3 will be built from source"
      else
        die_log "could not install $p from $CODENAME-backports" "$LOGS/apt-install-$p.log"
      fi
    done
    gtlsclient_ok || die "/usr/bin/gtlsclient missing after installing ngtcp2-client"
    gtlsserver_ok || die "/usr/sbin/gtlsserver missing after installing ngtcp2-server"
    apt_bin clean >/dev/null 2>&1 || true
    log "[2/6] backports done ($(since "$t"))"
  else
    log "[2/6] backports: gtlsclient, gtlsserver and nghttp3 >= $MIN_NGHTTP3 present ($(since "$t"))"
  fi

  # 3. OpenSSL >= 3.5, ngtcp2 with the ossl backend (and nghttp3 if still unusable)
  t=$(now_ms)
  local built=0
  log "[3/6] QUIC libraries (prefix $PREFIX)"
  if ! openssl_ok; then build_openssl; built=1; else log "  OpenSSL $(pkg-config --modversion libssl) present"; fi
  if ! ngtcp2_ok; then build_ngtcp2; built=1; else log "  ngtcp2 $(pkg-config --modversion libngtcp2) with libngtcp2_crypto_ossl present"; fi
  if ! nghttp3_ok; then
    if pkg-config --exists libnghttp3 2>/dev/null && ! pc_in_prefix libnghttp3; then
      warn "system libnghttp3 $(pkg-config --modversion libnghttp3) is older than $MIN_NGHTTP3"
    fi
    build_nghttp3; built=1
  else
    log "  nghttp3 $(pkg-config --modversion libnghttp3) present"
  fi
  if (( built )) || ! linktest_ok; then link_test; fi
  log "[3/6] QUIC libraries done ($(since "$t"))"

  # 4. bpffs and BTF
  t=$(now_ms)
  if ! bpffs_mounted; then
    mkdir -p /sys/fs/bpf 2>/dev/null || true
    mount -t bpf bpf /sys/fs/bpf || die "could not mount bpffs at /sys/fs/bpf (mount -t bpf bpf /sys/fs/bpf)"
    log "[4/6] mounted bpffs at /sys/fs/bpf"
  else
    log "[4/6] bpffs already mounted at /sys/fs/bpf"
  fi
  [[ -e /sys/kernel/btf/vmlinux ]] ||
    die "kernel BTF missing: /sys/kernel/btf/vmlinux does not exist; quicsteer needs a kernel >= 5.10 built with CONFIG_DEBUG_INFO_BTF=y (running $(uname -r))"
  log "[4/6] kernel $(uname -r) has BTF ($(since "$t"))"
  if ! getent passwd "$PHP_USER" >/dev/null; then
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
      "$PHP_USER" || die "could not create the system user $PHP_USER (useradd)"
    log "[4/6] created the system user $PHP_USER for the php-fpm pool"
  else
    log "[4/6] system user $PHP_USER present"
  fi

  # 5. test clients (--tests)
  t=$(now_ms)
  if (( WITH_TESTS )); then
    test_clients
    log "[5/6] test clients done ($(since "$t"))"
  else
    log "[5/6] test clients: not asked for (--tests; make test asks)"
  fi

  # 6. summary
  collect_missing
  (( ${#MISSING[@]} == 0 )) || die "still missing after setup: ${MISSING[*]}"
  summary
  log "done in $(since "$T_START")"
}

main() {
  local mode=setup
  while (( $# )); do
    case $1 in
      --check) mode=check ;;
      --tests) WITH_TESTS=1 ;;
      -h|--help) usage; return 0 ;;
      *) printf 'setup: unknown option: %s\n' "$1" >&2; usage >&2; return 2 ;;
    esac
    shift
  done
  if [[ $mode == check ]]; then do_check; else do_setup; fi
}

# Allow sourcing (for testing single functions) without running.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then main "$@"; fi
