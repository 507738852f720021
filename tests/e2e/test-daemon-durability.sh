#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-daemon-durability.sh - mailoauthd killed with SIGKILL at random moments
# while it refreshes, restarted each time, with the IdP rotating the refresh
# token on every refresh. Takes about a minute (at most ~90 s).
#
# The IdP keeps an old refresh token usable after it issued a new one
# (strict_rotation off), as Entra ID does: its refresh tokens "replace
# themselves with a fresh token upon every use" and the old ones are not
# revoked. Under strict rotation a SIGKILL while the IdP is answering loses
# the grant whatever the client does (the IdP rotated, the answer never
# arrived), so the main phase does not use it; a short phase at the end
# turns it on and kills only right after a token was served.
#
# Access tokens live 30 s, less than the 60 s the daemon wants left before
# it serves one from its cache, so every TOKEN request is served from a
# fresh refresh. Each cycle starts the daemon, asks for a token, then does
# one of: SIGKILL right after a token was served; SIGKILL while the IdP's
# answer is delayed (fault API) or just after it; SIGKILL during a burst of
# requests; SIGKILL during RELOAD ACCOUNT. Invariants checked after every
# kill:
#   (a) every token the daemon served came with a refresh token that the
#       store already held (or a newer one) - looked up in /_test/tokens;
#   (b) after every restart the daemon gets a token (never login-required);
#   (c) the store file always decrypts and holds a grant known to the IdP.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib/env.sh"

ALICE=alice@example.com
CYCLES=${DURABILITY_CYCLES:-100}
MAX_S=${DURABILITY_MAX_S:-75}
e2e_init
. "$E2E_LIB/daemon.sh"
start_idp
idp_call POST /_test/config '{"token_lifetime": 30, "strict_rotation": false}' >/dev/null
daemon_config work "$ALICE"
daemon_seed work "$ALICE"
TOKEN_PATH=/contoso/oauth2/v2.0/token

# token_hash TOKEN: the first 16 hex digits of its SHA-256, as /_test/tokens has it
token_hash() {
	printf %s "$1" | sha256sum | cut -c1-16
}

# check_store [HASH...]: (c) the store decrypts and its refresh token is one
# the IdP issued and did not revoke; (a) for every served access token
# HASH, that refresh token was issued with it or later. Prints why not.
check_store() {
	local grant rc=0
	grant=$(store_get work 2>&1) || {
		echo "store-tool load failed: $grant"
		return 1
	}
	printf %s "$grant" | "$E2E_PYTHON" -c '
import hashlib, json, sys, urllib.request
url, served = sys.argv[1], sys.argv[2:]
try:
    grant = json.loads(sys.stdin.read())
except ValueError:
    sys.exit("the stored grant is not JSON")
rt = grant.get("refresh_token")
if not rt:
    sys.exit("the stored grant has no refresh token")
tokens = json.load(urllib.request.urlopen(url + "/_test/tokens"))["tokens"]
by_hash = {t["sha256"]: t for t in tokens}
by_serial = {t["serial"]: t for t in tokens}
stored = by_hash.get(hashlib.sha256(rt.encode()).hexdigest()[:16])
if not stored or stored["kind"] != "refresh" or stored["revoked"]:
    sys.exit("the stored refresh token is unknown to the IdP or revoked")
for h in served:
    t = by_hash.get(h)
    if not t or t["kind"] != "access":
        sys.exit("a served token is unknown to the IdP")
    mate = by_serial.get(t["serial"] + 1)
    if not mate or mate["kind"] != "refresh":
        sys.exit("no refresh token was issued with served token %d" % t["serial"])
    if stored["serial"] < mate["serial"]:
        sys.exit("token %d was served but the store holds refresh token %d, "
                 "older than %d issued with it" % (t["serial"], stored["serial"], mate["serial"]))
' "$IDP_URL" "$@" || rc=$?
	return "$rc"
}

# restart: a fresh daemon (the old socket removed so that start_daemon waits
# for the new one)
restart() {
	rm -f "$DAEMON_SOCKET"
	start_daemon
}

# rand N: 0..N-1
rand() {
	echo $((RANDOM % $1))
}

fail_a=0 fail_b=0 fail_c=0 served=0 killed_waiting=0 kills_delayed=0 kills_served=0 kills_burst=0 kills_reload=0
diag=()
# token_hashes FILE...: hashes of the tokens in TOKEN answers in FILEs
token_hashes() {
	local f tok
	for f in "$@"; do
		tok=$(sed -n 's/^OK .* token=//p' "$f" 2>/dev/null)
		[[ -n "$tok" ]] && token_hash "$tok"
	done
	return 0
}

# after_kill CYCLE HASH...: (a) and (c) once the daemon is dead
after_kill() {
	local cycle=$1 out
	shift
	served=$((served + $#))
	if ! out=$(check_store "$@" 2>&1); then
		if [[ "$out" == *"store-tool load failed"* || "$out" == *"not JSON"* ]]; then
			fail_c=$((fail_c + 1))
		else
			fail_a=$((fail_a + 1))
		fi
		diag+=("cycle $cycle: $out")
	fi
}

start=$(date +%s)
cycle=0
restart
while ((cycle < CYCLES)) && (($(date +%s) - start < MAX_S)); do
	cycle=$((cycle + 1))
	rm -f "$E2E_DIR"/ans.*
	# (b) the restarted daemon gets a token
	daemon_call "TOKEN work" >"$E2E_DIR/ans.first" || true
	if ! grep -q '^OK account=work ' "$E2E_DIR/ans.first"; then
		fail_b=$((fail_b + 1))
		diag+=("cycle $cycle: after the restart: $(sed 's/ token=.*//' "$E2E_DIR/ans.first")")
	fi
	mode=$((cycle % 4))
	case $mode in
	0) # SIGKILL right after a token was served
		daemon_call "TOKEN work" >"$E2E_DIR/ans.0" || true
		kill_daemon
		kills_served=$((kills_served + 1))
		;;
	1) # SIGKILL while the IdP's answer is delayed, or just after it
		idp_call POST /_test/fault "{\"path_prefix\": \"$TOKEN_PATH\", \"kind\": \"delay\",
			\"seconds\": 0.$((3 + $(rand 5))), \"count\": 1}" >/dev/null
		daemon_call "TOKEN work" >"$E2E_DIR/ans.1" &
		bg=$!
		sleep "0.$(rand 9)$(rand 10)"
		kill_daemon
		wait "$bg" || true
		kills_delayed=$((kills_delayed + 1))
		grep -q '^OK ' "$E2E_DIR/ans.1" || killed_waiting=$((killed_waiting + 1))
		idp_call POST /_test/fault/clear '' >/dev/null
		;;
	2) # SIGKILL during a burst of callers
		pids=()
		for i in 1 2 3 4 5; do
			daemon_call "TOKEN work" >"$E2E_DIR/ans.b$i" &
			pids+=($!)
			sleep "0.0$(rand 5)"
		done
		sleep "0.$(rand 3)$(rand 10)"
		kill_daemon
		wait "${pids[@]}" || true
		kills_burst=$((kills_burst + 1))
		;;
	3) # SIGKILL during RELOAD ACCOUNT (drops the token, refreshes, stores)
		daemon_call "RELOAD work" >/dev/null &
		bg=$!
		sleep "0.0$(rand 10)"
		kill_daemon
		wait "$bg" || true
		kills_reload=$((kills_reload + 1))
		;;
	esac
	[[ -n "${DAEMON_PID-}" ]] && kill_daemon
	mapfile -t hashes < <(token_hashes "$E2E_DIR"/ans.*)
	after_kill "$cycle" "${hashes[@]}"
	restart
done
elapsed=$(($(date +%s) - start))
t_diag "$cycle kill cycles in $elapsed s: $kills_served right after a token was served," \
	"$kills_delayed around a delayed IdP answer, $kills_burst during bursts," \
	"$kills_reload during RELOAD ACCOUNT; $served tokens served and checked"
((${#diag[@]})) && t_diag "${diag[@]}"
t_ok "at least 30 SIGKILL cycles" test "$cycle" -ge 30
t_ok "some killed the daemon while it waited for the delayed IdP ($killed_waiting)" \
	test "$killed_waiting" -ge 1
t_is "(a) every served token's refresh token was in the store when it was served" "$fail_a" 0
t_is "(b) every restarted daemon got a token" "$fail_b" 0
t_is "(c) the store always decrypted to a grant the IdP knows" "$fail_c" 0
t_ok "tokens were served in most cycles" test "$served" -ge "$cycle"
t_file_unlike "the daemon never said login-required" "$DAEMON_LOG" 'login-required|mailoauth login'

# ---- strict rotation: a SIGKILL right after serving loses nothing
# (first a refresh without strictness: the last cycle may have been killed
# after the IdP rotated the stored refresh token)
daemon_call "TOKEN work" >/dev/null
idp_call POST /_test/config '{"strict_rotation": true}' >/dev/null
strict_ok=0
for i in $(seq 6); do
	daemon_call "TOKEN work" >"$E2E_DIR/ans.strict" || true
	kill_daemon
	grep -q '^OK account=work ' "$E2E_DIR/ans.strict" && strict_ok=$((strict_ok + 1))
	mapfile -t hashes < <(token_hashes "$E2E_DIR/ans.strict")
	after_kill "strict $i" "${hashes[@]}"
	restart
done
t_is "strict rotation: every token request right after a restart succeeded" "$strict_ok" 6
t_like "and the daemon still gets tokens" "$(daemon_call 'TOKEN work' | sed 's/ token=.*//')" '^OK account=work '
t_is "(a) and (c) held there too" "$((fail_a + fail_c))" 0
stop_daemon
rm -f "$E2E_DIR"/ans.*	# the answers, tokens included; tests/secret-scan looks too
t_done
