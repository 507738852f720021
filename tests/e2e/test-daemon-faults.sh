#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-daemon-faults.sh - the fault matrix: every way the identity provider,
# or the way to it, can fail, one row each, against the real mailoauthd and
# the test IdP (tests/idp/idp.py). About a minute and a half.
#
# One daemon, one account per row; each account has its own tenant, so its
# token endpoint (/TENANT/oauth2/v2.0/token) gets its own fault and its own
# request counter (token_by_tenant) at the IdP, and all rows run at once.
#
#   warm rows   the account holds a valid token; the fault meets its
#               proactive refresh (tokens live 200 s and refresh_margin is
#               140, so that refresh comes 60 s after the token).
#     transient (the fault stays until the row's checks are done, so no
#               check depends on how fast it runs): STATUS and `mailoauth
#               status --json` say valid, with the failure and a clear
#               message; the log says "retrying in N s" (15-18 s, or what
#               Retry-After asks, and the IdP's log shows the retry waited);
#               the old token keeps being served; every IdP request is one
#               logged attempt; the stored refresh token is untouched. Then
#               the fault is cleared and the next retry succeeds with that
#               refresh token (the IdP runs with strict_rotation: only the
#               newest works).
#     revoked:  the IdP revokes the grant (invalid_grant, AADSTS70000): the
#               account is login-required at once and stops serving its
#               token (engine.c drops it on every permanent failure).
#   cold rows   no token yet, the fault there from the start.
#     permanent (the fault answers once): each AADSTS class: the class
#               (login-required, admin-required, config-error) and its
#               sentence in STATUS, the CLI and a caller's ERR; the grant is
#               not sent again, not even when the account looks at the
#               store again 30 s later; it stays stored, and RELOAD ACCOUNT
#               gets a token with it once the cause is gone.
#     network:  a timeout (the IdP sits on the request past the daemon's
#               fixed 30 s HTTP timeout: MO_HTTP_TIMEOUT_MS has no config
#               key), a name that does not resolve (.invalid), HTTPS with the
#               wrong CA (a config error; the refresh token never leaves the
#               host) and with the right one. The timeout and TLS rows use a
#               second, HTTPS, instance of the IdP (lib/idp-tls.sh) that
#               rotates like Entra (an old refresh token stays valid): the
#               request that timed out was still answered, too late.
#   healthy     an account without faults, untouched by all of the above.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib/env.sh"

e2e_init
. "$E2E_LIB/daemon.sh"
. "$E2E_LIB/idp-tls.sh"
start_idp
idp_call POST /_test/config '{"token_lifetime": 200, "strict_rotation": true}' >/dev/null
start_idp_tls

# ---- the rows: NAME|FAULT (JSON members)|STATUS state|message (regex)
TRANSIENT=(
	't503|"kind": "status", "status": 503|valid|answered HTTP 503 \(server error\): this is temporary'
	't429|"kind": "throttle", "retry_after": 20|valid|throttling this client \(AADSTS50196, .*retry after 20 s\)'
	'treset|"kind": "reset"|valid|connection to the identity provider failed \(curl error 5[256]'
	'ttrunc|"kind": "truncated_json"|valid|answer is unusable \(HTTP 200: the body is not valid JSON'
	'tjson|"kind": "malformed_json"|valid|answer is unusable \(HTTP 200: the body is not valid JSON'
	'thuge|"kind": "huge_body", "bytes": 3000000|valid|answer larger than 1 MiB \(curl error 63'
	't90033|"kind": "aadsts", "error": "temporarily_unavailable", "codes": [90033], "status": 503|valid|temporarily unavailable \(AADSTS90033\)'
	't50196|"kind": "aadsts", "error": "invalid_request", "codes": [50196]|valid|throttling this client \(AADSTS50196, request loop detected\)'
)
PERMANENT=(
	'pgrant|"kind": "aadsts", "error": "invalid_grant", "codes": []|login-required|refresh token has expired or was revoked \(invalid_grant\): run .mailoauth login pgrant.'
	'p70000|"kind": "aadsts", "codes": [70000]|login-required|\(AADSTS70000\): run .mailoauth login p70000.'
	'p700082|"kind": "aadsts", "codes": [700082]|login-required|not used for too long \(AADSTS700082, 90 days of inactivity\): run .mailoauth login p700082.'
	'p70008|"kind": "aadsts", "codes": [70008]|login-required|expired or was revoked \(AADSTS70008\): run .mailoauth login p70008.'
	'p50173|"kind": "aadsts", "codes": [50173]|login-required|revoked \(AADSTS50173, the password was changed or sessions were revoked\)'
	'p65001|"kind": "aadsts", "codes": [65001]|admin-required|no consent .*\(AADSTS65001\): an administrator of the tenant must grant consent'
	'p50076|"kind": "aadsts", "codes": [50076]|login-required|multi-factor authentication \(AADSTS50076\): run .mailoauth login p50076. and complete it in the browser'
	'p53003|"kind": "aadsts", "codes": [53003]|admin-required|Conditional Access blocked the sign-in \(AADSTS53003\): an administrator'
	'p7000215|"kind": "aadsts", "error": "invalid_client", "codes": [7000215], "status": 401|config-error|client secret is wrong \(AADSTS7000215\)'
	'p700016|"kind": "aadsts", "error": "unauthorized_client", "codes": [700016]|config-error|\(client_id\) was not found in the tenant \(AADSTS700016\): check client_id and tenant of account .p700016.'
)
REVOKED='prevoked|revoke|login-required|grant is invalid, expired or revoked \(AADSTS70000\): run .mailoauth login prevoked.'
name_of() { printf '%s' "${1%%|*}"; }
part() { cut -d'|' -f"$2" <<<"$1"; }

account() {	# account NAME AUTHORITY [EXTRA-LINE]: one [account] group
	printf '\n[account %s]\nprovider = microsoft\ntenant = %s\nauthority = %s\nclient_id = mailoauth-e2e\nuser = %s@example.com\n%s\n' \
		"$1" "$1" "$2" "$1" "${3-}"
}
extra=""
for row in "${TRANSIENT[@]}" "$REVOKED" "${PERMANENT[@]}"; do
	extra+=$(account "$(name_of "$row")" "$IDP_URL")
done
extra+=$(account ctimeout "$IDP_TLS_URL" "ca_file = $IDP_TLS_CA")
extra+=$(account cdns "https://mailoauth-test.invalid")
extra+=$(account ctlswrong "$IDP_TLS_URL" "ca_file = $IDP_TLS_WRONG_CA")
extra+=$(account ctlsright "$IDP_TLS_URL" "ca_file = $IDP_TLS_CA")
# shellcheck disable=SC2034 # daemon_config reads it
DAEMON_EXTRA="refresh_margin = 140"
daemon_config healthy healthy@example.com "$extra"
# seed URL CA NAME...: for each, a grant minted by that IdP, stored as
# `mailoauth login` would (as daemon_seed does, in one process for all)
seed() {
	local url=$1 ca=$2 name json
	shift 2
	"$E2E_PYTHON" -c 'import json, ssl, sys, urllib.request
url, ca, names = sys.argv[1], sys.argv[2], sys.argv[3:]
ctx = ssl.create_default_context(cafile=ca) if ca else None
for name in names:
    body = json.dumps({"user": name + "@example.com", "refresh": True, "client_id": "mailoauth-e2e",
                       "scope": "https://outlook.office.com/SMTP.Send offline_access"}).encode()
    req = urllib.request.Request(url + "/_test/mint", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, context=ctx, timeout=10) as answer:
        refresh = json.load(answer)["refresh_token"]
    print(name, json.dumps({"refresh_token": refresh}, separators=(",", ":")))' "$url" "$ca" "$@" |
		while read -r name json; do
			printf '%s' "$json" |
				"$MO_BUILD/tests/store-tool" file "$DAEMON_STORE" "$DAEMON_KEY" save "$name" ||
				exit 1
		done
}
names=(healthy cdns)
for row in "${TRANSIENT[@]}" "$REVOKED" "${PERMANENT[@]}"; do names+=("$(name_of "$row")"); done
seed "$IDP_URL" "" "${names[@]}" || e2e_bail "cannot seed the accounts"
seed "$IDP_TLS_URL" "$IDP_TLS_CA" ctimeout ctlswrong ctlsright ||
	e2e_bail "cannot seed the accounts of the HTTPS IdP"

# ---- helpers; OUT collects every answer and CLI output, for the secret scan
OUT=$E2E_DIR/answers.txt
CLI=("$MO_PROG_BUILD/token-helper/mailoauth" --config "$DAEMON_CONF")
answer() {	# answer NAME: TOKEN, without the token
	daemon_call "TOKEN $1" | sed 's/ token=.*//' | tee -a "$OUT"
}
status() { daemon_call "STATUS $1" | tee -a "$OUT"; }
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }
grant_of() { store_get "$1" | sha256sum | cut -c1-16; }
counts() {	# counts CALL TENANT: token requests an IdP saw for TENANT
	"$1" GET /_test/counters | "$E2E_PYTHON" -c \
		'import json, sys; print(json.load(sys.stdin)["token_by_tenant"].get(sys.argv[1], 0))' "$2"
}
idp_count() { counts idp_call "$1"; }
tls_count() { counts idp_tls_call "$1"; }
none() { echo 0; }
clear_fault() { idp_call POST /_test/fault/clear "{\"path_prefix\": \"/$1/\"}" >/dev/null; }
cli_json() {	# cli_json NAME: "state|failures|action|message|exit status" of status --json
	local out rc=0
	out=$("${CLI[@]}" status --json "$1" 2>>"$OUT") || rc=$?
	printf '%s\n' "$out" >>"$OUT"
	"$E2E_PYTHON" -c 'import json, sys
j = json.loads(sys.argv[1])
print("|".join(str(j.get(k)) for k in ("state", "failures", "action", "message")) + "|" + sys.argv[2])' \
		"$out" "$rc" 2>/dev/null || echo "unparsable: $out|$rc"
}
log_lines() { grep -c -- "$1" "$DAEMON_LOG" || true; }
attempts() { log_lines "account $1: refresh failed"; }
first_failure() { grep -E -- "account $1: refresh failed, retrying in [0-9]+ s" "$DAEMON_LOG" | head -n 1; }
secs_of() { sed -n 's/.*retrying in \([0-9]*\) s.*/\1/p' <<<"$1"; }
# settled CALL NAME: "FAILURES IDP-REQUESTS LOGGED-ATTEMPTS", read while
# no attempt came in between (STATUS before and after agree)
settled() {
	local f1 f2 n l
	for _ in $(seq 10); do
		f1=$(field "$(status "$2")" failures)
		n=$("$1" "$2")
		l=$(attempts "$2")
		f2=$(field "$(status "$2")" failures)
		[[ "$f1" == "$f2" ]] && break
	done
	echo "$f2 $n $l"
}

# ---- start: the cold rows' fault is there before the first refresh
idp_tls_call POST /_test/fault '{"path_prefix": "/ctimeout/", "kind": "delay", "seconds": 35,
	"count": 1}' >/dev/null
declare -A GRANT BEFORE
for a in ctimeout ctlswrong cdns; do GRANT[$a]=$(grant_of "$a"); done
for row in "${PERMANENT[@]}"; do
	a=$(name_of "$row")
	GRANT[$a]=$(grant_of "$a")
	BEFORE[$a]=0
	idp_call POST /_test/fault "{\"path_prefix\": \"/$a/\", $(part "$row" 2), \"count\": 1}" \
		>/dev/null || e2e_bail "the IdP refused the fault of $a"
done
start_daemon

# every warm account gets its first token from the start-up refresh; a
# request marks it as in use (an idle one would wait for its keepalive)
for row in healthy "${TRANSIENT[@]}" "$REVOKED"; do
	a=$(name_of "$row")
	for _ in $(seq 150); do
		grep -q "account $a: new access token" "$DAEMON_LOG" && break
		sleep 0.2
	done
	[[ "$(field "$(answer "$a")" gen)" == 1 ]] || e2e_bail "no first token for $a" "$DAEMON_LOG"
	GRANT[$a]=$(grant_of "$a")
done
for row in "${TRANSIENT[@]}"; do
	a=$(name_of "$row")
	BEFORE[$a]=$(idp_count "$a")
	idp_call POST /_test/fault "{\"path_prefix\": \"/$a/\", $(part "$row" 2)}" >/dev/null ||
		e2e_bail "the IdP refused the fault of $a"
done
BEFORE[prevoked]=$(idp_count prevoked)
idp_revoke prevoked@example.com

row_failed() {	# row_failed NAME: its refresh met the fault
	grep -E -q -- "account $1: (refresh failed|account '$1')" "$DAEMON_LOG"
}
wait_failed() {	# wait_failed NAME: up to 90 s for that
	for _ in $(seq 450); do
		row_failed "$1" && return 0
		sleep 0.2
	done
	return 1
}

# ---- cold rows, while the warm ones wait for their refresh
# DNS: fails at once, a transient network failure, backs off
t_wait_file_like 20 "dns: the refresh fails fast" "$DAEMON_LOG" \
	"account cdns: refresh failed, retrying in 1[5-8] s: .*name could not be resolved"
t_like "dns: STATUS: empty, a failure, says the name did not resolve" "$(status cdns)" \
	"^OK account=cdns state=empty .*failures=[1-9] .*message=.*identity%20provider's%20name%20could%20not%20be%20resolved%20\(curl%20error%206"
t_like "dns: status --json: empty, retried by mailoauthd, exit 0" "$(cli_json cdns)" \
	"^empty[|][1-9][|]nothing yet: mailoauthd retries by itself; .*[|]account 'cdns': the identity provider's name could not be resolved .*[|]0$"
t_like "dns: a caller is told it is temporary, and why" "$(answer cdns)" \
	"^ERR unavailable account 'cdns': the identity provider's name could not be resolved"
for _ in $(seq 10); do answer cdns >/dev/null; done
t_like "dns: eleven requests during the back-off start no attempt (attempts so far: $(attempts cdns))" \
	"$(attempts cdns)" '^[12]$'
t_is "dns: the stored grant is untouched" "$(grant_of cdns)" "${GRANT[cdns]}"

# TLS with a CA that did not sign the server's certificate
t_wait_file_like 20 "tls, wrong CA: the refresh fails" "$DAEMON_LOG" \
	"account ctlswrong: account 'ctlswrong': the identity provider's TLS certificate could not be verified"
t_like "tls, wrong CA: STATUS: config-error, says to set ca_file" "$(status ctlswrong)" \
	'^OK account=ctlswrong state=config-error .*message=.*TLS%20certificate%20could%20not%20be%20verified%20\(curl%20error%2060.*set%20ca_file%20for%20account'
t_like "tls, wrong CA: status --json: config-error, exit 78" "$(cli_json ctlswrong)" \
	"^config-error[|]0[|]fix the account in mailoauth.conf .*[|].*TLS certificate could not be verified.*[|]78$"
t_like "tls, wrong CA: a caller gets config-error" "$(answer ctlswrong)" \
	"^ERR config-error account 'ctlswrong': the identity provider's TLS certificate"
t_file_like "tls, wrong CA: the server saw the handshake refused" "$IDP_TLS_LOG" \
	'TLS handshake failed: TLSV1_ALERT_UNKNOWN_CA'
t_is "tls, wrong CA: no token request (the refresh token never left)" "$(tls_count ctlswrong)" 0
t_is "tls, wrong CA: the stored grant is untouched" "$(grant_of ctlswrong)" "${GRANT[ctlswrong]}"
t_like "tls, right CA: the same server gives a token" "$(answer ctlsright)" \
	'^OK account=ctlsright user=ctlsright@example.com gen=1 '
t_is "tls, right CA: through the token endpoint" "$(tls_count ctlsright)" 1

# the AADSTS classes, met by the start-up refresh
check_permanent() {
	local row=$1 a cls want ex
	a=$(name_of "$row")
	cls=$(part "$row" 3)
	want=$(part "$row" 4)
	t_file_like "$a: the log says why" "$DAEMON_LOG" "account $a: account '$a': .*$want"
	t_like "$a: STATUS: $cls, nothing planned, the sentence" "$(status "$a")" \
		"^OK account=$a state=$cls (refreshed_ago=[0-9]+ )?failures=0 gen=[01] grant=${GRANT[$a]} message=account%20'$a':%20"
	ex=78
	[[ $cls == login-required ]] && ex=69
	t_like "$a: status --json: $cls, exit $ex" "$(cli_json "$a")" \
		"^${cls}[|]0[|](run: mailoauth login $a|an administrator .*|fix the account .*)[|]account '$a': .*$want.*[|]$ex$"
	t_like "$a: a caller is told the class and the sentence" "$(answer "$a")" \
		"^ERR $cls account '$a': .*$want"
	for _ in $(seq 10); do answer "$a" >/dev/null; done
	t_is "$a: not retried: one IdP request" "$(idp_count "$a")" $((BEFORE[$a] + 1))
	t_is "$a: the stored refresh token is kept" "$(grant_of "$a")" "${GRANT[$a]}"
}
for row in "${PERMANENT[@]}"; do
	wait_failed "$(name_of "$row")" || true
	check_permanent "$row"
done
# when the last of them failed, on the daemon's clock (HH:MM:SS)
last=$(grep -E "account p[0-9a-z]+: account 'p" "$DAEMON_LOG" | tail -n 1 |
	sed -n 's/.* \([0-9][0-9]:[0-9][0-9]:[0-9][0-9]\)\.[0-9]*: .*/\1/p')
PERMANENT_DUE=$(($(date -d "$last" +%s 2>/dev/null || date +%s) + 32))

# a request the IdP sits on longer than the daemon's 30 s HTTP timeout
t_wait_file_like 70 "timeout: the refresh gives up and backs off" "$DAEMON_LOG" \
	"account ctimeout: refresh failed, retrying in 1[5-8] s: .*did not answer in time \(curl error 28"
# (the retry is 15 s away at least: these three take a second or two)
t_like "timeout: STATUS: empty, a failure, says it timed out" "$(status ctimeout)" \
	'^OK account=ctimeout state=empty .*failures=1 .*message=.*did%20not%20answer%20in%20time'
t_like "timeout: a caller meanwhile is told it is temporary" "$(answer ctimeout)" \
	"^ERR unavailable account 'ctimeout': the identity provider did not answer in time"
t_like "timeout: status --json: empty, retried by mailoauthd, exit 0" "$(cli_json ctimeout)" \
	"^empty[|]1[|]nothing yet: mailoauthd retries by itself; .*[|].*did not answer in time.*[|]0$"
t_is "timeout: the stored grant is untouched" "$(grant_of ctimeout)" "${GRANT[ctimeout]}"

# a failed account looks at the store again after 30 s (MO_SCHED_RECHECK_S):
# it holds the grant that failed, which is not sent again. Then: the kept
# refresh token works once the cause is gone (each fault answered once)
while (($(date +%s) < PERMANENT_DUE)); do sleep 1; done
for row in "${PERMANENT[@]}"; do
	a=$(name_of "$row")
	t_like "$a: 30 s later a caller still gets $(part "$row" 3)" "$(answer "$a")" \
		"^ERR $(part "$row" 3) "
	t_is "$a: and the failed grant was not sent again" "$(idp_count "$a")" $((BEFORE[$a] + 1))
	t_like "$a: RELOAD ACCOUNT with the cause gone: a token from the kept grant" \
		"$(daemon_call "RELOAD $a")" "^OK account=$a state=valid .*failures=0 gen=1 grant=${GRANT[$a]}"
done

t_wait_file_like 60 "timeout: the retry after the back-off gets a token" "$DAEMON_LOG" \
	"account ctimeout: new access token"
t_like "timeout: and it is served" "$(answer ctimeout)" '^OK account=ctimeout .*gen=1 '
t_is "timeout: one request to the IdP per attempt" "$(tls_count ctimeout)" \
	$(($(attempts ctimeout) + 1))

# ---- warm, transient; each fault stays until its row is checked
check_transient() {
	local row=$1 a want line secs f n l served
	a=$(name_of "$row")
	want=$(part "$row" 4)
	line=$(first_failure "$a")
	secs=$(secs_of "$line")
	if [[ $a == t429 ]]; then
		t_is "$a: the log says it waits as long as Retry-After asks, not 15-18 s" "$secs" 20
	else
		t_like "$a: the log says it backs off 15 s and up to a quarter more" "$secs" '^1[5-8]$'
	fi
	t_like "$a: with the reason" "$line" "$want"
	t_like "$a: STATUS: valid, failing, the reason" "$(status "$a")" \
		"^OK account=$a state=valid .*failures=[1-9] gen=1 grant=${GRANT[$a]} message=account%20'$a':%20"
	t_like "$a: status --json: valid, retried while the token is served, exit 0" "$(cli_json "$a")" \
		"^valid[|][1-9][|].*retries by itself and keeps serving the valid token.*[|]account '$a': .*$want.*[|]0$"
	served=0
	for _ in $(seq 10); do
		[[ "$(answer "$a")" == "OK account=$a user=$a@example.com gen=1 "* ]] && served=$((served + 1))
	done
	t_is "$a: the still-valid token keeps being served" "$served" 10
	read -r f n l <<<"$(settled idp_count "$a")"
	n=$((n - BEFORE[$a]))
	t_is "$a: every attempt is in STATUS and the log" "$f" "$l"
	if [[ $a == treset ]]; then
		# a request whose reused connection dies before any answer is
		# sent again by libcurl on another one, up to 5 times (its
		# CONN_MAX_RETRIES): 1 to 6 requests per attempt
		t_like "$a: 1 to 6 IdP requests per attempt ($n for $f)" \
			"$((n >= f && n <= 6 * f))" '^1$'
	else
		t_is "$a: one IdP request per attempt, none for the requests" "$n" "$f"
	fi
	t_like "$a: a few attempts, backing off ($f)" "$f" '^[1-3]$'
	t_is "$a: the stored refresh token is untouched" "$(grant_of "$a")" "${GRANT[$a]}"
	clear_fault "$a"
}
for row in "${TRANSIENT[@]}"; do
	a=$(name_of "$row")
	if wait_failed "$a"; then
		check_transient "$row"
	else
		t_fail "$a: the refresh met the fault"
		clear_fault "$a"
	fi
done

# ---- warm, revoked: the valid token is dropped, the grant kept
a=prevoked
wait_failed "$a" || true
t_file_like "$a: the log says why" "$DAEMON_LOG" "account $a: account '$a': .*$(part "$REVOKED" 4)"
t_like "$a: STATUS: login-required, the sentence" "$(status "$a")" \
	"^OK account=$a state=login-required refreshed_ago=[0-9]+ failures=0 gen=1 grant=${GRANT[$a]} message=account%20'$a':%20"
t_like "$a: status --json: login-required, exit 69" "$(cli_json "$a")" \
	"^login-required[|]0[|]run: mailoauth login ${a}[|]account '$a': .*$(part "$REVOKED" 4).*[|]69$"
t_like "$a: a caller gets login-required instead of the still-valid token" "$(answer "$a")" \
	"^ERR login-required account '$a': .*$(part "$REVOKED" 4)"
t_is "$a: one IdP request" "$(idp_count "$a")" $((BEFORE[$a] + 1))
t_is "$a: the stored refresh token is kept" "$(grant_of "$a")" "${GRANT[$a]}"

# ---- warm, transient: the retry after the fault succeeds with the kept grant
for row in "${TRANSIENT[@]}"; do
	a=$(name_of "$row")
	for _ in $(seq 450); do
		(($(log_lines "account $a: new access token") >= 2)) && break
		sleep 0.2
	done
	t_like "$a: once the fault is gone, the retry brings a new token" "$(answer "$a")" \
		"^OK account=$a .*gen=2 "
	t_like "$a: STATUS: valid, no failure, no message" "$(status "$a")" \
		"^OK account=$a state=valid .*failures=0 gen=2 grant=${GRANT[$a]}$"
	n=$(($(idp_count "$a") - BEFORE[$a]))
	l=$(attempts "$a")
	if [[ $a == treset ]]; then
		t_like "$a: one more request, with the kept refresh token ($n for $l attempts)" \
			"$((n > l && n <= 6 * l + 1))" '^1$'
	else
		t_is "$a: one more request, with the kept refresh token (strict rotation)" "$n" $((l + 1))
	fi
	t_isnt "$a: the rotated one is stored" "$(grant_of "$a")" "${GRANT[$a]}"
done
# the IdP's log has whole seconds: Retry-After 20 means 19 at least
stamps=$(grep ' POST /t429/oauth2/v2.0/token ' "$E2E_DIR/idp.log" | sed -n '2,3p' | cut -d' ' -f1)
gap=$(($(date -d "$(sed -n 2p <<<"$stamps")" +%s) - $(date -d "$(sed -n 1p <<<"$stamps")" +%s)))
t_like "t429: the next request came no sooner than Retry-After allowed (${gap} s)" "$gap" \
	'^(19|[2-9][0-9])$'

# ---- the DNS row, later: still backing off, every attempt counted
read -r f n l <<<"$(settled none cdns)"
t_is "dns: STATUS counts every attempt" "$f" "$l"
t_like "dns: a handful of attempts in all, doubling the back-off ($f)" "$f" '^[1-4]$'
t_like "healthy: untouched by all the faults" "$(status healthy)" \
	'^OK account=healthy state=valid .*failures=0 gen=[0-9]+ grant=[0-9a-f]+$'

# ---- no secret anywhere
stop_daemon
mapfile -t secrets < <(sort -u "$MO_IDP_SECRETS_FILE")
t_no_secret_in "no token in the daemon's log" "$DAEMON_LOG" "${secrets[@]}"
t_no_secret_in "nor in the IdP's log" "$E2E_DIR/idp.log" "${secrets[@]}"
t_no_secret_in "nor in the HTTPS IdP's" "$IDP_TLS_LOG" "${secrets[@]}"
t_no_secret_in "nor in STATUS, ERR or the CLI's output" "$OUT" "${secrets[@]}"
t_done
