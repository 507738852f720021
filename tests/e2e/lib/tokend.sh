# SPDX-License-Identifier: MIT
# tokend.sh - run the token source the plugin talks to, for e2e tests
#
# Sourced after env.sh. Until mailoauthd lands this starts the stand-in
# tests/tools/static-tokend (same protocol code as the plugin), answering
# from $TOKEND_TOKENS: lines "account user token [cache_for]". Every request
# is logged to $TOKEND_LOG (verbs and arguments; tests use no real secrets).
#
#   start_tokend [EXTRA-SOCKET...]  exports TOKEND_SOCKET, TOKEND_TOKENS,
#                                   TOKEND_LOG, TOKEND_PID, SASL_PATH
#   tokend_set ACCOUNT USER TOKEN [CACHE_FOR]   (re)defines an account
#   stop_tokend
#   tokend_requests VERB             how many VERB requests were logged

: "${MO_BUILD:=$TOP/build}"
export MO_BUILD

start_tokend() {
	local args=() s
	mkdir -p "$E2E_DIR/run"
	chmod 0755 "$E2E_DIR/run"
	TOKEND_SOCKET=$E2E_DIR/run/socket
	TOKEND_TOKENS=${TOKEND_TOKENS:-$E2E_DIR/tokend.secret} # its token table
	TOKEND_LOG=$E2E_DIR/tokend.log
	touch "$TOKEND_TOKENS" "$TOKEND_LOG"
	args=(--tokens "$TOKEND_TOKENS" --log "$TOKEND_LOG" --socket "$TOKEND_SOCKET")
	for s in "$@"; do
		mkdir -p "$(dirname "$s")"
		args+=(--socket "$s")
	done
	"$MO_BUILD/tests/static-tokend" "${args[@]}" </dev/null >>"$E2E_DIR/tokend.out" 2>&1 &
	TOKEND_PID=$!
	for _ in $(seq 50); do
		[[ -S "$TOKEND_SOCKET" ]] && break
		sleep 0.1
	done
	[[ -S "$TOKEND_SOCKET" ]] || e2e_bail "static-tokend did not start" "$E2E_DIR/tokend.out"
	SASL_PATH=$MO_BUILD/sasl-plugin
	export TOKEND_SOCKET TOKEND_TOKENS TOKEND_LOG TOKEND_PID SASL_PATH
	TAP_LOGS+=("$TOKEND_LOG")
}

tokend_set() {
	local tmp=$TOKEND_TOKENS.tmp
	{ grep -v "^$1 " "$TOKEND_TOKENS" || true; echo "$1 $2 $3 ${4:-0}"; } >"$tmp"
	mv "$tmp" "$TOKEND_TOKENS"
}

stop_tokend() {
	[[ -n "${TOKEND_PID-}" ]] || return 0
	kill -TERM "$TOKEND_PID" 2>/dev/null || true
	wait "$TOKEND_PID" 2>/dev/null || true
	TOKEND_PID=
}

tokend_requests() {
	grep -c "^$1 " "$TOKEND_LOG" || true
}

E2E_STOP_HOOKS+=(stop_tokend)
