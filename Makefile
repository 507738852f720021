# SPDX-License-Identifier: MIT
# mailoauth - OAuth 2.0 for mail programs that only know SASL
#
#   make              build the plugin (and everything else there is)
#   make check        install missing Debian packages (as root), build, and
#                     run unit, sanitizer, valgrind, fuzz-regression and
#                     end-to-end tests; ends with "N passed, N failed"
#   make install      PREFIX, DESTDIR, SASL_PLUGINDIR, SYSCONFDIR, LIBEXECDIR
#   make fuzz         run every libFuzzer target (FUZZ_SECONDS each)
#   make demo, make bench   (see README.md)

VERSION        := 0.1
PREFIX         ?= /usr/local
SYSCONFDIR     ?= /etc
LIBDIR         ?= $(PREFIX)/lib
MULTIARCH      := $(shell $(CC) -print-multiarch 2>/dev/null)
SASL_PLUGINDIR ?= /usr/lib/$(if $(MULTIARCH),$(MULTIARCH),x86_64-linux-gnu)/sasl2
DOCDIR         ?= $(PREFIX)/share/doc/mailoauth
LIBEXECDIR     ?= $(PREFIX)/libexec

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

DAEMON_PKGS := glib-2.0 gio-2.0 libsecret-1 libcurl jansson libcrypto libsystemd \
               libssl libqrencode
DAEMON_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(DAEMON_PKGS) 2>/dev/null)
DAEMON_LIBS   := $(shell $(PKG_CONFIG) --libs $(DAEMON_PKGS) 2>/dev/null)
SASL_CFLAGS := $(shell $(PKG_CONFIG) --cflags libsasl2 2>/dev/null)
SASL_LIBS   := $(shell $(PKG_CONFIG) --libs libsasl2 2>/dev/null || echo -lsasl2)
CMOCKA_LIBS := $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null || echo -lcmocka)

COMMON_SRC := common/proto.c common/saslmsg.c common/client.c common/strbuf.c \
              common/base64.c
PLUGIN_SRC := sasl-plugin/plugin.c sasl-plugin/plugin_config.c \
              sasl-plugin/token_cache.c
COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/%.o)
PLUGIN_OBJ := $(PLUGIN_SRC:%.c=$(BUILD)/%.o)

# every token-helper/*.c but the programs' mains goes into libhelper.a
HELPER_MAINS := token-helper/mailoauthd.c token-helper/mailoauth.c \
                token-helper/mailoauth-graph.c token-helper/mailoauth-front.c
HELPER_SRC := $(filter-out $(HELPER_MAINS),$(sort $(wildcard token-helper/*.c)))
HELPER_OBJ := $(HELPER_SRC:%.c=$(BUILD)/%.o)

PLUGIN     := $(BUILD)/sasl-plugin/libmailoauth.so
LIBCOMMON  := $(BUILD)/common/libmocommon.a
LIBHELPER  := $(BUILD)/token-helper/libhelper.a
DAEMON     := $(BUILD)/token-helper/mailoauthd
CLI        := $(BUILD)/token-helper/mailoauth-cli
FRONT      := $(BUILD)/token-helper/mailoauth
GRAPH      := $(BUILD)/token-helper/mailoauth-graph

UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test-*.c))
TOOLS      := $(patsubst tests/tools/%.c,$(BUILD)/tests/%,$(wildcard tests/tools/*.c))

.PHONY: all plugin daemon tests check install uninstall fuzz demo bench clean deps
all: plugin daemon tests

plugin: $(PLUGIN)
daemon: $(DAEMON) $(CLI) $(FRONT) $(GRAPH)
tests: $(UNIT_TESTS) $(TOOLS)

$(BUILD)/common/%.o $(BUILD)/sasl-plugin/%.o: CFLAGS_EXTRA = $(SASL_CFLAGS) -Isasl-plugin
$(BUILD)/token-helper/%.o: CFLAGS_EXTRA = $(DAEMON_CFLAGS) -Itoken-helper
$(BUILD)/%.o: %.c $(wildcard common/*.h sasl-plugin/*.h token-helper/*.h) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(CFLAGS_EXTRA) -DMO_VERSION='"$(VERSION)"' -c -o $@ $<

# rebuilt from scratch: a member whose source is gone must not linger
$(LIBCOMMON): $(COMMON_OBJ)
	rm -f $@ && $(AR) rcs $@ $^

$(LIBHELPER): $(HELPER_OBJ)
	rm -f $@ && $(AR) rcs $@ $^

$(DAEMON): token-helper/mailoauthd.c $(LIBHELPER) $(LIBCOMMON)
	$(CC) $(ALL_CFLAGS) $(DAEMON_CFLAGS) -Itoken-helper -DMO_VERSION='"$(VERSION)"' \
	      -o $@ $< $(LIBHELPER) $(LIBCOMMON) $(LINK_SAN) $(DAEMON_LIBS)

$(CLI): token-helper/mailoauth.c $(LIBHELPER) $(LIBCOMMON)
	$(CC) $(ALL_CFLAGS) $(DAEMON_CFLAGS) -Itoken-helper -DMO_VERSION='"$(VERSION)"' \
	      -o $@ $< $(LIBHELPER) $(LIBCOMMON) $(LINK_SAN) -Wl,--as-needed $(DAEMON_LIBS)

# The mailoauth users run: `token` itself with nothing but libc and common/
# (as the plugin), every other verb by exec'ing the full CLI above, found
# next to it (build tree) or installed in LIBEXECDIR. That path is compiled
# in, so a `make install` with another LIBEXECDIR (or PREFIX) relinks it.
FRONT_STAMP := $(BUILD)/token-helper/libexecdir.stamp
$(FRONT): token-helper/mailoauth-front.c $(LIBCOMMON) $(wildcard common/*.h) \
          $(FRONT_STAMP) Makefile
	$(CC) $(ALL_CFLAGS) -DMO_VERSION='"$(VERSION)"' \
	      -DMO_CLI_PATH='"$(LIBEXECDIR)/mailoauth/mailoauth-cli"' \
	      -o $@ $< $(LIBCOMMON) $(LINK_SAN) -Wl,--as-needed -Wl,-z,relro,-z,now

.PHONY: libexecdir-check
$(FRONT_STAMP): libexecdir-check
	@mkdir -p $(dir $@)
	@echo '$(LIBEXECDIR)' | cmp -s - $@ || echo '$(LIBEXECDIR)' >$@

$(GRAPH): token-helper/mailoauth-graph.c $(LIBHELPER) $(LIBCOMMON)
	$(CC) $(ALL_CFLAGS) $(DAEMON_CFLAGS) -Itoken-helper -DMO_VERSION='"$(VERSION)"' \
	      -o $@ $< $(LIBHELPER) $(LIBCOMMON) $(LINK_SAN) -Wl,--as-needed $(DAEMON_LIBS)

# The plugin links nothing but libc; --no-undefined proves it.
$(PLUGIN): $(PLUGIN_OBJ) $(LIBCOMMON)
	$(CC) -shared -o $@ $(PLUGIN_OBJ) $(LIBCOMMON) $(LINK_SAN) \
	      -Wl,--no-undefined -Wl,-z,relro,-z,now -Wl,--as-needed

# every test and tool links what it needs from these (--as-needed drops the rest)
TEST_LINK = $(filter-out $(BUILD)/sasl-plugin/plugin.o,$(PLUGIN_OBJ)) \
            $(LIBHELPER) $(LIBCOMMON) $(LINK_SAN) -Wl,--as-needed \
            $(CMOCKA_LIBS) $(SASL_LIBS) $(DAEMON_LIBS) -lpthread
TEST_CFLAGS = $(ALL_CFLAGS) $(SASL_CFLAGS) $(DAEMON_CFLAGS) -Isasl-plugin \
              -Itoken-helper -Itests/unit -DMO_VERSION='"$(VERSION)"'

$(BUILD)/tests/test-%: tests/unit/test-%.c $(LIBHELPER) $(LIBCOMMON) $(PLUGIN_OBJ) tests/unit/*.h
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -o $@ $< $(TEST_LINK)

$(BUILD)/tests/%: tests/tools/%.c $(LIBHELPER) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -o $@ $< $(TEST_LINK)

# ---- tests ----
check:
	tests/deps.sh
	$(MAKE) all
	$(MAKE) all BUILD=build-asan SANITIZE=1
	$(if $(shell command -v clang),$(MAKE) fuzz-build)
	tests/run-tests

# ---- fuzzing (libFuzzer, clang) ----
FUZZ_BUILD   ?= build-fuzz
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz-%.c,$(FUZZ_BUILD)/fuzz-%,$(wildcard tests/fuzz/fuzz-*.c))
FUZZ_SECONDS ?= 60
FUZZ_SRC := $(COMMON_SRC) sasl-plugin/plugin_config.c token-helper/config.c \
            token-helper/http.c token-helper/oauth.c token-helper/discovery.c \
            token-helper/graph_mime.c token-helper/mailreply.c \
            token-helper/secret.c token-helper/login_url.c
# fuzz-store.c includes store_file.c (to reach its static parsers)
$(FUZZ_BUILD)/fuzz-store: token-helper/store_file.c
# fuzz-front-config.c includes mailoauth-front.c (its static config reader)
$(FUZZ_BUILD)/fuzz-front-config: token-helper/mailoauth-front.c
$(FUZZ_BUILD)/fuzz-%: tests/fuzz/fuzz-%.c $(FUZZ_SRC) $(wildcard common/*.h sasl-plugin/*.h token-helper/*.h)
	@mkdir -p $(FUZZ_BUILD)
	clang -g -O1 -fsanitize=fuzzer,address,undefined -Icommon -Isasl-plugin \
	      -Itoken-helper $(DAEMON_CFLAGS) -DMO_VERSION='"$(VERSION)"' \
	      -o $@ $< $(FUZZ_SRC) $(DAEMON_LIBS)

.PHONY: fuzz-build
fuzz-build: $(FUZZ_TARGETS)

fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
	  name=$$(basename $$t); mkdir -p $(FUZZ_BUILD)/corpus/$$name; \
	  echo "== $$name ($(FUZZ_SECONDS) s)"; \
	  $$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	      $(FUZZ_BUILD)/corpus/$$name tests/fuzz/corpus/$$name || exit 1; \
	done

# ---- install ----
SBINDIR        ?= $(PREFIX)/sbin
MANDIR         ?= $(PREFIX)/share/man
UNITDIR        ?= $(shell $(PKG_CONFIG) --variable=systemdsystemunitdir systemd 2>/dev/null || echo /lib/systemd/system)
USERUNITDIR    ?= $(shell $(PKG_CONFIG) --variable=systemduserunitdir systemd 2>/dev/null || echo /usr/lib/systemd/user)

BINDIR         ?= $(PREFIX)/bin

install: $(PLUGIN) $(DAEMON) $(CLI) $(FRONT) $(GRAPH)
	install -d $(DESTDIR)$(SASL_PLUGINDIR) $(DESTDIR)$(SYSCONFDIR)/mailoauth \
	           $(DESTDIR)$(DOCDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) \
	           $(DESTDIR)$(LIBEXECDIR)/mailoauth \
	           $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
	           $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(UNITDIR) $(DESTDIR)$(USERUNITDIR)
	install -m 0644 $(PLUGIN) $(DESTDIR)$(SASL_PLUGINDIR)/libmailoauth.so
	install -m 0755 $(DAEMON) $(DESTDIR)$(SBINDIR)/mailoauthd
	install -m 0755 $(FRONT) $(DESTDIR)$(BINDIR)/mailoauth
	install -m 0755 $(CLI) $(DESTDIR)$(LIBEXECDIR)/mailoauth/mailoauth-cli
	install -m 0755 $(GRAPH) $(DESTDIR)$(BINDIR)/mailoauth-graph
	install -m 0644 docs/mailoauth.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 docs/mailoauth-graph.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 docs/mailoauth.conf.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 docs/mailoauthd.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 systemd/mailoauthd.socket $(DESTDIR)$(UNITDIR)/
	sed 's|/usr/sbin/mailoauthd|$(SBINDIR)/mailoauthd|' systemd/mailoauthd.service \
	    > $(DESTDIR)$(UNITDIR)/mailoauthd.service
	sed 's|/usr/sbin/mailoauthd|$(SBINDIR)/mailoauthd|' systemd/mailoauthd-user.service \
	    > $(DESTDIR)$(USERUNITDIR)/mailoauthd.service
	install -m 0644 docs/*.md $(DESTDIR)$(DOCDIR)/
	test -e $(DESTDIR)$(SYSCONFDIR)/mailoauth/plugin.conf || \
	  install -m 0644 sasl-plugin/plugin.conf.example \
	          $(DESTDIR)$(SYSCONFDIR)/mailoauth/plugin.conf

uninstall:
	rm -f $(DESTDIR)$(SASL_PLUGINDIR)/libmailoauth.so $(DESTDIR)$(SBINDIR)/mailoauthd \
	      $(DESTDIR)$(BINDIR)/mailoauth $(DESTDIR)$(MANDIR)/man1/mailoauth.1 \
	      $(DESTDIR)$(BINDIR)/mailoauth-graph $(DESTDIR)$(MANDIR)/man1/mailoauth-graph.1 \
	      $(DESTDIR)$(MANDIR)/man5/mailoauth.conf.5 $(DESTDIR)$(MANDIR)/man8/mailoauthd.8 \
	      $(DESTDIR)$(UNITDIR)/mailoauthd.service $(DESTDIR)$(UNITDIR)/mailoauthd.socket \
	      $(DESTDIR)$(USERUNITDIR)/mailoauthd.service \
	      $(DESTDIR)$(LIBEXECDIR)/mailoauth/mailoauth-cli
	-rmdir $(DESTDIR)$(LIBEXECDIR)/mailoauth
	rm -rf $(DESTDIR)$(DOCDIR)

demo:
	tests/deps.sh
	$(MAKE) all
	tests/demo.sh

# ---- benchmarks (tests/bench/run writes docs/BENCHMARKS.md; needs root) ----
BENCH_PROGS := $(BUILD)/bench/bench-socket $(BUILD)/bench/bench-sasl \
               $(BUILD)/bench/bench-spawn $(BUILD)/bench/bench-true

$(BUILD)/bench/bench-true: tests/bench/bench-true.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -static -o $@ $<

$(BUILD)/bench/bench-%: tests/bench/bench-%.c tests/bench/bench.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SASL_CFLAGS) -o $@ $< $(SASL_LIBS) -lpthread

.PHONY: bench-build
bench-build: $(BENCH_PROGS)

bench:
	tests/deps.sh
	$(MAKE) all bench-build
	MO_BUILD=$(abspath $(BUILD)) tests/bench/run

clean:
	rm -rf build build-asan build-fuzz
