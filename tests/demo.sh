#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# demo.sh - `make demo`: the whole mailoauth story against local servers only
#
# Starts, in a private temporary directory and on loopback ports: the test
# identity provider (an Entra ID look-alike, tests/idp), Dovecot as a
# submission and IMAP server that accepts only XOAUTH2/OAUTHBEARER tokens it
# checks with that provider, a Postfix relay whose chrooted smtp(8) loads
# libmailoauth.so, and mailoauthd with an encrypted file store. Then it logs
# an account in with the device code flow (the provider approves the code
# as a user would in a browser), relays a message through Postfix with
# XOAUTH2, shows it delivered, shows how the daemon's refresh rotated the
# refresh token (stored before use) and when the next refresh is due, shows
# `mailoauth status` and `mailoauth test`, and stops and removes everything.
#
# Run as root (Postfix and Dovecot drop privileges themselves); `make demo`
# installs missing packages and builds first. MO_BUILD selects the build.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/e2e/lib/env.sh"

ALICE=alice@example.com

if [[ -t 1 ]]; then B=$'\033[1m' N=$'\033[0m'; else B='' N=''; fi
step() { printf '\n%s==> %s%s\n' "$B" "$*" "$N"; }
show() { sed 's/^/    /'; }
fail() { printf '\n%sdemo failed:%s %s\n' "$B" "$N" "$*" >&2; exit 1; }

e2e_init 2>/dev/null
. "$E2E_LIB/daemon.sh"
CLI=("$MO_BUILD/token-helper/mailoauth" --config "$DAEMON_CONF")
[[ -x "${CLI[0]}" ]] || fail "build first: make all"

step "1. Local servers: identity provider, Dovecot, Postfix (all on 127.0.0.1)"
start_idp >/dev/null
idp_call POST /_test/config '{"strict_rotation": true, "device_interval": 1}' >/dev/null
start_sink >/dev/null
start_dovecot >/dev/null
export MAILOAUTH_PLUGIN_CONF=$E2E_DIR/plugin.conf SASL_PATH=$MO_BUILD/sasl-plugin
printf 'socket = %s /private/mailoauth\n' "$POSTFIX_QUEUE/private/mailoauth" \
	>"$MAILOAUTH_PLUGIN_CONF"
POSTFIX_SASL_USER=$ALICE POSTFIX_SASL_PASS=work start_postfix xoauth2 >/dev/null
echo "identity provider  $IDP_URL  (Entra ID look-alike: device code, rotation)" | show
echo "Dovecot            submission 127.0.0.1:$SUBMISSION_PORT, IMAP 127.0.0.1:$IMAP_PORT (XOAUTH2/OAUTHBEARER only)" | show
echo "Postfix            127.0.0.1:$POSTFIX_PORT, relayhost Dovecot submission, smtp(8) chrooted, SASL plugin libmailoauth.so" | show

step "2. mailoauthd with an encrypted file store, a socket inside Postfix's chroot"
DAEMON_EXTRA="extra_sockets = $POSTFIX_QUEUE/private/mailoauth"
daemon_config work "$ALICE" "allow = postfix"
start_daemon
sed -e "s|$E2E_DIR|\$DEMO|g" "$DAEMON_CONF" | grep -v '^$' | show
"${CLI[@]}" status work | show || true

step "3. First login with the device code flow"
"${CLI[@]}" login --no-qr work >"$E2E_DIR/login.out" 2>&1 &
login_pid=$!
for _ in $(seq 100); do
	grep -qi 'code' "$E2E_DIR/login.out" && break
	sleep 0.1
done
grep -qi 'code' "$E2E_DIR/login.out" ||
	fail "mailoauth login printed no code: $(cat "$E2E_DIR/login.out")"
sleep 0.2
show <"$E2E_DIR/login.out"
printed=$(wc -l <"$E2E_DIR/login.out")
echo "(the user opens the URL and enters the code; here the identity provider approves it)" | show
idp_call POST /_test/device/approve "{\"user\": \"$ALICE\"}" >/dev/null
wait "$login_pid" || fail "mailoauth login failed: $(cat "$E2E_DIR/login.out")"
tail -n +"$((printed + 1))" "$E2E_DIR/login.out" | show

step "4. A message relayed through Postfix with XOAUTH2"
postfix_send "$ALICE" bob@example.net "mailoauth demo 1" >/dev/null
postfix_wait_queue_empty 30 || fail "the message stayed in Postfix's queue"
sink_wait 1 10 || fail "the message did not arrive"
grep -E 'status=sent' "$POSTFIX_LOG" | tail -1 | sed 's/.*postfix[^:]*: //' | show
grep -E "Login: user=<$ALICE>, method=XOAUTH2" "$DOVECOT_LOG" | tail -1 |
	sed 's/.*submission-login: //' | show
echo "delivered: $(grep -m1 '^Subject:' "$(sink_last)")" | show

step "5. The refresh: rotated, stored first, and planned before expiry"
grep -E 'account work: (reloading|new access token)' "$DAEMON_LOG" | sed 's/.*: account/account/' | show
idp_call GET "/_test/tokens?user=$ALICE" | "$E2E_PYTHON" -c '
import json, sys
for t in json.load(sys.stdin)["tokens"]:
    if t["kind"] == "refresh":
        print("refresh token #%d (sha256 %s): %s" % (t["serial"], t["sha256"],
              "replaced by the next one, refused from now on (strict rotation)"
              if t["replaced"] else "current"))' | show
stored=$(store_get work | "$E2E_PYTHON" -c 'import hashlib, json, sys
print(hashlib.sha256(json.load(sys.stdin)["refresh_token"].encode()).hexdigest()[:16])')
echo "the store holds sha256 $stored: the daemon stored the rotated token before it served the new access token" | show
"${CLI[@]}" status work | grep -E 'state|next refresh' | show

step "6. mailoauth status and mailoauth test"
"${CLI[@]}" status work | show || true
"${CLI[@]}" test work --imap "127.0.0.1:$IMAP_PORT" --plain 2>&1 | show || true

step "7. Stopping everything and removing $E2E_DIR"
