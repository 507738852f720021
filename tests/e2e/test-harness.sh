#!/usr/bin/env bash
# test-harness.sh — proves the end-to-end environment (tests/e2e/lib/env.sh)
# with no mailoauth code: the test IdP mints tokens, Dovecot accepts them over
# XOAUTH2 and OAUTHBEARER (IMAP and submission) and rejects bad ones,
# submission relays into the sink, and the private Postfix instance is clean,
# runs its smtp(8) chrooted and stops without leaving processes behind.
# Output is TAP. Run as root: bash tests/e2e/test-harness.sh
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib/env.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib/env.sh"

ALICE=alice@example.com
BOB=bob@example.com

e2e_init
start_idp
start_sink
start_dovecot

# ---- identity provider
TOKEN=$(idp_mint "$ALICE" "" 3600)
t_like "IdP mints an access token" "$TOKEN" '^[^[:space:]]{8,}$'
t_ok "IdP reports its counters" idp_counters
t_like "counters are a JSON object" "$T_OUT" '^\{'

# ---- IMAP, good tokens
t_ok "curl IMAP login with OAUTHBEARER" \
    curl -sS --max-time 20 --oauth2-bearer "$TOKEN" --login-options AUTH=OAUTHBEARER \
    -u "$ALICE" "imap://127.0.0.1:$IMAP_PORT/"
t_like "IMAP LIST shows INBOX" "$T_OUT" 'LIST .*INBOX'
t_wait_file_like 5 "Dovecot logged the OAUTHBEARER login" "$DOVECOT_LOG" \
    "imap-login: Info: Login: user=<$ALICE>, method=OAUTHBEARER"

# curl 7.88 ignores AUTH=XOAUTH2 when OAUTHBEARER is offered (curl issue
# #10259): XOAUTH2 is driven by saslclient.py.
t_ok "IMAP login with XOAUTH2" imap_login XOAUTH2 "$ALICE" "$TOKEN"
t_wait_file_like 5 "Dovecot logged the XOAUTH2 login" "$DOVECOT_LOG" \
    "imap-login: Info: Login: user=<$ALICE>, method=XOAUTH2"

msg=$E2E_DIR/seed.eml
for i in 1 2; do
    printf 'From: <seed@example.net>\nTo: <%s>\nSubject: seeded %s\n\nbody %s\n' "$ALICE" "$i" "$i" >"$msg"
    dovecot_deliver "$ALICE" "$msg"
done
t_is "doveadm counts the seeded messages" "$(dovecot_count "$ALICE")" 2
t_ok "IMAP login with OAUTHBEARER (saslclient.py)" imap_login OAUTHBEARER "$ALICE" "$TOKEN"
t_like "IMAP sees the seeded messages" "$T_OUT" 'INBOX messages=2'

# ---- IMAP, bad tokens (from 127.0.0.2, so a penalty could not slow 127.0.0.1)
t_fails "curl IMAP login with a garbage token fails" \
    curl -sS --max-time 20 --interface 127.0.0.2 --oauth2-bearer garbage \
    --login-options AUTH=OAUTHBEARER -u "$ALICE" "imap://127.0.0.1:$IMAP_PORT/"
t_fails "XOAUTH2 with a garbage token fails" imap_login XOAUTH2 "$ALICE" garbage 127.0.0.2
t_like "XOAUTH2 failure challenge is status 401" "$T_OUT" 'challenge: .*"status":"401"'
t_fails "OAUTHBEARER with a garbage token fails" imap_login OAUTHBEARER "$ALICE" garbage 127.0.0.2
t_like "OAUTHBEARER failure challenge is invalid_token" "$T_OUT" 'challenge: .*"status":"invalid_token"'
t_ok "IdP revokes alice's tokens" idp_revoke "$ALICE"
t_fails "a revoked token fails" imap_login XOAUTH2 "$ALICE" "$TOKEN" 127.0.0.2
t_file_like "Dovecot logged the failed introspection" "$DOVECOT_LOG" 'oauth2 failed: Introspection failed'

TOKEN=$(idp_mint "$ALICE")
start=$(date +%s%N)
t_ok "a fresh token works right after the failures" imap_login XOAUTH2 "$ALICE" "$TOKEN"
ms=$((($(date +%s%N) - start) / 1000000))
t_ok "and is not slowed by an auth penalty (${ms} ms)" test "$ms" -lt 2000

# ---- submission relays to the sink
BTOKEN=$(idp_mint "$BOB")
printf 'From: <%s>\r\nTo: <carol@example.net>\r\nSubject: via curl\r\n\r\nhello from curl\r\n' "$BOB" >"$msg"
t_ok "curl sends through Dovecot submission (OAUTHBEARER)" \
    curl -sS --max-time 20 --oauth2-bearer "$BTOKEN" -u "$BOB" --mail-from "$BOB" \
    --mail-rcpt carol@example.net -T "$msg" "smtp://127.0.0.1:$SUBMISSION_PORT/"
t_ok "the sink received it" sink_wait 1 10
last=$(sink_last)
t_file_like "sink file starts with the envelope sender" "$last" "^X-Envelope-From: <$BOB>\$"
t_file_like "sink file has the envelope recipient" "$last" '^X-Envelope-To: <carol@example.net>$'
t_file_like "sink file has the message" "$last" '^Subject: via curl$'

t_ok "XOAUTH2 submission sends a message" \
    submission_send XOAUTH2 "$BOB" "$BTOKEN" "$BOB" dave@example.net "via xoauth2"
t_ok "the sink received the second message" sink_wait 2 10
t_file_like "it is the XOAUTH2 one" "$(sink_last)" '^Subject: via xoauth2$'
t_fails "submission with a garbage token fails" \
    submission_send XOAUTH2 "$BOB" garbage "$BOB" dave@example.net "never" 127.0.0.2
t_like "with a 535" "$T_OUT" 'authentication failed: 535'
t_is "nothing more reached the sink" "$(sink_count)" 2

# ---- Postfix
export SASL_PATH=/usr/lib/x86_64-linux-gnu/sasl2
export MAILOAUTH_SOCKET=$E2E_DIR/postfix-spool/private/mailoauth
start_postfix
t_ok "postfix check is clean" postfix_check
t_ok "master.cf runs smtp/unix chrooted (Debian default)" postfix_smtp_chroot_configured
t_is "the only inet service is the test smtpd" \
    "$(postconf -c "$POSTFIX_DIR" -M | awk '$2 == "inet" { print $1 }')" "127.0.0.1:$POSTFIX_PORT"
t_is "the master listens on that port only" \
    "$(ss -Hltnp | grep "pid=$POSTFIX_PID," | awk '{ print $4 }')" "127.0.0.1:$POSTFIX_PORT"
t_like "import_environment passes SASL_PATH and MAILOAUTH_SOCKET" \
    "$(postconf -c "$POSTFIX_DIR" -h import_environment)" "SASL_PATH=$SASL_PATH .*MAILOAUTH_SOCKET=$MAILOAUTH_SOCKET"

t_ok "Postfix accepts a message on its smtpd" postfix_send "$ALICE" erin@example.net "via postfix"
qid=$T_OUT
t_like "and returns a queue id" "$qid" '^[0-9A-F]{6,}$'
t_ok "smtp(8) runs chrooted in the queue directory" postfix_smtp_chroot_ok
smtp_pid=$(postfix_smtp_pids | head -n 1)
t_ok "smtp(8) received SASL_PATH in its environment" \
    grep -qzxF "SASL_PATH=$SASL_PATH" "/proc/${smtp_pid:-0}/environ"
# Without mailoauth's plugin Cyrus SASL has no XOAUTH2 client mechanism: the
# message is deferred (smtp_sasl_auth_soft_bounce), not bounced.
t_wait_file_like 15 "the message is deferred for lack of a SASL mechanism" "$POSTFIX_LOG" \
    "$qid: .*status=deferred \(SASL authentication failed"
t_is "it stays in the queue" "$(postfix_queue_count)" 1
t_ok "postfix_conf changes a setting" postfix_conf smtp_sasl_mechanism_filter=oauthbearer
t_is "the setting is in main.cf" "$(postconf -c "$POSTFIX_DIR" -h smtp_sasl_mechanism_filter)" oauthbearer
t_ok "postfix_flush" postfix_flush

# ---- teardown leaves nothing behind
pids="$DOVECOT_PID $POSTFIX_PID $IDP_PID $SINK_PID"
stop_all
left=""
for p in $pids; do
    pid_alive "$p" && left+=" $p"
    [[ -n "$(session_pids "$p")" ]] && left+=" session:$p"
done
t_is "stop_all leaves no process behind" "$left" ""
t_ok "the ports are closed again" \
    bash -c "! ss -Hltn | grep -Eq ':($IMAP_PORT|$SUBMISSION_PORT|$POSTFIX_PORT|$SINK_PORT|$IDP_PORT) '"

t_done
