# SPDX-License-Identifier: MIT
# daemon.sh - run the real mailoauthd for e2e tests (source after e2e_init)
#
#   daemon_config ACCOUNT USER [EXTRA-LINES]  writes $DAEMON_CONF: file store,
#                          a Microsoft account at the test IdP ($IDP_URL)
#   daemon_seed ACCOUNT USER  mints a refresh token at the IdP and stores it
#                          as the account's grant (what `mailoauth login` does)
#   start_daemon / stop_daemon / kill_daemon
#   daemon_call REQUEST    one request over the socket; prints the answer
#   store_get ACCOUNT      prints the stored grant (JSON)
# Exports DAEMON_SOCKET, DAEMON_CONF, DAEMON_LOG, DAEMON_PID, DAEMON_STORE.

DAEMON_DIR=$E2E_DIR/daemon
DAEMON_SOCKET=$DAEMON_DIR/run/socket
DAEMON_CONF=$DAEMON_DIR/mailoauth.conf
DAEMON_LOG=$E2E_DIR/mailoauthd.log
DAEMON_STORE=$DAEMON_DIR/store
DAEMON_KEY=$DAEMON_DIR/store.key
export DAEMON_SOCKET DAEMON_CONF DAEMON_LOG DAEMON_STORE

daemon_config() {
	mkdir -p "$DAEMON_DIR"
	chmod 0755 "$DAEMON_DIR"
	cat >"$DAEMON_CONF" <<EOF
[daemon]
socket = $DAEMON_SOCKET
store = file
store_path = $DAEMON_STORE
store_key_file = $DAEMON_KEY
${DAEMON_EXTRA:-}

[account $1]
provider = microsoft
tenant = contoso
authority = $IDP_URL
client_id = mailoauth-e2e
user = $2
${3:-}
EOF
	chmod 0600 "$DAEMON_CONF"
}

daemon_seed() {
	local body reply rt
	body=$("$E2E_PYTHON" -c 'import json, sys
print(json.dumps({"user": sys.argv[1], "refresh": True, "client_id": "mailoauth-e2e",
  "scope": "https://outlook.office.com/SMTP.Send offline_access"}))' "$2")
	reply=$(idp_call POST /_test/mint "$body") || return 1
	rt=$(_json_get refresh_token <<<"$reply")
	printf '{"refresh_token":"%s"}' "$rt" |
		"$MO_BUILD/tests/store-tool" file "$DAEMON_STORE" "$DAEMON_KEY" save "$1"
}

store_get() {
	"$MO_BUILD/tests/store-tool" file "$DAEMON_STORE" "$DAEMON_KEY" load "$1"
}

start_daemon() {
	local wrap=() bin=$MO_PROG_BUILD/token-helper/mailoauthd
	if [[ "${MO_VALGRIND-}" == 1 ]]; then
		bin=$MO_BUILD/token-helper/mailoauthd
		wrap=(valgrind -q --leak-check=full --show-leak-kinds=definite,indirect
			--errors-for-leak-kinds=definite,indirect --track-fds=no
			"--log-file=$E2E_SANITIZER_DIR/valgrind.%p")
	fi
	"${wrap[@]}" "$bin" --config "$DAEMON_CONF" --system \
		</dev/null >>"$DAEMON_LOG" 2>&1 &
	DAEMON_PID=$!
	export DAEMON_PID
	for _ in $(seq 100); do
		[[ -S "$DAEMON_SOCKET" ]] && return 0
		pid_alive "$DAEMON_PID" || break
		sleep 0.05
	done
	e2e_bail "mailoauthd did not start" "$DAEMON_LOG"
}

stop_daemon() {
	[[ -n "${DAEMON_PID-}" ]] || return 0
	stop_pid "$DAEMON_PID" 10
	wait "$DAEMON_PID" 2>/dev/null || true
	DAEMON_PID=
}

kill_daemon() {
	[[ -n "${DAEMON_PID-}" ]] || return 0
	kill -KILL "$DAEMON_PID" 2>/dev/null || true
	wait "$DAEMON_PID" 2>/dev/null || true
	DAEMON_PID=
}

daemon_call() {
	printf '%s\n' "$1" | timeout 20 socat -t 15 - "UNIX-CONNECT:$DAEMON_SOCKET"
}

TAP_LOGS+=("$DAEMON_LOG")
E2E_STOP_HOOKS+=(stop_daemon)
