#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-install.sh - `make install DESTDIR=...` puts the plugin where
# libsasl2 finds it: saslpluginviewer lists XOAUTH2 and OAUTHBEARER with the
# flags Postfix's default security options accept. The plugin needs only libc
# and exports only sasl_client_plug_init.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib/tap.sh"
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
dest=$(mktemp -d /tmp/mailoauth-install.XXXXXX)
trap 'rm -rf "$dest"' EXIT

t_ok "make install DESTDIR works" make -s -C "$TOP" install DESTDIR="$dest"
plugdir=$dest/usr/lib/$(gcc -print-multiarch)/sasl2
t_ok "the plugin is in Debian's multiarch SASL directory" test -f "$plugdir/libmailoauth.so"
t_ok "the example plugin.conf is installed" test -f "$dest/etc/mailoauth/plugin.conf"
t_ok "saslpluginviewer loads it" env SASL_PATH="$plugdir" saslpluginviewer -c
t_like "XOAUTH2 and OAUTHBEARER are listed" "$T_OUT" 'mechanisms are:.*XOAUTH2 OAUTHBEARER'
t_like "with NO_PLAINTEXT, as Postfix's default options require" "$T_OUT" \
	'SASL mechanism: XOAUTH2, best SSF: 0.*security flags: NO_ANONYMOUS\|NO_PLAINTEXT'
t_ok "readelf works on the plugin" readelf -d "$plugdir/libmailoauth.so"
t_is "it needs libc and nothing else" \
	"$(grep NEEDED <<<"$T_OUT" | grep -o '\[.*\]' | tr -d '[]' | tr '\n' ' ')" "libc.so.6 "
t_ok "nm works on the plugin" nm -D --defined-only "$plugdir/libmailoauth.so"
t_is "it exports only sasl_client_plug_init" "$(awk '$2 == "T" {print $3}' <<<"$T_OUT")" \
	"sasl_client_plug_init"
t_done
