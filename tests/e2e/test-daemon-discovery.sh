#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-daemon-discovery.sh - a `generic` account that names only its issuer
# (RFC 8414 discovery) through the real mailoauthd and the test IdP, whose
# issuer $IDP_URL/TENANT serves metadata at both well-known forms:
#
#   the daemon fetches the metadata (RFC 8414's form first) before its first
#     refresh, uses the token endpoint it names, and serves live tokens;
#   the metadata is fetched once, not per refresh (again after RELOAD ACCOUNT);
#   an issuer that lies in its metadata: STATUS says config-error, naming the
#     URL, while another account keeps being served; fixed + RELOAD: served;
#   the IdP down when the daemon starts: the account backs off like a failed
#     refresh and gets its token by itself once the IdP is back (this time
#     only through the OpenID Connect form: the RFC 8414 one answers 404).
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib/env.sh"

ALICE=alice@example.com
BOB=bob@example.com
e2e_init
. "$E2E_LIB/daemon.sh"
start_idp

# conf ACCOUNT...: the daemon's config with one generic account per
# NAME:TENANT:USER, each naming only issuer $IDP_URL/TENANT
conf() {
	local spec name tenant user
	mkdir -p "$DAEMON_DIR"
	{
		printf '[daemon]\nsocket = %s\nstore = file\nstore_path = %s\nstore_key_file = %s\n' \
			"$DAEMON_SOCKET" "$DAEMON_STORE" "$DAEMON_KEY"
		for spec in "$@"; do
			IFS=: read -r name tenant user <<<"$spec"
			printf '\n[account %s]\nprovider = generic\nflow = device\nclient_id = mailoauth-e2e\n' "$name"
			printf 'user = %s\nscopes = https://outlook.office.com/SMTP.Send offline_access\n' "$user"
			printf 'issuer = %s/%s\n' "$IDP_URL" "$tenant"
		done
	} >"$DAEMON_CONF"
	chmod 0600 "$DAEMON_CONF"
}

# field ACCOUNT KEY: one field of the account's STATUS line, decoded
field() {
	daemon_call "STATUS $1" | "$E2E_PYTHON" -c 'import sys, urllib.parse
for w in sys.stdin.read().split()[1:]:
    k, _, v = w.partition("=")
    if k == sys.argv[1]: print(urllib.parse.unquote(v))' "$2"
}

# answer ACCOUNT: a TOKEN answer without the token itself
answer() {
	daemon_call "TOKEN $1" | sed 's/ token=.*//'
}

live() {	# live ACCOUNT: the token served is active at the IdP
	local tok
	tok=$(daemon_call "TOKEN $1" | sed -n 's/.* token=//p')
	[[ -n "$tok" ]] && curl -s -H "Authorization: Bearer $tok" "$IDP_URL/introspect" |
		grep -q '"active": *true'
}

conf gen:generic:"$ALICE"
t_ok "mailoauthd --check accepts an account with only an issuer" \
	"$MO_PROG_BUILD/token-helper/mailoauthd" --config "$DAEMON_CONF" --check
daemon_seed gen "$ALICE"

# ---- discovery, then tokens from the discovered endpoint
start_daemon
t_like "a token is served for the issuer-only account" "$(answer gen)" \
	"^OK account=gen user=$ALICE gen=1 "
t_ok "and it is live at the IdP" live gen
t_file_like "the metadata came from RFC 8414's well-known form" "$E2E_DIR/idp.log" \
	"GET /\\.well-known/oauth-authorization-server/generic 200"
t_file_like "the refresh went to the token endpoint the metadata names" "$E2E_DIR/idp.log" \
	"POST /generic/oauth2/v2\\.0/token 200 grant=refresh_token"
t_file_like "the daemon logs the discovered endpoint" "$DAEMON_LOG" \
	"account gen: issuer $IDP_URL/generic has its token endpoint at $IDP_URL/generic/oauth2/v2\\.0/token"
for _ in 1 2 3; do daemon_call "TOKEN gen" >/dev/null; done
t_is "the metadata was fetched once" "$(idp_counters metadata)" 1
t_like "RELOAD ACCOUNT refreshes from the store" "$(daemon_call 'RELOAD gen')" \
	'^OK account=gen state=valid .*gen=2'
t_is "and looks at the metadata again" "$(idp_counters metadata)" 2

# ---- an issuer that lies about itself
idp_call POST /_test/config '{"metadata_issuer": "https://login.evil.example/other"}' >/dev/null
gen_before=$(answer gen | sed -n 's/.* gen=\([0-9]*\) .*/\1/p')
conf gen:generic:"$ALICE" liar:other:"$BOB"
daemon_seed liar "$BOB"
kill -HUP "$DAEMON_PID"
t_wait_file_like 10 "SIGHUP adds the second account" "$DAEMON_LOG" "configuration reloaded: 2 accounts"
for _ in $(seq 50); do
	[[ "$(field liar state)" == config-error ]] && break
	sleep 0.1
done
t_is "the lying issuer puts its account in config-error" "$(field liar state)" config-error
msg=$(field liar message)
t_like "STATUS names the metadata URL and both issuers" "$msg" \
	"^account liar: the metadata at $IDP_URL/\\.well-known/oauth-authorization-server/other names issuer \"https://login\\.evil\\.example/other\", not the configured \"$IDP_URL/other\" \\(they must be equal\\): check issuer"
t_like "a caller is told the same" "$(daemon_call 'TOKEN liar')" \
	"^ERR config-error account liar: the metadata at $IDP_URL/"
t_file_unlike "no grant was sent anywhere for it" "$E2E_DIR/idp.log" "POST /other/"
t_like "the other account kept its token across the reload" "$(answer gen)" \
	"^OK account=gen .* gen=$gen_before "
idp_call POST /_test/config '{"metadata_issuer": null}' >/dev/null
t_is "once the IdP tells the truth, RELOAD retries" "$(daemon_call RELOAD)" OK
for _ in $(seq 50); do
	[[ "$(field liar state)" == valid ]] && break
	sleep 0.1
done
t_like "and the account is served" "$(answer liar)" "^OK account=liar user=$BOB gen=1 "

# ---- the IdP is down when the daemon starts
stop_daemon
idp_port=$IDP_PORT
stop_idp
t_fails "the IdP is down" curl -s --max-time 2 "$IDP_URL/_test/health"
conf gen:generic:"$ALICE"
log_start=$(log_size "$DAEMON_LOG")
start_daemon
for _ in $(seq 60); do
	log_since "$DAEMON_LOG" "$log_start" | grep -q 'account gen: refresh failed' && break
	sleep 0.1
done
t_like "discovery fails and backs off like a refresh" "$(log_since "$DAEMON_LOG" "$log_start")" \
	"account gen: refresh failed, retrying in [0-9]+ s: account gen: cannot fetch the metadata of issuer $IDP_URL/generic from $IDP_URL/\\.well-known/oauth-authorization-server/generic"
t_like "STATUS says the account waits, with the reason" \
	"$(daemon_call 'STATUS gen')" '^OK account=gen state=empty next_refresh_in=[0-9]+ failures=1 '
t_like "... in words" "$(field gen message)" "cannot fetch the metadata of issuer $IDP_URL/generic"

start_idp --port "$idp_port"
t_is "the IdP is back on its port" "$IDP_PORT" "$idp_port"
idp_call POST /_test/config '{"metadata_rfc8414": false}' >/dev/null
daemon_seed gen "$ALICE"	# the restarted IdP forgot every grant
for _ in $(seq 300); do
	log_since "$DAEMON_LOG" "$log_start" | grep -q 'account gen: new access token' && break
	sleep 0.1
done
t_like "after its back-off the daemon gets a token by itself" \
	"$(log_since "$DAEMON_LOG" "$log_start")" 'account gen: new access token'
t_like "which is served" "$(answer gen)" "^OK account=gen user=$ALICE gen=1 "
t_ok "and live" live gen
idp_log=$(log_since "$E2E_DIR/idp.log" 0 | sed -n '/listening/h; /listening/!H; ${x; p}')
t_like "RFC 8414's form answered 404, so the OIDC form was used" "$idp_log" \
	"GET /\\.well-known/oauth-authorization-server/generic 404.*GET /generic/\\.well-known/oauth-authorization-server 404.*GET /generic/\\.well-known/openid-configuration 200.*POST /generic/oauth2/v2\\.0/token 200"

# ---- no token or refresh token in the daemon's log
stop_daemon
leaks=0
for secret in $(sed -n 's/.*"refresh_token":"\([^"]*\)".*/\1/p' <<<"$(store_get gen)"); do
	grep -qF -- "$secret" "$DAEMON_LOG" && leaks=$((leaks + 1))
done
t_is "no refresh token in the daemon's log" "$leaks" 0
t_done
