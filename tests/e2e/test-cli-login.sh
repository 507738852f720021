#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-cli-login.sh - mailoauth login against the test IdP and the real,
# already running mailoauthd: the device flow (pending then approved, a 503
# retried, slow_down, declined, expired; the QR code only on a terminal),
# the authorization code flow driven by a scripted browser (favicon
# ignored, a wrong state refused, an error in the redirect, --timeout,
# --remote with a pasted address, Google with access_type=offline and a
# client secret, no refresh token without offline_access), and client
# credentials (a secret on standard input, a wrong secret, a certificate
# with an encrypted key). After every login the daemon serves a token for
# the account at once and the store holds the grant; after every failure
# the store holds nothing new; no token, code or secret reaches the CLI's
# output or the daemon's log.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib/env.sh"

e2e_init
. "$E2E_LIB/daemon.sh"
start_idp
START=$SECONDS

# ---- the IdP: short device intervals, registered confidential clients
APP_SECRET='e2e~Secret.Value_0123456789abcdefXYZ'
WRONG_SECRET='e2e~Wrong.Value_9876543210fedcbaZYX'
GOOGLE_SECRET='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'
PASSPHRASE='correct horse battery staple e2e'
printf '%s\n' "$PASSPHRASE" >"$E2E_DIR/pass.txt"
printf 'not the passphrase\n' >"$E2E_DIR/wrong-pass.txt"
printf '%s\n' "$GOOGLE_SECRET" >"$E2E_DIR/google.secret"
openssl req -x509 -newkey rsa:2048 -keyout "$E2E_DIR/app-key.pem" -out "$E2E_DIR/app-cert.pem" \
	-days 1 -subj /CN=mailoauth-e2e -passout "file:$E2E_DIR/pass.txt" 2>/dev/null ||
	e2e_bail "openssl req failed"
idp_call POST /_test/config "$("$E2E_PYTHON" -c 'import json, sys
print(json.dumps({"device_interval": 1, "device_expires_in": 30, "clients": {
  "mailoauth-e2e-app": {"secret": sys.argv[1], "user": "relay@example.com"},
  "mailoauth-e2e-cert": {"cert_pem": open(sys.argv[2]).read(), "user": "relay@example.com"},
  "mailoauth-e2e-google": {"secret": sys.argv[3]}}}))' \
	"$APP_SECRET" "$E2E_DIR/app-cert.pem" "$GOOGLE_SECRET")" >/dev/null ||
	e2e_bail "cannot configure the IdP" "$E2E_DIR/idp.log"

ms_account() {	# ms_account NAME USER [EXTRA-LINES]
	printf '\n[account %s]\nprovider = microsoft\ntenant = contoso\nauthority = %s\nclient_id = %s\nuser = %s\n%s\n' \
		"$1" "$IDP_URL" "${CLIENT:-mailoauth-e2e}" "$2" "${3-}"
}
daemon_config dev alice@example.com "
$(ms_account dev2 dave@example.com)
$(ms_account devfail erin@example.com)
$(ms_account web bob@example.com 'flow = authcode')
$(CLIENT=mailoauth-e2e-app ms_account app relay@example.com 'flow = client-credentials')
$(CLIENT=mailoauth-e2e-cert ms_account appcert relay@example.com "flow = client-credentials
client_certificate = $E2E_DIR/app-cert.pem")

[account gmail]
provider = google
flow = authcode
client_id = mailoauth-e2e-google
user = carol@gmail.test
token_endpoint = $IDP_URL/google/token
authorization_endpoint = $IDP_URL/google/auth

[account norefresh]
provider = generic
flow = authcode
client_id = mailoauth-e2e
user = frank@example.com
scopes = https://outlook.office.com/SMTP.Send
token_endpoint = $IDP_URL/contoso/oauth2/v2.0/token
authorization_endpoint = $IDP_URL/contoso/oauth2/v2.0/authorize"
t_ok "mailoauthd --check accepts the accounts" \
	"$MO_PROG_BUILD/token-helper/mailoauthd" --config "$DAEMON_CONF" --check
start_daemon

CLI=("$MO_PROG_BUILD/token-helper/mailoauth" --config "$DAEMON_CONF" --system)
OUTS=()		# every file the CLI wrote to
TOKENS=()	# every access token the daemon served
BROWSER_DIR=$E2E_DIR/browser
mkdir -p "$BROWSER_DIR"
export BROWSER_DIR

# login NAME ARGS...: the CLI in the foreground, standard input from $STDIN
# (default /dev/null); sets RC, OUT and ERR ($E2E_DIR/NAME.out and .err)
login() {
	local name=$1
	shift
	RC=0
	timeout 60 "${CLI[@]}" login "$@" <"${STDIN:-/dev/null}" >"$E2E_DIR/$name.out" \
		2>"$E2E_DIR/$name.err" || RC=$?
	OUT=$(cat "$E2E_DIR/$name.out")
	ERR=$(cat "$E2E_DIR/$name.err")
	OUTS+=("$E2E_DIR/$name.out" "$E2E_DIR/$name.err")
}
# login_bg NAME ARGS...: the same in the background (BG_PID); login_wait
# then sets RC, OUT and ERR
login_bg() {
	BG_NAME=$1
	shift
	timeout 60 "${CLI[@]}" login "$@" </dev/null >"$E2E_DIR/$BG_NAME.out" \
		2>"$E2E_DIR/$BG_NAME.err" &
	BG_PID=$!
	OUTS+=("$E2E_DIR/$BG_NAME.out" "$E2E_DIR/$BG_NAME.err")
}
# login_tty NAME ARGS...: in the background on a pseudo-terminal (script),
# standard error mixed into $E2E_DIR/NAME.out
login_tty() {
	BG_NAME=$1
	shift
	script -qec "$(printf '%q ' timeout 60 "${CLI[@]}" login "$@")" /dev/null \
		</dev/null >"$E2E_DIR/$BG_NAME.out" 2>&1 &
	BG_PID=$!
	: >"$E2E_DIR/$BG_NAME.err"
	OUTS+=("$E2E_DIR/$BG_NAME.out")
}
login_wait() {
	RC=0
	wait "$BG_PID" || RC=$?
	OUT=$(tr -d '\r' <"$E2E_DIR/$BG_NAME.out")
	ERR=$(cat "$E2E_DIR/$BG_NAME.err")
}
# user_code: waits for the "Code:" line of the background login; prints it
user_code() {
	local code=
	for _ in $(seq 100); do
		code=$(sed -n 's/^  Code: \([A-Z0-9-]*\).*/\1/p' "$E2E_DIR/$BG_NAME.out" | head -n 1)
		[[ -n "$code" ]] && break
		sleep 0.1
	done
	printf '%s' "$code"
}
approve() {	# approve USER_CODE USER | approve USER_CODE --decline
	if [[ "$2" == --decline ]]; then
		idp_call POST /_test/device/approve "{\"user_code\": \"$1\", \"decline\": true}" >/dev/null
	else
		idp_call POST /_test/device/approve "{\"user_code\": \"$1\", \"user\": \"$2\"}" >/dev/null
	fi
}
# served ACCOUNT: the daemon answers TOKEN ACCOUNT with OK (token kept)
served() {
	local answer
	answer=$(daemon_call "TOKEN $1")
	TOKENS+=("$(sed -n 's/.* token=//p' <<<"$answer")")
	[[ "$answer" == "OK account=$1 "* ]] || { echo "$answer"; return 1; }
}
# grant ACCOUNT KEY: KEY of the stored grant ("" when there is none)
grant() {
	local g
	g=$(store_get "$1" 2>/dev/null) || return 0
	_json_get "$2" <<<"$g" 2>/dev/null || true
}
nothing_stored() {	# nothing_stored ACCOUNT: store-tool finds no grant
	local rc=0
	store_get "$1" >/dev/null 2>&1 || rc=$?
	[[ $rc -eq 2 ]]
}
browser_done() {	# browser_done: waits until the scripted browser has its page
	for _ in $(seq 50); do
		[[ -s "$BROWSER_DIR/status" ]] && return 0
		sleep 0.1
	done
	return 1
}
idp_log_has() {	# idp_log_has REGEX [SECS]: waits for a line in the IdP's log
	local tries=$((${2:-10} * 10))
	while ((tries-- > 0)); do
		grep -Eq -- "$1" "$E2E_DIR/idp.log" && return 0
		sleep 0.1
	done
	return 1
}

# ---- the command line
login help --help
t_is "--help exits 0" "$RC" 0
t_like "--help prints the usage on standard output" "$OUT" '^usage: mailoauth login .*ACCOUNT'
login badopt --frobnicate dev
t_is "an unknown option is a usage error (64)" "$RC" 64
login noacct nope
t_is "an unknown account exits 67" "$RC" 67
t_like "and names the accounts there are" "$ERR" "has no account 'nope' \\(it has: dev, "
login badtimeout --timeout 0 web
t_is "--timeout 0 is a usage error" "$RC" 64
login nokey appcert
t_is "a certificate account without --key-file is a usage error" "$RC" 64
t_like "which says to give --key-file" "$ERR" 'give its private key with --key-file'

# ---- device flow: pending, then approved in the browser; an IdP hiccup
# while polling (503) is retried
idp_call POST /_test/fault '{"path_prefix": "/contoso/oauth2/v2.0/token", "kind": "status",
	"status": 503, "count": 1}' >/dev/null
login_bg dev dev
code=$(user_code)
t_like "the device flow prints the user code" "$code" '^[A-Z]{4}-[A-Z]{4}$'
t_file_like "and the verification URL" "$E2E_DIR/dev.out" "URL:  $IDP_URL/devicelogin"
t_file_like "and Entra's own instructions" "$E2E_DIR/dev.out" '^To sign in, use a web browser'
if idp_log_has 'authorization_pending' 10; then
	t_pass "it polls and the IdP answers authorization_pending"
else
	t_fail "it polls and the IdP answers authorization_pending"
fi
approve "$code" alice@example.com
login_wait
t_is "the device login succeeds once approved" "$RC" 0
t_like "it says so" "$OUT" 'Logged in: account dev \(alice@example.com\)\.'
t_like "and that the running daemon got a token with the new grant" "$OUT" \
	'mailoauthd has a fresh token for dev\.'
t_unlike "no QR code without a terminal" "$OUT" $'\xe2\x96'
t_like "a temporary failure while polling is noted and polling goes on" "$ERR" \
	'answered HTTP 503.*\(polling again in 1 s\)'
t_ok "the running daemon serves a token for dev" served dev
t_like "the store holds the refresh token" "$(grant dev refresh_token)" '^0\.A'

# ---- logging in again while the daemon holds a token, with strict rotation
# (a replaced refresh token is refused): the daemon's reload rotates the new
# grant at once, and the CLI must not store the pre-rotation token again
idp_call POST /_test/config '{"strict_rotation": true}' >/dev/null
login_bg dev dev
approve "$(user_code)" alice@example.com
login_wait
t_is "a second login with strict rotation succeeds" "$RC" 0
t_is "the daemon reloaded once, and got a token" \
	"$(grep -c 'mailoauthd has a fresh token for dev\.' <<<"$OUT")" 1
t_like "it still has one after the login" "$(daemon_call 'RELOAD dev')" ' state=valid '
idp_call POST /_test/config '{"strict_rotation": false}' >/dev/null

# ---- device flow: slow_down adds 5 seconds; a sign-in as another user warns
idp_call POST /_test/fault '{"path_prefix": "/contoso/oauth2/v2.0/token", "kind": "aadsts",
	"error": "slow_down", "codes": [70016], "count": 1}' >/dev/null
login_bg dev2 dev2
code=$(user_code)
idp_log_has 'fault=aadsts' 10 || true
t0=$(date +%s%N)
approve "$code" mallory@example.com
login_wait
elapsed_ms=$((($(date +%s%N) - t0) / 1000000))
t_is "the login after slow_down succeeds" "$RC" 0
if ((elapsed_ms >= 4000)); then
	t_pass "after slow_down the next poll waits interval + 5 s (${elapsed_ms} ms)"
else
	t_fail "after slow_down the next poll waits interval + 5 s" "  it came after ${elapsed_ms} ms"
fi
t_like "a sign-in as another user than the account's is warned about" "$ERR" \
	'warning: the sign-in was as mallory@example.com, but account .dev2. is for dave@example.com'
t_ok "the daemon serves a token for dev2" served dev2

# ---- device flow: declined (on a terminal, --no-qr), expired (QR code)
login_tty decline --no-qr devfail
code=$(user_code)
approve "$code" --decline
login_wait
t_is "a declined sign-in exits 77" "$RC" 77
t_like "with a clear sentence" "$OUT" "account 'devfail': the user declined the sign-in"
t_unlike "--no-qr: no QR code on a terminal" "$OUT" $'\xe2\x96'
t_ok "nothing was stored for devfail" nothing_stored devfail
idp_call POST /_test/config '{"device_expires_in": 2}' >/dev/null
login_tty expire devfail
login_wait
idp_call POST /_test/config '{"device_expires_in": 30}' >/dev/null
t_is "an expired device code exits 69" "$RC" 69
t_like "and says to log in again" "$OUT" "account 'devfail': .*expired.*mailoauth login devfail"
t_like "on a terminal the URL is shown as a QR code (black on white half blocks)" "$OUT" \
	$'\e\\[30;47m[ \xe2\x96\x80\xe2\x96\x84\xe2\x96\x88]+\e\\[0m'
t_ok "still nothing stored for devfail" nothing_stored devfail

# ---- authorization code with PKCE, a scripted browser
export BROWSER=$E2E_LIB/browser.sh
login web web
t_is "the authcode login with a browser succeeds" "$RC" 0
t_like "it prints the URL as well" "$OUT" "$IDP_URL/contoso/oauth2/v2.0/authorize\\?client_id=mailoauth-e2e&response_type=code&redirect_uri=http%3A%2F%2F127\\.0\\.0\\.1%3A[0-9]+%2F&"
t_like "with PKCE S256 and the login hint" "$(cat "$BROWSER_DIR/url")" \
	'code_challenge=[A-Za-z0-9_-]{43}&code_challenge_method=S256&login_hint=bob%40example\.com'
browser_done || true
t_is "the listener answers 404 for /favicon.ico and keeps waiting" "$(cat "$BROWSER_DIR/favicon")" 404
t_like "the browser gets a page saying it may close" "$(cat "$BROWSER_DIR/page")" 'You can close this window'
t_like "Logged in is printed" "$OUT" 'Logged in: account web \(bob@example.com\)\.'
t_ok "the daemon serves a token for web" served web
web_grant=$(store_get web)
t_like "the store holds the grant" "$(grant web refresh_token)" '^0\.A'

rm -f "$BROWSER_DIR"/*
BROWSER_MODE=wrong-state login wrongstate web
browser_done || true
t_is "a redirect with a wrong state is refused (65)" "$RC" 65
t_like "in plain words" "$ERR" "state does not match.*nothing was stored"
t_like "and the browser is told so" "$(cat "$BROWSER_DIR/page")" 'state does not match'
t_is "the store is unchanged" "$(store_get web)" "$web_grant"

idp_call POST /_test/config '{"authorize_error": "AADSTS65004: User declined to consent to access the app."}' >/dev/null
login denied web
idp_call POST /_test/config '{"authorize_error": null}' >/dev/null
t_is "an access_denied redirect exits 77" "$RC" 77
t_like "and passes on the provider's words" "$ERR" 'the identity provider said: AADSTS65004: User declined'
t_is "the store is still unchanged" "$(store_get web)" "$web_grant"

login timeout --no-browser --timeout 1 web
t_is "nobody coming back within --timeout exits 69" "$RC" 69
t_like "and says how to wait longer" "$ERR" 'no answer from the browser within 1 seconds'
t_like "--no-browser prints the URL" "$OUT" "^Open this address in a browser on this machine"

# ---- --remote: the address is pasted
printf 'http://127.0.0.1:1/?code=x&state=y\n' >"$E2E_DIR/paste-bad"
STDIN=$E2E_DIR/paste-bad login remotebad --remote web
t_is "--remote: a pasted address that is not ours exits 65" "$RC" 65
t_like "saying what it should look like" "$ERR" 'not the address the browser was sent to'

# remote NAME SED-EXPR: runs --remote, "signs in" with curl, pastes the
# redirect after SED-EXPR (empty: as is); sets RC, OUT, ERR, PASTED
remote() {
	local fifo=$E2E_DIR/paste-$1 url=
	mkfifo "$fifo"
	BG_NAME=$1
	timeout 60 "${CLI[@]}" login --remote web <"$fifo" >"$E2E_DIR/$1.out" 2>"$E2E_DIR/$1.err" &
	BG_PID=$!
	OUTS+=("$E2E_DIR/$1.out" "$E2E_DIR/$1.err")
	exec 3>"$fifo"
	for _ in $(seq 100); do
		url=$(grep -m1 "^$IDP_URL/contoso/oauth2/v2.0/authorize?" "$E2E_DIR/$1.out" || true)
		[[ -n "$url" ]] && break
		sleep 0.1
	done
	PASTED=$(curl -sS -o /dev/null -w '%{redirect_url}' --max-time 10 "$url" || true)
	[[ -n "$2" ]] && PASTED=$(sed "$2" <<<"$PASTED")
	printf '  %s\n' "$PASTED" >&3
	exec 3>&-
	login_wait
}
remote remotestate 's/state=[^&]*/state=stale/'
t_is "--remote: a pasted address with a wrong state exits 65" "$RC" 65
t_is "and the store is unchanged" "$(store_get web)" "$web_grant"
remote remote ''
remote_code=$(sed -n 's/.*[?&]code=\([^&]*\).*/\1/p' <<<"$PASTED")
t_is "--remote: the pasted redirect logs in" "$RC" 0
t_like "after telling the user what to paste" "$OUT" 'paste it here:'
t_isnt "a new grant is stored" "$(store_get web)" "$web_grant"
t_ok "and the daemon serves a token with it" served web

# ---- Google: offline access with consent, a client secret
rm -f "$BROWSER_DIR"/*
login gmail --secret-file "$E2E_DIR/google.secret" gmail
t_is "a Google authcode login succeeds" "$RC" 0
t_like "it asks Google for offline access with consent" "$(cat "$BROWSER_DIR/url")" \
	"^$IDP_URL/google/auth\\?client_id=mailoauth-e2e-google&.*&login_hint=carol%40gmail\\.test&access_type=offline&prompt=consent\$"
t_like "the grant has Google's refresh token" "$(grant gmail refresh_token)" '^1//0'
t_is "and the client secret the daemon needs to refresh" "$(grant gmail client_secret)" "$GOOGLE_SECRET"
t_ok "the daemon serves a Google token (it refreshed with the secret)" served gmail

login norefresh norefresh
t_is "no refresh token (scopes without offline_access) exits 78" "$RC" 78
t_like "and says to add offline_access" "$ERR" "issued no refresh token.*add offline_access to scopes of account 'norefresh'"
t_ok "nothing was stored for norefresh" nothing_stored norefresh
unset BROWSER

# ---- client credentials with a secret
printf '%s\n' "$WRONG_SECRET" >"$E2E_DIR/wrong-secret"
STDIN=$E2E_DIR/wrong-secret login appwrong app
t_is "a wrong client secret exits 78" "$RC" 78
t_like "with the AADSTS code and what to do" "$ERR" "account 'app': the client secret is wrong \\(AADSTS7000215.*nothing was stored"
t_ok "nothing was stored for app" nothing_stored app
printf '%s\n' "$APP_SECRET" >"$E2E_DIR/app.secret"
STDIN=$E2E_DIR/app.secret login app app
t_is "client credentials with the secret on standard input succeed" "$RC" 0
t_is "the store holds the client secret" "$(grant app client_secret)" "$APP_SECRET"
t_ok "the daemon serves an app token" served app

# ---- client credentials with a certificate and an encrypted key
login certbadpass appcert --key-file "$E2E_DIR/app-key.pem" --passphrase-file "$E2E_DIR/wrong-pass.txt"
t_is "a wrong key passphrase exits 65" "$RC" 65
t_like "saying so" "$ERR" 'the passphrase does not decrypt the key'
t_ok "nothing was stored for appcert" nothing_stored appcert
login cert appcert --key-file "$E2E_DIR/app-key.pem" --passphrase-file "$E2E_DIR/pass.txt"
t_is "client credentials with a certificate and its encrypted key succeed" "$RC" 0
key=$(grant appcert private_key)
t_like "the key is stored decrypted, as PKCS#8" "$key" '^-----BEGIN PRIVATE KEY-----'
t_ok "the daemon serves an app token signed with the stored key" served appcert

# ---- no secret anywhere it should not be
secrets=("$APP_SECRET" "$WRONG_SECRET" "$GOOGLE_SECRET" "$PASSPHRASE" "$remote_code"
	"$(sed -n 2p <<<"$key")" "${TOKENS[@]}")
for acct in dev dev2 web gmail; do
	secrets+=("$(grant "$acct" refresh_token)")
done
cat "${OUTS[@]}" >"$E2E_DIR/all-cli-output"
t_no_secret_in "no token, code or secret in the CLI's output" "$E2E_DIR/all-cli-output" "${secrets[@]}"
t_no_secret_in "nor in the daemon's log" "$DAEMON_LOG" "${secrets[@]}"
t_no_secret_in "nor in the IdP's log" "$E2E_DIR/idp.log" "${secrets[@]}"
# what the CLI received itself was rotated away by the daemon: look for shapes
shapes='(0\.A|1\.A|4/0A)[A-Za-z0-9_-]{40}|eyJ[A-Za-z0-9_-]{20,}\.|ya29\.|1//0[A-Za-z0-9_-]{20}|DAQABIQEAAAD|-----BEGIN'
t_file_unlike "nothing shaped like a token, code or key in the CLI's output" \
	"$E2E_DIR/all-cli-output" "$shapes"
t_file_unlike "nor in the daemon's log" "$DAEMON_LOG" "$shapes"
t_diag "run time $((SECONDS - START)) s"
t_done
