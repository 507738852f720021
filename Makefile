# SPDX-License-Identifier: MIT
# mailoauth - OAuth 2.0 for mail programs that only know SASL
#
#   make              build the plugin (and everything else there is)
#   make check        install missing Debian packages (as root), build, and
#                     run unit, sanitizer, valgrind, fuzz-regression and
#                     end-to-end tests; ends with "N passed, N failed"
#   make install      PREFIX, DESTDIR, SASL_PLUGINDIR, SYSCONFDIR
#   make fuzz         run every libFuzzer target (FUZZ_SECONDS each)
#   make demo, make bench   (see README.md)

PREFIX         ?= /usr/local
SYSCONFDIR     ?= /etc
LIBDIR         ?= $(PREFIX)/lib
MULTIARCH      := $(shell $(CC) -print-multiarch 2>/dev/null)
SASL_PLUGINDIR ?= /usr/lib/$(if $(MULTIARCH),$(MULTIARCH),x86_64-linux-gnu)/sasl2
DOCDIR         ?= $(PREFIX)/share/doc/mailoauth

BUILD    ?= build
SANITIZE ?=
PKG_CONFIG ?= pkg-config

WARN   := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
          -Wformat=2 -Wno-format-nonliteral -Wno-format-truncation -Wvla
ifneq ($(CI),)
WARN   += -Werror
endif
ifneq ($(STRICT),)
WARN   += -Werror
endif

OPT     ?= -O2 -g
CFLAGS  ?= $(OPT)
HARDEN  := -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIC
ifneq ($(SANITIZE),)
HARDEN  := -fPIC -fno-omit-frame-pointer -fsanitize=address,undefined \
           -fno-sanitize-recover=undefined
OPT     := -O1 -g
endif
ALL_CFLAGS = -std=c11 $(WARN) $(HARDEN) $(CFLAGS) -Icommon \
             -DMO_SYSCONFDIR='"$(SYSCONFDIR)"' -fvisibility=hidden
LINK_SAN   = $(if $(SANITIZE),-fsanitize=address$(comma)undefined)
comma := ,

SASL_CFLAGS := $(shell $(PKG_CONFIG) --cflags libsasl2 2>/dev/null)
SASL_LIBS   := $(shell $(PKG_CONFIG) --libs libsasl2 2>/dev/null || echo -lsasl2)
CMOCKA_LIBS := $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null || echo -lcmocka)

COMMON_SRC := common/proto.c common/saslmsg.c common/client.c
PLUGIN_SRC := sasl-plugin/plugin.c sasl-plugin/plugin_config.c \
              sasl-plugin/token_cache.c
COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/%.o)
PLUGIN_OBJ := $(PLUGIN_SRC:%.c=$(BUILD)/%.o)

PLUGIN     := $(BUILD)/sasl-plugin/libmailoauth.so
LIBCOMMON  := $(BUILD)/common/libmocommon.a

UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test-*.c))
TOOLS      := $(BUILD)/tests/static-tokend

.PHONY: all plugin tests check install uninstall fuzz demo bench clean deps
all: plugin tests

plugin: $(PLUGIN)
tests: $(UNIT_TESTS) $(TOOLS)

$(BUILD)/%.o: %.c $(wildcard common/*.h sasl-plugin/*.h) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SASL_CFLAGS) -Isasl-plugin -c -o $@ $<

$(LIBCOMMON): $(COMMON_OBJ)
	$(AR) rcs $@ $^

# The plugin links nothing but libc; --no-undefined proves it.
$(PLUGIN): $(PLUGIN_OBJ) $(LIBCOMMON)
	$(CC) -shared -o $@ $(PLUGIN_OBJ) $(LIBCOMMON) $(LINK_SAN) \
	      -Wl,--no-undefined -Wl,-z,relro,-z,now -Wl,--as-needed

$(BUILD)/tests/test-%: tests/unit/test-%.c $(LIBCOMMON) $(PLUGIN_OBJ) tests/unit/*.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SASL_CFLAGS) -Isasl-plugin -Itests/unit -o $@ $< \
	      $(filter-out $(BUILD)/sasl-plugin/plugin.o,$(PLUGIN_OBJ)) \
	      $(LIBCOMMON) $(LINK_SAN) $(CMOCKA_LIBS) $(SASL_LIBS) -lpthread

$(BUILD)/tests/static-tokend: tests/tools/static-tokend.c $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LIBCOMMON) $(LINK_SAN)

# ---- tests ----
check:
	tests/deps.sh
	$(MAKE) all
	$(MAKE) all BUILD=build-asan SANITIZE=1
	$(if $(shell command -v clang),$(MAKE) fuzz-build)
	tests/run-tests

# ---- fuzzing (libFuzzer, clang) ----
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz-%.c,build-fuzz/fuzz-%,$(wildcard tests/fuzz/fuzz-*.c))
FUZZ_SECONDS ?= 60
FUZZ_SRC := $(COMMON_SRC) sasl-plugin/plugin_config.c
build-fuzz/fuzz-%: tests/fuzz/fuzz-%.c $(FUZZ_SRC) $(wildcard common/*.h sasl-plugin/*.h)
	@mkdir -p build-fuzz
	clang -g -O1 -fsanitize=fuzzer,address,undefined -Icommon -Isasl-plugin \
	      -o $@ $< $(FUZZ_SRC)

.PHONY: fuzz-build
fuzz-build: $(FUZZ_TARGETS)

fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
	  name=$$(basename $$t); mkdir -p build-fuzz/corpus/$$name; \
	  echo "== $$name ($(FUZZ_SECONDS) s)"; \
	  $$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	      build-fuzz/corpus/$$name tests/fuzz/corpus/$$name || exit 1; \
	done

# ---- install ----
install: $(PLUGIN)
	install -d $(DESTDIR)$(SASL_PLUGINDIR) $(DESTDIR)$(SYSCONFDIR)/mailoauth \
	           $(DESTDIR)$(DOCDIR)
	install -m 0644 $(PLUGIN) $(DESTDIR)$(SASL_PLUGINDIR)/libmailoauth.so
	install -m 0644 docs/*.md $(DESTDIR)$(DOCDIR)/
	test -e $(DESTDIR)$(SYSCONFDIR)/mailoauth/plugin.conf || \
	  install -m 0644 sasl-plugin/plugin.conf.example \
	          $(DESTDIR)$(SYSCONFDIR)/mailoauth/plugin.conf

uninstall:
	rm -f $(DESTDIR)$(SASL_PLUGINDIR)/libmailoauth.so
	rm -rf $(DESTDIR)$(DOCDIR)

demo:
	@echo "make demo arrives with the daemon and the CLI (see README.md)"; exit 1

bench:
	@echo "make bench arrives with the daemon (see README.md)"; exit 1

clean:
	rm -rf build build-asan build-fuzz
