# SPDX-License-Identifier: MIT
# quicsteer build.  `make` builds everything; `make test`, `make run`,
# `make bench` do what they say (as root; they run scripts/setup.sh first
# when something the build needs is missing).  V=1 for verbose.

OUTPUT     := .output
# SANITIZE=1: the same build with ASan and UBSan (user code; the BPF
# programs and the static OpenSSL/ngtcp2 are not instrumented) into
# .output-san/, binaries included, so that both builds live side by side
BIN_DIR    :=
ifeq ($(SANITIZE),1)
OUTPUT     := .output-san
BIN_DIR    := $(OUTPUT)/
SAN_CFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer \
              -fno-sanitize-recover=undefined
endif
ARCH       := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')
CLANG      ?= clang
BPFTOOL    ?= bpftool
CC         ?= gcc
DEPS       ?= $(or $(QUICSTEER_DEPS),/var/cache/quicsteer/deps)
# make 4.3's $(shell) does not see exported variables: say it on each call
PKGCONF    := PKG_CONFIG_PATH=$(DEPS)/prefix/lib/pkgconfig:$(DEPS)/prefix/lib64/pkgconfig$(if $(PKG_CONFIG_PATH),:$(PKG_CONFIG_PATH)) pkg-config

VERSION    := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

INCLUDES   := -Iinclude -Iuser -I$(OUTPUT)
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
              -Wno-unused-function $(INCLUDES) -Ivmlinux
CFLAGS     ?= -g -O2
CFLAGS     += -Wall -Wextra -Werror -std=gnu11 -D_GNU_SOURCE \
              -DQS_VERSION='"$(VERSION)"' $(QUIC_CFLAGS) $(INCLUDES) $(SAN_CFLAGS)
LIBBPF_LIBS := $(shell $(PKGCONF) --libs libbpf 2>/dev/null || echo -lbpf -lelf -lz)
# ngtcp2 (ossl backend) and OpenSSL 3.5 are static from the set-up's prefix:
# its include dir must come first, the system has OpenSSL 3.0 headers
QUIC_CFLAGS := $(shell $(PKGCONF) --cflags libngtcp2_crypto_ossl libnghttp3 2>/dev/null)
QUIC_LIBS   := $(shell $(PKGCONF) --static --libs libngtcp2_crypto_ossl 2>/dev/null) \
               $(shell $(PKGCONF) --libs libnghttp3 2>/dev/null)
INIH_LIBS   := $(shell $(PKGCONF) --libs inih 2>/dev/null || echo -linih)
XDP_LIBS    := $(shell $(PKGCONF) --libs libxdp 2>/dev/null || echo -lxdp)
SECCOMP_LIBS := $(shell $(PKGCONF) --libs libseccomp 2>/dev/null || echo -lseccomp)
H2_LIBS     := $(shell $(PKGCONF) --libs libnghttp2 2>/dev/null || echo -lnghttp2)
ENC_LIBS    := $(shell $(PKGCONF) --libs libbrotlienc libzstd zlib 2>/dev/null || echo -lbrotlienc -lzstd -lz)

BPF_SRCS   := $(wildcard bpf/*.bpf.c)
BPF_OBJS   := $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.bpf.o,$(BPF_SRCS))
SKELS      := $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.skel.h,$(BPF_SRCS))

COMMON_SRCS := $(wildcard user/common/*.c)
LOADER_SRCS := $(wildcard user/loader/*.c)
WORKER_SRCS := $(wildcard user/worker/*.c user/worker/*/*.c)
COMMON_OBJS := $(patsubst %.c,$(OUTPUT)/%.o,$(COMMON_SRCS))
LOADER_OBJS := $(patsubst %.c,$(OUTPUT)/%.o,$(LOADER_SRCS))
WORKER_OBJS := $(patsubst %.c,$(OUTPUT)/%.o,$(WORKER_SRCS))

.DEFAULT_GOAL := all

include bench/load/load.mk

BINS       := $(BIN_DIR)quicsteerd $(BIN_DIR)quicsteerctl
TOOLS      := $(OUTPUT)/qs-send $(OUTPUT)/qs-fcgi-bench
TOOLS      += $(OUTPUT)/qs-initials $(OUTPUT)/qs-enc-levels $(OUTPUT)/qs-relay
UNITS      := $(OUTPUT)/test_cid $(OUTPUT)/test_config $(OUTPUT)/test_static $(OUTPUT)/test_fcgi \
              $(OUTPUT)/test_strike $(OUTPUT)/test_rate $(OUTPUT)/test_guard \
              $(OUTPUT)/test_upgrade $(OUTPUT)/test_fpmstatus \
              $(OUTPUT)/test_mem \
              $(OUTPUT)/test_req $(OUTPUT)/test_h3 $(OUTPUT)/test_h1 $(OUTPUT)/test_trace
FUZZERS    := $(OUTPUT)/fuzz_static $(OUTPUT)/fuzz_fcgi $(OUTPUT)/fuzz_req \
              $(OUTPUT)/fuzz_config $(OUTPUT)/fuzz_cid $(OUTPUT)/fuzz_h1 $(OUTPUT)/fuzz_trace \
              $(OUTPUT)/fuzz_accept $(OUTPUT)/fuzz_upgrade_state $(OUTPUT)/fuzz_fpmstatus

.PHONY: all clean test test-sanitize run bench bench-steer bench-h3 bench-php bench-resume bench-guard bench-idle bench-tcp bench-encode \
	bench-reload bench-pace setup \
	check-setup check-setup-tests unit fuzz
.DELETE_ON_ERROR:
.SECONDARY: $(BPF_OBJS)

# (the fuzz targets are sanitized builds already: not again under SANITIZE=1)
all: $(BINS) $(TOOLS) $(UNITS) $(if $(SAN_CFLAGS),,$(FUZZERS)) $(LOAD_BIN)

# ---- set-up --------------------------------------------------------------
check-setup:
	$(Q)scripts/setup.sh --check >/dev/null 2>&1 || scripts/setup.sh

# the suite's clients too: a curl with HTTP/3, Chromium, puppeteer-core
check-setup-tests:
	$(Q)scripts/setup.sh --tests --check >/dev/null 2>&1 || scripts/setup.sh --tests

setup:
	$(Q)scripts/setup.sh

# ---- BPF -----------------------------------------------------------------
vmlinux/vmlinux.h: scripts/gen-vmlinux.sh
	$(call msg,GEN,$@)
	$(Q)scripts/gen-vmlinux.sh $@

$(OUTPUT) $(OUTPUT)/tests/unit $(OUTPUT)/tests/tools:
	$(Q)mkdir -p $@

$(OUTPUT)/%.bpf.o: bpf/%.bpf.c vmlinux/vmlinux.h $(wildcard include/quicsteer/*.h) | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

# the guard's token buckets use compare-and-swap (BPF ISA v3, Linux >= 5.12)
$(OUTPUT)/guard.bpf.o: BPF_CFLAGS += -mcpu=v3

$(OUTPUT)/%.skel.h: $(OUTPUT)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst .,_,$*) > $@

# ---- user space ----------------------------------------------------------
USER_HDRS  := $(wildcard user/*/*.h user/*/*/*.h)

$(OUTPUT)/user/%.o: user/%.c $(USER_HDRS) $(wildcard include/quicsteer/*.h) $(SKELS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(BIN_DIR)quicsteerd: $(LOADER_OBJS) $(WORKER_OBJS) $(COMMON_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(XDP_LIBS) $(LIBBPF_LIBS) $(INIH_LIBS) $(SECCOMP_LIBS) $(QUIC_LIBS) $(H2_LIBS) $(ENC_LIBS) -o $@

$(BIN_DIR)quicsteerctl: user/ctl/quicsteerctl.c
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< -o $@

# ---- tests and tools ------------------------------------------------------
$(OUTPUT)/test_cid: tests/unit/test_cid.c $(wildcard include/quicsteer/*.h) | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< -lm -o $@

$(OUTPUT)/test_config: tests/unit/test_config.c $(OUTPUT)/user/loader/config.o $(COMMON_OBJS) | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(INIH_LIBS) -o $@

$(OUTPUT)/test_static: tests/unit/test_static.c $(OUTPUT)/user/worker/handler/static.o $(OUTPUT)/user/worker/http/date.o $(OUTPUT)/user/common/docroot.o $(OUTPUT)/user/common/log.o $(OUTPUT)/user/common/json.o | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $^ -o $@

$(OUTPUT)/test_mem: tests/unit/test_mem.c $(OUTPUT)/user/worker/mem.o | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $^ -o $@

$(OUTPUT)/test_strike: tests/unit/test_strike.c $(OUTPUT)/user/common/strike.o | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $^ -o $@

$(OUTPUT)/test_upgrade: tests/unit/test_upgrade.c $(OUTPUT)/user/loader/upgrade_state.o $(OUTPUT)/user/common/strike.o | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $^ -o $@

$(OUTPUT)/test_rate: tests/unit/test_rate.c $(OUTPUT)/user/common/ratelimit.o | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $^ -o $@

$(OUTPUT)/test_fcgi: tests/unit/test_fcgi.c $(OUTPUT)/user/common/fcgi.o | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $^ -o $@

$(OUTPUT)/test_fpmstatus: tests/unit/test_fpmstatus.c $(OUTPUT)/user/common/fpmstatus.o $(OUTPUT)/user/common/fcgi.o | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $^ -o $@

# the request layer with the real handlers, driven by a fake protocol
TEST_REQ_OBJS := $(addprefix $(OUTPUT)/user/,worker/http/req.o worker/http/encode.o worker/http/date.o \
                 worker/handler/files.o worker/handler/filecache.o worker/handler/static.o \
                 worker/handler/route.o worker/handler/accel.o worker/handler/php.o worker/handler/unixdiag.o common/fcgi.o \
                 common/docroot.o common/log.o common/ratelimit.o common/json.o \
                 worker/http/trace.o worker/http/accesslog.o)
$(OUTPUT)/test_req: tests/unit/test_req.c $(TEST_REQ_OBJS) | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(ENC_LIBS) -o $@

# HTTP/3 over nghttp3 without ngtcp2: the test defines the ngtcp2 calls h3.c makes
TEST_H3_OBJS := $(addprefix $(OUTPUT)/user/,worker/http/h3.o worker/http/body.o worker/http/req.o worker/http/encode.o \
                worker/http/fields.o worker/http/date.o worker/mem.o common/log.o \
                common/json.o worker/http/trace.o worker/http/accesslog.o common/ratelimit.o)
$(OUTPUT)/test_h3: tests/unit/test_h3.c $(TEST_H3_OBJS) | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(filter-out -lngtcp2 -lngtcp2_crypto_ossl,$(QUIC_LIBS)) $(ENC_LIBS) -o $@

$(OUTPUT)/test_trace: tests/unit/test_trace.c $(OUTPUT)/user/worker/http/trace.o $(OUTPUT)/user/common/json.o | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $^ -o $@

$(OUTPUT)/test_h1: tests/unit/test_h1.c $(OUTPUT)/user/worker/http/h1parse.o | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $^ -o $@

# BPF_PROG_TEST_RUN over crafted frames: the guard program as the loader builds it
$(OUTPUT)/test_guard: tests/unit/test_guard.c $(OUTPUT)/guard.skel.h $(wildcard include/quicsteer/*.h) | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< $(LIBBPF_LIBS) -o $@

# libFuzzer targets for the parsers of untrusted bytes (clang, ASan, UBSan)
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude -Iuser
$(OUTPUT)/fuzz_static: tests/fuzz/fuzz_static.c user/worker/handler/static.c user/worker/http/date.c user/common/docroot.c user/common/log.c user/common/json.c | $(OUTPUT)
	$(call msg,FUZZ-CC,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) $^ -o $@

$(OUTPUT)/fuzz_fcgi: tests/fuzz/fuzz_fcgi.c user/common/fcgi.c | $(OUTPUT)
	$(call msg,FUZZ-CC,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) $^ -o $@

$(OUTPUT)/fuzz_req: tests/fuzz/fuzz_req.c user/worker/http/fields.c user/worker/http/req.c user/worker/http/encode.c user/worker/http/date.c user/worker/http/trace.c user/worker/http/accesslog.c user/common/log.c user/common/json.c user/common/ratelimit.c $(USER_HDRS) | $(OUTPUT)
	$(call msg,FUZZ-CC,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) $(filter %.c,$^) $(ENC_LIBS) -o $@

$(OUTPUT)/fuzz_accept: tests/fuzz/fuzz_accept.c user/worker/http/encode.c user/common/log.c user/common/json.c $(USER_HDRS) | $(OUTPUT)
	$(call msg,FUZZ-CC,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) $(filter %.c,$^) $(ENC_LIBS) -o $@

$(OUTPUT)/fuzz_config: tests/fuzz/fuzz_config.c user/loader/config.c $(COMMON_SRCS) $(USER_HDRS) | $(OUTPUT)
	$(call msg,FUZZ-CC,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -DQS_VERSION='"$(VERSION)"' $(filter %.c,$^) $(INIH_LIBS) -o $@

$(OUTPUT)/fuzz_h1: tests/fuzz/fuzz_h1.c user/worker/http/h1parse.c $(USER_HDRS) | $(OUTPUT)
	$(call msg,FUZZ-CC,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) $(filter %.c,$^) -o $@

$(OUTPUT)/fuzz_trace: tests/fuzz/fuzz_trace.c user/worker/http/trace.c user/common/json.c $(USER_HDRS) | $(OUTPUT)
	$(call msg,FUZZ-CC,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) $(filter %.c,$^) -o $@

$(OUTPUT)/fuzz_upgrade_state: tests/fuzz/fuzz_upgrade_state.c user/loader/upgrade_state.c $(USER_HDRS) | $(OUTPUT)
	$(call msg,FUZZ-CC,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) $(filter %.c,$^) -o $@

$(OUTPUT)/fuzz_fpmstatus: tests/fuzz/fuzz_fpmstatus.c user/common/fpmstatus.c user/common/fcgi.c $(USER_HDRS) | $(OUTPUT)
	$(call msg,FUZZ-CC,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) $(filter %.c,$^) -o $@

$(OUTPUT)/fuzz_cid: tests/fuzz/fuzz_cid.c $(wildcard include/quicsteer/*.h) | $(OUTPUT)
	$(call msg,FUZZ-CC,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) $< -o $@

fuzz: $(FUZZERS)
	$(Q)for f in $(FUZZERS); do $$f -max_total_time=$${FUZZ_SECONDS:-60} || exit 1; done

# make bench-encode's table of levels: the encoders as http/encode.c sets them up
$(OUTPUT)/qs-enc-levels: tests/tools/qs-enc-levels.c user/worker/http/encode.h | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< $(ENC_LIBS) -o $@

$(OUTPUT)/qs-fcgi-bench: tests/tools/qs-fcgi-bench.c $(OUTPUT)/user/common/fcgi.o | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $^ -o $@

# forged client Initials: a real ngtcp2 + OpenSSL 3.5 client's first flight
$(OUTPUT)/qs-initials: tests/tools/qs-initials.c | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< $(QUIC_LIBS) -o $@

# a UDP relay with a bottleneck (rate, queue limit, delay): the pacing tests
$(OUTPUT)/qs-relay: tests/tools/qs-relay.c | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< -o $@

$(OUTPUT)/qs-%: tests/tools/qs-%.c tests/tools/pinned.h $(wildcard include/quicsteer/*.h) | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Itests/tools $< $(LIBBPF_LIBS) -o $@

unit: $(UNITS)
	$(Q)for t in $(UNITS); do $$t || exit 1; done

certs/server.crt:
	$(Q)scripts/gen-certs.sh

# the unit tests run twice: as built, and built with ASan and UBSan
test: check-setup-tests
	$(Q)$(MAKE) --no-print-directory all certs/server.crt
	$(Q)$(MAKE) --no-print-directory SANITIZE=1 all
	$(Q)tests/run.sh

# the whole suite against quicsteerd built with ASan and UBSan
test-sanitize: check-setup-tests
	$(Q)$(MAKE) --no-print-directory all certs/server.crt
	$(Q)$(MAKE) --no-print-directory SANITIZE=1 all
	$(Q)QS_BIN_DIR=$(CURDIR)/.output-san tests/run.sh

run: check-setup
	$(Q)$(MAKE) --no-print-directory all certs/server.crt
	$(Q)scripts/run-demo.sh

bench: bench-steer bench-h3 bench-php bench-resume bench-guard bench-idle bench-tcp bench-encode \
	bench-reload bench-pace

bench-steer: check-setup
	$(Q)$(MAKE) --no-print-directory all
	$(Q)bench/steer.sh

bench-h3: check-setup
	$(Q)$(MAKE) --no-print-directory all certs/server.crt
	$(Q)bench/h3.sh

bench-php: check-setup
	$(Q)$(MAKE) --no-print-directory all certs/server.crt
	$(Q)bench/php.sh

bench-resume: check-setup
	$(Q)$(MAKE) --no-print-directory all certs/server.crt
	$(Q)bench/resume.sh

bench-guard: check-setup
	$(Q)$(MAKE) --no-print-directory all certs/server.crt
	$(Q)bench/guard.sh

bench-idle: check-setup
	$(Q)$(MAKE) --no-print-directory all certs/server.crt
	$(Q)bench/idle.sh

bench-tcp: check-setup
	$(Q)$(MAKE) --no-print-directory all certs/server.crt
	$(Q)bench/tcp.sh

bench-encode: check-setup
	$(Q)$(MAKE) --no-print-directory all certs/server.crt
	$(Q)bench/encode.sh

bench-reload: check-setup
	$(Q)$(MAKE) --no-print-directory all certs/server.crt
	$(Q)bench/reload.sh

bench-pace: check-setup
	$(Q)$(MAKE) --no-print-directory all certs/server.crt
	$(Q)bench/pace.sh

# ---- packaging: man pages, the Debian package (dist/) --------------------
# The man pages come from the programs' own help (quicsteerd's option
# table); dated by the commit, so a rebuild of one commit is the same.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null)
MANS := $(OUTPUT)/man/quicsteerd.8 $(OUTPUT)/man/quicsteerctl.8
.PHONY: man deb

man: $(MANS)

$(OUTPUT)/man/quicsteerd.8: quicsteerd
	$(call msg,MAN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) ./quicsteerd --help-man >$@

$(OUTPUT)/man/quicsteerctl.8: quicsteerctl dist/man/quicsteerctl-man.sh VERSION
	$(call msg,MAN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) dist/man/quicsteerctl-man.sh ./quicsteerctl >$@

# the unsanitized build, whatever SANITIZE says: a package is not a test build
deb: check-setup
	$(Q)$(MAKE) --no-print-directory SANITIZE= quicsteerd quicsteerctl man
	$(Q)SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) MAN_DIR=.output/man dist/mkdeb.sh

clean:
	$(call msg,CLEAN,)
	$(Q)rm -rf .output .output-san quicsteerd quicsteerctl
