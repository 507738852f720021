#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-plugin-mbsync.sh - mbsync (a real Cyrus SASL client that uses
# interaction prompts) logs in to Dovecot IMAP through libmailoauth.so with
# XOAUTH2 and OAUTHBEARER; Dovecot checks each token at the test IdP.
# A rejected token fails with the server's words and is reported to the
# daemon; a stopped daemon fails at once with a clear sentence.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib/env.sh"
. "$E2E_LIB/tokend.sh"

ALICE=alice@example.com
BOB=bob@example.com

e2e_init
start_idp
start_dovecot
start_tokend

# mbsync_rc NAME USER MECH: an mbsyncrc pulling USER's INBOX into a Maildir
mbsync_rc() {
	local name=$1 user=$2 mech=$3 dir=$E2E_DIR/mbsync/$1
	mkdir -p "$dir/mail"
	cat >"$dir/rc" <<EOR
IMAPAccount $name
Host 127.0.0.1
Port $IMAP_PORT
User $user
AuthMechs $mech
SSLType None

IMAPStore $name-remote
Account $name

MaildirStore $name-local
Path $dir/mail/
Inbox $dir/mail/INBOX

Channel $name
Far :$name-remote:
Near :$name-local:
Patterns INBOX
Create Near
Sync Pull
SyncState *
EOR
	echo "$dir/rc"
}

# local_count NAME: messages mbsync stored for mbsyncrc NAME
local_count() {
	find "$E2E_DIR/mbsync/$1/mail/INBOX/cur" "$E2E_DIR/mbsync/$1/mail/INBOX/new" \
		-type f 2>/dev/null | wc -l
}

# run_mbsync RC: mbsync with the plugin and the daemon's socket; no terminal
run_mbsync() {
	MAILOAUTH_SOCKET=$TOKEND_SOCKET MAILOAUTH_PLUGIN_CONF=/nonexistent \
		timeout 60 mbsync -c "$1" -a </dev/null
}

msg=$E2E_DIR/msg.eml
printf 'From: carol@example.com\r\nTo: %s\r\nSubject: e2e mbsync\r\n\r\nhello\r\n' "$ALICE" >"$msg"
dovecot_deliver "$ALICE" "$msg"
dovecot_deliver "$BOB" "$msg"

# ---- XOAUTH2, account chosen by the user name mbsync prompts with
tokend_set work "$ALICE" "$(idp_mint "$ALICE")"
rc=$(mbsync_rc alice "$ALICE" XOAUTH2)
t_ok "mbsync logs in with XOAUTH2 through the plugin" run_mbsync "$rc"
t_is "the message arrived in the local Maildir" "$(local_count alice)" 1
t_file_like "Dovecot saw an XOAUTH2 login for alice" "$DOVECOT_LOG" \
	"Login: user=<$ALICE>, method=XOAUTH2"
t_file_like "the plugin asked by user, without a password" "$TOKEND_LOG" \
	"^TOKEN-USER $ALICE\$"

# ---- OAUTHBEARER
tokend_set bob "$BOB" "$(idp_mint "$BOB")"
rc=$(mbsync_rc bob "$BOB" OAUTHBEARER)
t_ok "mbsync logs in with OAUTHBEARER through the plugin" run_mbsync "$rc"
t_is "bob's message arrived" "$(local_count bob)" 1
t_file_like "Dovecot saw an OAUTHBEARER login for bob" "$DOVECOT_LOG" \
	"Login: user=<$BOB>, method=OAUTHBEARER"

# ---- a token the server refuses
idp_revoke "$ALICE" >/dev/null
rc=$(mbsync_rc alice2 "$ALICE" XOAUTH2)
before=$(tokend_requests REJECTED)
t_fails "mbsync fails when Dovecot refuses the token" run_mbsync "$rc"
t_like "mbsync shows the server's refusal" "$T_OUT" "AUTHENTICATIONFAILED|Authentication failed"
t_is "the plugin told the daemon which token was refused" \
	"$(($(tokend_requests REJECTED) - before))" 1
t_file_like "the rejection names the account" "$TOKEND_LOG" "^REJECTED work [0-9]+\$"

# ---- valgrind over the plugin inside a real program
tokend_set work "$ALICE" "$(idp_mint "$ALICE")"
rc=$(mbsync_rc alice3 "$ALICE" XOAUTH2)
t_ok "mbsync with the plugin runs clean under valgrind" \
	env MAILOAUTH_SOCKET="$TOKEND_SOCKET" MAILOAUTH_PLUGIN_CONF=/nonexistent \
	valgrind -q --error-exitcode=99 --leak-check=no timeout 60 mbsync -c "$rc" -a

# ---- no daemon
stop_tokend
rc=$(mbsync_rc alice4 "$ALICE" XOAUTH2)
start=$SECONDS
t_fails "mbsync fails when mailoauthd is down" run_mbsync "$rc"
t_like "and says why in one sentence" "$T_OUT" "mailoauthd is not running"
t_ok "without waiting for the plugin's timeout" test $((SECONDS - start)) -lt 6

t_done
