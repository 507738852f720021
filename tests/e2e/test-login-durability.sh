#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-login-durability.sh - `mailoauth login` (device flow) killed with
# SIGKILL at random moments, over and over, while the real mailoauthd keeps
# running. Takes about a minute (at most ~90 s).
#
# Logins of ACCOUNTS accounts run side by side, so that the CLIs and the
# daemon also race for the one store file they share. Each login is one of:
#   early     killed 0-0.6 s after it started: before, during or just after
#             it asked for a device code;
#   pending   never approved, killed 0.8-1.6 s after its code was shown:
#             while it polls (the IdP answers authorization_pending);
#   approved  approved at once, killed 0.9-1.7 s after its code was shown:
#             while the poll that brings the tokens is in flight, around the
#             store write, or while it waits for RELOAD ACCOUNT;
#   saving    approved, killed 0-80 ms after it printed "Logged in:" (right
#             before the store write): around the write and the RELOAD;
#   complete  approved and left alone: it must end well.
# Every token request to the IdP is delayed by 0.2 s (a fault), which makes
# the windows "poll in flight" and "daemon refreshing for RELOAD" wide.
# The device interval is the minimum, 1 s. The IdP keeps rotated refresh
# tokens usable (strict_rotation off, as Entra ID does), so that the grant
# that was in the store before a login stays valid. After every login:
#   (a) the store decrypts;
#   (b) it holds the account's previous grant, or the new one (a refresh
#       token issued for that account during this login: the device grant's
#       or the daemon's rotation of it), and a completed login left the new
#       one;
#   (c) that refresh token is live at the IdP;
#   (d) the daemon serves a token for the account, at once or after at most
#       one RELOAD ACCOUNT, and never says login-required;
#   (e) the next store write leaves no temporary file of a killed one.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib/env.sh"

CYCLES=${DURABILITY_CYCLES:-100}
MAX_S=${DURABILITY_MAX_S:-75}
ACCOUNTS=8
TOKEN_PATH=/contoso/oauth2/v2.0/token
e2e_init
. "$E2E_LIB/daemon.sh"
. "$E2E_LIB/durability.sh"
start_idp
idp_call POST /_test/config '{"token_lifetime": 30, "strict_rotation": false,
	"device_interval": 1, "device_expires_in": 60}' >/dev/null

user_of() {
	printf 'user%d@example.com' "$1"
}
extra=
for i in $(seq 2 "$ACCOUNTS"); do
	extra+=$(printf '\n[account acct%d]\nprovider = microsoft\ntenant = contoso\nauthority = %s\nclient_id = mailoauth-e2e\nuser = %s\n' \
		"$i" "$IDP_URL" "$(user_of "$i")")
done
daemon_config acct1 "$(user_of 1)" "$extra"
for i in $(seq "$ACCOUNTS"); do
	daemon_seed "acct$i" "$(user_of "$i")"
done
start_daemon
CLI=("$MO_PROG_BUILD/token-helper/mailoauth" --config "$DAEMON_CONF" --system)

ms() {	# ms N: N milliseconds as seconds for sleep
	printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000))
}
# code_of FILE: the user code a login printed (waits up to 5 s)
code_of() {
	local code='' line
	for _ in $(seq 500); do
		while IFS= read -r line; do
			[[ "$line" =~ ^\ \ Code:\ ([A-Z]{4}-[A-Z]{4}) ]] && code=${BASH_REMATCH[1]}
		done <"$1"
		[[ -n "$code" ]] && break
		sleep 0.01
	done
	printf '%s' "$code"
}
# driver I MODE PID DELAY_MS: approves and kills login I as MODE says
driver() {
	local i=$1 mode=$2 pid=$3 delay=$4 out=$E2E_DIR/login.$1.out code line
	if [[ $mode == early ]]; then
		sleep "$(ms "$delay")"
		kill -KILL "$pid" 2>/dev/null
		return 0
	fi
	code=$(code_of "$out")
	[[ -n "$code" ]] || { kill -KILL "$pid" 2>/dev/null; return 0; }
	if [[ $mode != pending ]]; then
		idp_call POST /_test/device/approve \
			"{\"user_code\": \"$code\", \"user\": \"$(user_of "$i")\"}" >/dev/null 2>&1 || true
	fi
	case $mode in
	pending | approved)
		sleep "$(ms "$delay")"
		kill -KILL "$pid" 2>/dev/null
		;;
	saving)
		for _ in $(seq 2000); do
			line=
			while IFS= read -r line; do
				[[ "$line" == "Logged in:"* ]] && break
			done <"$out"
			[[ "$line" == "Logged in:"* ]] && break
			kill -0 "$pid" 2>/dev/null || return 0
			sleep 0.002
		done
		sleep "$(ms "$delay")"
		kill -KILL "$pid" 2>/dev/null
		;;
	esac
	return 0
}
# pick_mode: sets MODE and DELAY (ms) at random (here: $RANDOM in a
# subshell would repeat the parent's sequence)
pick_mode() {
	local r=$((RANDOM % 100))
	if ((r < 15)); then MODE=early DELAY=$((RANDOM % 600))
	elif ((r < 30)); then MODE=pending DELAY=$((800 + RANDOM % 800))
	elif ((r < 65)); then MODE=approved DELAY=$((900 + RANDOM % 800))
	elif ((r < 90)); then MODE=saving DELAY=$((RANDOM % 80))
	else MODE=complete DELAY=0
	fi
}
# rts: "ACCOUNT LINE" for every account (stored_rts)
rts() {
	local names=() i
	for i in $(seq "$ACCOUNTS"); do names+=("acct$i"); done
	stored_rts "${names[@]}"
}

# run_round: starts one login per account with its driver, waits for all;
# mode[I] ends with ", exit STATUS"
run_round() {
	local i rc
	for i in $(seq "$ACCOUNTS"); do
		pick_mode
		mode[$i]=$MODE
		count[$MODE]=$((${count[$MODE]:-0} + 1))
		"${CLI[@]}" login --no-qr "acct$i" </dev/null >"$E2E_DIR/login.$i.out" 2>"$E2E_DIR/login.$i.err" &
		pid[$i]=$!
		if [[ $MODE != complete ]]; then
			driver "$i" "$MODE" "${pid[$i]}" "$DELAY" &
		else
			driver "$i" approve-only "${pid[$i]}" 0 &
		fi
		drv[$i]=$!
	done
	for i in $(seq "$ACCOUNTS"); do
		wait "${drv[$i]}" || true
		# a login left alone ends within a few seconds
		for _ in $(seq 300); do
			kill -0 "${pid[$i]}" 2>/dev/null || break
			sleep 0.05
		done
		kill -KILL "${pid[$i]}" 2>/dev/null || true
		rc=0
		wait "${pid[$i]}" || rc=$?
		mode[$i]="${mode[$i]}, exit $rc"
	done
}

# read_prev: PREV[I], the serial of the refresh token acctI has stored,
# and S0, the newest serial the IdP issued, before a round
declare -A prev=()
read_prev() {
	local name line
	while read -r name line; do
		if [[ $name == - ]]; then
			s0=${line#maxserial=}
		else
			prev[${name#acct}]=$(meta_field "$line" serial)
		fi
	done < <(rts)
}

declare -A count=()
fail_a=0 fail_b=0 fail_c=0 fail_d=0 fail_e=0 fail_s=0 needed_reload=0 cycles=0
kept_after_approval=0 new_before_done=0 killed_in_reload=0
diag=()
idp_call POST /_test/fault "{\"path_prefix\": \"$TOKEN_PATH\", \"kind\": \"delay\", \"seconds\": 0.2}" >/dev/null

# the daemon's first look at every account (a refresh, soon after it
# started) is over before the first round
for i in $(seq "$ACCOUNTS"); do
	daemon_call "TOKEN acct$i" | grep -q "^OK account=acct$i " ||
		e2e_bail "no token for acct$i before the first round" "$DAEMON_LOG"
done
read_prev
start=$SECONDS
round=0
while ((cycles < CYCLES)) && ((SECONDS - start < MAX_S)); do
	round=$((round + 1))
	log0=$(log_size "$DAEMON_LOG")
	declare -A mode=() pid=() drv=() after=()
	run_round 2>/dev/null	# no "Killed" notices from bash
	if ! no_issued_secret_in "$E2E_DIR"/login.*; then
		fail_s=$((fail_s + 1))
		diag+=("round $round: a login printed a token or code the IdP issued")
	fi
	while read -r name line; do
		[[ $name == - ]] || after[${name#acct}]=$line
	done < <(rts)
	reloads=$(log_since "$DAEMON_LOG" "$log0" | grep -o 'account acct[0-9]*: reloading' || true)
	# (d) asked now, all at once: the daemon serves every account's token
	calls=()
	for i in $(seq "$ACCOUNTS"); do
		daemon_call "TOKEN acct$i" >"$E2E_DIR/ans.$i" 2>&1 &
		calls+=($!)
	done
	wait "${calls[@]}" || true
	for i in $(seq "$ACCOUNTS"); do
		cycles=$((cycles + 1))
		c="round $round acct$i (${mode[$i]})"
		rc=${mode[$i]##* }
		out=$(cat "$E2E_DIR/login.$i.out" "$E2E_DIR/login.$i.err")
		done_ok=0
		[[ "$out" == *"mailoauthd has a fresh token for acct$i."* ]] && done_ok=1
		if [[ ${mode[$i]} == complete,* ]] && { ((rc != 0)) || ((done_ok == 0)); }; then
			fail_b=$((fail_b + 1))
			diag+=("$c: the login left alone did not end well: $(tail -n 2 <<<"$out")")
		fi
		rt=${after[$i]}
		if [[ "$rt" == error:* ]]; then
			fail_a=$((fail_a + 1))
			diag+=("$c: $rt")
			continue
		fi
		serial=$(meta_field "$rt" serial)
		if ! [[ "$rt" == *"kind=refresh user=$(user_of "$i") "* ]] ||
			{ [[ "$serial" != "${prev[$i]}" ]] && ((serial <= s0)); }; then
			fail_b=$((fail_b + 1))
			diag+=("$c: the store holds neither the previous grant (${prev[$i]}) nor a new one: $rt")
		elif ((done_ok)) && ((serial <= s0)); then
			fail_b=$((fail_b + 1))
			diag+=("$c: the login completed but the store holds the previous grant: $rt")
		fi
		if ! usable_rt "$rt"; then
			fail_c=$((fail_c + 1))
			diag+=("$c: the stored refresh token is not live: $rt")
		fi
		if [[ ${mode[$i]} == approved,* || ${mode[$i]} == saving,* ]] &&
			[[ "$serial" == "${prev[$i]}" ]]; then
			kept_after_approval=$((kept_after_approval + 1))
		fi
		((serial > s0 && !done_ok)) && new_before_done=$((new_before_done + 1))
		[[ $reloads == *"account acct$i: reloading"* ]] && ((!done_ok && rc == 137)) &&
			killed_in_reload=$((killed_in_reload + 1))
		if ! grep -q "^OK account=acct$i " "$E2E_DIR/ans.$i"; then
			needed_reload=$((needed_reload + 1))
			daemon_call "RELOAD acct$i" >/dev/null 2>&1 || true
			daemon_call "TOKEN acct$i" >"$E2E_DIR/ans.$i" 2>&1 || true
			if ! grep -q "^OK account=acct$i " "$E2E_DIR/ans.$i"; then
				fail_d=$((fail_d + 1))
				diag+=("$c: no token from the daemon: $(no_token "$(cat "$E2E_DIR/ans.$i")")")
			fi
		fi
		rm -f "$E2E_DIR/ans.$i"
	done
	# (e) the daemon's store writes (TOKEN rotates) removed what killed
	# logins left half-written
	left=$(find "$DAEMON_DIR" -name 'store.tmp.*' -o -name 'store.bak.tmp' | wc -l)
	if ((left)); then
		fail_e=$((fail_e + 1))
		diag+=("round $round: $left temporary file(s) left after the daemon's writes")
	fi
	unset mode pid drv after
	read_prev
done
idp_call POST /_test/fault/clear '' >/dev/null
elapsed=$((SECONDS - start))
t_diag "$cycles logins in $round rounds and $elapsed s: ${count[early]:-0} early, ${count[pending]:-0} pending," \
	"${count[approved]:-0} approved, ${count[saving]:-0} saving, ${count[complete]:-0} left alone;" \
	"$kept_after_approval killed after approval with the previous grant kept," \
	"$new_before_done killed after the new grant was stored," \
	"$killed_in_reload killed while the daemon reloaded; $needed_reload needed a RELOAD"
((${#diag[@]})) && t_diag "${diag[@]:0:20}"
((${#diag[@]} > 20)) && t_diag "... and $((${#diag[@]} - 20)) more"
t_ok "at least 100 logins (or what fits in ${MAX_S} s: at least 50)" \
	test "$cycles" -ge "$((CYCLES < 50 ? CYCLES : 50))"
t_ok "some were killed around the store write with the new grant already stored ($new_before_done)" \
	test "$new_before_done" -ge 1
t_ok "some were killed after approval with the previous grant kept ($kept_after_approval)" \
	test "$kept_after_approval" -ge 1
t_ok "some were killed while the daemon reloaded for them ($killed_in_reload)" \
	test "$killed_in_reload" -ge 1
t_is "(a) the store always decrypted" "$fail_a" 0
t_is "(b) it always held the previous grant or the new one (the new one after a complete login)" "$fail_b" 0
t_is "(c) the grant it held was always live at the IdP" "$fail_c" 0
t_is "(d) the daemon always served a token, after at most one RELOAD" "$fail_d" 0
t_is "(e) no temporary file outlived the next store write" "$fail_e" 0
t_file_unlike "the daemon never said login-required" "$DAEMON_LOG" 'login-required|mailoauth login'
t_is "no login printed a token or code the IdP issued" "$fail_s" 0
t_ok "no token or secret in the daemon's log" no_issued_secret_in "$DAEMON_LOG"
t_done
