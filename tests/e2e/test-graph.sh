#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-graph.sh - outbound mail through Microsoft Graph for a tenant without
# SMTP AUTH: a real Postfix routes mail with transport_maps to a pipe(8)
# transport running mailoauth-graph (as an unprivileged user the account's
# allow names), which takes a token from the real mailoauthd (a client-
# credentials account with scope https://graph.microsoft.com/.default) and
# posts the message to the test IdP's Graph look-alike, which checks the
# token and records what it would have sent (/_test/graph/sent).
#
#   directly: a usage error is 64; a message over Graph's 4 MB limit is 65
#     before any request; a 404 is 67; a token Graph refuses (401) is 75 and
#     the daemon, told with REJECTED, serves a new one that works;
#   through Postfix: one message to three recipients, one of them only in
#     the envelope, is one Graph request naming all three (that one as Bcc),
#     with the same Message-ID and body, CRLF line ends and no Return-Path;
#   a 429 (Retry-After) and a 503 defer the message, which stays queued and
#     is delivered exactly once after a flush;
#   a 403 ErrorSendAsDenied bounces, and the bounce (null sender, sent from
#     the account's mailbox, through Graph too) carries Graph's reason;
#   a 3.3 MB message through Postfix: bounced (5.6.0), never posted;
#   mailoauthd stopped: deferred; back and flushed: delivered once;
#   the pipe's user not in the account's allow: EX_TEMPFAIL, deferred with
#     the daemon's sentence (fixed on this side, so the mail waits); allowed
#     again and flushed: delivered once;
#   nothing lost: the queue ends empty, every Message-ID arrived once;
#   no token in Postfix's, the daemon's or the IdP's log or in the queue.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib/env.sh"

ALICE=alice@example.com
RELAY=relay@example.com
PIPE_USER=nobody
GRAPH_BIN=$MO_PROG_BUILD/token-helper/mailoauth-graph

e2e_init
. "$E2E_LIB/daemon.sh"
[[ -x "$GRAPH_BIN" ]] || e2e_bail "$GRAPH_BIN is not built"
start_idp

# ---- the app registration (a client secret) and the account
SECRET=$(head -c 30 /dev/urandom | base64 | tr -d '/+=\n')
printf %s "$SECRET" | "$E2E_PYTHON" -c 'import json, sys
print(json.dumps({"clients": {"graph-app": {"secret": sys.stdin.read(), "user": sys.argv[1]}}}))' \
	"$RELAY" | curl -sS --fail-with-body --max-time 10 -H 'Content-Type: application/json' \
	--data-binary @- "$IDP_URL/_test/config" >/dev/null

mkdir -p "$DAEMON_DIR"
chmod 0755 "$DAEMON_DIR"
cat >"$DAEMON_CONF" <<EOF
[daemon]
socket = $DAEMON_SOCKET
store = file
store_path = $DAEMON_STORE
store_key_file = $DAEMON_KEY

[account relay]
provider = microsoft
tenant = contoso
authority = $IDP_URL
flow = client-credentials
client_id = graph-app
user = $RELAY
scopes = https://graph.microsoft.com/.default
graph_url = $IDP_URL
allow = $PIPE_USER
EOF
# no secrets in it: readable by the pipe's user, writable by root only
chmod 0644 "$DAEMON_CONF"
printf %s "$SECRET" | "$E2E_PYTHON" -c 'import json, sys
sys.stdout.write(json.dumps({"v": 1, "client_secret": sys.stdin.read()}))' |
	"$MO_BUILD/tests/store-tool" file "$DAEMON_STORE" "$DAEMON_KEY" save relay
start_daemon

TOKENS=()
# keep_token: remember the account's current token for the log checks
keep_token() {
	local t
	t=$(daemon_call "TOKEN relay" | sed -n 's/.* token=//p')
	[[ -n "$t" ]] && TOKENS+=("$t")
	return 0
}
keep_token
t_is "mailoauthd serves a Graph token for the relay account" "${#TOKENS[@]}" 1

sent_json() { idp_call GET /_test/graph/sent; }
# sent_count: how many messages the Graph look-alike accepted
sent_count() { sent_json | "$E2E_PYTHON" -c 'import json, sys; print(len(json.load(sys.stdin)["messages"]))'; }
# sent_field N KEY: field KEY of accepted message N (0-based; -1 the last), as JSON
sent_field() {
	sent_json | "$E2E_PYTHON" -c 'import json, sys
print(json.dumps(json.load(sys.stdin)["messages"][int(sys.argv[1])][sys.argv[2]]))' "$1" "$2"
}
# msgid_count ID: how many accepted messages carry Message-ID <ID>
msgid_count() {
	sent_json | "$E2E_PYTHON" -c 'import json, sys
print(sum(1 for m in json.load(sys.stdin)["messages"] if m["message_id"] == "<%s>" % sys.argv[1]))' "$1"
}
fault() { idp_call POST /_test/fault "$1" >/dev/null; }

# ---- mailoauth-graph by itself (as root, whom the daemon always serves)
# MO_GRAPH_WRAPPER (e.g. "valgrind -q --error-exitcode=99 --leak-check=full")
# runs these direct calls under a checker
graph() { ${MO_GRAPH_WRAPPER:-} "$GRAPH_BIN" --config "$DAEMON_CONF" --account relay "$@"; }
small_msg() { printf 'From: %s\nTo: to@example.net\nSubject: direct\n\nhello\n' "$ALICE"; }

rc=0; out=$(small_msg | graph -f "$ALICE" 2>&1) || rc=$?
t_is "no recipient: EX_USAGE (64)" "$rc" 64
rc=0; out=$({ printf 'From: %s\nTo: to@example.net\nSubject: big\n\n' "$ALICE"
	head -c 2400000 /dev/urandom | base64; } | graph -f "$ALICE" -- to@example.net 2>&1) || rc=$?
t_is "a message over Graph's 4 MB limit: EX_DATAERR (65)" "$rc" 65
t_like "saying why, in one line" "$out" '^mailoauth-graph: the message is larger than Microsoft Graph accepts .*4 MB.*nothing was sent$'
t_is "and nothing was posted to Graph" "$(idp_counters sendmail)" 0

rc=0; out=$(small_msg | graph -f "$ALICE" -- to@example.net hidden@example.net 2>&1) || rc=$?
t_is "a direct send: accepted (0)" "$rc" 0
t_is "Graph got it for alice's mailbox" "$(sent_field -1 mailbox)" "\"$ALICE\""
t_is "with the envelope-only recipient as Bcc" "$(sent_field -1 bcc)" '["hidden@example.net"]'
t_is "by the app, app-only" "$(sent_field -1 client_id) $(sent_field -1 app_only)" '"graph-app" true'

fault '{"kind": "status", "status": 404, "count": 1, "path_prefix": "/v1.0/users/", "content_type": "application/json", "body": "{\"error\": {\"code\": \"ErrorInvalidUser\", \"message\": \"The requested user is invalid.\"}}"}'
rc=0; out=$(small_msg | graph -f nobody@example.com -- to@example.net 2>&1) || rc=$?
t_is "no such mailbox (404): EX_NOUSER (67)" "$rc" 67
t_like "naming the mailbox and Graph's code" "$out" 'no mailbox nobody@example.com .*404 ErrorInvalidUser'

idp_revoke "$RELAY"
rc=0; out=$(small_msg | graph -f "$ALICE" -- to@example.net 2>&1) || rc=$?
t_is "a token Graph refuses (401): EX_TEMPFAIL (75)" "$rc" 75
t_like "saying the daemon gets a new one" "$out" 'refused the token .*401 InvalidAuthenticationToken.*new one'
rc=0; out=$(small_msg | graph -f "$ALICE" -- to@example.net 2>&1) || rc=$?
t_is "the next try gets a new token and is accepted" "$rc" 0
keep_token
idp_call POST /_test/graph/clear >/dev/null

# ---- Postfix with a pipe transport for Graph
POSTFIX_RELAYHOST='[127.0.0.1]:9' postfix_setup
# pipe(8) clears the environment: the sanitizers' options are passed by env(1)
cat >>"$POSTFIX_DIR/master.cf" <<EOF
graph     unix  -       n       n       -       -       pipe
  flags=Rq user=$PIPE_USER argv=/usr/bin/env ASAN_OPTIONS=$ASAN_OPTIONS UBSAN_OPTIONS=$UBSAN_OPTIONS $GRAPH_BIN --config $DAEMON_CONF --account relay -f \${sender} -- \${recipient}
EOF
# one next hop for every domain: one delivery (one Graph request) per message
printf '%s graph:graph\n' example.net example.org example.com >"$POSTFIX_DIR/transport"
postconf -c "$POSTFIX_DIR" -e "transport_maps = texthash:$POSTFIX_DIR/transport" \
	"graph_destination_recipient_limit = 50"
start_postfix
t_ok "postfix check is happy with the graph transport" postfix_check

# send_mail FROM SUBJECT MSGID TO CC RCPT...: submits over SMTP; prints the queue id
send_mail() {
	"$E2E_PYTHON" - "$POSTFIX_PORT" "$@" <<'EOF'
import email.utils, re, smtplib, sys
port, sender, subject, msgid, to, cc, *rcpts = sys.argv[1:]
msg = ("From: <%s>\r\nTo: %s\r\nCc: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s>\r\n"
       "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
       "Content-Transfer-Encoding: 8bit\r\n\r\nBody of %s: caf\u00e9\r\n.line with a dot\r\n"
       % (sender, to, cc, subject, email.utils.formatdate(), msgid, msgid))
with smtplib.SMTP("127.0.0.1", int(port), timeout=20) as s:
    s.ehlo("client.e2e.test")
    s.mail(sender, ["BODY=8BITMIME"])
    for r in rcpts:
        code, text = s.rcpt(r)
        if code not in (250, 251): sys.exit("RCPT TO %s: %d %s" % (r, code, text.decode()))
    code, text = s.data(msg.encode())
    if code != 250: sys.exit("DATA: %d %s" % (code, text.decode()))
m = re.search(r"queued as (\S+)", text.decode())
print(m.group(1) if m else text.decode())
EOF
}
# wait_status QID STATUS [SECS]: waits for a "status=STATUS" line of QID
wait_status() {
	local tries=$((${3:-20} * 10))
	while ((tries-- > 0)); do
		grep -q " $1: to=<.*status=$2" "$POSTFIX_LOG" && return 0
		sleep 0.1
	done
	return 1
}
status_line() { grep " $1: to=<.*status=$2" "$POSTFIX_LOG" | head -n 1; }
# wait_sent N [SECS]: waits until Graph has accepted N messages in all
wait_sent() {
	local tries=$((${2:-20} * 10))
	while ((tries-- > 0)); do
		(($(sent_count) >= $1)) && return 0
		sleep 0.1
	done
	return 1
}

# ---- one message, three recipients, one of them only in the envelope
ID1=graph-1.$$@client.e2e.test
qid=$(send_mail "$ALICE" "three recipients" "$ID1" "To Person <to@example.net>" \
	"Carol <cc@example.org>" to@example.net cc@example.org hidden@example.net)
t_ok "Postfix delivers it through the graph transport" postfix_wait_queue_empty 30
t_is "to all three recipients" "$(grep -c " $qid: to=<.*relay=graph.*status=sent" "$POSTFIX_LOG")" 3
t_is "in one Graph request" "$(sent_count)" 1
t_is "sent from the envelope sender's mailbox" "$(sent_field 0 mailbox)" "\"$ALICE\""
t_is "To as written" "$(sent_field 0 to)" '["to@example.net"]'
t_is "Cc as written" "$(sent_field 0 cc)" '["cc@example.org"]'
t_is "the envelope-only recipient as Bcc" "$(sent_field 0 bcc)" '["hidden@example.net"]'
t_is "the same Message-ID" "$(sent_field 0 message_id)" "\"<$ID1>\""
t_like "the same body, 8-bit intact" "$(sent_field 0 body)" "Body of $ID1: caf\\\\u00e9.*\\.line with a dot"
t_is "CRLF line ends only" "$(sent_field 0 crlf_only)" true
t_unlike "no Return-Path (pipe's R flag) sent to Graph" "$(sent_field 0 header)" 'Return-Path'

# ---- 429 and 503: deferred, stays queued, delivered once after a flush
fault '{"kind": "throttle", "retry_after": 7, "count": 1, "path_prefix": "/v1.0/users/"}'
ID2=graph-2.$$@client.e2e.test
qid=$(send_mail "$ALICE" "throttled" "$ID2" to@example.net "" to@example.net)
t_ok "a 429 defers the message" wait_status "$qid" deferred
t_like "saying Graph throttles and when to retry" "$(status_line "$qid" deferred)" \
	'dsn=4\.3\.0.*throttling alice@example.com \(HTTP 429.*retry after 7 s; will retry'
t_is "it stays queued" "$(postfix_queue_count)" 1
t_is "nothing was accepted meanwhile" "$(msgid_count "$ID2")" 0
postfix_flush
t_ok "a flush delivers it" postfix_wait_queue_empty 30
t_is "exactly once" "$(msgid_count "$ID2")" 1

fault '{"kind": "status", "status": 503, "count": 1, "path_prefix": "/v1.0/users/"}'
ID3=graph-3.$$@client.e2e.test
qid=$(send_mail "$ALICE" "unavailable" "$ID3" to@example.net "" to@example.net)
t_ok "a 503 defers the message" wait_status "$qid" deferred
t_like "as a temporary failure" "$(status_line "$qid" deferred)" 'dsn=4\.3\.0.*HTTP 503.*will retry'
postfix_flush
t_ok "a flush delivers it" postfix_wait_queue_empty 30
t_is "exactly once" "$(msgid_count "$ID3")" 1

# ---- 403 ErrorSendAsDenied: bounced, with Graph's reason in the bounce
fault '{"kind": "status", "status": 403, "count": 1, "path_prefix": "/v1.0/users/", "content_type": "application/json", "body": "{\"error\": {\"code\": \"ErrorSendAsDenied\", \"message\": \"The user account which was used to submit this request does not have the right to send mail on behalf of the specified sending account.\"}}"}'
ID4=graph-4.$$@client.e2e.test
before=$(sent_count)
qid=$(send_mail "$ALICE" "denied" "$ID4" to@example.net "" to@example.net)
t_ok "a 403 ErrorSendAsDenied bounces the message" wait_status "$qid" bounced
t_like "with a permanent 5.7.0 and Graph's reason" "$(status_line "$qid" bounced)" \
	'dsn=5\.7\.0.*refused to send as alice@example.com .*403 ErrorSendAsDenied'
t_ok "the bounce to alice leaves the queue (through Graph too)" postfix_wait_queue_empty 30
t_is "the bounced message itself never reached Graph" "$(msgid_count "$ID4")" 0
t_is "the bounce did" "$(sent_count)" $((before + 1))
t_is "from the account's mailbox (null sender)" "$(sent_field -1 mailbox)" "\"$RELAY\""
t_is "to alice" "$(sent_field -1 to)" "[\"$ALICE\"]"
t_like "carrying Graph's reason" "$(sent_field -1 body)" 'ErrorSendAsDenied'

# ---- a message over Graph's limit: bounced by Postfix, never posted
posts=$(idp_counters sendmail)
"$E2E_PYTHON" - "$POSTFIX_PORT" "$ALICE" <<'EOF'
import base64, os, smtplib, sys
port, sender = sys.argv[1:]
body = base64.encodebytes(os.urandom(2400000)).decode().replace("\n", "\r\n")
msg = "From: <%s>\r\nTo: to@example.net\r\nSubject: big\r\n\r\n%s" % (sender, body)
with smtplib.SMTP("127.0.0.1", int(port), timeout=30) as s:
    s.sendmail(sender, ["to@example.net"], msg.encode())
EOF
qid=$(grep 'postfix/qmgr.*size=3[0-9]\{6\}' "$POSTFIX_LOG" | tail -n 1 | sed 's/.*: \([0-9A-F]*\): from=.*/\1/')
t_ok "a 3.3 MB message is bounced" wait_status "$qid" bounced
t_like "as a data error saying it is over Graph's 4 MB limit" "$(status_line "$qid" bounced)" \
	'dsn=5\.6\.0.*larger than Microsoft Graph accepts.*4 MB.*nothing was sent'
t_ok "its bounce leaves the queue" postfix_wait_queue_empty 30
t_is "only the bounce was posted to Graph" "$(idp_counters sendmail)" $((posts + 1))

# ---- mailoauthd down: deferred; back: delivered once
stop_daemon
ID5=graph-5.$$@client.e2e.test
qid=$(send_mail "$ALICE" "daemon down" "$ID5" to@example.net "" to@example.net)
t_ok "with mailoauthd stopped the message is deferred" wait_status "$qid" deferred
t_like "saying mailoauthd cannot be reached" "$(status_line "$qid" deferred)" \
	'dsn=4\.3\.0.*cannot reach mailoauthd'
t_is "it stays queued" "$(postfix_queue_count)" 1
start_daemon
postfix_flush
t_ok "mailoauthd back + flush: delivered" postfix_wait_queue_empty 30
t_is "exactly once" "$(msgid_count "$ID5")" 1
keep_token

# ---- the pipe's user not in the account's allow: EX_TEMPFAIL (75), so the
# mail waits in the queue with the daemon's sentence; allowed again: it and
# a new message are delivered
sed -i "s/^allow = $PIPE_USER\$/allow = daemon/" "$DAEMON_CONF"
kill -HUP "$DAEMON_PID"
t_wait_file_like 10 "SIGHUP: the daemon reads the new allow" "$DAEMON_LOG" "configuration reloaded"
ID6=graph-6.$$@client.e2e.test
qid=$(send_mail "$ALICE" "not allowed" "$ID6" to@example.net "" to@example.net)
t_ok "a pipe user the account does not allow: deferred, not bounced" wait_status "$qid" deferred
t_like "with the daemon's sentence naming the allow list" "$(status_line "$qid" deferred)" \
	'dsn=4\.[0-9]\.[0-9].*uid [0-9]+ may not use account relay.*allow list \(denied\)'
t_is "it never reached Graph" "$(msgid_count "$ID6")" 0
t_is "it stays queued" "$(postfix_queue_count)" 1
sed -i "s/^allow = daemon\$/allow = $PIPE_USER/" "$DAEMON_CONF"
: >>"$DAEMON_LOG"
reloads=$(grep -c "configuration reloaded" "$DAEMON_LOG")
kill -HUP "$DAEMON_PID"
for _ in $(seq 100); do
	(($(grep -c "configuration reloaded" "$DAEMON_LOG") > reloads)) && break
	sleep 0.1
done
ID7=graph-7.$$@client.e2e.test
send_mail "$ALICE" "allowed again" "$ID7" to@example.net "" to@example.net >/dev/null
postfix_flush
t_ok "allowed again and flushed: both delivered" postfix_wait_queue_empty 30

# ---- nothing lost, nothing twice
for id in "$ID1" "$ID2" "$ID3" "$ID5" "$ID6" "$ID7"; do
	t_is "Message-ID $id arrived once" "$(msgid_count "$id")" 1
done
t_is "the queue is empty" "$(postfix_queue_count)" 0

# ---- no token anywhere
queue_dump=$E2E_DIR/queue-dump.txt
grep -rah . "$POSTFIX_QUEUE"/{incoming,active,deferred,hold,maildrop} >"$queue_dump" 2>/dev/null || true
t_no_secret_in "no token in Postfix's log" "$POSTFIX_LOG" "${TOKENS[@]}"
t_no_secret_in "no token in the daemon's log" "$DAEMON_LOG" "${TOKENS[@]}"
t_no_secret_in "no token or client secret in the IdP's log" "$E2E_DIR/idp.log" "${TOKENS[@]}" "$SECRET"
t_no_secret_in "no token in the queue" "$queue_dump" "${TOKENS[@]}"
t_done
