#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-daemon-secret-service.sh - mailoauthd in user mode with the real
# Secret Service store: gnome-keyring-daemon in a private D-Bus session (no
# display), the test IdP, mailoauthd --user with its config in
# $XDG_CONFIG_HOME/mailoauth/ and its socket at the default
# $XDG_RUNTIME_DIR/mailoauth/socket (both private 0700 directories).
#
#   the grant seeded into the keyring with store-tool serves tokens;
#   the refresh token the IdP rotated lands in the keyring (read back with
#     store-tool and secret-tool, compared with the IdP's /_test/tokens);
#   the keyring locked: serving the cached token never touches it, the
#     scheduled refresh fails with a "locked" sentence in STATUS, and the
#     still-valid token keeps being served;
#   unlocked (gnome-keyring's UnlockWithMasterPassword, as a login would):
#     RELOAD ACCOUNT recovers and the next rotation is stored;
#   the account changed (SIGHUP) while its keyring read hangs: the reload's
#     caller is answered, the late keyring answer is dropped, the daemon
#     lives on and serves the new account;
#   no token in the daemon's log.
# Takes about 65 s: the daemon never refreshes a token less than 60 s after
# it got it, so the locked-keyring refresh is a minute away.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# ---- outside: a private HOME, runtime dir and D-Bus session
if [[ "${1-}" != --in-session ]]; then
	. "$HERE/lib/tap.sh"
	for prog in dbus-run-session gnome-keyring-daemon gdbus secret-tool; do
		command -v "$prog" >/dev/null || { echo "1..0 # SKIP $prog is not installed"; exit 0; }
	done
	/usr/bin/python3 -c 'import gi; gi.require_version("Gio", "2.0")' 2>/dev/null ||
		{ echo "1..0 # SKIP python3-gi is not installed"; exit 0; }
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/mo-dss.XXXXXX")
	chmod 0700 "$WORK"
	mkdir -m 0700 "$WORK/home" "$WORK/run" "$WORK/config"
	rc=0
	env -u DISPLAY -u WAYLAND_DISPLAY -u DBUS_SESSION_BUS_ADDRESS \
		-u GNOME_KEYRING_CONTROL -u SSH_AUTH_SOCK -u CREDENTIALS_DIRECTORY \
		-u MAILOAUTH_SOCKET HOME="$WORK/home" XDG_RUNTIME_DIR="$WORK/run" \
		XDG_CONFIG_HOME="$WORK/config" XDG_DATA_HOME="$WORK/home/.local/share" \
		XDG_CACHE_HOME="$WORK/home/.cache" MO_WORK="$WORK" \
		timeout 300 dbus-run-session -- bash "${BASH_SOURCE[0]}" --in-session \
		2> >(grep -v -e 'Failed to set fd limit' >&2) || rc=$?
	if [[ -z "${E2E_KEEP-}" ]]; then rm -rf "$WORK"; else echo "# kept $WORK" >&2; fi
	exit "$rc"
fi

# ---- inside the private session
. "$HERE/lib/env.sh"
E2E_PYTHON=/usr/bin/python3	# python3-gi for the unlock
WORK=$MO_WORK
: "${MO_BUILD:=$TOP/build}"
STORE_TOOL=$MO_BUILD/tests/store-tool
PASSWORD="mo-e2e-daemon-keyring"
ALICE=alice@example.com
KEYRING_PID=
DAEMON_PID=
DAEMON_SOCKET=$XDG_RUNTIME_DIR/mailoauth/socket
CONF=$XDG_CONFIG_HOME/mailoauth/mailoauth.conf
e2e_init
DAEMON_LOG=$E2E_DIR/mailoauthd.log
TAP_LOGS+=("$DAEMON_LOG")

stop_keyring_and_daemon() {
	[[ -n "$DAEMON_PID" ]] && stop_pid "$DAEMON_PID"
	DAEMON_PID=
	if [[ -n "$KEYRING_PID" ]]; then
		kill "$KEYRING_PID" 2>/dev/null
		KEYRING_PID=
	fi
	return 0
}
E2E_STOP_HOOKS+=(stop_keyring_and_daemon)

bus_call() { # bus_call DEST PATH METHOD ARGS...
	timeout 10 gdbus call --session -d "$1" -o "$2" -m "$3" "${@:4}"
}

keyring_start() {
	local out=
	printf %s "$PASSWORD" | gnome-keyring-daemon --unlock --components=secrets --daemonize \
		>"$WORK/keyring.env" 2>>"$WORK/keyring.log"
	for _ in $(seq 100); do
		out=$(bus_call org.freedesktop.DBus /org/freedesktop/DBus \
			org.freedesktop.DBus.GetConnectionUnixProcessID org.freedesktop.secrets 2>/dev/null) &&
			break
		sleep 0.1
	done
	KEYRING_PID=$(sed -n 's/^(uint32 \([0-9]*\),)$/\1/p' <<<"$out")
	[[ -n "$KEYRING_PID" ]]
}

collection_locked() {
	bus_call org.freedesktop.secrets /org/freedesktop/secrets/collection/login \
		org.freedesktop.DBus.Properties.Get org.freedesktop.Secret.Collection Locked |
		sed -n 's/^(<\(true\|false\)>,)$/\1/p'
}

keyring_lock() {
	bus_call org.freedesktop.secrets /org/freedesktop/secrets org.freedesktop.Secret.Service.Lock \
		"[objectpath '/org/freedesktop/secrets/collection/login']" >/dev/null
}

# keyring_unlock: what a desktop login does, without a prompt: gnome-keyring's
# UnlockWithMasterPassword with the password as a "plain" session secret
# (the session belongs to the connection, so both calls share one)
keyring_unlock() {
	printf %s "$PASSWORD" | "$E2E_PYTHON" -c '
import sys
from gi.repository import Gio, GLib
password = sys.stdin.buffer.read()
bus = Gio.bus_get_sync(Gio.BusType.SESSION, None)
def call(path, iface, method, args):
    return bus.call_sync("org.freedesktop.secrets", path, iface, method, args,
                         None, Gio.DBusCallFlags.NONE, 10000, None)
_, session = call("/org/freedesktop/secrets", "org.freedesktop.Secret.Service",
                  "OpenSession", GLib.Variant("(sv)", ("plain", GLib.Variant("s", "")))).unpack()
call("/org/freedesktop/secrets", "org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface",
     "UnlockWithMasterPassword",
     GLib.Variant("(o(oayays))", ("/org/freedesktop/secrets/collection/login",
                                  (session, b"", password, "text/plain"))))'
}

# field KEY: one field of the account's STATUS line, decoded
field() {
	daemon_call "STATUS work" | "$E2E_PYTHON" -c 'import sys, urllib.parse
for w in sys.stdin.read().split()[1:]:
    k, _, v = w.partition("=")
    if k == sys.argv[1]: print(urllib.parse.unquote(v))' "$1"
}

daemon_call() {
	printf '%s\n' "$1" | timeout 20 socat -t 15 - "UNIX-CONNECT:$DAEMON_SOCKET"
}

TOKENS=()
# token: asks for work's token; ANS is the answer without it, TOK the token
token() {
	local a
	a=$(daemon_call "TOKEN work")
	TOK=$(sed -n 's/.* token=//p' <<<"$a")
	[[ -n "$TOK" ]] && TOKENS+=("$TOK")
	ANS=$(sed 's/ token=.*//' <<<"$a")
}

# keyring_rt_is_newest: the refresh token in the keyring is the newest one
# the IdP issued (the rotation was stored)
keyring_rt_is_newest() {
	local grant
	grant=$(timeout 30 "$STORE_TOOL" secret load work) || return 1
	printf %s "$grant" | "$E2E_PYTHON" -c '
import hashlib, json, sys, urllib.request
rt = json.loads(sys.stdin.read())["refresh_token"]
tokens = json.load(urllib.request.urlopen(sys.argv[1] + "/_test/tokens"))["tokens"]
newest = max((t for t in tokens if t["kind"] == "refresh"), key=lambda t: t["serial"])
sys.exit(0 if newest["sha256"] == hashlib.sha256(rt.encode()).hexdigest()[:16]
         else "the keyring holds an older refresh token than the newest issued")' "$IDP_URL"
}

# wait_log REGEX SECS: waits for a line of the daemon's log
wait_log() {
	local tries=$(($2 * 10))
	while ((tries-- > 0)); do
		grep -Eq -- "$1" "$DAEMON_LOG" && return 0
		sleep 0.1
	done
	return 1
}

# ---- the keyring, the IdP, the user's configuration and grant
keyring_start || e2e_bail "gnome-keyring-daemon did not start" "$WORK/keyring.log"
t_is "the login keyring is unlocked" "$(collection_locked)" false
start_idp
# tokens live 181 s and refresh_margin is 120 s: the refresh comes 60 s
# after a token, which then has two minutes left
idp_call POST /_test/config '{"token_lifetime": 181}' >/dev/null
mkdir -p "$(dirname "$CONF")"
cat >"$CONF" <<EOF
[daemon]
store = secret-service
refresh_margin = 120

[account work]
provider = microsoft
tenant = contoso
authority = $IDP_URL
client_id = mailoauth-e2e
user = $ALICE
EOF
chmod 0600 "$CONF"
seed_rt=$(idp_call POST /_test/mint "{\"user\": \"$ALICE\", \"refresh\": true, \"client_id\": \"mailoauth-e2e\",
	\"scope\": \"https://outlook.office.com/SMTP.Send offline_access\"}" | _json_get refresh_token)
printf '{"refresh_token":"%s"}' "$seed_rt" | timeout 30 "$STORE_TOOL" secret save work
t_like "store-tool put the grant into the keyring" \
	"$(timeout 10 secret-tool search --all account work 2>&1 | grep -v '^secret = ')" \
	$'(^|\n)label = mailoauth: work(\n|$)'

# ---- mailoauthd --user: default config and socket paths
"$MO_PROG_BUILD/token-helper/mailoauthd" --user </dev/null >>"$DAEMON_LOG" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 100); do
	[[ -S "$DAEMON_SOCKET" ]] && break
	pid_alive "$DAEMON_PID" || break
	sleep 0.05
done
[[ -S "$DAEMON_SOCKET" ]] || e2e_bail "mailoauthd --user did not start" "$DAEMON_LOG"
t_file_like "it runs in user mode with the Secret Service store" "$DAEMON_LOG" \
	"ready: 1 account\\(s\\), user mode, store Secret Service"
t_is "its socket is \$XDG_RUNTIME_DIR/mailoauth/socket" "$(stat -c %F "$DAEMON_SOCKET")" socket
t_is "in a directory only the user can enter" "$(stat -c %a "$XDG_RUNTIME_DIR")" 700

token
t_like "a token is served from the keyring's grant" "$ANS" "^OK account=work user=$ALICE gen=1 "
t_like "it is live at the IdP" "$(curl -s -H "Authorization: Bearer $TOK" "$IDP_URL/introspect")" \
	'"active": *true'
t_ok "the rotated refresh token landed in the keyring (store-tool)" keyring_rt_is_newest
kr=$(timeout 10 secret-tool lookup account work)
t_isnt "secret-tool reads the same new grant" "$(sha256sum <<<"$kr")" \
	"$(printf '{"refresh_token":"%s"}\n' "$seed_rt" | sha256sum)"
t_like "... a JSON grant with a refresh token" "$kr" '"refresh_token": ?"0\.A'
t1=$TOK

# ---- the keyring is locked: the cached token is served, the refresh fails
keyring_lock
t_is "the keyring is locked" "$(collection_locked)" true
start=$(date +%s%N)
token
t_is "the cached token is still served at once" "$TOK" "$t1"
t_ok "without waiting for the keyring" test $((($(date +%s%N) - start) / 1000000)) -lt 1000
t_diag "waiting for the scheduled refresh (60 s after the token)"
t_ok "the scheduled refresh fails on the locked keyring" \
	wait_log 'account work: refresh failed, retrying in [0-9]+ s: .*keyring is locked' 75
t_like "STATUS: still valid, one failure" "$(daemon_call 'STATUS work')" \
	'^OK account=work state=valid expires_in=[0-9]+ .* failures=1 '
t_like "with the locked sentence and what to do" "$(field message)" \
	'^cannot read the grant of account work from Secret Service: the Secret Service keyring is locked: unlock it \(e\.g\. log in to the desktop\) or use store = file$'
token
t_like "the still-valid token keeps being served" "$ANS" '^OK account=work .* gen=1 '
t_is "the same one" "$TOK" "$t1"

# ---- unlocked: RELOAD ACCOUNT recovers
t_ok "the keyring unlocks with its password" keyring_unlock
t_is "the keyring is unlocked" "$(collection_locked)" false
t_like "RELOAD ACCOUNT refreshes from the keyring" "$(daemon_call 'RELOAD work')" \
	'^OK account=work state=valid expires_in=[0-9]+ .*failures=0 gen=2( |$)'
token
t_like "a new token is served" "$ANS" '^OK account=work .* gen=2 '
t_isnt "a different one" "$TOK" "$t1"
t_ok "and its rotated refresh token is in the keyring" keyring_rt_is_newest

# ---- the account changes (SIGHUP) while its keyring read is in flight
kill -STOP "$KEYRING_PID"
daemon_call 'RELOAD work' >"$E2E_DIR/reload.out" &
reload_pid=$!
sleep 0.5
sed -i 's/^client_id = mailoauth-e2e$/client_id = mailoauth-e2e-2/' "$CONF"
kill -HUP "$DAEMON_PID"
t_ok "SIGHUP with the account changed, while the keyring hangs" \
	wait_log 'configuration reloaded: 1 accounts' 10
kill -CONT "$KEYRING_PID"
wait "$reload_pid" || true
t_like "the reload's caller is told the account changed" "$(cat "$E2E_DIR/reload.out")" \
	'^ERR unknown-account the account was removed from the configuration'
sleep 0.5
t_ok "the daemon survives the late answer of the keyring" pid_alive "$DAEMON_PID"
idp_call POST /_test/mint "{\"user\": \"$ALICE\", \"refresh\": true, \"client_id\": \"mailoauth-e2e-2\",
	\"scope\": \"https://outlook.office.com/SMTP.Send offline_access\"}" | _json_get refresh_token |
	"$E2E_PYTHON" -c 'import json, sys; sys.stdout.write(json.dumps({"refresh_token": sys.stdin.read().strip()}))' |
	timeout 30 "$STORE_TOOL" secret save work
t_like "a grant for the changed account + RELOAD ACCOUNT (what login does): valid" \
	"$(daemon_call 'RELOAD work')" '^OK account=work state=valid '
token
t_like "and it is served" "$ANS" '^OK account=work .* gen=1 '

stop_pid "$DAEMON_PID"
DAEMON_PID=
t_file_unlike "no sanitizer report in the daemon's log" "$DAEMON_LOG" 'Sanitizer|runtime error'
t_no_secret_in "no token or refresh token in the daemon's log" "$DAEMON_LOG" \
	"${TOKENS[@]}" "$seed_rt"
t_done
