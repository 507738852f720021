#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-plugin-postfix.sh - Postfix's smtp(8), chrooted as Debian ships it,
# relays through Dovecot submission with XOAUTH2 from libmailoauth.so and
# the real mailoauthd. The plugin reads its own config file before the
# chroot and reaches the daemon's extra socket inside the queue directory;
# the daemon lets uid postfix have the token (allow = postfix). A refused
# token (grant revoked) and a stopped daemon defer the mail (it stays
# queued), and it is delivered once the problem is gone: nothing is lost.
# The plugin's words reach Postfix's log.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib/env.sh"

ALICE=alice@example.com

e2e_init
. "$E2E_LIB/daemon.sh"
start_idp
start_sink
start_dovecot

# The plugin finds the daemon through its config file only: the socket as
# seen before the chroot, then as seen from inside it.
export MAILOAUTH_PLUGIN_CONF=$E2E_DIR/plugin.conf
POSTFIX_QUEUE=$E2E_DIR/postfix-spool
cat >"$MAILOAUTH_PLUGIN_CONF" <<EOF
socket = $POSTFIX_QUEUE/private/mailoauth /private/mailoauth
timeout = 5
EOF
export SASL_PATH=$MO_BUILD/sasl-plugin
POSTFIX_SASL_USER=$ALICE POSTFIX_SASL_PASS=work start_postfix xoauth2
postfix_conf smtp_connection_cache_on_demand=no
DAEMON_EXTRA="extra_sockets = $POSTFIX_QUEUE/private/mailoauth"
daemon_config work "$ALICE" "allow = postfix"
daemon_seed work "$ALICE"
start_daemon

t_ok "postfix check is clean" postfix_check
t_ok "Debian's master.cf runs smtp(8) chrooted" postfix_smtp_chroot_configured

# ---- a message goes out with XOAUTH2
t_ok "message accepted by Postfix" postfix_send "$ALICE" dest@example.net "e2e 1"
t_ok "the queue empties" postfix_wait_queue_empty 30
t_ok "the sink received it" sink_wait 1 10
t_file_like "the envelope was kept" "$(sink_last)" "X-Envelope-To: <?dest@example.net"
t_file_like "Dovecot saw an XOAUTH2 login for alice" "$DOVECOT_LOG" \
	"submission-login: Info: Login: user=<$ALICE>, method=XOAUTH2"
t_ok "the smtp(8) that did it runs chrooted in the queue directory" postfix_smtp_chroot_ok
t_like "the daemon served account work" "$(daemon_call 'STATUS work')" 'state=valid'

# ---- the server refuses the token: deferred, then delivered
idp_revoke "$ALICE"
t_ok "second message accepted" postfix_send "$ALICE" dest@example.net "e2e 2"
t_wait_file_like 30 "a refused token defers the message (4xx)" "$POSTFIX_LOG" \
	"status=deferred.*SASL authentication failed"
t_wait_file_like 5 "the plugin's reason is in Postfix's log" "$POSTFIX_LOG" \
	"mailoauth: XOAUTH2 refused the token of account work: the server rejected the access token"
t_is "the message stays queued" "$(postfix_queue_count)" 1
t_wait_file_like 10 "the daemon heard of the refusal and found the grant revoked" "$DAEMON_LOG" \
	"account work: .*mailoauth login work"
daemon_seed work "$ALICE"	# what a new `mailoauth login work` does
t_is "RELOAD makes the daemon look at the new grant" "$(daemon_call RELOAD)" "OK"
postfix_flush
t_ok "with a good token it is delivered" postfix_wait_queue_empty 30
t_ok "the sink has both messages" sink_wait 2 10

# ---- the daemon is down: a running smtp(8) still holds a valid token
stop_daemon
t_ok "third message accepted" postfix_send "$ALICE" dest@example.net "e2e 3"
t_ok "an smtp(8) with the token in its cache still delivers" postfix_wait_queue_empty 30
t_ok "the sink has three messages" sink_wait 3 10
# ---- new smtp(8) processes have nothing cached: deferred, then delivered
postfix_restart
t_ok "fourth message accepted" postfix_send "$ALICE" dest@example.net "e2e 4"
t_wait_file_like 30 "a missing daemon defers the message (4.7.0)" "$POSTFIX_LOG" \
	"dsn=4\.7\.0, status=deferred \(SASL authentication failed; cannot authenticate to server .*: remote authentication server unavailable"
t_file_like "and Postfix's log says why in the plugin's words" "$POSTFIX_LOG" \
	"warning: SASL authentication failure: mailoauth: cannot get a token for $ALICE from mailoauthd at .*: mailoauthd is not running .*sockets tried: $POSTFIX_QUEUE/private/mailoauth /private/mailoauth"
t_is "the message stays queued" "$(postfix_queue_count)" 1
start_daemon
postfix_flush
t_ok "once the daemon is back it is delivered" postfix_wait_queue_empty 30
t_ok "the sink has all four messages" sink_wait 4 10
t_is "each exactly once" "$(grep -l '^Subject: e2e' "$SINK_DIR"/msg-* | wc -l)" 4

t_done
