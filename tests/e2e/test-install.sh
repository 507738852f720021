#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-install.sh - `make install DESTDIR=...` puts the plugin where
# libsasl2 finds it: saslpluginviewer lists XOAUTH2 and OAUTHBEARER with the
# flags Postfix's default security options accept. The plugin needs only libc
# and exports only sasl_client_plug_init. The `mailoauth` users run (the
# front end, which does `token` itself) needs only libc too; every other
# verb, --help and --version go to the full CLI installed in
# libexec/mailoauth/, and without it the front end says so (and token still
# works). `mailoauth token` makes itself undumpable, without core dumps,
# with umask 077, as the full CLI does.
#
# MO_BUILD (default build/) is the build that is installed.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib/tap.sh"
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
: "${MO_BUILD:=$TOP/build}"
dest=$(mktemp -d /tmp/mailoauth-install.XXXXXX)
server='' tok=''
trap 'kill $server $tok 2>/dev/null || true; rm -rf "$dest"' EXIT

t_ok "make install DESTDIR works" make -s -C "$TOP" install BUILD="$MO_BUILD" DESTDIR="$dest"
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

# ---- mailoauth: the front end in bin/, the full CLI in libexec/mailoauth/
front=$dest/usr/local/bin/mailoauth
full=$dest/usr/local/libexec/mailoauth/mailoauth-cli
t_ok "the full CLI is installed in libexec/mailoauth/" test -x "$full"
t_ok "readelf works on the mailoauth front end" readelf -d "$front"
t_is "mailoauth needs libc and nothing else" \
	"$(grep NEEDED <<<"$T_OUT" | grep -o '\[.*\]' | tr -d '[]' | tr '\n' ' ')" "libc.so.6 "
t_ok "readelf works on the full CLI" readelf -d "$full"
t_like "(control: the full CLI links GLib, which is why it is not what token runs)" \
	"$(grep NEEDED <<<"$T_OUT")" 'libglib-2\.0'

# in_prefix CMD...: runs CMD with $dest/usr/local mounted on /usr/local in a
# private mount namespace, so the front end finds the full CLI where it was
# installed for; sets RC and OUT (standard output and error)
in_prefix() {
	RC=0
	# shellcheck disable=SC2016 # the inner sh expands them
	OUT=$(unshare --mount --propagation private sh -c \
		'mount --bind "$0" /usr/local && exec "$@"' "$dest/usr/local" "$@" 2>&1) || RC=$?
}
if unshare --mount --propagation private true 2>/dev/null; then
	in_prefix /usr/local/bin/mailoauth --help
	t_is "mailoauth --help works through the full CLI" "$RC" 0
	t_is "and lists every verb" \
		"$(sed -n 's/^  \([a-z]\+\) \+[a-z].*/\1/p' <<<"$OUT" | tr '\n' ' ')" \
		"login logout list status token test "
	in_prefix /usr/local/bin/mailoauth login --help
	t_like "mailoauth login --help works through it" "$OUT" '^usage: mailoauth login '
	in_prefix /usr/local/bin/mailoauth --version
	t_is "mailoauth --version too" "$RC $OUT" "0 mailoauth 0.1"
	rm "$full"
	in_prefix /usr/local/bin/mailoauth login --help
	t_is "without the full CLI, login exits 70" "$RC" 70
	t_like "and says what is missing and what to do" "$OUT" \
		'^mailoauth: cannot run /usr/local/libexec/mailoauth/mailoauth-cli: No such file or directory .*reinstall mailoauth'
	in_prefix /usr/local/bin/mailoauth --config /nonexistent/mailoauth.conf token work
	t_is "token does not need it (exit 78 for the missing config)" "$RC" 78
	t_like "and says so as the full CLI would" "$OUT" \
		'^mailoauth: /nonexistent/mailoauth.conf: cannot open: No such file or directory'
else
	t_skip "mailoauth through the installed full CLI" "no mount namespace here"
fi

# ---- token hardens itself as the full CLI does: run as nobody against a
# socket that accepts and then holds the connection, it is seen mid-call
chmod 0755 "$dest"
hang=$dest/hang
mkdir -m 0755 "$hang"
printf '[daemon]\nsocket = %s\n' "$hang/sock" >"$hang/mailoauth.conf"
chmod 0644 "$hang/mailoauth.conf"
python3 -c '
import os, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o666)
s.listen(1)
c, _ = s.accept()
open(sys.argv[2], "w").close()
for _ in range(1200):	# until told, at most 60 s
	if os.path.exists(sys.argv[3]):
		break
	time.sleep(0.05)
' "$hang/sock" "$hang/accepted" "$hang/release" &
server=$!
for _ in $(seq 200); do [[ -S "$hang/sock" ]] && break; sleep 0.05; done
setpriv --reuid=nobody --regid=nogroup --clear-groups \
	"$front" --config "$hang/mailoauth.conf" token work >"$hang/out" 2>&1 &
tok=$!
for _ in $(seq 400); do [[ -e "$hang/accepted" ]] && break; sleep 0.05; done
t_ok "mailoauth token (as nobody) reached the socket" test -e "$hang/accepted"
t_is "it is not dumpable (its /proc files belong to root)" \
	"$(stat -c %U "/proc/$tok/environ" 2>&1)" root
t_like "it may not dump core" "$(grep 'Max core file size' "/proc/$tok/limits" 2>&1)" \
	'size +0 +0 '
t_like "its umask is 077" "$(grep Umask "/proc/$tok/status" 2>&1)" '0077$'
touch "$hang/release"
rc=0; wait "$tok" || rc=$?
t_is "it ends with exit 75 when the socket closes without an answer" "$rc" 75
wait "$server" || true
setpriv --reuid=nobody --regid=nogroup --clear-groups sleep 30 &
ctl=$!
for _ in $(seq 100); do [[ "$(stat -c %U "/proc/$ctl/environ" 2>/dev/null)" == nobody ]] && break; sleep 0.05; done
t_is "(control: an ordinary process of nobody's is dumpable)" \
	"$(stat -c %U "/proc/$ctl/environ" 2>&1)" nobody
kill "$ctl"; wait "$ctl" 2>/dev/null || true
t_ok "make uninstall DESTDIR works" make -s -C "$TOP" uninstall BUILD="$MO_BUILD" DESTDIR="$dest"
t_ok "it removes both mailoauth programs and libexec/mailoauth/" \
	test ! -e "$front" -a ! -e "$dest/usr/local/libexec/mailoauth"
t_done
