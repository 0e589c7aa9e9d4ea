# SPDX-License-Identifier: MIT
# bench/load/load.mk - build quicsteer-load, the HTTP/3 load generator.
# Included by the main Makefile, which defines OUTPUT, CC, CFLAGS (and DEPS,
# Q, msg).  OpenSSL >= 3.5 and ngtcp2 (libngtcp2_crypto_ossl) come static from
# the set-up prefix, nghttp3 from pkg-config (scripts/setup.sh provides both).

LOAD_DIR  := bench/load
# the worker's allocator for ngtcp2/nghttp3: the client churns the same
# small blocks (the load generator is single-threaded, as a worker is)
LOAD_SRCS := $(wildcard $(LOAD_DIR)/*.c) user/worker/mem.c
LOAD_HDRS := $(wildcard $(LOAD_DIR)/*.h)
LOAD_BIN  := $(OUTPUT)/quicsteer-load

# make 4.3 does not pass exported variables to $(shell): name the prefix here.
# Deferred (=) so that only a build of this target runs pkg-config.
LOAD_PKG_CONFIG = PKG_CONFIG_PATH='$(or $(DEPS),$(QUICSTEER_DEPS),/var/cache/quicsteer/deps)/prefix/lib/pkgconfig:$(PKG_CONFIG_PATH)' pkg-config
LOAD_CFLAGS = $(shell $(LOAD_PKG_CONFIG) --cflags libngtcp2_crypto_ossl libnghttp3)
LOAD_LIBS   = $(shell $(LOAD_PKG_CONFIG) --static --libs libngtcp2_crypto_ossl) \
              $(shell $(LOAD_PKG_CONFIG) --libs libnghttp3)

$(LOAD_BIN): $(LOAD_SRCS) $(LOAD_HDRS) user/worker/mem.h $(LOAD_DIR)/load.mk
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(LOAD_PKG_CONFIG) --exists 'libngtcp2_crypto_ossl >= 1.12' 'libssl >= 3.5' libnghttp3 || \
		{ echo "$@: needs ngtcp2 >= 1.12 with libngtcp2_crypto_ossl, OpenSSL >= 3.5 and nghttp3 (run scripts/setup.sh)" >&2; exit 1; }
	$(Q)$(CC) $(LOAD_CFLAGS) $(CFLAGS) $(LOAD_SRCS) $(LOAD_LIBS) -o $@
