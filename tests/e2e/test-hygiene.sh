#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-hygiene.sh - the processes that hold secrets cannot be read or dumped:
# mailoauthd, `mailoauth login` and mailoauth-graph, each run as an ordinary
# user (nobody), are not dumpable (the kernel then gives their /proc files to
# root and refuses the user itself), have a core size limit of 0, and leave
# no core file when killed with a core-dumping signal; no token or secret is
# in any of their argv or environment. (Root can always read a process; the
# point is that a second process of the same user, or a crash, cannot.)
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib/env.sh"

ALICE=alice@example.com
e2e_init
. "$E2E_LIB/daemon.sh"
start_idp
idp_call POST /_test/config '{"auto_approve": false, "device_interval": 1}' >/dev/null
daemon_config work "$ALICE" "flow = device"
daemon_seed work "$ALICE"
chown -R nobody:nogroup "$DAEMON_DIR"
CWD=$E2E_DIR/cwd	# where a core file would be written ("core" pattern)
mkdir -p "$CWD"
chown nobody:nogroup "$CWD"

as_nobody() {
	setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"
}
call() {	# call REQUEST: as nobody (the daemon's own user)
	printf '%s\n' "$1" | as_nobody timeout 20 socat -t 15 - "UNIX-CONNECT:$DAEMON_SOCKET"
}

# the_secrets: every token, code and secret the IdP handed out so far
the_secrets() {
	sort -u "$MO_IDP_SECRETS_FILE" 2>/dev/null || true
}

# check_process NAME PID: the checks every secret-holding process must pass
check_process() {
	local name=$1 pid=$2 secrets s leaked=0
	t_is "$name runs as nobody" "$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status")" 65534
	t_like "$name has a core size limit of 0" \
		"$(grep '^Max core file size' "/proc/$pid/limits")" 'size +0 +0 '
	t_is "$name is not dumpable: its /proc files belong to root" \
		"$(stat -c %U "/proc/$pid/environ")" root
	t_fails "the same user cannot read $name's memory map" \
		as_nobody cat "/proc/$pid/maps"
	t_fails "nor its environment" as_nobody cat "/proc/$pid/environ"
	mapfile -t secrets < <(the_secrets)
	for s in "${secrets[@]}"; do
		[[ -n "$s" ]] || continue
		tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qF -- "$s" && leaked=$((leaked + 1))
		tr '\0' '\n' <"/proc/$pid/environ" | grep -qF -- "$s" && leaked=$((leaked + 1))
	done
	t_is "no token in $name's argv or environment (${#secrets[@]} tokens checked)" "$leaked" 0
}

# ---- mailoauthd
# SIGQUIT at its default action (a shell without job control starts its
# background commands with it ignored, and an ignored signal stays ignored
# across exec): the check below sends it
(cd "$CWD" && exec env --default-signal=QUIT setpriv --reuid=nobody --regid=nogroup --clear-groups \
	"$MO_PROG_BUILD/token-helper/mailoauthd" --config "$DAEMON_CONF" --system \
	</dev/null >>"$DAEMON_LOG" 2>&1) &
DAEMON_PID=$!
for _ in $(seq 100); do [[ -S "$DAEMON_SOCKET" ]] && break; sleep 0.05; done
t_like "the daemon, run as nobody, serves a token" "$(call 'TOKEN work' | sed 's/ token=.*//')" \
	'^OK account=work '
check_process mailoauthd "$DAEMON_PID"

# ---- mailoauth login (polls the IdP until the code is approved)
CLI=("$MO_PROG_BUILD/token-helper/mailoauth" --config "$DAEMON_CONF" --system)
(cd "$CWD" && exec setpriv --reuid=nobody --regid=nogroup --clear-groups \
	"${CLI[@]}" login work </dev/null >"$E2E_DIR/login.out" 2>&1) &
LOGIN_PID=$!
t_wait_file_like 20 "the login shows its code" "$E2E_DIR/login.out" 'Code: +[A-Z]'
check_process "mailoauth login" "$LOGIN_PID"
code=$(sed -n 's/.*Code: *\([A-Z-]*\).*/\1/p' "$E2E_DIR/login.out" | head -n 1)
idp_call POST /_test/device/approve "{\"user_code\": \"$code\", \"user\": \"$ALICE\"}" >/dev/null
rc=0; wait "$LOGIN_PID" || rc=$?
t_is "the login, once approved, succeeds" "$rc" 0

# ---- mailoauth-graph (waits for the message on its standard input)
mkfifo "$E2E_DIR/msg"
chown nobody:nogroup "$E2E_DIR/msg"
(cd "$CWD" && exec setpriv --reuid=nobody --regid=nogroup --clear-groups \
	"$MO_PROG_BUILD/token-helper/mailoauth-graph" --config "$DAEMON_CONF" --account work \
	-f "$ALICE" -- bob@example.net <"$E2E_DIR/msg" >"$E2E_DIR/graph.out" 2>&1) &
GRAPH_PID=$!
exec 7>"$E2E_DIR/msg"	# opening the write end lets it start; it reads until EOF
for _ in $(seq 100); do
	[[ "$(stat -c %U "/proc/$GRAPH_PID/environ" 2>/dev/null)" == root ]] && break
	sleep 0.05
done
check_process mailoauth-graph "$GRAPH_PID"
exec 7>&-
wait "$GRAPH_PID" || true

# ---- a crash leaves no core file (SIGQUIT's default action is to dump core)
kill -QUIT "$DAEMON_PID"
rc=0; { wait "$DAEMON_PID"; } 2>/dev/null || rc=$?
DAEMON_PID=
t_is "SIGQUIT ends the daemon as a core-dumping signal would" "$rc" $((128 + 3))
t_is "and leaves no core file" "$(find "$CWD" -name 'core*' | wc -l)" 0
# a control: a dumpable process of the same user in the same place does dump
(cd "$CWD" && exec env --default-signal=QUIT setpriv --reuid=nobody --regid=nogroup --clear-groups \
	bash -c 'ulimit -c unlimited; exec sleep 30') &
ctl=$!
sleep 0.2
kill -QUIT "$ctl"
{ wait "$ctl"; } 2>/dev/null || true
t_ok "(control: an ordinary process there does leave a core file)" \
	test "$(find "$CWD" -name 'core*' | wc -l)" -ge 1
rm -f "$CWD"/core*

t_done
