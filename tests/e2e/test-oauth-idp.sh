#!/bin/bash
# SPDX-License-Identifier: MIT
# test-oauth-idp.sh — token-helper/oauth.c and http.c against the test
# identity provider (tests/idp/idp.py), driven through tests/tools/oauth-tool:
# refresh with rotation (Entra) and without (Google), client credentials with
# a secret and with a certificate, the device flow, the authorization code
# with PKCE, every fault the IdP can inject mapped to its class, refusal of
# http:// to hosts that are not loopback, and TLS (no TLS, an unknown CA, a
# private CA given as ca_file). Loopback only. Prints TAP.
#
#   OAUTH_TOOL=path/to/oauth-tool   (default build/tests/oauth-tool)
set -u
. "$(dirname "$0")/lib/env.sh"

TOOL=${OAUTH_TOOL:-$TOP/build/tests/oauth-tool}
if [[ ! -x "$TOOL" ]]; then
    echo "1..0 # SKIP $TOOL is not built"
    exit 0
fi
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy no_proxy NO_PROXY

e2e_init
start_idp
W=$E2E_DIR/oauth
mkdir -p "$W"
chmod 0700 "$W"
umask 077
MS=$IDP_URL/contoso/oauth2/v2.0
SCOPE="https://outlook.office.com/SMTP.Send offline_access"
SECRETS=$W/secrets.list # every secret seen; none may appear in any output
ALL=$W/all.out          # every output of the tool
: >"$SECRETS"
: >"$ALL"

keep() { [[ -n "$1" ]] && printf '%s\n' "$1" >>"$SECRETS"; }
secret_file() { printf '%s' "$2" >"$W/$1"; keep "$2"; }

# tool ARGS...: run oauth-tool (30 s at most); output in $W/out and $OUT
tool() {
    RC=0
    timeout 30 "$TOOL" "$@" >"$W/out" 2>&1 || RC=$?
    OUT=$(cat "$W/out")
    cat "$W/out" >>"$ALL"
}
field() { sed -n "s/^$1=//p" "$W/out" | head -n 1; }
fault() { idp_call POST /_test/fault "$1" >/dev/null; }
config() { idp_call POST /_test/config "$1" >/dev/null; }

# expect DESC CLASS [FIELD=VALUE...]: the last run's class and fields
expect() {
    local desc=$1 cls=$2 kv got bad=""
    shift 2
    got=$(field class)
    [[ "$got" == "$cls" ]] || bad="class=$got (expected $cls)"
    for kv in "$@"; do
        [[ "$(field "${kv%%=*}")" == "${kv#*=}" ]] || bad+=" ${kv%%=*}=$(field "${kv%%=*}") (expected ${kv#*=})"
    done
    [[ "$(field idle_timeout)" == -1 ]] || bad+=" a timer was left behind (idle_timeout=$(field idle_timeout))"
    if [[ -z "$bad" ]]; then t_pass "$desc"; else t_fail "$desc" "$bad" "$OUT"; fi
}

refresh() { tool refresh --account work --token-endpoint "$MS/token" --client-id mailoauth-test-client \
    --scope "$SCOPE" --refresh-token-file "$W/rt" "$@"; }

mint_rt() {     # mint_rt JSON: a refresh token minted by the IdP into $W/rt
    local reply rt
    reply=$(idp_call POST /_test/mint "$1") || e2e_bail "mint failed: $reply"
    rt=$(_json_get refresh_token <<<"$reply")
    keep "$(_json_get access_token <<<"$reply")"
    secret_file rt "$rt"
}

# ---------------------------------------------------------------- refresh (Entra, rotating)

mint_rt '{"user":"alice@example.com","refresh":true,"tenant":"contoso","scope":"https://outlook.office.com/SMTP.Send offline_access"}'
cp "$W/rt" "$W/rt.first"
refresh --out-dir "$W"
expect "refresh: a new access token and a rotated refresh token" ok refresh_token=new expires_in=3599
keep "$(cat "$W/access_token")"
keep "$(cat "$W/refresh_token")"
t_isnt "refresh: the refresh token changed" "$(cat "$W/refresh_token")" "$(cat "$W/rt.first")"
AT=$(cat "$W/access_token")
t_is "refresh: the access token is live at the IdP" \
    "$(curl -s -H "Authorization: Bearer $AT" "$IDP_URL/introspect" | _json_get active)" true

config '{"strict_rotation":true}'
refresh
expect "strict rotation: the replaced refresh token is refused (login required)" login-required \
    codes=70008 error=invalid_grant http=400
t_like "the message names the account, the code and what to do" "$(field message)" \
    "account 'work'.*AADSTS70008.*mailoauth login work"
t_like "the detail carries Entra's trace ID" "$(field detail)" "trace_id=[0-9a-f-]{36}"
cp "$W/refresh_token" "$W/rt"
refresh --out-dir "$W"
expect "strict rotation: the rotated refresh token works" ok refresh_token=new
keep "$(cat "$W/refresh_token")"
cp "$W/refresh_token" "$W/rt"
config '{"strict_rotation":false}'

refresh --parallel 4
t_is "four refreshes at once on one mo_http all succeed" "$(grep -c '^result=ok' "$W/out")" 4
t_is "and leave nothing in flight" "$(field in_flight)" 0

idp_revoke alice@example.com
refresh
expect "a revoked grant: login required" login-required codes=70000

# ---------------------------------------------------------------- refresh (Google, no rotation)

mint_rt '{"provider":"google","user":"bob@example.com","refresh":true}'
tool refresh --account gmail --token-endpoint "$IDP_URL/google/token" --client-id mailoauth-test-client \
    --refresh-token-file "$W/rt"
expect "Google refresh: a token and no new refresh token" ok refresh_token=none scope=https://mail.google.com/
idp_revoke bob@example.com
tool refresh --account gmail --token-endpoint "$IDP_URL/google/token" --client-id mailoauth-test-client \
    --refresh-token-file "$W/rt"
expect "Google: expired or revoked is login required" login-required error=invalid_grant codes=
t_like "Google's message names the account" "$(field message)" "account 'gmail'.*invalid_grant.*mailoauth login gmail"

# ---------------------------------------------------------------- client credentials

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$W/key.pem" -out "$W/cert.pem" -days 1 \
    -subj /CN=mailoauth-app 2>/dev/null || e2e_bail "openssl req failed"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$W/key2.pem" -out "$W/cert2.pem" -days 1 \
    -subj /CN=unregistered 2>/dev/null || e2e_bail "openssl req failed"
APP_SECRET="Xk8Q~app-secret-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
secret_file app.secret "$APP_SECRET"
secret_file bad.secret "Xk8Q~wrong-secret-0123456789"
config "$("$E2E_PYTHON" -c 'import json, sys
print(json.dumps({"clients": {
  "app-secret": {"secret": sys.argv[1], "user": "relay@example.com"},
  "app-cert": {"cert_pem": open(sys.argv[2]).read(), "user": "relay@example.com"}}}))' \
    "$APP_SECRET" "$W/cert.pem")"
APPSCOPE=https://outlook.office365.com/.default
cc() { tool client-credentials --account relay --token-endpoint "$MS/token" --scope "$APPSCOPE" "$@"; }

cc --client-id app-secret --secret-file "$W/app.secret" --out-dir "$W"
expect "client credentials with a secret" ok refresh_token=none expires_in=3599
keep "$(cat "$W/access_token")"
cc --client-id app-secret --secret-file "$W/bad.secret"
expect "a wrong client secret is a configuration error" config codes=7000215 http=401
t_unlike "the wrong secret is not in the message" "$OUT" "wrong-secret"
tool client-credentials --account relay --token-endpoint "$MS/token" --scope "https://outlook.office.com/SMTP.Send" \
    --client-id app-secret --secret-file "$W/app.secret"
expect "client credentials without a .default scope: configuration" config codes=1002012

cc --client-id app-cert --cert "$W/cert.pem" --key "$W/key.pem" --out-dir "$W"
expect "client credentials with a certificate (RS256 client assertion)" ok
cc --client-id app-cert --cert "$W/cert.pem" --key "$W/key.pem"
expect "a second assertion (fresh jti) works too" ok
cc --client-id app-cert --cert "$W/cert2.pem" --key "$W/key2.pem"
expect "an unregistered certificate is a configuration error" config codes=700027
cc --client-id app-cert --cert "$W/cert.pem" --key "$W/key2.pem"
expect "a key that does not match its certificate fails before sending" config http=0
cc --client-id app-cert
expect "no secret and no certificate fails before sending" config http=0

# ---------------------------------------------------------------- device flow

config '{"device_interval":1,"slow_down_step":1,"device_expires_in":900}'
dev_start() { tool device-start --account work --device-endpoint "$1" --client-id mailoauth-test-client \
    --scope "$2" --device-code-file "$W/dc"; }
dev_poll() { tool device-poll --account work --token-endpoint "$1" --client-id mailoauth-test-client \
    --device-code-file "$W/dc" "${@:2}"; }

dev_start "$MS/devicecode" "$SCOPE"
expect "device authorization (Entra)" ok interval=1 expires_in=900
UC=$(field user_code)
t_like "user code and verification URI" "$UC $(field verification_uri)" '^[A-Z]{4}-[A-Z]{4} http://127.0.0.1:[0-9]+/devicelogin$'
keep "$(cat "$W/dc")"
sleep 1.1
# two polls at once, whatever the machine's speed: the first is told to wait
# for the user, the second that it came too soon
dev_poll "$MS/token" --parallel 2
t_is "device polls before approval: authorization pending, then slow down" \
    "$(sed -n 's/^class=//p' "$W/out" | sort | tr '\n' ' ')" "authorization-pending slow-down "
t_like "pending and slow_down are the OAuth errors" "$(sed -n 's/^error=//p' "$W/out" | sort | tr '\n' ' ')" \
    "^authorization_pending slow_down $"
idp_call POST /_test/device/approve "{\"user_code\":\"$UC\",\"user\":\"carol@example.com\"}" >/dev/null
sleep 2.5
dev_poll "$MS/token" --out-dir "$W"
expect "device poll after approval: tokens" ok refresh_token=new
keep "$(cat "$W/access_token")"
keep "$(cat "$W/refresh_token")"
dev_poll "$MS/token"
expect "the redeemed device code is refused" bad-code error=bad_verification_code

dev_start "$MS/devicecode" "$SCOPE"
idp_call POST /_test/device/approve "{\"user_code\":\"$(field user_code)\",\"decline\":true}" >/dev/null
sleep 1.1
dev_poll "$MS/token"
expect "a declined device request" declined error=authorization_declined

config '{"device_expires_in":1}'
dev_start "$MS/devicecode" "$SCOPE"
sleep 1.2
dev_poll "$MS/token"
expect "an expired device code" expired error=expired_token
config '{"device_expires_in":900}'

dev_start "$IDP_URL/google/device/code" "https://mail.google.com/"
expect "Google's device flow refuses Gmail scopes: configuration" config error=invalid_scope
t_like "and says to use the authcode flow" "$(field message)" "flow = authcode"
dev_start "$IDP_URL/google/device/code" "email"
expect "Google's device authorization (verification_url)" ok
t_like "verification_url is read as verification_uri" "$(field verification_uri)" "/devicelogin$"

# ---------------------------------------------------------------- authorization code + PKCE

VERIFIER=$(head -c 48 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '=')
CHALLENGE=$(printf '%s' "$VERIFIER" | openssl dgst -sha256 -binary | base64 -w0 | tr '+/' '-_' | tr -d '=')
secret_file verifier "$VERIFIER"
secret_file bad.verifier "${VERIFIER%?????}AAAAA"
REDIRECT=http://127.0.0.1:9/callback
authorize() {
    local loc
    loc=$(curl -s -o /dev/null -w '%{redirect_url}' -G "$MS/authorize" \
        --data-urlencode client_id=mailoauth-test-client --data-urlencode response_type=code \
        --data-urlencode "redirect_uri=$REDIRECT" --data-urlencode "scope=$SCOPE" \
        --data-urlencode "code_challenge=$CHALLENGE" --data-urlencode code_challenge_method=S256 \
        --data-urlencode login_hint=dave@example.com)
    "$E2E_PYTHON" -c 'import sys, urllib.parse as u
print(dict(u.parse_qsl(u.urlsplit(sys.argv[1]).query)).get("code", ""))' "$loc"
}
exchange() { tool exchange-code --account work --token-endpoint "$MS/token" --client-id mailoauth-test-client \
    --code-file "$W/code" --redirect-uri "$REDIRECT" --verifier-file "$1"; }
secret_file code "$(authorize)"
exchange "$W/verifier"
expect "authorization code with PKCE" ok refresh_token=new
exchange "$W/verifier"
expect "a code used twice: login required" login-required codes=54005
secret_file code "$(authorize)"
exchange "$W/bad.verifier"
expect "a wrong PKCE verifier: login required" login-required codes=501481

# ---------------------------------------------------------------- faults

mint_rt '{"user":"erin@example.com","refresh":true,"tenant":"contoso","scope":"https://outlook.office.com/SMTP.Send offline_access"}'
TOK=/contoso/oauth2/v2.0/token
with_fault() {  # with_fault JSON-PARAMS [oauth-tool args]
    fault "{\"path_prefix\":\"$TOK\",\"count\":1,$1}"
    refresh "${@:2}"
}

with_fault '"kind":"delay","seconds":3' --timeout-ms 1000
expect "fault delay beyond the timeout: transient" transient curl=28
with_fault '"kind":"reset"'
t_like "fault reset: transient, a connection error" "$(field class) $(field curl)" '^transient (52|55|56)$'
for st in 500 502 503; do
    with_fault "\"kind\":\"status\",\"status\":$st"
    expect "fault status $st: transient" transient http=$st
done
with_fault '"kind":"status","status":404,"body":"Not Found"'
expect "HTTP 404: the endpoint is wrong (configuration)" config http=404
with_fault '"kind":"throttle","retry_after":7'
expect "fault throttle: transient, 429 with Retry-After" transient http=429 retry_after=7 codes=50196
t_like "and the message says when to retry" "$(field message)" "retry after 7 s"
for k in malformed_json truncated_json html empty; do
    with_fault "\"kind\":\"$k\""
    expect "fault $k: transient" transient http=200
done
with_fault '"kind":"huge_body","bytes":3000000'
expect "fault huge_body: transient, cut at 1 MiB" transient curl=63
t_like "and says so" "$(field message)" "1 MiB"
with_fault '"kind":"aadsts","error":"invalid_grant","codes":[70008]'
expect "fault aadsts 70008: login required" login-required codes=70008
with_fault '"kind":"aadsts","error":"invalid_grant","codes":[50173]'
expect "fault aadsts 50173: login required" login-required codes=50173
with_fault '"kind":"aadsts","error":"invalid_grant","codes":[65001]'
expect "fault aadsts 65001: admin required" admin-required codes=65001
with_fault '"kind":"aadsts","error":"invalid_grant","codes":[53003]'
expect "fault aadsts 53003: admin required" admin-required codes=53003
with_fault '"kind":"aadsts","error":"invalid_client","codes":[7000222],"status":401'
expect "fault aadsts 7000222: configuration" config codes=7000222 http=401
with_fault '"kind":"aadsts","error":"invalid_request","codes":[90002]'
expect "fault aadsts 90002: configuration" config codes=90002
with_fault '"kind":"aadsts","error":"temporarily_unavailable","codes":[90033],"status":503'
expect "fault aadsts 90033 / 503: transient" transient codes=90033 http=503
refresh
expect "after the faults: a refresh works again" ok

fault "{\"path_prefix\":\"$TOK\",\"count\":1,\"kind\":\"delay\",\"seconds\":2}"
refresh --cancel-after-ms 300
t_is "a cancelled call never calls back" "$(grep -c '^result=' "$W/out") $(field result)" "1 cancelled"
idp_call POST /_test/fault/clear >/dev/null

# ---------------------------------------------------------------- refused URLs and TLS

start=$(date +%s%N)
tool refresh --account work --token-endpoint http://192.0.2.1/token --client-id c --refresh-token-file "$W/rt"
elapsed=$((($(date +%s%N) - start) / 1000000))
expect "http:// to a host that is not loopback is refused" config curl=1 http=0
t_like "and refused before any connection (${elapsed} ms)" "$elapsed" '^[0-9]{1,3}$|^1[0-9]{3}$'
t_like "the message says to use https" "$(field message)" "192.0.2.1.*https://"
tool refresh --account work --token-endpoint "ftp://127.0.0.1:$IDP_PORT/token" --client-id c --refresh-token-file "$W/rt"
expect "ftp:// is refused" config curl=1
tool refresh --account work --token-endpoint "https://127.0.0.1:$IDP_PORT$TOK" --client-id c --refresh-token-file "$W/rt"
expect "https:// to a port without TLS: transient connect error" transient curl=35

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$W/tls.key" -out "$W/tls.crt" -days 1 \
    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null || e2e_bail "openssl req failed"
_e2e_spawn tls "$E2E_PYTHON" -c '
import http.server, json, os, ssl, sys
cert, key, port_file = sys.argv[1:4]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps({"token_type": "Bearer", "access_token": "tls.ok.token",
                           "expires_in": 60}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), H)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()' "$W/tls.crt" "$W/tls.key" "$W/tls.port"
TLS_PID=$_E2E_SPAWNED
stop_tls() { [[ -n "${TLS_PID-}" ]] && kill "$TLS_PID" 2>/dev/null; TLS_PID=; return 0; }
E2E_STOP_HOOKS+=(stop_tls)
TLS_PORT=$(_e2e_wait_port_file tls "$TLS_PID" "$W/tls.port" 10) || e2e_bail "the TLS server did not start" "$E2E_DIR/tls.out"
tls() { tool refresh --account work --token-endpoint "https://127.0.0.1:$TLS_PORT/token" --client-id c \
    --refresh-token-file "$W/rt" "$@"; }
tls
expect "https:// with a certificate from an unknown CA: configuration" config curl=60
t_like "which says to set ca_file" "$(field message)" "set ca_file for account 'work'"
tls --ca-file "$W/tls.crt"
expect "https:// with ca_file naming the private CA" ok
tls --ca-file "$W/does-not-exist.pem"
expect "an unreadable ca_file: configuration" config curl=77

# ---------------------------------------------------------------- no secret in any output

leaked=0
while IFS= read -r s; do
    [[ -n "$s" ]] && grep -qF -- "$s" "$ALL" && leaked=$((leaked + 1))
done <"$SECRETS"
t_is "no token, secret, code or verifier appears in any output ($(wc -l <"$SECRETS") checked)" "$leaked" 0

rm -rf "$W"	# the tokens the tool was handed in files; tests/secret-scan looks too
t_done
