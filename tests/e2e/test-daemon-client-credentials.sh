#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-daemon-client-credentials.sh - app-only (client-credentials) accounts
# through the real mailoauthd and the test IdP, which checks what it is given:
# a client secret compared with the registered one, a JWT client assertion
# verified with `openssl dgst -verify` against the registered certificate's
# key, with its x5t#S256, audience, issuer, lifetime and jti checked.
#
#   one account with a client secret, one with a certificate (a self-signed
#     RSA 2048 certificate made here; its key travels in the grant);
#   tokens served and live; after they expire (3 s tokens) new ones come;
#   a wrong secret: STATUS config-error naming AADSTS7000215 and the remedy;
#   a certificate the app does not know: config-error naming AADSTS700027;
#   putting things right + RELOAD ACCOUNT: served again;
#   no secret, key or token in the daemon's log.
# Secrets reach the store and the IdP through pipes, never through argv.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib/env.sh"

e2e_init
. "$E2E_LIB/daemon.sh"
start_idp
idp_call POST /_test/config '{"token_lifetime": 3}' >/dev/null
STORE_TOOL=$MO_BUILD/tests/store-tool
PKI=$E2E_DIR/pki
mkdir -m 0700 "$PKI"

# ---- credentials: a random secret, a certificate and its key (and a spare)
SECRET=$(head -c 30 /dev/urandom | base64 | tr -d '/+=\n')
WRONG=$(head -c 30 /dev/urandom | base64 | tr -d '/+=\n')
for c in app other; do
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=mailoauth-e2e-$c" \
		-keyout "$PKI/$c.key" -out "$PKI/$c.pem" 2>/dev/null ||
		e2e_bail "openssl cannot make a certificate"
done
chmod 0600 "$PKI"/*.key
t_like "the certificate is RSA 2048" \
	"$(openssl x509 -in "$PKI/app.pem" -noout -text | grep 'Public-Key')" '2048 bit'

# register CLIENT_ID [cert NAME | secret (read from stdin)]: the app at the IdP
register() {
	local id=$1 kind=$2
	if [[ "$kind" == cert ]]; then
		"$E2E_PYTHON" -c 'import json, sys
print(json.dumps({"clients": {sys.argv[1]: {"cert_pem": open(sys.argv[2]).read(),
    "user": "app@example.com"}}}))' "$id" "$PKI/$3.pem"
	else
		"$E2E_PYTHON" -c 'import json, sys
print(json.dumps({"clients": {sys.argv[1]: {"secret": sys.stdin.read(),
    "user": "app@example.com"}}}))' "$id"
	fi | curl -sS --fail-with-body --max-time 10 -H 'Content-Type: application/json' \
		--data-binary @- "$IDP_URL/_test/config" >/dev/null
}

# grant_secret ACCOUNT (secret on stdin), grant_key ACCOUNT KEYFILE: the grant
# JSON, piped into the store
grant_secret() {
	"$E2E_PYTHON" -c 'import json, sys
sys.stdout.write(json.dumps({"v": 1, "client_secret": sys.stdin.read()}))' |
		"$STORE_TOOL" file "$DAEMON_STORE" "$DAEMON_KEY" save "$1"
}
grant_key() {
	"$E2E_PYTHON" -c 'import json, sys
sys.stdout.write(json.dumps({"v": 1, "private_key": open(sys.argv[1]).read()}))' "$2" |
		"$STORE_TOOL" file "$DAEMON_STORE" "$DAEMON_KEY" save "$1"
}

printf %s "$SECRET" | register app-secret secret
register app-cert cert app
clients=$(idp_call GET /_test/config | _json_get clients)
t_like "the IdP has the secret app" "$clients" '"app-secret": \{"has_secret": true, "certificates": \[\]'
t_like "and the certificate app" "$clients" \
	'"app-cert": \{"has_secret": false, "certificates": \["[A-Za-z0-9_-]{43}"\]'

mkdir -p "$DAEMON_DIR"
cat >"$DAEMON_CONF" <<EOF
[daemon]
socket = $DAEMON_SOCKET
store = file
store_path = $DAEMON_STORE
store_key_file = $DAEMON_KEY

[account secretapp]
provider = microsoft
tenant = contoso
authority = $IDP_URL
flow = client-credentials
client_id = app-secret
user = app@example.com
scopes = https://outlook.office365.com/.default

[account certapp]
provider = microsoft
tenant = contoso
authority = $IDP_URL
flow = client-credentials
client_id = app-cert
user = app@example.com
scopes = https://outlook.office365.com/.default
client_certificate = $PKI/app.pem
EOF
chmod 0600 "$DAEMON_CONF"
t_ok "mailoauthd --check accepts both accounts" \
	"$MO_PROG_BUILD/token-helper/mailoauthd" --config "$DAEMON_CONF" --check
printf %s "$SECRET" | grant_secret secretapp
grant_key certapp "$PKI/app.key"
t_like "the stored grant holds the secret" "$(store_get secretapp)" '^\{"v": 1, "client_secret": "'

TOKENS=()
# token ACCOUNT: asks for a token; sets ANS (the answer without its token)
# and TOK (the token, also kept in TOKENS)
token() {
	local a
	a=$(daemon_call "TOKEN $1")
	TOK=$(sed -n 's/.* token=//p' <<<"$a")
	[[ -n "$TOK" ]] && TOKENS+=("$TOK")
	ANS=$(sed 's/ token=.*//' <<<"$a")
}
# active TOKEN: prints the IdP's introspection verdict for it
active() {
	curl -s -H "Authorization: Bearer $1" "$IDP_URL/introspect" | _json_get active
}
# field ACCOUNT KEY: one field of the account's STATUS line, decoded
field() {
	daemon_call "STATUS $1" | "$E2E_PYTHON" -c 'import sys, urllib.parse
for w in sys.stdin.read().split()[1:]:
    k, _, v = w.partition("=")
    if k == sys.argv[1]: print(urllib.parse.unquote(v))' "$2"
}
cc_count() {
	idp_counters token_by_grant | "$E2E_PYTHON" -c 'import json, sys
print(json.load(sys.stdin).get("client_credentials", 0))'
}

# ---- tokens served, through a secret and through a signed assertion
start_daemon
token secretapp
# (the daemon's start-up look may have fetched a token already, and a 3 s
# token is never served from the cache: the generation is read, not assumed)
t_like "the secret account gets a token" "$ANS" \
	'^OK account=secretapp user=app@example.com gen=[0-9]+ '
secret_tok=$TOK
secret_gen=$(sed -n 's/.* gen=\([0-9]*\) .*/\1/p' <<<"$ANS")
t_is "which is live at the IdP" "$(active "$secret_tok")" true
token certapp
t_like "the certificate account gets a token" "$ANS" \
	'^OK account=certapp user=app@example.com gen=[0-9]+ '
cert_tok=$TOK
cert_gen=$(sed -n 's/.* gen=\([0-9]*\) .*/\1/p' <<<"$ANS")
t_is "which is live at the IdP" "$(active "$cert_tok")" true
t_like "the IdP issued it to app-cert, after checking its assertion" \
	"$(idp_call GET /_test/tokens | "$E2E_PYTHON" -c 'import json, sys
print(sorted({(t["client_id"], t["kind"]) for t in json.load(sys.stdin)["tokens"]}))')" \
	"^\[\('app-cert', 'access'\), \('app-secret', 'access'\)\]\$"
t_unlike "the two are different tokens" "$secret_tok" "^${cert_tok}\$"

# ---- the 3 s tokens expire: new ones are fetched
before=$(cc_count)
sleep 4
t_is "the first tokens have expired at the IdP" \
	"$(active "$secret_tok") $(active "$cert_tok")" "false false"
token secretapp
t_like "the secret account gets a new token" "$ANS" \
	"^OK account=secretapp .* gen=$((secret_gen + 1)) "
t_is "a live one" "$(active "$TOK")" true
token certapp
t_like "the certificate account too" "$ANS" "^OK account=certapp .* gen=$((cert_gen + 1)) "
t_is "live as well" "$(active "$TOK")" true
t_is "by one client-credentials grant each" "$(cc_count)" $((before + 2))
idp_call POST /_test/config '{"token_lifetime": 3599}' >/dev/null

# ---- a wrong secret: config-error, in words that say what to do
printf %s "$WRONG" | grant_secret secretapp
st=$(daemon_call 'RELOAD secretapp')
t_like "RELOAD ACCOUNT with a wrong secret answers config-error" "$st" \
	'^OK account=secretapp state=config-error '
msg=$(field secretapp message)
t_like "STATUS names AADSTS7000215 and what to do" "$msg" \
	"AADSTS7000215.*give the secret's Value \\(not its ID\\) to 'mailoauth login secretapp'"
token secretapp
t_like "a caller gets config-error, not a token" "$ANS" \
	'^ERR config-error .*AADSTS7000215'
t_file_like "the IdP refused it with 401 invalid_client/7000215" "$E2E_DIR/idp.log" \
	'grant=client_credentials error=invalid_client/7000215'
printf %s "$SECRET" | grant_secret secretapp
t_like "the right secret again + RELOAD ACCOUNT: valid" "$(daemon_call 'RELOAD secretapp')" \
	'^OK account=secretapp state=valid '
token secretapp
t_like "and served" "$ANS" '^OK account=secretapp '

# ---- a certificate the app does not have (its thumbprint is checked)
register app-cert cert other
st=$(daemon_call 'RELOAD certapp')
t_like "a certificate unknown to the app: config-error" "$st" '^OK account=certapp state=config-error '
t_like "naming AADSTS700027 and the remedy" "$(field certapp message)" \
	'AADSTS700027.*upload the certificate to the app registration'
register app-cert cert app
t_like "the certificate registered again + RELOAD ACCOUNT: valid" \
	"$(daemon_call 'RELOAD certapp')" '^OK account=certapp state=valid '

# ---- a key that is not the certificate's never leaves the daemon
grant_key certapp "$PKI/other.key"
posts=$(grep -c 'grant=client_credentials' "$E2E_DIR/idp.log")
st=$(daemon_call 'RELOAD certapp')
t_like "a grant whose key does not match the certificate: config-error" "$st" \
	'^OK account=certapp state=config-error '
t_is "without asking the IdP" "$(grep -c 'grant=client_credentials' "$E2E_DIR/idp.log")" "$posts"
t_like "STATUS says the key does not match" "$(field certapp message)" '[Kk]ey'

# ---- nothing secret in the daemon's log
stop_daemon
key_lines=()
for f in "$PKI/app.key" "$PKI/other.key"; do
	key_lines+=("$(sed -n 2p "$f")" "$(sed -n 10p "$f")")
done
t_no_secret_in "no client secret in the daemon's log" "$DAEMON_LOG" "$SECRET" "$WRONG"
t_no_secret_in "no private key material in the daemon's log" "$DAEMON_LOG" "${key_lines[@]}"
t_no_secret_in "no access token in the daemon's log" "$DAEMON_LOG" "${TOKENS[@]}"
t_no_secret_in "no client secret or token in the IdP's log" "$E2E_DIR/idp.log" \
	"$SECRET" "$WRONG" "${TOKENS[@]}"
t_done
