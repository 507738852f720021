#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-daemon.sh - mailoauthd against the test IdP with the file store:
# tokens served and refreshed, rotated refresh tokens stored before use,
# many cold callers share one refresh, a uid not allowed gets nothing, a
# revoked grant says "log in again", mbsync logs in to Dovecot through the
# plugin and the real daemon, and no token reaches any log.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib/env.sh"

ALICE=alice@example.com
e2e_init
. "$E2E_LIB/daemon.sh"	# after e2e_init: its paths live in $E2E_DIR
start_idp
idp_call POST /_test/config '{"strict_rotation": true}' >/dev/null
NOTIFIED=$E2E_DIR/notified
DAEMON_EXTRA="notify_command = sh -c 'echo \"\$MAILOAUTH_ACCOUNT \$MAILOAUTH_STATE\" >> $NOTIFIED'"
daemon_config work "$ALICE"
t_ok "the grant is stored" daemon_seed work "$ALICE"
first_grant=$(store_get work)
t_ok "mailoauthd --check accepts the config" \
	"$MO_PROG_BUILD/token-helper/mailoauthd" --config "$DAEMON_CONF" --check

# ---- many cold callers: one refresh
idp_call POST /_test/counters/reset >/dev/null
start_daemon
callers=()
for i in $(seq 40); do
	daemon_call "TOKEN work" >"$E2E_DIR/answer.$i" &
	callers+=($!)
done
wait "${callers[@]}"
t_is "40 simultaneous callers all got a token" \
	"$(grep -l '^OK account=work user=alice@example.com gen=1 ' "$E2E_DIR"/answer.* | wc -l)" 40
t_is "through exactly one refresh at the IdP" "$(idp_counters token)" 1
token=$(sed -n 's/.* token=//p' "$E2E_DIR/answer.1")
t_like "the token is live at the IdP" \
		"$(curl -s -H "Authorization: Bearer $token" "$IDP_URL/introspect")" '"active": *true'

# ---- rotation: the new refresh token is stored
t_isnt "the rotated refresh token replaced the stored one" "$(store_get work)" "$first_grant"
stop_daemon
start_daemon
t_like "after a restart the stored (rotated) grant works in strict mode" \
	"$(daemon_call 'TOKEN work')" '^OK account=work '

# ---- SIGHUP: unchanged accounts keep their token, new ones appear
gen_before=$(daemon_call 'TOKEN work' | sed -n 's/.* gen=\([0-9]*\) .*/\1/p')
refreshes=$(idp_counters token)
printf '\n[account bob]\nprovider = microsoft\ntenant = contoso\nauthority = %s\nclient_id = mailoauth-e2e\nuser = bob@example.com\n' \
	"$IDP_URL" >>"$DAEMON_CONF"
kill -HUP "$DAEMON_PID"
t_wait_file_like 10 "SIGHUP reloads the configuration" "$DAEMON_LOG" "configuration reloaded: 2 accounts"
t_like "the new account is listed" "$(daemon_call LIST)" '^OK accounts=work,bob$'
t_is "the unchanged account kept its token (same generation)" \
	"$(daemon_call 'TOKEN work' | sed -n 's/.* gen=\([0-9]*\) .*/\1/p')" "$gen_before"
t_is "without asking the IdP again" "$(idp_counters token)" "$refreshes"
printf '\n[daemon2]\nbogus = 1\n' >>"$DAEMON_CONF"
kill -HUP "$DAEMON_PID"
t_wait_file_like 10 "a broken file is reported on reload" "$DAEMON_LOG" \
	"reload failed, keeping the running configuration"
t_like "and the daemon keeps serving" "$(daemon_call 'TOKEN work')" '^OK account=work '

# ---- raw XOAUTH2 for Exim's ${readsocket}
raw=$(printf 'XOAUTH2 work' | timeout 10 socat -t 5 - "UNIX-CONNECT:$DAEMON_SOCKET" | tr '\001' '|')
t_like "XOAUTH2 answers the ready SASL string and closes" "$raw" "^user=$ALICE\\|auth=Bearer [^ |]+\\|\\|\$"

# ---- authorisation
t_like "an unknown account is named as unknown" "$(daemon_call 'TOKEN nope')" \
	'^ERR unknown-account no account named nope'
t_like "a malformed line gets bad-request" "$(daemon_call 'TOKEN  x')" '^ERR bad-request'
t_like "uid nobody is refused" \
	"$(printf 'TOKEN work\n' | setpriv --reuid=nobody --regid=nogroup --clear-groups \
		socat -t 5 - "UNIX-CONNECT:$DAEMON_SOCKET")" \
	"^ERR denied uid $(id -u nobody) may not use account work"
t_like "and sees no accounts" \
	"$(printf 'LIST\n' | setpriv --reuid=nobody --regid=nogroup --clear-groups \
		socat -t 5 - "UNIX-CONNECT:$DAEMON_SOCKET")" '^OK accounts=$'

# ---- mbsync through the plugin and the real daemon
start_dovecot
msg=$E2E_DIR/msg.eml
printf 'From: carol@example.com\r\nTo: %s\r\nSubject: via daemon\r\n\r\nhi\r\n' "$ALICE" >"$msg"
dovecot_deliver "$ALICE" "$msg"
mkdir -p "$E2E_DIR/mb/mail"
cat >"$E2E_DIR/mb/rc" <<EOF
IMAPAccount a
Host 127.0.0.1
Port $IMAP_PORT
User $ALICE
AuthMechs XOAUTH2
SSLType None

IMAPStore a-remote
Account a

MaildirStore a-local
Path $E2E_DIR/mb/mail/
Inbox $E2E_DIR/mb/mail/INBOX

Channel a
Far :a-remote:
Near :a-local:
Patterns INBOX
Create Near
Sync Pull
SyncState *
EOF
t_ok "mbsync logs in through the plugin and mailoauthd" \
	env SASL_PATH="$MO_BUILD/sasl-plugin" MAILOAUTH_SOCKET="$DAEMON_SOCKET" \
	MAILOAUTH_PLUGIN_CONF=/nonexistent timeout 60 mbsync -c "$E2E_DIR/mb/rc" -a
t_file_like "Dovecot saw the XOAUTH2 login" "$DOVECOT_LOG" "Login: user=<$ALICE>, method=XOAUTH2"

# ---- a revoked grant: log in again, in plain words
idp_revoke "$ALICE"
gen=$(daemon_call 'TOKEN work' | sed -n 's/.* gen=\([0-9]*\) .*/\1/p')
t_is "REJECTED is acknowledged" "$(daemon_call "REJECTED work $gen")" "OK"
t_wait_file_like 10 "the daemon logs that the grant is gone" "$DAEMON_LOG" \
	"account work: .*AADSTS70000.*mailoauth login work"
t_like "callers are told to log in again" "$(daemon_call 'TOKEN work')" \
	"^ERR login-required .*mailoauth login work"
t_like "status says so too" "$(daemon_call 'STATUS work')" 'state=login-required'
t_wait_file_like 10 "notify_command ran for the account" "$NOTIFIED" '^work login-required$'

# ---- no secret in any log
stop_daemon
leaks=0
for secret in "$token" $(sed -n 's/.* token=//p' "$E2E_DIR"/answer.* | sort -u) \
	$(sed -n 's/.*"refresh_token":"\([^"]*\)".*/\1/p' <<<"$first_grant"); do
	for f in "$DAEMON_LOG" "$E2E_DIR/idp.log" "$DOVECOT_LOG"; do
		grep -qF -- "$secret" "$f" 2>/dev/null && leaks=$((leaks + 1))
	done
done
t_is "no token or refresh token in the daemon's, the IdP's or Dovecot's log" "$leaks" 0
rm -f "$E2E_DIR"/answer.*	# tokens this test kept; tests/secret-scan looks for them
t_done
