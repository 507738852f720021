#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-postfix-no-loss.sh - mail is never lost: a real Postfix, its smtp(8)
# chrooted as Debian ships it, relays through libmailoauth.so (XOAUTH2) and
# the real mailoauthd to Dovecot submission, which checks every token at the
# test IdP and relays to the sink. Takes about half a minute.
#
#   a burst of 30 messages, and mailoauthd killed with SIGKILL while they
#   are being delivered (the IdP answers slowly then, so that deliveries are
#   under way when it dies);
#   the IdP down (503 on its token endpoint) for longer than an access
#   token lives (20 s here: no token anyone holds survives the outage), while
#   10 more messages are queued, first with no daemon at all, then with a
#   new daemon that can get no token (it must say "unavailable", never
#   "login required", so that nobody is told to sign in again);
#   the IdP back, the daemon restarted, the queue flushed:
# every message reaches the sink exactly once (counted by Message-ID), the
# queue ends empty, nothing was bounced (no status=bounced, no bounce
# message), and no token or secret reached Postfix's log, the daemon's log
# or the queue.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib/env.sh"

ALICE=alice@example.com
DEST=dest@example.net
TOKEN_PATH=/contoso/oauth2/v2.0/token
LIFETIME=20
e2e_init
. "$E2E_LIB/daemon.sh"
. "$E2E_LIB/durability.sh"
start_idp
idp_call POST /_test/config "{\"token_lifetime\": $LIFETIME, \"strict_rotation\": false}" >/dev/null
start_sink
start_dovecot

export MAILOAUTH_PLUGIN_CONF=$E2E_DIR/plugin.conf
cat >"$MAILOAUTH_PLUGIN_CONF" <<EOF
socket = $POSTFIX_QUEUE/private/mailoauth /private/mailoauth
timeout = 10
EOF
export SASL_PATH=$MO_BUILD/sasl-plugin
POSTFIX_SASL_USER=$ALICE POSTFIX_SASL_PASS=work start_postfix xoauth2
# every delivery authenticates (no cached SMTP session to hide a missing token)
postfix_conf smtp_connection_cache_on_demand=no
DAEMON_EXTRA="extra_sockets = $POSTFIX_QUEUE/private/mailoauth
refresh_margin = 60"
daemon_config work "$ALICE" "allow = postfix"
daemon_seed work "$ALICE"
start_daemon
RUN=nl$$

# send_burst FIRST LAST: messages FIRST..LAST in one SMTP session, each with
# the Message-ID <RUN-N@client.e2e.test>
send_burst() {
	"$E2E_PYTHON" - "$POSTFIX_PORT" "$ALICE" "$DEST" "$RUN" "$1" "$2" <<'EOF'
import email.utils, smtplib, sys
port, sender, rcpt, run, first, last = sys.argv[1:7]
with smtplib.SMTP("127.0.0.1", int(port), timeout=30) as s:
    for n in range(int(first), int(last) + 1):
        msg = ("From: <%s>\r\nTo: <%s>\r\nSubject: no-loss %d\r\nDate: %s\r\n"
               "Message-ID: <%s-%d@client.e2e.test>\r\n\r\nmessage %d\r\n"
               % (sender, rcpt, n, email.utils.formatdate(), run, n, n))
        s.sendmail(sender, [rcpt], msg.encode())
EOF
}
# delivered: how many of our messages the sink holds (copies included)
delivered() {
	cat "$SINK_DIR"/msg-*.eml 2>/dev/null | grep -c "^Message-ID: <$RUN-" || true
}
# copies N: how many copies of message N the sink holds
copies() {
	grep -lx "Message-ID: <$RUN-$1@client.e2e.test>" "$SINK_DIR"/msg-*.eml 2>/dev/null | wc -l
}
deferred_since() {	# deferred_since OFFSET: deferrals logged after OFFSET
	log_since "$POSTFIX_LOG" "$1" | grep -c 'status=deferred' || true
}

# ---- a burst, and the daemon killed in the middle of it
idp_call POST /_test/fault "{\"path_prefix\": \"$TOKEN_PATH\", \"kind\": \"delay\", \"seconds\": 0.4}" >/dev/null
t_ok "30 messages accepted by Postfix" send_burst 1 30
for _ in $(seq 300); do
	(($(delivered) >= 3)) && break
	sleep 0.05
done
kill_daemon
at_kill=$(delivered)
t_diag "mailoauthd killed with $at_kill of 30 messages delivered"
t_ok "the daemon was killed with deliveries under way ($at_kill of 30 delivered)" \
	test "$at_kill" -ge 1 -a "$at_kill" -lt 30
idp_call POST /_test/fault/clear '' >/dev/null

# ---- the IdP down for longer than a token lives
idp_call POST /_test/fault "{\"path_prefix\": \"$TOKEN_PATH\", \"kind\": \"status\", \"status\": 503}" >/dev/null
outage=$SECONDS
off=$(log_size "$POSTFIX_LOG")
t_ok "10 more messages accepted while the daemon is down" send_burst 31 40
postfix_flush
t_wait_file_like 30 "with no daemon, deliveries are deferred (4.7.0)" "$POSTFIX_LOG" \
	"dsn=4\\.7\\.0, status=deferred \\(SASL authentication failed"
rm -f "$DAEMON_SOCKET"
start_daemon
off=$(log_size "$POSTFIX_LOG")
postfix_flush
for _ in $(seq 300); do
	(($(deferred_since "$off") >= 1)) && break
	sleep 0.1
done
t_ok "a new daemon that can get no token defers them too" test "$(deferred_since "$off")" -ge 1
t_like "and says why, as a temporary failure" "$(daemon_call 'TOKEN work' | sed 's/ token=.*//')" \
	'^ERR unavailable .*503'
t_like "STATUS: unavailable, not login-required" "$(daemon_call 'STATUS work')" \
	'state=empty .*message=.*503'
# no token issued before the outage is alive after it
while ((SECONDS - outage <= LIFETIME + 2)); do
	postfix_flush
	sleep 2
done
t_like "after ${LIFETIME}+ s of outage the daemon still has nothing, and says so" \
	"$(daemon_call 'TOKEN work' | sed 's/ token=.*//')" '^ERR unavailable '
t_ok "every message is still queued or delivered ($(postfix_queue_count) queued)" \
	test "$(($(postfix_queue_count) + $(delivered)))" -ge 40
t_like "every token the IdP issued before the outage has expired" \
	"$(idp_call GET /_test/tokens | "$E2E_PYTHON" -c 'import json, sys
live = [t for t in json.load(sys.stdin)["tokens"] if t["kind"] == "access" and not t["expired"]]
print("live access tokens: %d" % len(live))')" '^live access tokens: 0$'

# ---- the IdP back, the daemon restarted, the queue flushed
kill_daemon
idp_call POST /_test/fault/clear '' >/dev/null
rm -f "$DAEMON_SOCKET"
start_daemon
postfix_flush
t_ok "the queue empties" postfix_wait_queue_empty 60
t_ok "the sink has all 40" sink_wait 40 20
missing=() twice=()
for n in $(seq 40); do
	c=$(copies "$n")
	((c == 0)) && missing+=("$n")
	((c > 1)) && twice+=("$n")
done
t_is "no message is missing" "${missing[*]}" ""
t_is "no message arrived twice" "${twice[*]}" ""
t_is "the sink holds exactly those 40 messages" "$(sink_count)" 40
t_file_unlike "Postfix bounced nothing" "$POSTFIX_LOG" 'status=bounced|status=expired'
t_is "no bounce message was sent (envelope sender <>)" \
	"$(grep -l '^X-Envelope-From: <>' "$SINK_DIR"/msg-*.eml 2>/dev/null | wc -l)" 0
t_file_unlike "the daemon never asked for a new login" "$DAEMON_LOG" 'login-required|mailoauth login'
t_file_like "Postfix's log has the plugin's reason for the deferrals" "$POSTFIX_LOG" \
	'warning: SASL authentication failure: mailoauth: '
t_ok "no token in Postfix's log, the daemon's log or the queue" \
	no_issued_secret_in "$POSTFIX_LOG" "$DAEMON_LOG" "$POSTFIX_QUEUE"
t_done
