#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-exim.sh - a real Exim (Debian 12's exim4-daemon-light, unpacked from
# its packages, configured by Debian's update-exim4.conf) sends through
# Dovecot submission, which requires XOAUTH2, with the router, transport and
# authenticator of docs/exim.md, in both of Debian's layouts (conf.d files,
# exim4.conf.template). The authenticator's client_send reads the ready
# XOAUTH2 message from the real mailoauthd with ${readsocket}, in the
# transport process itself, without a fork (strace). The transport runs as
# Debian-exim, which the account must allow. Whatever goes wrong -- daemon
# stopped, hung, answering ERR, or the server refusing a revoked token --
# the message is deferred and stays queued, is never bounced nor sent
# unauthenticated, and a forced queue run delivers it exactly once when the
# problem is gone; hosts_try_auth, by contrast, sends without AUTH and
# bounces. No token reaches Exim's logs, even with log_selector = +all.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib/env.sh"

ALICE=alice@example.com
DEST=dest@example.net

e2e_init
. "$E2E_LIB/daemon.sh"
. "$E2E_LIB/exim.sh"
if ! exim_prepare; then
	t_skip "Exim sends through a submission server with XOAUTH2 from mailoauthd" "$EXIM_SKIP"
	t_done
fi
start_idp
start_sink
start_dovecot
# the account of docs/exim.md
daemon_config relay "$ALICE" "allow = Debian-exim"
daemon_seed relay "$ALICE"
start_daemon

t_ok "Debian's split configuration with docs/exim.md's conf.d files is generated" \
	exim_debian_config split "$DAEMON_SOCKET"
t_last_ok || e2e_bail "no Exim configuration" "$E2E_DIR/exim-setup.log"
t_ok "and Exim accepts it" exim_cmd -bV
t_like "mailoauth_smarthost comes before Debian's smarthost router" \
	"$(exim_cmd -bP router_list | tr '\n' ' ')" '^hubbed_hosts mailoauth_smarthost smarthost '
t_like "mailoauth_xoauth2 is the first client authenticator" \
	"$(exim_cmd -bP authenticator_list | tr '\n' ' ')" '^mailoauth_xoauth2 '

logins() { grep -c "submission-login: Info: Login: user=<$ALICE>, method=XOAUTH2" "$DOVECOT_LOG" || true; }
delivered() { exim_log_lines "$1" | grep -c " => $DEST " || true; }
# reload_daemon ALLOW: the account's allow list changes; SIGHUP; wait for it.
reload_daemon() {
	local n
	n=$(grep -c 'configuration reloaded' "$DAEMON_LOG" || true)
	daemon_config relay "$ALICE" "allow = $1"
	kill -HUP "$DAEMON_PID"
	for _ in $(seq 100); do
		(($(grep -c 'configuration reloaded' "$DAEMON_LOG" || true) > n)) && return 0
		sleep 0.05
	done
	return 1
}
# deferred_ok ID: ID is still queued, was not delivered, and nothing was
# bounced, frozen or refused after MAIL (which would mean: sent without AUTH).
deferred_ok() {
	exim_cmd -bp | grep -qF " $1 " || { echo "$1 is not in the queue"; return 1; }
	if grep -E " \*\* | <= <> |Frozen|SMTP error from remote" "$EXIM_MAINLOG"; then
		echo "a bounce, a failure or a remote SMTP error was logged"
		return 1
	fi
	(($(delivered "$1") == 0))
}
# be_check: docs/exim.md's check, run as Debian-exim (its own throwaway
# config: with -C, Exim run by a user other than root says in its panic log
# that it dropped privileges; the real check runs without -C).
BE_EXPR=$(sed -n "s|^# runuser -u Debian-exim -- exim -be '\(.*\)' \| cat -v\$|\1|p" "$EXIM_DOCS" |
	sed "s|{/run/mailoauth/socket}|{$DAEMON_SOCKET}|")
mkdir -p "$EXIM_DIR/be-log"
chown Debian-exim "$EXIM_DIR/be-log"
printf 'log_file_path = %s/be-log/%%slog\nkeep_environment =\n' "$EXIM_DIR" >"$EXIM_DIR/be.conf"
be_check() {
	runuser -u Debian-exim -- "$EXIM_BIN" -C "$EXIM_DIR/be.conf" -be "$BE_EXPR" 2>/dev/null | cat -v
}
tokens=() # every token the daemon served, for the leak check at the end
remember_token() {
	local t raw
	t=$(daemon_call 'TOKEN relay' | sed -n 's/.* token=//p')
	raw=$(printf 'XOAUTH2 relay\n' | timeout 10 socat -t 5 - "UNIX-CONNECT:$DAEMON_SOCKET" | base64 -w0)
	# whole, and slices (a log line may be cut short); raw is what Exim sends
	tokens+=("$t" "${t:40:32}" "${t: -32}" "$raw" "${raw:60:32}" "${raw: -40:32}")
}

t_like "docs/exim.md's check, as Debian-exim, shows the XOAUTH2 message" "$(be_check)" \
	"^user=$ALICE\\^Aauth=Bearer <token>\\^A\\^A\$"

# ---- 1. delivered with XOAUTH2, the token read without a fork
id1=$(exim_queue "$ALICE" "$DEST" "exim 1") || e2e_bail "exim did not queue the first message" "$EXIM_MAINLOG"
if command -v strace >/dev/null; then
	# -s 0: no data in the trace (the AUTH line goes out with sendto)
	strace -f -qq -s 0 -e signal=none -o "$E2E_DIR/exim.strace" \
		-e trace=execve,clone,clone3,fork,vfork,connect,sendto \
		"$EXIM_BIN" -C "$EXIM_CONF" -M "$id1" >"$E2E_DIR/exim-M.out" 2>&1 || true
fi
if [[ ! -s "$E2E_DIR/exim.strace" ]]; then # no strace, or ptrace forbidden here
	exim_deliver "$id1" >>"$E2E_DIR/exim-M.out" 2>&1 || true
fi
t_ok "the sink received the message" sink_wait 1 10
t_file_like "with its envelope" "$(sink_last)" "X-Envelope-To: <?$DEST"
t_is "Dovecot saw one XOAUTH2 login as $ALICE" "$(logins)" 1
t_like "Exim logged the delivery, authenticated by mailoauth_xoauth2" "$(exim_log_lines "$id1")" \
	" => $DEST .*R=mailoauth_smarthost T=mailoauth_smtp .*A=mailoauth_xoauth2:relay .*C=\"250 "
t_is "the queue is empty" "$(exim_queue_count)" 0
remember_token
if [[ -s "$E2E_DIR/exim.strace" ]]; then
	# the process that connected to the daemon's socket ...
	sock_pid=$(awk -v p="sun_path=\"$DAEMON_SOCKET\"" 'index($0, "connect(") && index($0, p) { print $1; exit }' \
		"$E2E_DIR/exim.strace")
	# ... and the one that opened the SMTP connection (TCP Fast Open: sendto)
	smtp_pid=$(awk -v p="htons($SUBMISSION_PORT)" '(index($0, "connect(") || index($0, "sendto(")) && index($0, p) { print $1; exit }' \
		"$E2E_DIR/exim.strace")
	t_like "strace saw the readsocket connection" "$sock_pid" '^[0-9]+$'
	t_is "made by the process that talks SMTP to the server" "$sock_pid" "$smtp_pid"
	t_is "which started no process" \
		"$(awk -v p="$sock_pid" '$1 == p && $2 ~ /^(clone|clone3|fork|vfork|execve)\(/' "$E2E_DIR/exim.strace")" ""
	t_is "nothing but exim itself was executed" \
		"$(grep -F 'execve(' "$E2E_DIR/exim.strace" | grep -vF "execve(\"$EXIM_BIN\"" || true)" ""
else
	t_skip "readsocket without a fork" "strace is not installed or cannot trace here"
fi

# ---- 2. the daemon is stopped: deferred, kept, then delivered once
stop_daemon
id2=$(exim_send "$ALICE" "$DEST" "exim 2" 2>/dev/null) || e2e_bail "exim did not take message 2" "$EXIM_MAINLOG"
t_like "a stopped daemon defers the message" "$(exim_log_lines "$id2")" \
	" == $DEST R=mailoauth_smarthost T=mailoauth_smtp defer \(-48\)( DT=[^:]*)?: expansion of .* failed in mailoauth_xoauth2 authenticator: failed to connect to socket $DAEMON_SOCKET"
t_ok "it stays in the queue, not bounced" deferred_ok "$id2"
t_is "no login reached Dovecot" "$(logins)" 1
start_daemon
t_ok "a queue run (exim -qff) with the daemon back" exim_queue_run
t_is "delivers it" "$(delivered "$id2")" 1
t_ok "the sink has two messages" sink_wait 2 10
exim_queue_run >/dev/null 2>&1 || true
t_is "a second queue run sends nothing again" "$(sink_count)/$(delivered "$id2")" "2/1"
t_is "the queue is empty" "$(exim_queue_count)" 0

# ---- 3. the daemon hangs: after 5 s deferred
kill -STOP "$DAEMON_PID"
id3=$(exim_send "$ALICE" "$DEST" "exim 3" 2>/dev/null) || true
kill -CONT "$DAEMON_PID"
[[ -n "$id3" ]] || e2e_bail "exim did not take message 3" "$EXIM_MAINLOG"
t_like "a daemon that does not answer within 5 s defers the message" "$(exim_log_lines "$id3")" \
	" == $DEST R=mailoauth_smarthost T=mailoauth_smtp defer \(-48\)( DT=[^:]*)?: expansion of .* socket read timed out"
t_ok "it stays in the queue, not bounced" deferred_ok "$id3"
exim_queue_run >/dev/null 2>&1 || true
t_is "the queue run delivers it once" "$(delivered "$id3")" 1

# ---- 4. the daemon answers ERR (Debian-exim not allowed): deferred
t_ok "the account no longer allows Debian-exim" reload_daemon nobody
t_like "docs/exim.md's check shows the daemon's refusal" "$(be_check)" \
	"^ERR denied uid $(id -u Debian-exim) may not use account relay"
id4=$(exim_send "$ALICE" "$DEST" "exim 4" 2>/dev/null) || e2e_bail "exim did not take message 4" "$EXIM_MAINLOG"
t_like "an ERR answer defers the message" "$(exim_log_lines "$id4")" \
	" == $DEST R=mailoauth_smarthost T=mailoauth_smtp defer \(-42\)( DT=[^:]*)?: authentication required but authentication attempt\(s\) failed"
t_ok "it stays in the queue, not bounced" deferred_ok "$id4"
t_is "no login reached Dovecot" "$(logins)" 3
t_ok "allow = Debian-exim again" reload_daemon Debian-exim
exim_queue_run >/dev/null 2>&1 || true
t_is "the queue run delivers it once" "$(delivered "$id4")" 1
t_ok "the sink has four messages" sink_wait 4 10

# ---- 5. the server refuses the token (revoked): deferred, not bounced
idp_revoke "$ALICE"
id5=$(exim_send "$ALICE" "$DEST" "exim 5" 2>/dev/null) || e2e_bail "exim did not take message 5" "$EXIM_MAINLOG"
t_like "Dovecot's 535 is logged" "$(exim_log_lines "$id5")" \
	"mailoauth_xoauth2 authenticator failed H=127\.0\.0\.1 \[127\.0\.0\.1\] 535 "
t_like "and the message is deferred" "$(exim_log_lines "$id5")" \
	" == $DEST R=mailoauth_smarthost T=mailoauth_smtp defer \(-42\)( DT=[^:]*)?: authentication required but authentication attempt\(s\) failed"
t_ok "it stays in the queue, not bounced" deferred_ok "$id5"
t_is "the sink still has four messages" "$(sink_count)" 4
daemon_seed relay "$ALICE" # what a new `mailoauth login relay` does
t_like "RELOAD relay drops the refused token" "$(daemon_call 'RELOAD relay')" '^OK .*state=valid'
exim_queue_run >/dev/null 2>&1 || true
t_is "with a new token the queue run delivers it once" "$(delivered "$id5")" 1
t_ok "the sink has five messages" sink_wait 5 10
t_is "five deliveries, five XOAUTH2 logins" "$(logins)" 5
t_is "the queue is empty" "$(exim_queue_count)" 0
remember_token

# ---- 6. the single-file layout (exim4.conf.template) works the same
t_ok "Debian's template with docs/exim.md's blocks pasted in is generated" \
	exim_debian_config template "$DAEMON_SOCKET"
t_ok "and Exim accepts it" exim_cmd -bV
id6=$(exim_queue "$ALICE" "$DEST" "exim 6") || e2e_bail "exim did not queue message 6" "$EXIM_MAINLOG"
# the debug options docs/exim.md recommends
exim_cmd -d-expand-lookup -M "$id6" >"$E2E_DIR/exim-debug.out" 2>&1 || true
t_like "it delivers through mailoauth_xoauth2" "$(exim_log_lines "$id6")" \
	" => $DEST .*R=mailoauth_smarthost T=mailoauth_smtp .*A=mailoauth_xoauth2:relay .*C=\"250 "
t_ok "the sink has six messages" sink_wait 6 10
# and plain -d, which docs/exim.md warns about (the leak check's control)
id7=$(exim_queue "$ALICE" "$DEST" "exim 7") || e2e_bail "exim did not queue message 7" "$EXIM_MAINLOG"
exim_cmd -d -M "$id7" >"$E2E_DIR/exim-debug-full.out" 2>&1 || true
t_ok "the sink has seven messages" sink_wait 7 10

# ---- 7. no token in Exim's logs
t_ok "the panic log is empty" test ! -s "$EXIM_PANICLOG"
t_no_secret_in "no token in Exim's main log (log_selector = +all)" "$EXIM_MAINLOG" "${tokens[@]}"
cat "$EXIM_PANICLOG" "$EXIM_REJECTLOG" >"$E2E_DIR/exim-other.log" 2>/dev/null || true
t_no_secret_in "nor in its panic or reject log" "$E2E_DIR/exim-other.log" "${tokens[@]}"
cat "$EXIM_DIR"/spool/msglog*/* >"$E2E_DIR/exim-msglogs" 2>/dev/null || true
t_ok "the message logs were kept" test -s "$E2E_DIR/exim-msglogs"
t_no_secret_in "nor in the message logs" "$E2E_DIR/exim-msglogs" "${tokens[@]}"
t_no_secret_in "nor in what exim printed" "$E2E_DIR/exim-M.out" "${tokens[@]}"
t_file_like "exim -d-expand-lookup traced the authentication" "$E2E_DIR/exim-debug.out" \
	'mailoauth_xoauth2 authenticator yielded 0'
t_no_secret_in "without the token" "$E2E_DIR/exim-debug.out" "${tokens[@]}"
has_secret() {
	local f=$1 s
	shift
	for s in "$@"; do
		[[ -n "$s" ]] && grep -qF -- "$s" "$f" && return 0
	done
	return 1
}
t_ok "while plain exim -d shows it: the check does find a token" \
	has_secret "$E2E_DIR/exim-debug-full.out" "${tokens[@]}"
rm -f "$E2E_DIR/exim-debug-full.out"	# the control's leak; tests/secret-scan looks too

# ---- 8. the control: with hosts_try_auth (as in Debian's own
# remote_smtp_smarthost) an ERR answer makes Exim go on without AUTH.
# Dovecot refuses the pipelined MAIL with 421 (so here it is deferred);
# Exchange answers 530 5.7.57, and the message bounces.
sed 's/^  hosts_require_auth = \*$/  hosts_try_auth = */' "$EXIM_DIR/exim-split.conf" >"$EXIM_DIR/exim-try.conf"
EXIM_CONF=$EXIM_DIR/exim-try.conf
reload_daemon nobody
id8=$(exim_send "$ALICE" "$DEST" "exim 8" 2>/dev/null) || e2e_bail "exim did not take message 8" "$EXIM_MAINLOG"
t_like "with hosts_try_auth instead, an ERR answer lets Exim send MAIL without AUTH" \
	"$(exim_log_lines "$id8")" "SMTP error from remote mail server after (pipelined )?(MAIL FROM|RCPT TO|end of data)"
t_file_like "as Dovecot saw" "$DOVECOT_LOG" "unfinished MAIL command.*client didn't finish SASL auth"
t_done
