#!/bin/bash
# Self-test of the test identity provider (tests/idp/idp.py).
# Starts it on a free loopback port, drives every endpoint with curl and
# prints TAP lines.  Needs only bash, curl, openssl and python3 (for JSON).
# Exit status: 0 when every check passed.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d)
IDP_PID=
N=0
FAILED=0

cleanup() {
    [ -n "$IDP_PID" ] && kill "$IDP_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

# ---- helpers

ok() {          # ok DESCRIPTION COMMAND...: one TAP line for COMMAND's status
    local what=$1; shift
    N=$((N + 1))
    if "$@"; then echo "ok $N - $what"; else echo "not ok $N - $what"; FAILED=$((FAILED + 1)); fi
}

# call METHOD PATH [curl args...]: body in $WORK/body, headers in $WORK/hdr, status in $CODE
call() {
    local method=$1 path=$2; shift 2
    CODE=$(curl -s -X "$method" -o "$WORK/body" -D "$WORK/hdr" -w '%{http_code}' "$@" "$BASE$path")
}
post_json() { call POST "$1" -H 'Content-Type: application/json' -d "$2"; }
token() { call POST "$TOKEN" "$@"; }        # Entra token endpoint, form fields as -d args

# j EXPR: evaluate a Python expression over the last JSON body, bound to d
j() {
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
        "$WORK/body" "$1" 2>/dev/null
}
is() { [ "$(j "$1")" = "$2" ]; }             # is EXPR EXPECTED
status_is() { [ "$CODE" = "$1" ]; }
status_and() { status_is "$1" && shift && "$@"; }   # status_and CODE COMMAND...
header_has() { grep -qi "^$1" "$WORK/hdr"; }
json_invalid() { ! python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$WORK/body" 2>/dev/null; }
urlparam() {    # urlparam URL NAME: one query parameter of URL
    python3 -c 'import sys, urllib.parse as u
print(dict(u.parse_qsl(u.urlsplit(sys.argv[1]).query)).get(sys.argv[2], ""))' "$1" "$2"
}
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
config() { post_json /_test/config "$1"; }

# ---- start the server

python3 "$HERE/idp.py" --state-dir "$WORK/state" --port 0 --port-file "$WORK/port" \
    --log "$WORK/idp.log" &
IDP_PID=$!
for _ in $(seq 50); do [ -s "$WORK/port" ] && break; sleep 0.1; done
BASE="http://127.0.0.1:$(cat "$WORK/port")"
TOKEN=/contoso.example/oauth2/v2.0/token
SECRETS="$WORK/secrets"          # every token and code seen, to grep the log for
: >"$SECRETS"
keep() { [ -z "$1" ] || printf '%s\n' "$1" >>"$SECRETS"; }

call GET /_test/health
ok "health" is "d['ok']" True

ok "refuses a non-loopback --host" \
    bash -c "! python3 '$HERE/idp.py' --state-dir '$WORK/x' --host 192.0.2.1 2>/dev/null"

# ---- mint and introspect

post_json /_test/mint '{"user":"alice@example.com","refresh":true}'
AT=$(j "d['access_token']"); RT=$(j "d['refresh_token']"); keep "$AT"; keep "$RT"
ok "mint returns Entra-shaped tokens" is "(d['token_type'], d['expires_in'], d['ext_expires_in'])" "('Bearer', 3599, 3599)"
ok "access token is a ~2000 character JWT" \
    is "(1500 <= len(d['access_token']) <= 2500 and d['access_token'].count('.') == 2
        and d['access_token'].startswith('eyJ0eXAiOiJKV1Qi'))" True
ok "refresh token starts 0.A and is ~1000 characters" \
    is "d['refresh_token'].startswith('0.A') and 900 < len(d['refresh_token']) < 1100" True

call GET /introspect -H "Authorization: Bearer $AT"
ok "introspect (Authorization: Bearer) says active" is "(d['active'], d['email'])" "(True, 'alice@example.com')"
call POST /introspect --data-urlencode "token=$AT" -d client_id=dovecot
ok "introspect (POST token=) says active" is "d['active']" True
call GET "/introspect?token=$AT&client_id=dovecot"
ok "introspect (GET ?token=) says active" is "d['active']" True
call POST /introspect -d token=nonsense
ok "introspect of an unknown token says inactive" is "d" "{'active': False}"

post_json /_test/mint '{"user":"bob@example.com","expires_in":1}'
BOB=$(j "d['access_token']"); keep "$BOB"
sleep 1.2
call GET /introspect -H "Authorization: Bearer $BOB"
ok "an expired token is inactive" is "d['active']" False

post_json /_test/revoke '{"user":"alice@example.com"}'
ok "revoke by user" is "d['revoked']" 2
call GET /introspect -H "Authorization: Bearer $AT"
ok "a revoked token is inactive" is "d['active']" False

for _ in $(seq 20); do post_json /_test/mint '{}'; j "d['access_token']"; done >"$WORK/many"
ok "every minted token is unique" [ "$(sort -u "$WORK/many" | wc -l)" = 20 ]

# ---- device code flow

config '{"device_interval":1,"slow_down_step":1}'
call POST /contoso.example/oauth2/v2.0/devicecode -d client_id=dev-client \
    --data-urlencode "scope=https://outlook.office.com/IMAP.AccessAsUser.All offline_access"
DC=$(j "d['device_code']"); UC=$(j "d['user_code']"); keep "$DC"
ok "devicecode answers like Entra" \
    is "(d['interval'], d['expires_in'], d['verification_uri'].endswith('/devicelogin'))" "(1, 900, True)"
ok "user code looks like ABCD-EFGH" bash -c "[[ '$UC' =~ ^[A-Z]{4}-[A-Z]{4}$ ]]"
poll() { token -d "grant_type=urn:ietf:params:oauth:grant-type:device_code" \
    -d client_id=dev-client --data-urlencode "device_code=$1"; }
sleep 1.1; poll "$DC"
ok "device flow: authorization_pending" is "(d['error'], d['error_codes'])" "('authorization_pending', [70016])"
poll "$DC"
ok "device flow: slow_down when polled too fast" is "d['error']" slow_down
post_json /_test/device/approve "{\"user_code\":\"$UC\",\"user\":\"carol@example.com\"}"
ok "approve the user code" is "d['status']" approved
sleep 2.1; poll "$DC"
ok "device flow: tokens after approval" \
    is "(d['scope'], 'refresh_token' in d)" "('https://outlook.office.com/IMAP.AccessAsUser.All', True)"
keep "$(j "d['access_token']")"
poll "$DC"
ok "device code is single-use" is "d['error']" bad_verification_code

call POST /contoso.example/oauth2/v2.0/devicecode -d client_id=dev-client -d scope=User.Read
DC=$(j "d['device_code']")
post_json /_test/device/approve '{"decline":true}'
sleep 1.1; poll "$DC"
ok "device flow: authorization_declined" is "d['error']" authorization_declined
config '{"device_expires_in":1}'
call POST /contoso.example/oauth2/v2.0/devicecode -d client_id=dev-client -d scope=User.Read
DC=$(j "d['device_code']")
sleep 1.1; poll "$DC"
ok "device flow: expired_token" is "d['error']" expired_token
poll "no-such-code"
ok "device flow: bad_verification_code" is "d['error']" bad_verification_code

# ---- authorization code + PKCE

REDIRECT="http://127.0.0.1:4711/callback"
new_verifier() { openssl rand -base64 48 | tr '+/' '-_' | tr -d '=\n'; }
challenge_of() { printf %s "$1" | openssl dgst -sha256 -binary | b64url; }
authorize() {   # authorize PATH CHALLENGE [extra query]: Location in $LOC
    LOC=$(curl -s -o /dev/null -w '%{redirect_url}' -G "$BASE$1" -d client_id=web-client \
        -d response_type=code --data-urlencode "redirect_uri=$REDIRECT" \
        --data-urlencode "scope=${SCOPE:-https://outlook.office.com/SMTP.Send offline_access}" \
        -d state=xyz -d "code_challenge=$2" -d code_challenge_method=S256 ${3:+-d "$3"})
}
redeem() {      # redeem CODE VERIFIER [token path]
    call POST "${3:-$TOKEN}" -d grant_type=authorization_code -d client_id=web-client \
        --data-urlencode "code=$1" --data-urlencode "redirect_uri=$REDIRECT" -d "code_verifier=$2"
}
AUTHZ=/contoso.example/oauth2/v2.0/authorize
V=$(new_verifier)
authorize $AUTHZ "$(challenge_of "$V")" login_hint=dave@example.com
CODE_=$(urlparam "$LOC" code); keep "$CODE_"
ok "authorize redirects with code and state" \
    bash -c "[ -n '$CODE_' ] && [ '$(urlparam "$LOC" state)' = xyz ]"
redeem "$CODE_" "$V"
ok "authorization_code with the right verifier" is "'refresh_token' in d and d['expires_in'] == 3599" True
AT=$(j "d['access_token']"); RT1=$(j "d['refresh_token']"); keep "$AT"; keep "$RT1"
call GET /introspect -H "Authorization: Bearer $AT"
ok "login_hint becomes the token's user" is "d['email']" dave@example.com
redeem "$CODE_" "$V"
ok "a code is single-use (AADSTS54005)" is "(d['error'], d['error_codes'])" "('invalid_grant', [54005])"
authorize $AUTHZ "$(challenge_of "$V")"
redeem "$(urlparam "$LOC" code)" "$(new_verifier)"
ok "a wrong verifier fails (AADSTS501481)" is "d['error_codes']" "[501481]"
authorize $AUTHZ "$(challenge_of "$V")"
REDIRECT=http://127.0.0.1:4712/other redeem "$(urlparam "$LOC" code)" "$V"
ok "a different redirect_uri fails" is "d['error']" invalid_grant
LOC=$(curl -s -o /dev/null -w '%{redirect_url}' "$BASE$AUTHZ?client_id=c&response_type=code&scope=x&code_challenge=abc&code_challenge_method=plain&state=s&redirect_uri=http://127.0.0.1:1/cb")
ok "code_challenge_method plain is refused" bash -c "[ '$(urlparam "$LOC" error)' = invalid_request ]"
call GET "$AUTHZ?client_id=c&response_type=code&scope=x&redirect_uri=https://evil.example/cb"
ok "a non-loopback redirect_uri gets a 400 page" status_is 400
config '{"authorize_error":"AADSTS65004: User declined to consent."}'
authorize $AUTHZ "$(challenge_of "$V")"
ok "authorize_error redirects with access_denied and the state" \
    bash -c "[ '$(urlparam "$LOC" error)' = access_denied ] && [ '$(urlparam "$LOC" state)' = xyz ]"
config '{"authorize_error":null}'

# ---- refresh token rotation

refresh() { token -d grant_type=refresh_token -d client_id=web-client --data-urlencode "refresh_token=$1"; }
refresh "$RT1"
RT2=$(j "d['refresh_token']"); keep "$RT2"
ok "refresh returns a new refresh token" bash -c "[ -n '$RT2' ] && [ '$RT2' != '$RT1' ]"
refresh "$RT1"
ok "the replaced refresh token still works by default" status_is 200
keep "$(j "d['refresh_token']")"
call GET "/_test/tokens?user=dave@example.com"
ok "the tokens list marks the replaced token" \
    is "[t['replaced'] for t in d['tokens'] if t['prefix'] == '${RT1:0:8}']" "[True]"
config '{"strict_rotation":true}'
refresh "$RT1"
ok "strict rotation refuses the replaced token (AADSTS70008)" is "d['error_codes']" "[70008]"
refresh "$RT2"
ok "strict rotation accepts the newest token" status_is 200
RT3=$(j "d['refresh_token']"); keep "$RT3"
config '{"strict_rotation":false}'
post_json /_test/revoke "{\"token\":\"$RT3\"}"
refresh "$RT3"
ok "a revoked refresh token fails (AADSTS70000)" is "(d['error'], d['error_codes'])" "('invalid_grant', [70000])"
refresh "0.Anot-a-token"
ok "an unknown refresh token fails like Entra" \
    is "sorted(d) == ['correlation_id','error','error_codes','error_description','error_uri','timestamp','trace_id'] and d['error_description'].startswith('AADSTS70000: ')" True

# ---- client credentials

config '{"clients":{"app1":{"secret":"s3cret","user":"shared@example.com"}}}'
cc() { token -d grant_type=client_credentials -d client_id="$1" \
    --data-urlencode "scope=${SCOPE:-https://outlook.office365.com/.default}" "${@:2}"; }
cc app1 -d client_secret=s3cret
ok "client_credentials with a secret" is "sorted(d)" "['access_token', 'expires_in', 'ext_expires_in', 'token_type']"
keep "$(j "d['access_token']")"
cc app1 -d client_secret=wrong
ok "a bad secret gets 401 AADSTS7000215" status_and 401 is "d['error_codes']" "[7000215]"
cc nobody -d client_secret=x
ok "an unknown client gets 400 AADSTS700016" status_and 400 is "d['error_codes']" "[700016]"
SCOPE=https://outlook.office.com/SMTP.Send cc app1 -d client_secret=s3cret
ok "client_credentials needs a /.default scope" is "d['error_codes']" "[1002012]"

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/key.pem" -out "$WORK/cert.pem" \
    -subj /CN=app2 -days 2 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/other.pem" -out "$WORK/other-cert.pem" \
    -subj /CN=other -days 2 2>/dev/null
CERT_JSON=$(python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' "$WORK/cert.pem")
config "{\"clients\":{\"app2\":{\"cert_pem\":$CERT_JSON}}}"
X5T=$(openssl x509 -in "$WORK/cert.pem" -outform DER | openssl dgst -sha256 -binary | b64url)
ok "config reports the certificate thumbprint" is "d['clients']['app2']['certificates']" "['$X5T']"
assertion() {   # assertion KEY AUD EXP JTI
    local h p
    h=$(printf '{"alg":"RS256","typ":"JWT","x5t#S256":"%s"}' "$X5T" | b64url)
    p=$(printf '{"aud":"%s","iss":"app2","sub":"app2","jti":"%s","nbf":%d,"exp":%d}' \
        "$2" "$4" "$(date +%s)" "$3" | b64url)
    printf '%s.%s.%s' "$h" "$p" "$(printf %s "$h.$p" | openssl dgst -sha256 -sign "$1" | b64url)"
}
ca() { cc app2 -d client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer \
    -d "client_assertion=$1"; }
LATER=$(($(date +%s) + 600))
JWT=$(assertion "$WORK/key.pem" "$BASE$TOKEN" $LATER jti-1)
ca "$JWT"
ok "client_credentials with a JWT assertion" status_and 200 is "bool(d['access_token'])" True
keep "$(j "d['access_token']")"
ca "$JWT"
ok "a replayed assertion (same jti) is refused" status_and 401 is "d['error']" invalid_client
ca "$(assertion "$WORK/key.pem" "https://login.microsoftonline.com/x/oauth2/v2.0/token" $LATER jti-2)"
ok "an assertion for another audience is refused" is "d['error_codes']" "[700023]"
ca "$(assertion "$WORK/key.pem" "$BASE$TOKEN" $(($(date +%s) - 10)) jti-3)"
ok "an expired assertion is refused" is "d['error_codes']" "[700024]"
ca "$(assertion "$WORK/other.pem" "$BASE$TOKEN" $LATER jti-4)"
ok "an assertion signed by another key is refused" is "d['error_codes']" "[700027]"

# ---- Graph

SCOPE="User.Read offline_access" authorize $AUTHZ "$(challenge_of "$V")"
redeem "$(urlparam "$LOC" code)" "$V"
GAT=$(j "d['access_token']"); keep "$GAT"
call GET /v1.0/me -H "Authorization: Bearer $GAT"
ok "Graph /v1.0/me with a Graph token" is "d['userPrincipalName']" alice@example.com
call GET /v1.0/me -H "Authorization: Bearer $AT"
ok "Graph /v1.0/me refuses an Outlook token" status_is 401

# ---- Google

post_json /_test/mint '{"provider":"google","user":"gina@example.com"}'
ok "Google tokens are opaque ya29" is "d['access_token'].startswith('ya29.') and d['scope']" https://mail.google.com/
keep "$(j "d['access_token']")"
SCOPE=https://mail.google.com/ authorize /google/auth "$(challenge_of "$V")"
redeem "$(urlparam "$LOC" code)" "$V" /google/token
ok "Google authorization_code issues a refresh token" is "'refresh_token' in d" True
GRT=$(j "d['refresh_token']"); keep "$GRT"
call POST /google/token -d grant_type=refresh_token -d client_id=web-client --data-urlencode "refresh_token=$GRT"
ok "Google refresh does not rotate" is "sorted(d)" "['access_token', 'expires_in', 'scope', 'token_type']"
keep "$(j "d['access_token']")"
call POST /google/token -d grant_type=refresh_token -d client_id=web-client --data-urlencode "refresh_token=$GRT"
ok "the Google refresh token keeps working" status_is 200
post_json /_test/revoke "{\"token\":\"$GRT\"}"
call POST /google/token -d grant_type=refresh_token -d client_id=web-client --data-urlencode "refresh_token=$GRT"
ok "Google invalid_grant shape" is "d" "{'error': 'invalid_grant', 'error_description': 'Token has been expired or revoked.'}"
call POST /google/device/code -d client_id=web-client --data-urlencode scope=https://mail.google.com/
ok "Google device flow refuses the Gmail scope" status_and 400 is d "{'error': 'invalid_scope'}"

# ---- request hygiene

head -c 1100000 /dev/zero | tr '\0' a >"$WORK/big"
call POST "$TOKEN" --data-binary "@$WORK/big"
ok "a body over 1 MB gets 413" status_is 413
token --data-binary 'grant_type=refresh_token&&refresh_token=x'
ok "a malformed form gets invalid_request" is "(d['error'], d['error_codes'])" "('invalid_request', [9002313])"
token -d grant_type=password
ok "an unsupported grant gets unsupported_grant_type" is "d['error']" unsupported_grant_type

# ---- faults

fault() { post_json /_test/fault "$1"; }
fault '{"path_prefix":"/contoso.example/oauth2/v2.0/token","kind":"status","status":503,"count":1}'
refresh "$RT2"; FIRST=$CODE; refresh "$RT2"
ok "fault status 503, count 1" bash -c "[ $FIRST = 503 ] && [ $CODE = 200 ]"
fault '{"path_prefix":"*","kind":"delay","seconds":1,"count":1}'
START=$(date +%s%N); call GET /introspect; END=$(date +%s%N)
ok "fault delay" bash -c "[ $(( (END - START) / 1000000 )) -ge 950 ] && [ $CODE = 200 ]"
fault '{"kind":"throttle","retry_after":7,"count":1}'
refresh "$RT2"
throttled() { status_is 429 && header_has 'Retry-After: 7' && is "d['error_codes']" "[50196]"; }
ok "fault throttle: 429 with Retry-After" throttled
fault '{"kind":"malformed_json","count":1}'; refresh "$RT2"
ok "fault malformed_json" status_and 200 json_invalid
fault '{"kind":"truncated_json","count":1}'; refresh "$RT2"
ok "fault truncated_json" status_and 200 json_invalid
fault '{"kind":"huge_body","bytes":5000000,"count":1}'; refresh "$RT2"
ok "fault huge_body" status_and 200 test "$(stat -c %s "$WORK/body")" -gt 5000000
fault '{"kind":"reset","count":1}'
curl -s -o /dev/null -d grant_type=refresh_token "$BASE$TOKEN"; RC=$?
ok "fault reset closes the connection (curl exit 56)" [ "$RC" = 56 ]
fault '{"kind":"html","count":1}'; refresh "$RT2"
ok "fault html" status_and 200 header_has "Content-Type: text/html"
fault '{"kind":"aadsts","error":"invalid_grant","codes":[50173],"count":1}'; refresh "$RT2"
ok "fault aadsts" is "(d['error'], d['error_codes'])" "('invalid_grant', [50173])"
fault '{"kind":"empty","count":1}'; refresh "$RT2"
ok "fault empty" status_and 200 test ! -s "$WORK/body"
fault '{"kind":"status","status":500}'
call POST /_test/fault/clear; refresh "$RT2"
ok "fault/clear removes unlimited faults" status_is 200
fault '{"kind":"bogus"}'
ok "an unknown fault kind is refused" status_is 400
fault '{"kind":"aadsts","error":"invalid_grant","codes":[],"count":1}'; refresh "$RT2"
ok "fault aadsts without codes: no AADSTS in the description" \
    is "(d['error_codes'], d['error_description'].startswith('Injected error.'))" "([], True)"
fault '{"path_prefix":"/contoso.example/","kind":"status","status":502}'
fault '{"path_prefix":"/other.example/","kind":"status","status":504}'
post_json /_test/fault/clear '{"path_prefix":"/other.example/"}'
ok "fault/clear with a path_prefix removes only the faults added with it" is "d['faults']" 1
refresh "$RT2"; FIRST=$CODE
call POST /_test/fault/clear
ok "and the others stay" [ "$FIRST" = 502 ]

# ---- counters, log, shutdown

call GET /_test/counters
ok "counters count token requests by grant" \
    is "d['token'] == sum(d['token_by_grant'].values()) and d['token_by_grant']['refresh_token'] > 5 and d['devicecode'] == 4 and d['graph'] == 2" True
ok "and Entra's by tenant (the path's first segment)" \
    is "d['token_by_tenant']['contoso.example'] > 5 and sum(d['token_by_tenant'].values()) <= d['token']" True
call POST /_test/counters/reset
ok "counters reset" is "d['token']" 0
ok "the log has one line per request and no token, code or secret" \
    bash -c "grep -q ' POST $TOKEN 200 grant=refresh_token' '$WORK/idp.log' && ! grep -qF -f '$SECRETS' '$WORK/idp.log' && ! grep -q s3cret '$WORK/idp.log'"
ok "state is persisted as JSON" \
    python3 -c "import json,sys; json.load(open(sys.argv[1])); json.load(open(sys.argv[2]))" \
    "$WORK/state/counters.json" "$WORK/state/tokens.json"
kill -TERM "$IDP_PID"; wait "$IDP_PID"; RC=$?; IDP_PID=
ok "exits 0 on SIGTERM and removes the port file" bash -c "[ $RC = 0 ] && [ ! -e '$WORK/port' ]"

# ---- HTTPS (--tls-cert, --tls-key): a throwaway CA signs a cert for 127.0.0.1
ok "refuses --tls-cert without --tls-key" \
    bash -c "! python3 '$HERE/idp.py' --state-dir '$WORK/x' --tls-cert /dev/null 2>/dev/null"
T=$WORK/tls; mkdir -p "$T"
for ca in ca other; do
    openssl req -x509 -newkey rsa:2048 -nodes -days 1 -keyout "$T/$ca.key" -out "$T/$ca.crt" \
        -subj "/CN=idp selftest $ca" 2>/dev/null
done
openssl req -newkey rsa:2048 -nodes -keyout "$T/srv.key" -out "$T/srv.csr" -subj /CN=127.0.0.1 2>/dev/null
openssl x509 -req -in "$T/srv.csr" -CA "$T/ca.crt" -CAkey "$T/ca.key" -CAcreateserial -days 1 \
    -out "$T/srv.crt" -extfile <(printf 'subjectAltName=IP:127.0.0.1\n') 2>/dev/null
python3 "$HERE/idp.py" --state-dir "$WORK/tls-state" --port 0 --port-file "$WORK/tls-port" \
    --log "$WORK/tls.log" --tls-cert "$T/srv.crt" --tls-key "$T/srv.key" &
IDP_PID=$!
for _ in $(seq 50); do [ -s "$WORK/tls-port" ] && break; sleep 0.1; done
BASE="https://127.0.0.1:$(cat "$WORK/tls-port")"
exec 3<>"/dev/tcp/127.0.0.1/$(cat "$WORK/tls-port")"     # a client that never says hello
call GET /_test/health --cacert "$T/ca.crt"
ok "HTTPS with the CA that signed its certificate (a silent client holds up nobody)" \
    is "d['ok']" True
exec 3>&-
curl -s -o /dev/null --cacert "$T/other.crt" "$BASE/_test/health"; RC=$?
ok "a client trusting another CA fails verification (curl exit 60)" [ "$RC" = 60 ]
call GET /tls.example/.well-known/openid-configuration --cacert "$T/ca.crt"
ok "its metadata names https:// endpoints" is "d['token_endpoint']" "$BASE/tls.example/oauth2/v2.0/token"
ok "the log notes the refused handshake" grep -q 'TLS handshake failed: TLSV1_ALERT_UNKNOWN_CA' "$WORK/tls.log"
kill -TERM "$IDP_PID"; wait "$IDP_PID"; RC=$?; IDP_PID=
ok "the HTTPS server exits 0 on SIGTERM" [ "$RC" = 0 ]

echo "1..$N"
[ "$FAILED" = 0 ]
