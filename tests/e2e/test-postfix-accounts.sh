#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-postfix-accounts.sh - one Postfix relay, several mailboxes: Debian's
# chrooted smtp(8) with libmailoauth.so and the real mailoauthd serving two
# accounts, alice@example.com (account "work") and bob@example.com (account
# "bob-mailbox"), both seeded at the test IdP. Dovecot submission checks
# every token at the IdP and relays to the sink.
#
#   sender-dependent authentication: sasl_passwd keyed by sender address,
#     the relay host's entry as the default; each message is traced from the
#     sink (Dovecot's Received: id) to Dovecot's log (the submission session
#     that relayed it, and that session's "Login: user=<...>") to prove
#     which user authenticated it;
#   shared mailbox / Send-As: "shared@example.com alice@example.com:work"
#     logs in as alice with alice's token and relays MAIL FROM shared; the
#     other form, "sales@example.com sales@example.com:work", sends the SASL
#     name sales@ with alice's token (docs/plugin.md: the identity is always
#     the authentication name), which a server that ties the identity to
#     the token (Dovecot) refuses: deferred, never bounced, and delivered once
#     the entry is corrected;
#   security options: "noanonymous" and the default keep the plugin's
#     mechanisms, "noactive" filters them out ("No worthy mechs found",
#     deferred);
#   nothing lost: with mailoauthd stopped every message is deferred with a
#     4xx and the plugin's sentence in Postfix's log, stays queued, and is
#     delivered exactly once (by Message-ID) after the daemon is back and
#     the queue is flushed;
#   socket activation, as docs/postfix.md sets it up with systemd: the
#     socket inside the chroot is created by the activator (PID 1 in
#     production, systemd-socket-activate here), not by the daemon;
#   no token in Postfix's log, the daemon's log or the queue files.
# docs/postfix.md is the guide these checks stand behind.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib/env.sh"

ALICE=alice@example.com
BOB=bob@example.com
SHARED=shared@example.com
SALES=sales@example.com
CAROL=carol@example.com		# no entry of her own: the relay host's default
DEST=dest@example.net
RUN_ID=$$

e2e_init
. "$E2E_LIB/daemon.sh"
start_idp
start_sink
start_dovecot

# The plugin finds the daemon through its config file: the socket as seen
# before the chroot, then as seen from inside it.
export MAILOAUTH_PLUGIN_CONF=$E2E_DIR/plugin.conf
cat >"$MAILOAUTH_PLUGIN_CONF" <<EOF
socket = $POSTFIX_QUEUE/private/mailoauth /private/mailoauth
timeout = 5
EOF
export SASL_PATH=$MO_BUILD/sasl-plugin
POSTFIX_SASL_USER=$ALICE POSTFIX_SASL_PASS=work postfix_setup xoauth2
postconf -c "$POSTFIX_DIR" -e smtp_sender_dependent_authentication=yes
postfix_sasl_passwd_entry "$ALICE" "$ALICE" work
postfix_sasl_passwd_entry "$BOB" "$BOB" x	# not an account: chosen by the address
postfix_sasl_passwd_entry "$SHARED" "$ALICE" work
start_postfix xoauth2

DAEMON_EXTRA="extra_sockets = $POSTFIX_QUEUE/private/mailoauth"
daemon_config work "$ALICE" "allow = postfix

[account bob-mailbox]
provider = microsoft
tenant = contoso
authority = $IDP_URL
client_id = mailoauth-e2e
user = $BOB
allow = postfix"
daemon_seed work "$ALICE"
daemon_seed bob-mailbox "$BOB"
start_daemon

# ---------------------------------------------------------------- helpers

# send FROM TAG: submits a message with subject "acct TAG RUN_ID"; prints the queue id.
send() {
	postfix_send "$1" "$DEST" "acct $2 $RUN_ID"
}

# sink_file TAG: the sink's copies of the message with that tag (one path per line).
sink_files() {
	grep -lx "Subject: acct $1 $RUN_ID" "$SINK_DIR"/msg-*.eml 2>/dev/null || true
}

# relayed_as TAG: "user=<U> from=<F>": the user Dovecot submission had
# authenticated in the session that relayed the message with that tag, and
# the MAIL FROM it relayed. Traced from the sink's copy (Dovecot's
# "Received: ... by mail.e2e.test with ESMTPA id X") to Dovecot's log line
# "submission(U)<pid><session>: Info: Successfully relayed message:
# from=<F>, ..., id=X," and that session's "Login: user=<U>, method=XOAUTH2".
# Dovecot's log process writes a moment after the reply: retried for 5 s.
relayed_as() {
	local tries=50
	while ! _relayed_as "$1" >"$E2E_DIR/relayed_as.out" && ((--tries > 0)); do
		sleep 0.1
	done
	cat "$E2E_DIR/relayed_as.out"
}

_relayed_as() {
	local files id line user session from
	files=$(sink_files "$1")
	[[ -n "$files" ]] || { echo "no message tagged $1 at the sink"; return 1; }
	[[ $(wc -l <<<"$files") -eq 1 ]] || { echo "message $1 arrived more than once"; return 1; }
	id=$(sed -n '/^$/q; s/^[[:space:]]\{1,\}id \([A-Za-z0-9+\/]\{1,\}\)$/\1/p' "$files" | head -n 1)
	[[ -n "$id" ]] || { echo "no Dovecot Received id in $files"; return 1; }
	line=$(grep -F "Successfully relayed message: " "$DOVECOT_LOG" | grep -F ", id=$id," | head -n 1)
	[[ -n "$line" ]] || { echo "no Dovecot relay line for id $id"; return 1; }
	user=$(sed -n 's/.* submission(\([^)]*\))<[0-9]*><[^>]*>: Info: .*/\1/p' <<<"$line")
	session=$(sed -n 's/.* submission([^)]*)<[0-9]*><\([^>]*\)>: Info: .*/\1/p' <<<"$line")
	from=$(sed -n 's/.*Successfully relayed message: from=<\([^>]*\)>.*/\1/p' <<<"$line")
	grep -F "session=<$session>" "$DOVECOT_LOG" | grep -qF "Login: user=<$user>, method=XOAUTH2," ||
		{ echo "no XOAUTH2 login of $user in session $session"; return 1; }
	echo "user=<$user> from=<$from>"
}

# message_id QUEUEID: the Message-ID of a queued message (postcat).
message_id() {
	postcat -c "$POSTFIX_DIR" -hq "$1" 2>/dev/null | sed -n 's/^Message-ID: *//Ip' | head -n 1
}

# sink_count_id MSGID: how many copies of the message the sink holds.
sink_count_id() {
	grep -lxF "Message-ID: $1" "$SINK_DIR"/msg-*.eml 2>/dev/null | wc -l
}

# wait_deferred QUEUEID [SECS]: waits for Postfix's log to say QUEUEID was deferred.
wait_deferred() {
	local tries=$((${2:-30} * 10))
	while ((tries-- > 0)); do
		grep -q " $1: to=<.*status=deferred" "$POSTFIX_LOG" && return 0
		sleep 0.1
	done
	return 1
}

# retry_now: delivers the deferred mail again at once. A restart rather than
# the admin's "postfix reload; postqueue -f": right after a reload the old
# queue manager may take the flush and then leave (seen once in a few runs),
# and the mail waits for the next queue run.
retry_now() {
	postfix_restart
	postfix_flush
}

# deferral QUEUEID: the first "status=deferred" line of QUEUEID, from "dsn=".
deferral() {
	grep " $1: to=<.*status=deferred" "$POSTFIX_LOG" | head -n 1 | sed 's/.*\(dsn=\)/\1/'
}

# as_postfix CMD...: CMD with the uid, gid and groups of user postfix.
as_postfix() {
	setpriv --reuid=postfix --regid=postfix --init-groups "$@"
}

t_ok "postfix check is clean" postfix_check
t_like "as user postfix, LIST on the socket in private/ names both accounts (allow = postfix)" \
	"$(echo LIST | as_postfix socat - "UNIX-CONNECT:$POSTFIX_QUEUE/private/mailoauth")" \
	'^OK accounts=(bob-mailbox,work|work,bob-mailbox)$'
t_ok "Debian's master.cf runs smtp(8) chrooted" postfix_smtp_chroot_configured
t_is "sender-dependent authentication is on" \
	"$(postconf -c "$POSTFIX_DIR" -h smtp_sender_dependent_authentication)" yes

# ---------------------------------------------------------------- per sender
t_ok "a message from alice accepted" send "$ALICE" alice
t_ok "one from bob" send "$BOB" bob
t_ok "one from carol" send "$CAROL" carol
t_ok "the queue empties" postfix_wait_queue_empty 30
t_ok "the sink has the three messages" sink_wait 3 10
t_is "alice's message was relayed authenticated as alice" "$(relayed_as alice)" \
	"user=<$ALICE> from=<$ALICE>"
t_is "bob's message was relayed authenticated as bob" "$(relayed_as bob)" \
	"user=<$BOB> from=<$BOB>"
t_is "a sender without an entry uses the relay host's (alice)" "$(relayed_as carol)" \
	"user=<$ALICE> from=<$CAROL>"
t_like "the daemon served bob's account, chosen by his address" \
	"$(daemon_call 'STATUS bob-mailbox')" 'state=valid'
t_ok "the smtp(8) processes run chrooted in the queue directory" postfix_smtp_chroot_ok

# ---------------------------------------------------------------- Send-As
t_ok "a message from shared@ accepted" send "$SHARED" shared
t_ok "the Send-As message leaves the queue" postfix_wait_queue_empty 30
t_is "shared@'s message: authenticated as alice (password names work), MAIL FROM shared@" \
	"$(relayed_as shared)" "user=<$ALICE> from=<$SHARED>"
t_file_like "the sink got the shared mailbox as envelope sender" "$(sink_files shared)" \
	"^X-Envelope-From: <$SHARED>"

# The other form: the shared address as the user, the password naming the
# account. The plugin sends that user with alice's token.
postfix_sasl_passwd_entry "$SALES" "$SALES" work
plog=$(log_size "$POSTFIX_LOG")
q_sales=$(send "$SALES" sales)
t_ok "sales@ as SASL user with account work: deferred" wait_deferred "$q_sales" 30
t_like "with a 4xx (soft bounce), never a bounce" "$(deferral "$q_sales")" '^dsn=4\.'
t_wait_file_like 5 "Dovecot saw the XOAUTH2 identity sales@ (the SASL user, as documented)" \
	"$DOVECOT_LOG" "user=<$SALES>, method=XOAUTH2"
t_wait_file_like 5 "and refused it: the token it carried is alice's" \
	"$DOVECOT_LOG" "oauth2\\($SALES,.*Username '$SALES' did not match '$ALICE'"
t_like "the plugin's refusal sentence is in Postfix's log" "$(log_since "$POSTFIX_LOG" "$plog")" \
	"warning: SASL authentication failure: mailoauth: XOAUTH2 refused the token of account work"
t_wait_file_like 10 "the daemon was told, and replaces alice's token" "$DAEMON_LOG" \
	"account work: a server refused token generation [0-9]+; getting a new one"
t_is "the message stays queued" "$(postfix_queue_count)" 1
postfix_sasl_passwd_entry "$SALES" "$ALICE" work	# the first form
retry_now
t_ok "with the entry corrected it is delivered" postfix_wait_queue_empty 30
t_is "as alice, MAIL FROM sales@" "$(relayed_as sales)" "user=<$ALICE> from=<$SALES>"

# ---------------------------------------------------------------- security options
# Both mechanisms declare NOPLAINTEXT and NOANONYMOUS: Postfix's default
# (noplaintext, noanonymous), used above, and "noanonymous" keep them; an
# option they do not meet (noactive) filters them out, which defers the mail.
postfix_conf "smtp_sasl_security_options=noanonymous"
send "$ALICE" secopt-noanon >/dev/null
t_ok "smtp_sasl_security_options = noanonymous: delivered" postfix_wait_queue_empty 30
t_is "as alice" "$(relayed_as secopt-noanon)" "user=<$ALICE> from=<$ALICE>"
postfix_conf "smtp_sasl_security_options=noanonymous, noactive"
plog=$(log_size "$POSTFIX_LOG")
q_sec=$(send "$ALICE" secopt-noactive)
t_ok "noactive filters the plugin out: deferred" wait_deferred "$q_sec" 30
t_like "with a 4xx" "$(deferral "$q_sec")" '^dsn=4\.'
t_like "Postfix says: No worthy mechs found" "$(log_since "$POSTFIX_LOG" "$plog")" \
	"No worthy mechs found"
postfix_conf "smtp_sasl_security_options=noplaintext, noanonymous"
retry_now
t_ok "back to the default, it is delivered" postfix_wait_queue_empty 30

# ---------------------------------------------------------------- daemon down
stop_daemon
postfix_restart		# no smtp(8) keeps a token in its cache
plog=$(log_size "$POSTFIX_LOG")
declare -A qid
for who in alice bob shared; do
	case $who in
	alice) from=$ALICE ;; bob) from=$BOB ;; shared) from=$SHARED ;;
	esac
	qid[$who]=$(send "$from" "down-$who")
done
for who in alice bob shared; do
	t_ok "daemon down: $who's message is deferred" wait_deferred "${qid[$who]}" 30
	t_like "  with a 4xx" "$(deferral "${qid[$who]}")" '^dsn=4\.'
done
t_like "Postfix's log has the plugin's sentence for alice" "$(log_since "$POSTFIX_LOG" "$plog")" \
	"warning: SASL authentication failure: mailoauth: cannot get a token for $ALICE from mailoauthd at [^ ]*: mailoauthd is not running"
t_like "and for bob" "$(log_since "$POSTFIX_LOG" "$plog")" \
	"warning: SASL authentication failure: mailoauth: cannot get a token for $BOB from mailoauthd"
t_is "the three messages stay queued" "$(postfix_queue_count)" 3
declare -A mid
for who in alice bob shared; do
	mid[$who]=$(message_id "${qid[$who]}")
done
t_like "their Message-IDs are read from the queue files" "${mid[alice]} ${mid[bob]} ${mid[shared]}" \
	'^<[^ ]+> <[^ ]+> <[^ ]+>$'
cp -a "$POSTFIX_QUEUE/deferred" "$E2E_DIR/deferred-copy"	# for the secrets check
start_daemon
postfix_flush
t_ok "once the daemon is back the queue empties" postfix_wait_queue_empty 30
for who in alice bob shared; do
	t_is "$who's message reached the sink exactly once" "$(sink_count_id "${mid[$who]}")" 1
done
t_is "alice's, as alice" "$(relayed_as down-alice)" "user=<$ALICE> from=<$ALICE>"
t_is "bob's, as bob" "$(relayed_as down-bob)" "user=<$BOB> from=<$BOB>"
t_is "shared's, as alice" "$(relayed_as down-shared)" "user=<$ALICE> from=<$SHARED>"

# ---------------------------------------------------------------- socket activation
# With systemd the daemon takes its sockets from mailoauthd.socket: PID 1
# creates them (ProtectSystem=strict and an empty capability set keep the
# daemon itself out of Postfix's private/). systemd-socket-activate passes
# descriptors the same way; it starts the daemon at the first connection.
CHROOT_SOCKET=$POSTFIX_QUEUE/private/mailoauth

# activate PATH...: the daemon, socket-activated on PATH...; the sockets get
# mode 0666 as SocketMode=0666 gives them.
activate() {
	local args=() p
	rm -f "$@"
	for p in "$@"; do args+=(-l "$p"); done
	systemd-socket-activate "${args[@]}" \
		"$MO_PROG_BUILD/token-helper/mailoauthd" --config "$DAEMON_CONF" --system \
		</dev/null >>"$DAEMON_LOG" 2>&1 &
	DAEMON_PID=$!
	for p in "$@"; do
		for _ in $(seq 100); do
			[[ -S "$p" ]] && break
			sleep 0.05
		done
		chmod 0666 "$p"
	done
}

# socket_activation: the daemon activated without, then with, the chroot socket.
socket_activation() {
	stop_daemon
	postfix_restart
	# extra_sockets stays in the configuration: the daemon checks that systemd
	# passed that socket and says what to add when it did not.
	dlog=$(log_size "$DAEMON_LOG")
	activate "$DAEMON_SOCKET"
	t_like "activated without the chroot socket, the daemon serves the main one" \
		"$(daemon_call 'LIST')" '^OK accounts='
	t_like "and warns that nothing listens in the chroot, saying what to add" \
		"$(log_since "$DAEMON_LOG" "$dlog")" \
		"extra_sockets: systemd did not pass $CHROOT_SOCKET, so nothing listens there: add ListenStream=$CHROOT_SOCKET to mailoauthd.socket"
	stop_daemon
	dlog=$(log_size "$DAEMON_LOG")
	activate "$DAEMON_SOCKET" "$CHROOT_SOCKET"
	send "$BOB" activated >/dev/null
	t_ok "activated on both sockets: delivered" \
		postfix_wait_queue_empty 30
	t_is "as bob" "$(relayed_as activated)" "user=<$BOB> from=<$BOB>"
	t_like "the daemon took both sockets from the activator" "$(log_since "$DAEMON_LOG" "$dlog")" \
		"serving 2 socket\\(s\\) from systemd"
	t_like "the first connection, the one that started it, came through the chroot's (fd 4)" \
		"$(log_since "$DAEMON_LOG" "$dlog")" "Communication attempt on fd 4\\."
	t_unlike "and has no complaint about extra_sockets" "$(log_since "$DAEMON_LOG" "$dlog")" \
		"extra_sockets"
}

if command -v systemd-socket-activate >/dev/null; then
	socket_activation
else
	t_skip "socket activation" "systemd-socket-activate is not installed (package systemd)"
fi

# ---------------------------------------------------------------- no secrets
tokens=()
for acct in work bob-mailbox; do
	tokens+=("$(daemon_call "TOKEN $acct" | sed -n 's/.* token=//p')")
	tokens+=("$(store_get "$acct" | _json_get refresh_token)")
done
t_is "four secrets to look for" "$(printf '%s\n' "${tokens[@]}" | grep -c .)" 4
t_no_secret_in "no current token in Postfix's log" "$POSTFIX_LOG" "${tokens[@]}"
t_no_secret_in "nor in the daemon's log" "$DAEMON_LOG" "${tokens[@]}"
# any token of the run: the IdP's access tokens are JWTs, its refresh tokens "0.A" + 1000 chars
any_token='eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}|0\.A[A-Za-z0-9_-]{100,}'
t_file_unlike "no token of any generation in Postfix's log" "$POSTFIX_LOG" "$any_token"
t_file_unlike "nor in the daemon's log" "$DAEMON_LOG" "$any_token"
t_is "nor in the queue files (a copy taken while three messages were deferred, and the spool now)" \
	"$(grep -rlaE -D skip "$any_token" "$E2E_DIR/deferred-copy" "$POSTFIX_QUEUE" 2>/dev/null | wc -l)" 0

t_done
