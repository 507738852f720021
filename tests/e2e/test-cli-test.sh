#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-cli-test.sh - `mailoauth test` end to end: the real mailoauthd serves
# the token; Dovecot (IMAP and submission, --plain on loopback) validates it
# at the test IdP -- a login, a message to the sink, the rejection of a token
# the IdP revoked; a scripted Office 365 SMTP server (lib/o365smtp.py, over
# STARTTLS or TLS with a private CA) replays Microsoft's failures, each with
# the expected diagnosis and exit status; TLS failures (untrusted CA, wrong
# name, TLS on a STARTTLS port), network failures, usage errors; and the token
# never appears in the output, even with --verbose.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib/env.sh"

ALICE=alice@example.com
e2e_init
. "$E2E_LIB/daemon.sh" # after e2e_init: its paths live in $E2E_DIR
command -v openssl >/dev/null || t_bail "openssl is not installed (tests/deps.sh)"
[[ -x "$MO_PROG_BUILD/token-helper/mailoauth" ]] || t_bail "no $MO_PROG_BUILD/token-helper/mailoauth (make first)"

start_idp
daemon_config work "$ALICE"
daemon_seed work "$ALICE" || e2e_bail "cannot seed the grant" "$E2E_DIR/idp.log"
start_daemon

# a private CA (and another one) and a certificate for localhost, for Dovecot
# and the scripted Office 365 server
O365=$E2E_DIR/o365
mkdir -p "$O365"
{
	for ca in ca other; do
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-keyout "$O365/$ca.key" -out "$O365/$ca.pem" -subj "/CN=mailoauth e2e $ca" -days 2 \
			-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign
	done &&
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-keyout "$O365/server.key" -out "$O365/server.csr" -subj /CN=localhost &&
		printf 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$O365/ext" &&
		openssl x509 -req -in "$O365/server.csr" -CA "$O365/ca.pem" -CAkey "$O365/ca.key" \
			-CAcreateserial -out "$O365/server.pem" -days 2 -extfile "$O365/ext"
} >"$O365/openssl.out" 2>&1 || e2e_bail "cannot make the test certificates" "$O365/openssl.out"
CA=$O365/ca.pem
# shellcheck disable=SC2034 # read by start_dovecot
DOVECOT_EXTRA_CONF="ssl = yes
ssl_cert = <$O365/server.pem
ssl_key = <$O365/server.key"
start_dovecot

OUTLOG=$E2E_DIR/cli-output.log # every output of the CLI, searched for the token at the end
: >"$OUTLOG"

# mt ARGS...: runs `mailoauth test work ARGS...`; sets OUT (stdout+stderr) and RC.
mt() {
	RC=0
	OUT=$("$MO_PROG_BUILD/token-helper/mailoauth" --config "$DAEMON_CONF" --system test work "$@" 2>&1) || RC=$?
	printf '== test work %s\n%s\n' "$*" "$OUT" >>"$OUTLOG"
}

# expect DESC RC REGEX ARGS...: one run, two checks (status, words in the output).
expect() {
	local desc=$1 want_rc=$2 re=$3
	shift 3
	mt "$@"
	t_is "$desc: exit status $want_rc" "$RC" "$want_rc"
	t_like "$desc: says so" "$OUT" "$re"
}

# ---------------------------------------------------------------- Dovecot, --plain
msg=$E2E_DIR/msg.eml
printf 'From: carol@example.com\r\nTo: %s\r\nSubject: hello\r\n\r\nhi\r\n' "$ALICE" >"$msg"
dovecot_deliver "$ALICE" "$msg"

expect "IMAP XOAUTH2 at Dovecot" 0 \
	"connected to 127.0.0.1:$IMAP_PORT \(127\.0\.0\.1\), without TLS.*server offers AUTH: [A-Z0-9 ]*XOAUTH2.*AUTHENTICATE XOAUTH2 as $ALICE: accepted.*EXAMINE INBOX: 1 message
OK: $ALICE logged in to 127.0.0.1:$IMAP_PORT with XOAUTH2; INBOX has 1 message" \
	--imap "127.0.0.1:$IMAP_PORT" --plain
expect "IMAP OAUTHBEARER, --verbose" 0 \
	"C: A[0-9]+ AUTHENTICATE OAUTHBEARER \[initial response with the token, [0-9]+ bytes: not shown\].*OK: .* with OAUTHBEARER" \
	--imap "127.0.0.1:$IMAP_PORT" --plain --mech oauthbearer --verbose
t_wait_file_like 5 "Dovecot saw the OAUTHBEARER login" "$DOVECOT_LOG" "imap-login: Info: Login: user=<$ALICE>, method=OAUTHBEARER"

expect "submission XOAUTH2 at Dovecot" 0 \
	"AUTH XOAUTH2 as $ALICE: accepted
MAIL FROM:<$ALICE>: accepted
OK: $ALICE logged in to 127.0.0.1:$SUBMISSION_PORT with XOAUTH2 and may send as $ALICE" \
	--smtp "127.0.0.1:$SUBMISSION_PORT" --plain
expect "submission with --send-to, --verbose" 0 \
	"C: RCPT TO:<bob@example.net>.*message to <bob@example.net>: accepted.*the test message was accepted for bob@example.net" \
	--smtp "127.0.0.1:$SUBMISSION_PORT" --plain --send-to bob@example.net --verbose
t_ok "the test message reached the sink" sink_wait 1 20
if t_last_ok; then
	t_file_like "with the subject 'mailoauth test'" "$(sink_last)" '^Subject: mailoauth test'
fi

expect "IMAP STARTTLS at Dovecot" 0 \
	"connected to localhost:$IMAP_PORT \(127\.0\.0\.1\)
TLS: TLSv1\.[23], [^ ]+, certificate verified for localhost
server offers AUTH: XOAUTH2 OAUTHBEARER
AUTHENTICATE XOAUTH2 as $ALICE: accepted" \
	--imap "localhost:$IMAP_PORT" --starttls --ca-file "$CA"
expect "submission STARTTLS at Dovecot (the default for a port not 465)" 0 \
	"TLS: TLSv1\.[23], [^ ]+, certificate verified for localhost.*MAIL FROM:<$ALICE>: accepted" \
	--smtp "localhost:$SUBMISSION_PORT" --ca-file "$CA"

# ---------------------------------------------------------------- usage, daemon
mt
t_is "no arguments: usage (64)" "$RC" 64
expect "--smtp and --imap together" 64 "one --smtp or one --imap" --smtp a.example --imap b.example
expect "--plain to a remote address is refused before connecting" 64 \
	"FAILED: --plain would send the token unencrypted to 192.0.2.1, which is not a loopback address" \
	--smtp 192.0.2.1:587 --plain --timeout 2
expect "--from goes with --smtp only" 64 "go with --smtp" --imap 127.0.0.1 --from x@example.com
expect "a bad --from" 64 "is not a mail address" --smtp 127.0.0.1 --from 'x>@example.com'
expect "a host name with a line break" 64 "is not HOST\\[:PORT\\]" --smtp $'localhost\r\nQUIT'
expect "--help" 0 "^usage: mailoauth test ACCOUNT" --help
RC=0
OUT=$("$MO_PROG_BUILD/token-helper/mailoauth" --config "$DAEMON_CONF" --system test nope \
	--smtp "127.0.0.1:$SUBMISSION_PORT" --plain 2>&1) || RC=$?
t_is "an account the daemon does not know: 67" "$RC" 67
t_like "and the daemon's sentence" "$OUT" "FAILED: mailoauthd has no token for nope: .*nope"
RC=0
OUT=$(MAILOAUTH_SOCKET=$E2E_DIR/no-such-socket "$MO_PROG_BUILD/token-helper/mailoauth" \
	--config "$DAEMON_CONF" --system test work --smtp "127.0.0.1:$SUBMISSION_PORT" --plain 2>&1) || RC=$?
t_is "no daemon: 75" "$RC" 75
t_like "and says it is not running" "$OUT" "mailoauthd is not running"

# ---------------------------------------------------------------- Office 365, scripted
SCEN=$O365/scenario
echo success >"$SCEN"
"$E2E_PYTHON" "$E2E_LIB/o365smtp.py" --cert "$O365/server.pem" --key "$O365/server.key" \
	--port-file "$O365/ports" --scenario-file "$SCEN" --log "$E2E_DIR/o365smtp.log" \
	</dev/null >>"$E2E_DIR/o365smtp.out" 2>&1 &
O365_PID=$!
stop_o365() { [[ -z "${O365_PID-}" ]] || stop_pid "$O365_PID" 5; O365_PID=; }
E2E_STOP_HOOKS+=(stop_o365)
TAP_LOGS+=("$E2E_DIR/o365smtp.log")
for _ in $(seq 100); do
	[[ -s "$O365/ports" ]] && break
	pid_alive "$O365_PID" || break
	sleep 0.1
done
read -r SMTP_PORT SMTPS_PORT <"$O365/ports" 2>/dev/null ||
	e2e_bail "o365smtp.py did not start" "$E2E_DIR/o365smtp.out"

# o365 SCENARIO DESC RC REGEX [ARGS...]: STARTTLS to localhost with the test CA.
o365() {
	local sc=$1 desc=$2 want_rc=$3 re=$4
	shift 4
	echo "$sc" >"$SCEN"
	expect "Office 365 $desc" "$want_rc" "$re" --smtp "localhost:$SMTP_PORT" --ca-file "$CA" "$@"
}

o365 success "success through STARTTLS, with a message" 0 \
	"TLS: TLSv1\.[23], [^ ]+, certificate verified for localhost
server offers AUTH: LOGIN XOAUTH2
AUTH XOAUTH2 as $ALICE: accepted
MAIL FROM:<$ALICE>: accepted
RCPT TO:<bob@example.net>: accepted
message to <bob@example.net>: accepted \(250 2\.0\.0 OK .*
OK: $ALICE logged in to localhost:$SMTP_PORT with XOAUTH2 and may send as $ALICE; the test message was accepted for bob@example.net" \
	--send-to bob@example.net
o365 auth-5.7.3 "535 5.7.3: token rejected" 77 \
	"AUTH XOAUTH2 as $ALICE: refused: 535 5.7.3 Authentication unsuccessful.*
FAILED: Microsoft 365 rejected the token of $ALICE \(535 5\.7\.3\)
What to do: .*SMTP\.Send.*consent"
o365 tenant "5.7.139 SMTP AUTH off for the tenant" 78 \
	"FAILED: Microsoft 365 has SMTP AUTH turned off for the whole tenant \(535 5\.7\.139\)
What to do: .*Turn off SMTP AUTH protocol for your organization"
o365 mailbox "5.7.139 SMTP AUTH off for the mailbox" 78 \
	"FAILED: Microsoft 365 has SMTP AUTH turned off for the mailbox $ALICE.*
What to do: .*Set-CASMailbox -Identity $ALICE -SmtpClientAuthenticationDisabled \\\$false"
o365 secdefaults "5.7.139 security defaults" 78 "FAILED: .*security defaults"
o365 criteria "5.7.139 did not meet the criteria" 78 "FAILED: .*did not meet the criteria.*
What to do: .*Conditional Access"
o365 basic "550 5.7.30 Basic authentication" 78 "FAILED: .*Basic authentication.*\(550 5\.7\.30\)"
o365 hve "501 5.5.127 token expires too soon" 78 "FAILED: the token expires too soon.*
What to do: .*refresh_margin"
o365 sendas "550 5.7.60 no Send As right for --from" 77 \
	"MAIL FROM:<noreply@example.com>: refused: 550 5\.7\.60 .*
FAILED: $ALICE may not send as noreply@example.com \(550 5\.7\.60\)
What to do: .*Add-RecipientPermission -Identity noreply@example.com -Trustee $ALICE" \
	--from noreply@example.com
o365 sendas "550 5.7.60 scenario: the user itself may send" 0 "MAIL FROM:<$ALICE>: accepted"
o365 sendasdenied "554 5.2.252 SendAsDenied at the end of DATA" 77 \
	"FAILED: $ALICE may not send as shared@example.com: Exchange refused the message \(SendAsDenied, 554 5\.2\.252\)" \
	--from shared@example.com --send-to bob@example.net
o365 authlogin "only AUTH LOGIN offered" 78 \
	"server offers AUTH: LOGIN
FAILED: localhost offers AUTH LOGIN, but neither XOAUTH2 nor OAUTHBEARER"
o365 success "--mech OAUTHBEARER that it does not offer" 78 \
	"FAILED: localhost does not offer OAUTHBEARER; it offers AUTH LOGIN XOAUTH2" --mech oauthbearer
o365 nostarttls "no STARTTLS" 78 "FAILED: localhost does not offer STARTTLS on port $SMTP_PORT"
o365 gmail "Gmail's error challenge and 535-5.7.8" 77 \
	"server's error challenge: \{\"status\": \"400\", \"schemes\": \"Bearer\", \"scope\": \"https://mail.google.com/\"\}
AUTH XOAUTH2 as $ALICE: refused: 535 5\.7\.8 Username and Password not accepted\. For more information, go to https://support.google.com/.*
FAILED: localhost rejected the token of $ALICE: it is invalid or expired, or lacks the scope https://mail.google.com/ \\(challenge status 400, 535 5\\.7\\.8\\)"
o365 busy "421 greeting" 75 "FAILED: localhost refused the greeting for now \(421 4\.3\.2"
o365 garbage "an HTTP server" 76 "FAILED: localhost answered the greeting with something that makes no sense"
o365 inject "STARTTLS injection" 76 "FAILED: localhost sent more after its STARTTLS answer, before TLS began: .*STARTTLS command injection"
o365 echo "a server that repeats the token (--verbose)" 77 \
	"AUTH XOAUTH2 as $ALICE: refused: 535 5\.7\.3 \[a text with the token: not shown\]" --verbose
o365 silent "no greeting within --timeout" 75 "FAILED: localhost did not answer the greeting within the timeout" \
	--timeout 1

echo success >"$SCEN"
expect "Office 365 TLS from the start (--tls)" 0 "TLS: TLSv1\.[23].*OK: " \
	--smtp "localhost:$SMTPS_PORT" --tls --ca-file "$CA"
expect "TLS to the STARTTLS port" 76 "FAILED: localhost did not answer in TLS on port $SMTP_PORT.*
What to do: .*--starttls" --smtp "localhost:$SMTP_PORT" --tls --ca-file "$CA"
expect "a certificate from another CA" 78 "FAILED: the certificate of localhost is not trusted" \
	--smtp "localhost:$SMTP_PORT" --ca-file "$O365/other.pem"
expect "the system CAs do not know the test CA" 78 "FAILED: the certificate of localhost is not trusted" \
	--smtp "localhost:$SMTP_PORT"
expect "a certificate for another name" 78 "FAILED: the certificate of the server is not valid for the name 127\.0\.0\.1" \
	--smtp "127.0.0.1:$SMTP_PORT" --ca-file "$CA"
expect "an unreadable --ca-file" 66 "FAILED: the CA file could not be loaded \\($O365/missing.pem: No such file or directory\\)" \
	--smtp "localhost:$SMTP_PORT" --ca-file "$O365/missing.pem"
expect "--plain where AUTH needs STARTTLS" 78 "FAILED: localhost offers no AUTH on an unencrypted connection" \
	--smtp "localhost:$SMTP_PORT" --plain
free=$(free_port)
expect "a closed port" 75 "FAILED: 127\.0\.0\.1 refused the connection to port $free" \
	--smtp "127.0.0.1:$free" --plain

# ---------------------------------------------------------------- a revoked token at Dovecot
token=$(daemon_call 'TOKEN work' | sed -n 's/.* token=//p')
idp_revoke "$ALICE"
expect "IMAP after the IdP revoked the token" 77 \
	"server's error challenge: \{\"status\":\"401\",\"schemes\":\"bearer\",\"scope\":\"mail\"\}.*AUTHENTICATE XOAUTH2 as $ALICE: refused: NO \[AUTHENTICATIONFAILED\].*FAILED: 127\.0\.0\.1 rejected the token of $ALICE: the server rejected the access token.*
What to do: .*mailoauth status work" \
	--imap "127.0.0.1:$IMAP_PORT" --plain --verbose
expect "submission OAUTHBEARER after the revocation" 77 \
	"server's error challenge: \{\"status\":\"invalid_token\"\}.*FAILED: 127\.0\.0\.1 rejected the token of $ALICE: the server rejected the access token" \
	--smtp "127.0.0.1:$SUBMISSION_PORT" --plain --mech oauthbearer --verbose
t_like "the daemon still served its cached token" "$(daemon_call 'TOKEN work')" "token=$token\$"
# told of the rejection, the daemon refreshes, and the IdP says the grant is gone
gen=$(daemon_call 'TOKEN work' | sed -n 's/.* gen=\([0-9]*\) .*/\1/p')
daemon_call "REJECTED work $gen" >/dev/null
for _ in $(seq 100); do
	[[ "$(daemon_call 'TOKEN work')" == "ERR login-required"* ]] && break
	sleep 0.1
done
expect "no token: the daemon's AADSTS sentence" 69 \
	"FAILED: mailoauthd has no token for work: .*AADSTS70000.*
What to do: run 'mailoauth login work', then test again; Microsoft explains AADSTS70000 at https://login\.microsoftonline\.com/error\?code=70000" \
	--smtp "127.0.0.1:$SUBMISSION_PORT" --plain

# ---------------------------------------------------------------- no token in any output
xo=$("$E2E_PYTHON" -c 'import base64, sys
print(base64.b64encode(("user=%s\x01auth=Bearer %s\x01\x01" % (sys.argv[1], sys.argv[2])).encode()).decode())' "$ALICE" "$token")
t_like "the output log has the verbose runs" "$(grep -c '^  C: ' "$OUTLOG")" '^[1-9]'
t_no_secret_in "the token and its XOAUTH2 response never appear in the output" "$OUTLOG" \
	"$token" "$xo" "${token:0:24}"
t_no_secret_in "nor in the scripted server's log" "$E2E_DIR/o365smtp.log" "$token" "$xo"
t_done
