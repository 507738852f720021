#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-fault-matrix.sh - the fault matrix: one row per way the identity
# provider or the path to it can fail, each against the real mailoauthd.
# One daemon holds one account per row, each with its own tenant, so its
# token endpoint (/TENANT/oauth2/v2.0/token) gets its own fault from the
# test IdP and all rows run at once (about two minutes in all).
#
# Warm rows: the account has a token; the fault meets the proactive
# refresh (tokens live 200 s, refresh_margin 120: due after 68-80 s, with
# a minute of validity left). Each row checks the class in STATUS and in
# `mailoauth status --json`, that the still-valid token keeps being served,
# that the daemon backs off (ten requests cause no extra IdP call); after a
# permanent failure the stored refresh token is kept untouched, and after a
# transient one (injected for two tries) a later retry gets a new token
# with the refresh token the daemon kept.
# Cold rows (no token yet): a timeout, a connection reset, TLS with the
# wrong CA, a name that does not resolve.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib/env.sh"

e2e_init
. "$E2E_LIB/daemon.sh"
start_idp
idp_call POST /_test/config '{"token_lifetime": 200}' >/dev/null

# ---- a stand-in HTTPS token endpoint (for the TLS rows) and its CAs
TLS=$E2E_DIR/tls
mkdir -p "$TLS"
for ca in right wrong; do
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TLS/$ca-ca.key" -out "$TLS/$ca-ca.crt" \
		-days 1 -subj "/CN=mailoauth test $ca CA" 2>/dev/null || e2e_bail "openssl: CA"
done
openssl req -newkey rsa:2048 -nodes -keyout "$TLS/server.key" -out "$TLS/server.csr" \
	-subj /CN=127.0.0.1 2>/dev/null || e2e_bail "openssl: CSR"
openssl x509 -req -in "$TLS/server.csr" -CA "$TLS/right-ca.crt" -CAkey "$TLS/right-ca.key" \
	-CAcreateserial -days 1 -out "$TLS/server.crt" \
	-extfile <(printf 'subjectAltName=IP:127.0.0.1\n') 2>/dev/null || e2e_bail "openssl: sign"
_e2e_spawn tls "$E2E_PYTHON" -c '
import http.server, json, os, ssl, sys
cert, key, port_file = sys.argv[1:4]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps({"token_type": "Bearer", "access_token": "tls.ok." + os.urandom(16).hex(),
                           "expires_in": 3599}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()' "$TLS/server.crt" "$TLS/server.key" "$TLS/port"
TLS_PID=$_E2E_SPAWNED
stop_tls() { [[ -n "${TLS_PID-}" ]] && stop_pid "$TLS_PID" 5; TLS_PID=; return 0; }
E2E_STOP_HOOKS+=(stop_tls)
TLS_PORT=$(_e2e_wait_port_file tls "$TLS_PID" "$TLS/port" 10) || e2e_bail "no TLS server" "$E2E_DIR/tls.out"

# ---- the rows: NAME|FAULT (JSON, for the account's token path)|what STATUS says after it
WARM=(
	"r503|\"kind\":\"status\",\"status\":503,\"count\":2|state=valid .*failures=[12] .*message=.*503"
	"r500|\"kind\":\"status\",\"status\":500,\"count\":2|state=valid .*failures=[12] .*message=.*500"
	"r429|\"kind\":\"throttle\",\"retry_after\":7,\"count\":2|state=valid .*failures=[12] .*message=.*retry%20after%207%20s"
	"rtrunc|\"kind\":\"truncated_json\",\"count\":2|state=valid .*failures=[12] .*message=.*"
	"rjson|\"kind\":\"malformed_json\",\"count\":2|state=valid .*failures=[12] .*message=.*"
	"rhuge|\"kind\":\"huge_body\",\"bytes\":3000000,\"count\":2|state=valid .*failures=[12] .*message=.*1%20MiB"
	"r90033|\"kind\":\"aadsts\",\"error\":\"temporarily_unavailable\",\"codes\":[90033],\"status\":503,\"count\":2|state=valid .*failures=[12] .*message=.*AADSTS90033"
	"rgrant|\"kind\":\"aadsts\",\"error\":\"invalid_grant\",\"codes\":[70000]|state=login-required .*message=.*mailoauth%20login%20rgrant"
	"r700082|\"kind\":\"aadsts\",\"error\":\"invalid_grant\",\"codes\":[700082]|state=login-required .*message=.*AADSTS700082"
	"r65001|\"kind\":\"aadsts\",\"error\":\"invalid_grant\",\"codes\":[65001]|state=admin-required .*message=.*AADSTS65001"
	"r50076|\"kind\":\"aadsts\",\"error\":\"invalid_grant\",\"codes\":[50076]|state=login-required .*message=.*AADSTS50076.*complete%20it%20in%20the%20browser"
	"r53003|\"kind\":\"aadsts\",\"error\":\"invalid_grant\",\"codes\":[53003]|state=admin-required .*message=.*AADSTS53003"
	"r7000215|\"kind\":\"aadsts\",\"error\":\"invalid_client\",\"codes\":[7000215],\"status\":401|state=config-error .*message=.*AADSTS7000215"
	"r700016|\"kind\":\"aadsts\",\"error\":\"unauthorized_client\",\"codes\":[700016],\"status\":400|state=config-error .*message=.*AADSTS700016"
)
account() {	# account NAME AUTHORITY [EXTRA-LINES]
	printf '\n[account %s]\nprovider = microsoft\ntenant = %s\nauthority = %s\nclient_id = mailoauth-e2e\nuser = %s@example.com\n%s\n' \
		"$1" "$1" "$2" "$1" "${3:-}"
}
extra=""
for row in "${WARM[@]}"; do
	extra+=$(account "${row%%|*}" "$IDP_URL")
done
extra+=$(account rtimeout "$IDP_URL")
extra+=$(account rreset "$IDP_URL")
extra+=$(account rtlswrong "https://127.0.0.1:$TLS_PORT" "ca_file = $TLS/wrong-ca.crt")
extra+=$(account rtlsright "https://127.0.0.1:$TLS_PORT" "ca_file = $TLS/right-ca.crt")
extra+=$(account rdns "https://mailoauth-test.invalid")
DAEMON_EXTRA="refresh_margin = 120"
daemon_config first first@example.com "$extra"
daemon_seed first first@example.com
for row in "${WARM[@]}" rtimeout rreset rtlswrong rtlsright rdns; do
	daemon_seed "${row%%|*}" "${row%%|*}@example.com"
done
sha() { sha256sum | cut -c1-16; }
declare -A GRANT=()
GRANT[rtimeout]=$(store_get rtimeout | sha)

# the cold rows' faults are there from the start
idp_call POST /_test/fault '{"path_prefix": "/rtimeout/", "kind": "delay", "seconds": 40, "count": 1}' >/dev/null
# (twice: on a reused connection curl itself retries once, transparently)
idp_call POST /_test/fault '{"path_prefix": "/rreset/", "kind": "reset", "count": 2}' >/dev/null
start_daemon
DAEMON_STARTED=$(date +%s)
CLI=("$MO_PROG_BUILD/token-helper/mailoauth" --config "$DAEMON_CONF" --system)

gen_of() { sed -n 's/.* gen=\([0-9]*\) .*/\1/p'; }
answer() { daemon_call "TOKEN $1" | sed 's/ token=.*//'; }
status() { daemon_call "STATUS $1"; }
idp_requests() {	# idp_requests NAME: token requests the IdP saw for the account
	grep -c " /$1/oauth2/v2.0/token " "$E2E_DIR/idp.log" || true
}
json_state() {	# json_state NAME: "state" from mailoauth status --json
	local out
	out=$("${CLI[@]}" status --json "$1" 2>/dev/null) || true
	"$E2E_PYTHON" -c 'import json, sys; print(json.loads(sys.argv[1]).get("state", "?"))' "$out" 2>/dev/null ||
		echo "?"
}

# ---- warm rows: a first token for each; once the start-up refreshes are
# over, the faults are set up to meet the proactive refresh
declare -A GEN=()
for row in "${WARM[@]}"; do
	[[ -n "$(answer "${row%%|*}" | gen_of)" ]] || e2e_bail "no first token for ${row%%|*}" "$DAEMON_LOG"
done
while (($(date +%s) - DAEMON_STARTED < 30)); do sleep 1; done
for row in "${WARM[@]}"; do
	a=${row%%|*}
	GEN[$a]=$(answer "$a" | gen_of)
	GRANT[$a]=$(store_get "$a" | sha)
	idp_call POST /_test/fault "{\"path_prefix\": \"/$a/\", $(cut -d'|' -f2 <<<"$row")}" >/dev/null ||
		e2e_bail "the IdP refused the fault for $a"
done

# ---- cold rows (their first refreshes ran at start-up)
t_wait_file_like 20 "wrong CA: the refresh fails" "$DAEMON_LOG" "account rtlswrong: "
t_like "wrong CA: a configuration error that says to set ca_file" "$(status rtlswrong)" \
	'state=config-error .*message=.*ca_file'
t_like "right CA: the same endpoint gives a token" "$(answer rtlsright)" '^OK account=rtlsright '
t_wait_file_like 20 "a name that does not resolve: the refresh fails" "$DAEMON_LOG" \
	"account rdns: refresh failed, retrying in [0-9]+ s"
t_like "and it is transient, saying the name did not resolve" "$(status rdns)" \
	'state=(empty|valid) .*failures=[1-9].*message=.*(resolve|mailoauth-test.invalid)'
t_like "a caller meanwhile gets a temporary error" "$(answer rdns)" '^ERR [a-z-]+ '
t_wait_file_like 20 "a connection reset by the IdP fails the refresh, as transient" "$DAEMON_LOG" \
	"account rreset: refresh failed, retrying in [0-9]+ s: .*(connection|reset|curl error (52|55|56))"
t_wait_file_like 60 "a request the IdP sits on past the 30 s timeout fails, as transient" "$DAEMON_LOG" \
	"account rtimeout: refresh failed, retrying in [0-9]+ s: .*did not answer in time"

# ---- warm rows: each is checked as soon as its refresh met its fault
# (its back-off then gives at least 15 s before the retry)
check_row() {
	local row=$1 a=${1%%|*} want=${1##*|} code before served
	t_like "$a: STATUS gives the class and the reason" "$(status "$a")" "$want"
	case $want in
	state=valid*)
		t_is "$a: mailoauth status --json says valid" "$(json_state "$a")" valid
		before=$(idp_requests "$a")
		served=0
		for _ in $(seq 10); do
			[[ "$(answer "$a" | gen_of)" == "${GEN[$a]}" ]] && served=$((served + 1))
		done
		t_is "$a: the still-valid token keeps being served" "$served" 10
		t_is "$a: ten requests during the back-off cause no IdP call" "$(idp_requests "$a")" "$before"
		;;
	*)
		code=${want%% *}
		code=${code#state=}
		t_is "$a: mailoauth status --json says $code" "$(json_state "$a")" "$code"
		t_like "$a: a caller is told why" "$(answer "$a")" "^ERR $code .*AADSTS"
		t_is "$a: the refresh token is kept, untouched" "$(store_get "$a" | sha)" "${GRANT[$a]}"
		;;
	esac
}
declare -A CHECKED=()
deadline=$((SECONDS + 150))
while ((${#CHECKED[@]} < ${#WARM[@]} && SECONDS < deadline)); do
	for row in "${WARM[@]}"; do
		a=${row%%|*}
		[[ -z "${CHECKED[$a]-}" ]] || continue
		grep -v 'new access token' "$DAEMON_LOG" | grep -q "account $a: " || continue
		CHECKED[$a]=1
		check_row "$row"
	done
	sleep 0.5
done
t_is "every row's refresh met its fault" "${#CHECKED[@]}" "${#WARM[@]}"

# ---- transient rows: the retry after the back-off gets a new token
for row in "${WARM[@]}" rtimeout rreset; do
	a=${row%%|*}
	[[ "$row" == *state=valid* || $a == rtimeout || $a == rreset ]] || continue
	new=
	for _ in $(seq 60); do
		new=$(answer "$a" | gen_of)
		[[ -n "$new" && "$new" != "${GEN[$a]:-}" ]] && break
		sleep 1
	done
	t_like "$a: once the fault is gone, the retry brings a new token" "$new" '^[0-9]+$'
	[[ -n "${GEN[$a]:-}" ]] && t_isnt "$a: (a new generation)" "$new" "${GEN[$a]}"
done

# ---- no secret anywhere
stop_daemon
mapfile -t secrets < <(sort -u "$MO_IDP_SECRETS_FILE")
t_no_secret_in "no token in the daemon's log" "$DAEMON_LOG" "${secrets[@]}"
t_no_secret_in "nor in the IdP's" "$E2E_DIR/idp.log" "${secrets[@]}"
t_done
