#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-clients.sh - the desktop mail programs of Debian against the real
# mailoauthd, with the configurations of docs/msmtp.md, docs/neomutt.md and
# docs/mbsync.md:
#
#   msmtp    passwordeval "mailoauth token ACCOUNT", auth xoauth2/oauthbearer,
#            through Dovecot submission (STARTTLS) to the sink
#   neomutt  imap_oauth_refresh_command / smtp_oauth_refresh_command: reads a
#            message over IMAP (in a pty, via script(1)) and sends one in
#            batch mode
#   mbsync   AuthMechs XOAUTH2/OAUTHBEARER through libmailoauth.so; a PassCmd
#            the user set anyway is never run
#
# Two accounts: "work" (Microsoft, a 2.3 KB JWT like Entra's) and "gmail"
# (Google, a short opaque token). Client limits the test pins down (see the
# docs): msmtp and neomutt put the initial response on the SMTP AUTH line,
# which Dovecot refuses for a Microsoft-sized token ("500 5.5.2 Line too
# long"); neomutt offers OAuth to IMAP only over TLS.
#
# Failures: a uid the account does not allow (msmtp as nobody), mailoauthd
# stopped (each client fails with mailoauth's sentence; msmtp exits 78, its
# code for any passwordeval failure), the grant revoked at the IdP (each
# client shows the server's refusal). No token, plain or base64-encoded,
# in any log or output file.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib/env.sh"

ALICE=alice@example.com
BOB=bob@gmail.test
RCPT=rcpt@example.net
e2e_init
. "$E2E_LIB/daemon.sh"
for prog in msmtp neomutt mbsync script setpriv openssl; do
	command -v "$prog" >/dev/null || t_bail "$prog is not installed (tests/deps.sh)"
done
start_idp

CL=$E2E_DIR/clients
mkdir -p "$CL/home" "$CL/nobody"
chown nobody:nogroup "$CL/nobody"

# ---- a private CA and a certificate for 127.0.0.1: neomutt offers OAuth to
# IMAP only over TLS, and the docs' configurations all use it
tls=$CL/tls
mkdir -p "$tls"
{
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$tls/ca.key" -out "$tls/ca.pem" -subj "/CN=mailoauth e2e CA" -days 2 \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign &&
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-keyout "$tls/server.key" -out "$tls/server.csr" -subj /CN=127.0.0.1 &&
		printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$tls/ext" &&
		openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" \
			-CAcreateserial -out "$tls/server.pem" -days 2 -extfile "$tls/ext"
} >"$tls/openssl.out" 2>&1 || e2e_bail "cannot make the test certificates" "$tls/openssl.out"
CA=$tls/ca.pem
DOVECOT_EXTRA_CONF="ssl = yes
ssl_cert = <$tls/server.pem
ssl_key = <$tls/server.key"
start_dovecot

daemon_config work "$ALICE" "
[account gmail]
provider = google
flow = authcode
client_id = mailoauth-e2e-google
user = $BOB
token_endpoint = $IDP_URL/google/token
authorization_endpoint = $IDP_URL/google/auth"
chmod 0644 "$DAEMON_CONF" # no secrets in it; nobody's mailoauth reads it
daemon_seed work "$ALICE" || e2e_bail "cannot seed account work" "$E2E_DIR/idp.log"
google_rt=$(idp_call POST /_test/mint "{\"provider\": \"google\", \"user\": \"$BOB\",
	\"refresh\": true, \"client_id\": \"mailoauth-e2e-google\"}" | _json_get refresh_token)
printf '{"refresh_token":"%s"}' "$google_rt" |
	"$MO_BUILD/tests/store-tool" file "$DAEMON_STORE" "$DAEMON_KEY" save gmail
start_daemon

# `mailoauth` on PATH stands for the installed CLI with its config in the
# default place, so the client configs below are the documented ones.
mkdir -p "$CL/bin"
printf '#!/bin/sh\nexec %q --config %q "$@"\n' "$MO_PROG_BUILD/token-helper/mailoauth" "$DAEMON_CONF" \
	>"$CL/bin/mailoauth"
chmod 0755 "$CL/bin/mailoauth"
export PATH=$CL/bin:$PATH

# every token the clients may have sent, for the checks at the end
SECRETS=()
remember_tokens() {
	local a t
	for a in work gmail; do
		t=$(mailoauth token "$a" 2>/dev/null) && SECRETS+=("$t")
	done
	return 0
}
remember_tokens
t_is "the daemon serves both accounts' tokens" "${#SECRETS[@]}" 2

# run NAME CMD...: runs CMD, stdin from $CL/NAME.in if it exists (else
# /dev/null), output to $CL/NAME.out; sets RC and OUT
run() {
	local name=$1 in=/dev/null
	shift
	[[ -e "$CL/$name.in" ]] && in=$CL/$name.in
	RC=0
	"$@" <"$in" >"$CL/$name.out" 2>&1 || RC=$?
	OUT=$(tr -d '\r' <"$CL/$name.out")
}

# make_mail NAME FROM SUBJECT: a message on $CL/NAME.in
make_mail() {
	printf 'From: %s\nTo: %s\nSubject: %s\n\nsent by test-clients.sh\n' "$2" "$RCPT" "$3" >"$CL/$1.in"
}

# sink_has SUBJECT: how many messages with SUBJECT the sink holds
sink_has() {
	grep -l -x -F "Subject: $1" "$SINK_DIR"/msg-*.eml 2>/dev/null | wc -l
}

# login_count SERVICE USER MECH: Dovecot's successful logins so far
login_count() {
	grep -c -F "$1-login: Info: Login: user=<$2>, method=$3," "$DOVECOT_LOG" || true
}

# ================================================================ msmtp

# msmtp_rc NAME ACCOUNT USER MECH: the config of docs/msmtp.md, on loopback
msmtp_rc() {
	cat >"$CL/msmtp-$1.rc" <<EOF
defaults
tls on
tls_starttls on
tls_trust_file $CA
logfile $CL/msmtp-$1.log

account $1
host 127.0.0.1
port $SUBMISSION_PORT
auth $4
user $3
from $3
passwordeval "mailoauth token $2"
EOF
	chmod 0644 "$CL/msmtp-$1.rc"
}

msmtp_rc work work "$ALICE" xoauth2
make_mail msmtp-ok "$ALICE" "msmtp xoauth2"
before=$(login_count submission "$ALICE" XOAUTH2)
run msmtp-ok msmtp -C "$CL/msmtp-work.rc" -a work "$RCPT"
t_is "msmtp (auth xoauth2, passwordeval \"mailoauth token work\") exits 0" "$RC" 0
sink_wait 1 10 || true
t_is "its message reached the sink through Dovecot submission" "$(sink_has "msmtp xoauth2")" 1
t_is "Dovecot logged alice's XOAUTH2 login" "$(($(login_count submission "$ALICE" XOAUTH2) - before))" 1
t_file_like "msmtp's log file has the delivery" "$CL/msmtp-work.log" \
	"user=$ALICE .*smtpstatus=250 .*exitcode=EX_OK"

msmtp_rc gmail gmail "$BOB" oauthbearer
make_mail msmtp-ob "$BOB" "msmtp oauthbearer"
run msmtp-ob msmtp -C "$CL/msmtp-gmail.rc" -a gmail "$RCPT"
t_is "msmtp with auth oauthbearer (a Google-sized token) exits 0" "$RC" 0
t_is "that message reached the sink too" "$(sink_has "msmtp oauthbearer")" 1
t_is "Dovecot logged bob's OAUTHBEARER login" "$(login_count submission "$BOB" OAUTHBEARER)" 1

# msmtp sends OAUTHBEARER's initial response on the AUTH line (XOAUTH2
# after a 334); Dovecot keeps SMTP's 512-octet command line.
msmtp_rc workob work "$ALICE" oauthbearer
make_mail msmtp-ob-long "$ALICE" "msmtp oauthbearer long"
run msmtp-ob-long msmtp -C "$CL/msmtp-workob.rc" -a workob "$RCPT"
if ((RC == 0)); then
	t_pass "msmtp auth oauthbearer with a Microsoft-sized token works (docs/msmtp.md can drop its warning)"
else
	t_like "msmtp auth oauthbearer with a Microsoft-sized token: Dovecot refuses the long AUTH line (docs/msmtp.md: use xoauth2)" \
		"$OUT" "500 5.5.2 Line too long"
fi

# ================================================================ neomutt

NEOMUTT_ENV=(env HOME="$CL/home" TERM=vt100)
msg=$CL/inbox.eml
printf 'From: carol@example.com\r\nTo: %s\r\nSubject: for neomutt %s\r\n\r\nhello\r\n' "$ALICE" "$ALICE" >"$msg"
dovecot_deliver "$ALICE" "$msg"
printf 'From: carol@example.com\r\nTo: %s\r\nSubject: for neomutt %s\r\n\r\nhello\r\n' "$BOB" "$BOB" >"$msg"
dovecot_deliver "$BOB" "$msg"

# neomutt_rc NAME ACCOUNT USER MECH: IMAP and SMTP settings of docs/neomutt.md
neomutt_rc() {
	cat >"$CL/neomutt-$1.rc" <<EOF
set imap_user = "$3"
set imap_authenticators = "$4"
set imap_oauth_refresh_command = "mailoauth token $2"
set folder = "imap://127.0.0.1:$IMAP_PORT/"
set spoolfile = "+INBOX"

set from = "$3"
set smtp_url = "smtp://$3@127.0.0.1:$SUBMISSION_PORT/"
set smtp_authenticators = "$4"
set smtp_oauth_refresh_command = "mailoauth token $2"
set record = ""

set ssl_starttls = yes
set ssl_force_tls = yes
set ssl_ca_certificates_file = "$CA"
set header_cache = ""
set message_cachedir = ""
set quit = yes
set sleep_time = 0
set wait_key = no
EOF
}

# neomutt_read RC RUN: neomutt with $CL/neomutt-RC.rc opens the INBOX over
# IMAP (-z: only if it has mail, else it exits 1), pipes the current message
# to $CL/RUN.msg and quits; script(1) gives it a terminal and records the
# session in $CL/RUN.out
neomutt_read() {
	local cmd
	rm -f "$CL/$2.msg"
	cmd=$(printf '%q ' neomutt -n -F "$CL/neomutt-$1.rc" -z -e \
		"push \"<pipe-message>cat > $CL/$2.msg<enter><quit>\"")
	RC=0
	"${NEOMUTT_ENV[@]}" timeout 20 script -qec "$cmd" "$CL/$2.out" </dev/null >/dev/null 2>&1 || RC=$?
	OUT=$(sed 's/\x1b\[[0-9;?]*[A-Za-z]//g' "$CL/$2.out" | tr -d '\r')
}

# neomutt_send RC RUN SUBJECT: batch mode (no terminal), through smtp_url
neomutt_send() {
	printf 'sent by neomutt\n' >"$CL/$2.in"
	run "$2" "${NEOMUTT_ENV[@]}" timeout 20 neomutt -n -F "$CL/neomutt-$1.rc" -s "$3" -- "$RCPT"
}

neomutt_rc nm-work work "$ALICE" xoauth2
before=$(login_count imap "$ALICE" XOAUTH2)
neomutt_read nm-work nm-read-work
t_is "neomutt (imap_authenticators xoauth2) reads alice's INBOX and quits: exit 0" "$RC" 0
t_file_like "the message it piped came over IMAP" "$CL/nm-read-work.msg" "^Subject: for neomutt $ALICE"
# (two logins: -z looks at the mailbox, then neomutt opens it)
t_ok "Dovecot logged alice's XOAUTH2 IMAP logins" test "$(($(login_count imap "$ALICE" XOAUTH2) - before))" -ge 1

neomutt_rc nm-gmail gmail "$BOB" oauthbearer
neomutt_read nm-gmail nm-read-gmail
t_is "neomutt with imap_authenticators oauthbearer: exit 0" "$RC" 0
t_file_like "bob's message came over IMAP" "$CL/nm-read-gmail.msg" "^Subject: for neomutt $BOB"
t_ok "Dovecot logged bob's OAUTHBEARER IMAP logins" test "$(login_count imap "$BOB" OAUTHBEARER)" -ge 1

# neomutt offers OAuth to IMAP only over TLS; without it, nothing is tried
neomutt_rc nm-plain work "$ALICE" xoauth2
sed -i 's/^set ssl_starttls = yes/set ssl_starttls = no/; s/^set ssl_force_tls = yes/set ssl_force_tls = no/' \
	"$CL/neomutt-nm-plain.rc"
neomutt_read nm-plain nm-read-plain
t_is "neomutt without TLS: exit 1" "$RC" 1
t_like "it says no authenticator is available" "$OUT" "No authenticators available"

neomutt_send nm-gmail nm-send-ob "neomutt oauthbearer"
t_is "neomutt sends in batch mode (smtp_authenticators oauthbearer): exit 0" "$RC" 0
t_is "the message reached the sink" "$(sink_has "neomutt oauthbearer")" 1
neomutt_rc nm-gmail-x gmail "$BOB" xoauth2
neomutt_send nm-gmail-x nm-send-x "neomutt xoauth2"
t_is "neomutt sends with smtp_authenticators xoauth2: exit 0" "$RC" 0
t_is "that message reached the sink" "$(sink_has "neomutt xoauth2")" 1
t_is "Dovecot logged both SMTP logins" \
	"$(login_count submission "$BOB" OAUTHBEARER) $(login_count submission "$BOB" XOAUTH2)" "2 1"

neomutt_send nm-work nm-send-long "neomutt long token"
if ((RC == 0)); then
	t_pass "neomutt sends with a Microsoft-sized token (docs/neomutt.md can drop its warning)"
else
	t_like "neomutt SMTP with a Microsoft-sized token: Dovecot refuses the long AUTH line (docs/neomutt.md)" \
		"$OUT" "500 5.5.2 Line too long"
fi

# ================================================================ mbsync

# mbsync_rc NAME USER MECH [PASSCMD]: docs/mbsync.md's account, on loopback
mbsync_rc() {
	local dir=$CL/mbsync-$1
	mkdir -p "$dir/mail"
	cat >"$dir/rc" <<EOF
IMAPAccount $1
Host 127.0.0.1
Port $IMAP_PORT
User $2
AuthMechs $3
SSLType STARTTLS
CertificateFile $CA
${4:+PassCmd \"$4\"}

IMAPStore $1-remote
Account $1

MaildirStore $1-local
Path $dir/mail/
Inbox $dir/mail/INBOX

Channel $1
Far :$1-remote:
Near :$1-local:
Patterns INBOX
Create Near
Sync Pull
SyncState *
EOF
}

# run_mbsync NAME: the plugin from the build, the daemon's socket
run_mbsync() {
	run "mbsync-$1" env HOME="$CL/home" SASL_PATH="$MO_BUILD/sasl-plugin" MAILOAUTH_SOCKET="$DAEMON_SOCKET" \
		MAILOAUTH_PLUGIN_CONF=/nonexistent timeout 20 mbsync -c "$CL/mbsync-$1/rc" -a
}

local_count() {
	find "$CL/mbsync-$1/mail/INBOX/cur" "$CL/mbsync-$1/mail/INBOX/new" -type f 2>/dev/null | wc -l
}

mbsync_rc mb-x "$ALICE" XOAUTH2
before=$(login_count imap "$ALICE" XOAUTH2)
run_mbsync mb-x
t_is "mbsync (AuthMechs XOAUTH2) through the plugin and the real daemon: exit 0" "$RC" 0
t_is "it pulled alice's message" "$(local_count mb-x)" 1
t_is "Dovecot logged the XOAUTH2 login" "$(($(login_count imap "$ALICE" XOAUTH2) - before))" 1

mbsync_rc mb-ob "$ALICE" OAUTHBEARER
run_mbsync mb-ob
t_is "mbsync with AuthMechs OAUTHBEARER (a Microsoft-sized token): exit 0" "$RC" 0
t_is "it pulled the message" "$(local_count mb-ob)" 1
t_is "Dovecot logged alice's OAUTHBEARER login" "$(login_count imap "$ALICE" OAUTHBEARER)" 1

# A PassCmd the user set anyway: the plugin asks mbsync only for the user
# name, so mbsync never runs it.
mbsync_rc mb-pass "$ALICE" XOAUTH2 "touch $CL/passcmd-ran; mailoauth token work"
run_mbsync mb-pass
t_is "mbsync with PassCmd \"mailoauth token work\" set anyway: exit 0" "$RC" 0
t_is "it pulled the message" "$(local_count mb-pass)" 1
t_is "and never ran the PassCmd" "$([[ -e "$CL/passcmd-ran" ]] && echo ran || echo "not run")" "not run"

# ================================================================ a uid the account does not allow

sinks=$(sink_count)
logins=$(grep -c 'submission-login: Info: Login:' "$DOVECOT_LOG" || true)
as_nobody=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
run nobody-token "${as_nobody[@]}" mailoauth token work
t_is "mailoauth token as nobody: exit 77" "$RC" 77
t_like "with the daemon's refusal" "$OUT" "may not use account work"
msmtp_rc nobody work "$ALICE" xoauth2
sed -i "s|^logfile .*|logfile $CL/nobody/msmtp.log|" "$CL/msmtp-nobody.rc"
make_mail msmtp-nobody "$ALICE" "msmtp as nobody"
run msmtp-nobody "${as_nobody[@]}" msmtp -C "$CL/msmtp-nobody.rc" -a nobody "$RCPT"
t_is "msmtp as nobody fails: exit 78, as for any passwordeval failure" "$RC" 78
t_like "showing mailoauth's sentence" "$OUT" "mailoauth: .*may not use account work"
t_is "nothing reached the sink, no login was tried" \
	"$(sink_count) $(grep -c 'submission-login: Info: Login:' "$DOVECOT_LOG" || true)" "$sinks $logins"

# ================================================================ mailoauthd stopped

stop_daemon
make_mail msmtp-down "$ALICE" "msmtp daemon down"
run msmtp-down msmtp -C "$CL/msmtp-work.rc" -a work "$RCPT"
t_is "msmtp with mailoauthd stopped: exit 78 (EX_CONFIG, msmtp's code for a failed passwordeval)" "$RC" 78
t_like "it shows mailoauth's sentence, then its own" "$(tr '\n' ' ' <<<"$OUT")" \
	"mailoauth: mailoauthd is not running.*msmtp: cannot read output of 'mailoauth token work'"
t_is "the message did not go" "$(sink_has "msmtp daemon down")" 0

neomutt_read nm-work nm-read-down
t_is "neomutt with mailoauthd stopped: exit 1" "$RC" 1
t_like "the terminal shows mailoauth's sentence" "$OUT" "mailoauth: mailoauthd is not running"

neomutt_send nm-gmail nm-send-down "neomutt daemon down"
t_is "neomutt batch send with mailoauthd stopped: exit 1" "$RC" 1
t_like "says why" "$OUT" "mailoauth: mailoauthd is not running"

mbsync_rc mb-down "$ALICE" XOAUTH2
run_mbsync mb-down
t_isnt "mbsync with mailoauthd stopped fails" "$RC" 0
t_like "with the plugin's sentence" "$OUT" "mailoauthd is not running"

# ================================================================ the grant revoked at the IdP

start_daemon
remember_tokens
idp_revoke "$ALICE"
refused() { grep -c 'oauth2 failed: Introspection failed' "$DOVECOT_LOG" || true; }
fails=$(refused)

make_mail msmtp-revoked "$ALICE" "msmtp revoked"
run msmtp-revoked msmtp -C "$CL/msmtp-work.rc" -a work "$RCPT"
t_is "msmtp with a revoked token: exit 77 (EX_NOPERM)" "$RC" 77
t_like "it says the authentication failed" "$OUT" "authentication failed \\(method XOAUTH2\\)"
t_file_like "and logs it" "$CL/msmtp-work.log" "errormsg='authentication failed \\(method XOAUTH2\\)' exitcode=EX_NOPERM"

neomutt_read nm-work nm-read-revoked
t_is "neomutt with a revoked token: exit 1" "$RC" 1
t_like "the terminal shows the refusal" "$OUT" "XOAUTH2 authentication failed|wrong credentials"

mbsync_rc mb-revoked "$ALICE" XOAUTH2
run_mbsync mb-revoked
t_isnt "mbsync with a revoked token fails" "$RC" 0
t_like "with the server's refusal" "$OUT" "AUTHENTICATIONFAILED|Authentication failed"
t_is "Dovecot refused the token three times" "$(($(refused) - fails))" 3

idp_revoke "$BOB"
neomutt_send nm-gmail nm-send-revoked "neomutt revoked"
t_is "neomutt batch send with a revoked token: exit 1" "$RC" 1
t_like "it shows the server's error challenge and gives up" "$(tr '\n' ' ' <<<"$OUT")" \
	"SMTP session failed: 334 .*Could not send the message"
t_is "the message did not go" "$(sink_has "neomutt revoked")" 0

# ================================================================ no token anywhere

# secret_forms TOKEN: the token, and the part of its base64 encoding that
# any encoded string containing it has, for each of the 3 alignments
secret_forms() {
	"$E2E_PYTHON" -c 'import base64, sys
t = sys.argv[1].encode()
print(t.decode())
for skip in range(3):
    inner = t[skip:]
    inner = inner[:len(inner) // 3 * 3]
    print(base64.b64encode(inner).decode())' "$1"
}
forms=()
for s in "${SECRETS[@]}"; do
	mapfile -t -O "${#forms[@]}" forms < <(secret_forms "$s")
done
# has_secret FILE: true if FILE holds one of the forms
has_secret() {
	local s
	for s in "${forms[@]}"; do
		grep -qF -- "$s" "$1" 2>/dev/null && return 0
	done
	return 1
}
# isync 1.4.4 prints a refused command in full, and with SASL-IR that
# command carries the initial response: the (refused) token in base64.
mbsync_refusal=$CL/mbsync-mb-revoked.out
files=()
while IFS= read -r f; do
	[[ "$f" == "$mbsync_refusal" ]] || files+=("$f")
done < <(find "$CL" -type f ! -path "$tls/*"; echo "$DOVECOT_LOG"; echo "$DAEMON_LOG"
	find "$SINK_DIR" -type f)
leaky=""
for f in "${files[@]}"; do
	has_secret "$f" && leaky+=" ${f#"$E2E_DIR"/}"
done
t_is "no token, plain or base64, in the ${#files[@]} logs and outputs (${#SECRETS[@]} tokens)" "$leaky" ""
if has_secret "$mbsync_refusal"; then
	t_skip "no token in mbsync's output after a refusal" \
		"isync 1.4.4 echoes 'AUTHENTICATE XOAUTH2 <initial response>' (docs/mbsync.md)"
else
	t_pass "no token in mbsync's output after a refusal"
fi
t_no_secret_in "msmtp's log file" "$CL/msmtp-work.log" "${forms[@]}"

t_done
