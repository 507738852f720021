#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-cli-account.sh - mailoauth list, status, token and logout against the
# real mailoauthd and the test IdP: the token a script gets is live, the
# SASL strings decode right, each failure has its own exit status (67 no
# such account, 69 log in again, 75 daemon down, 77 not allowed), status
# says what to do, logout empties the store, makes the daemon forget the
# token and revokes a Google grant at the provider, and no token reaches
# the CLI's error output or the daemon's log.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib/env.sh"

ALICE=alice@example.com
BOB=bob@gmail.test
e2e_init
. "$E2E_LIB/daemon.sh"
start_idp
daemon_config work "$ALICE" "
[account shared]
provider = microsoft
tenant = contoso
authority = $IDP_URL
client_id = mailoauth-e2e
user = shared@example.com
allow = nobody

[account gmail]
provider = google
flow = authcode
client_id = mailoauth-e2e-google
user = $BOB
token_endpoint = $IDP_URL/google/token
authorization_endpoint = $IDP_URL/google/auth
revocation_endpoint = $IDP_URL/google/revoke"
chmod 0644 "$DAEMON_CONF"	# no secrets in it: other users may read it
daemon_seed work "$ALICE"
daemon_seed shared shared@example.com
google_rt=$(idp_call POST /_test/mint "{\"provider\": \"google\", \"user\": \"$BOB\",
	\"refresh\": true, \"client_id\": \"mailoauth-e2e-google\"}" | _json_get refresh_token)
printf '{"refresh_token":"%s"}' "$google_rt" |
	"$MO_BUILD/tests/store-tool" file "$DAEMON_STORE" "$DAEMON_KEY" save gmail
start_daemon

CLI=("$MO_PROG_BUILD/token-helper/mailoauth" --config "$DAEMON_CONF")
ERRS=$E2E_DIR/cli.err
TAP_LOGS+=("$ERRS")
# cli ARGS...: runs the CLI, stdout to $E2E_DIR/out, stderr appended to
# $ERRS; sets RC
cli() {
	RC=0
	"${CLI[@]}" "$@" >"$E2E_DIR/out" 2>>"$ERRS" || RC=$?
	OUT=$(cat "$E2E_DIR/out")
}
as_nobody() {
	RC=0
	setpriv --reuid=nobody --regid=nogroup --clear-groups \
		"${CLI[@]}" "$@" >"$E2E_DIR/out" 2>>"$ERRS" || RC=$?
	OUT=$(cat "$E2E_DIR/out")
}
json() {	# json EXPR: evaluates EXPR on the JSON in $OUT (as j)
	"$E2E_PYTHON" -c 'import json, sys; j = json.loads(sys.stdin.read()); print(eval(sys.argv[1]))' "$1" <<<"$OUT"
}

# ---- list
cli list
t_is "list exits 0" "$RC" 0
t_like "list shows every account with its provider and flow" \
	"$(grep -c -E '^(work .*microsoft +device|shared .*microsoft|gmail .*google +authcode)' <<<"$OUT")" '^3$'
cli list --json
t_is "list --json: three accounts, in file order" "$(json '[a["account"] for a in j]')" \
	"['work', 'shared', 'gmail']"
cli list --help
t_like "list --help explains itself" "$OUT" 'usage: mailoauth list'

# ---- status before any request
cli status work
t_is "status of a fresh account exits 0" "$RC" 0
# The daemon takes an early look at each account 1-2 s after it starts; on
# a loaded machine that can come first, and status must then say valid.
if grep -q "account work: new access token" "$DAEMON_LOG"; then
	t_like "it is empty until the first request (here the start-up look came first: valid)" \
		"$OUT" 'state: +(empty|valid, the token expires)'
else
	t_like "it is empty until the first request, and says so" "$OUT" 'state: +empty'
fi

# ---- token
cli token work
t_is "token exits 0" "$RC" 0
token=$OUT
t_like "it prints one bearer token" "$token" '^[A-Za-z0-9._~+/-]+=*$'
t_like "the token is live at the IdP" \
	"$(curl -s -H "Authorization: Bearer $token" "$IDP_URL/introspect")" '"active": *true'
cli token --xoauth2 work
t_is "token --xoauth2 is the base64 XOAUTH2 initial response" \
	"$(base64 -d <<<"$OUT" | tr '\001' '|')" "user=$ALICE|auth=Bearer $token||"
cli token --oauthbearer work
t_is "token --oauthbearer is the base64 OAUTHBEARER initial response" \
	"$(base64 -d <<<"$OUT" | tr '\001' '|')" "n,a=$ALICE,|auth=Bearer $token||"

cli status work
t_like "status then says valid, with the expiry" "$OUT" 'state: +valid, the token expires in'
t_like "and when it refreshes next" "$OUT" 'next refresh: +in '
cli status --json work
t_is "status --json: state and a positive expires_in" \
	"$(json 'j["state"] + " " + str(j["expires_in"] > 0)')" "valid True"
cli status --json
t_is "status --json without an account: an array of all three" "$(json 'len(j)')" 3

cli token nosuch
t_is "an unknown account: exit 67" "$RC" 67
t_like "with a sentence naming it" "$(tail -1 "$ERRS")" "no account named nosuch"

# ---- another uid
as_nobody token work
t_is "a uid the account does not allow: exit 77" "$RC" 77
t_like "told why" "$(tail -1 "$ERRS")" "may not use account work"
as_nobody token shared
t_is "an account that allows that uid: exit 0" "$RC" 0
t_like "and a token" "$OUT" '^[A-Za-z0-9._~+/-]+=*$'

# ---- logout
cli logout work
t_is "logout exits 0" "$RC" 0
t_like "says Microsoft cannot revoke and how an admin can" "$OUT" 'Revoke sessions'
t_like "the daemon forgot the token" "$OUT" 'forgotten the token of work'
t_is "the store no longer has the grant" "$(store_get work 2>/dev/null || true)" ""
cli token work
t_is "token after logout: exit 69 (log in again)" "$RC" 69
t_like "with the command to run" "$(tail -1 "$ERRS")" "mailoauth login work"
cli status work
t_is "status of a logged-out account exits 69" "$RC" 69
t_like "and says what to do" "$OUT" 'what to do: +run: mailoauth login work'
cli logout work
t_is "a second logout is fine" "$RC" 0
t_like "and says there was nothing" "$OUT" 'has no stored grant'

idp_call POST /_test/counters/reset >/dev/null
cli logout gmail
t_is "logout of a Google account exits 0" "$RC" 0
t_like "it revoked the refresh token at the provider" "$OUT" 'Revoked the refresh token'
t_is "one revocation request reached the IdP" "$(idp_counters revoke)" 1
t_like "the grant is dead at the IdP" \
	"$(idp_call GET "/_test/tokens?user=$BOB")" '"revoked": *true'

# ---- the daemon stopped
stop_daemon
cli token shared
t_is "token with no daemon: exit 75 (temporary)" "$RC" 75
t_like "says the daemon is not running" "$(tail -1 "$ERRS")" "mailoauthd is not running"
cli status
t_is "status with no daemon: exit 75" "$RC" 75
t_like "still says which grants are stored" "$(tr '\n' ' ' <<<"$OUT")" \
	'shared .*grant stored: +yes.*gmail .*grant stored: +no'

# ---- usage
cli token
t_is "token without an account is a usage error (64)" "$RC" 64
cli frobnicate
t_is "an unknown verb is a usage error (64)" "$RC" 64
cli token --help
t_like "token --help lists the exit statuses" "$OUT" '69 run'

t_no_secret_in "the CLI's error output" "$ERRS" "$token"
t_no_secret_in "the daemon log" "$DAEMON_LOG" "$token"
t_done
