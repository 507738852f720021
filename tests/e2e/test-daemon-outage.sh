#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-daemon-outage.sh - the identity provider goes down while an access
# token is still valid: mailoauthd keeps serving that token, backs off, says
# why in its status, and gets a new token once the provider is back.
# Tokens live 200 s here and refresh_margin is 120 s, so the proactive
# refresh is due after 68 to 80 s, with a minute of validity left.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib/env.sh"

ALICE=alice@example.com
e2e_init
. "$E2E_LIB/daemon.sh"
start_idp
idp_call POST /_test/config '{"token_lifetime": 200}' >/dev/null
DAEMON_EXTRA="refresh_margin = 120"
daemon_config work "$ALICE"
daemon_seed work "$ALICE"
start_daemon

# answer - a TOKEN answer without the token itself (it stays out of logs)
answer() {
	daemon_call 'TOKEN work' | sed 's/ token=.*//'
}

first=$(answer)
t_like "a token is served" "$first" '^OK account=work .* gen=1 '
idp_call POST /_test/fault '{"path_prefix": "*", "kind": "status", "status": 503}' >/dev/null

t_wait_file_like 100 "the proactive refresh meets the outage and backs off" "$DAEMON_LOG" \
	"account work: refresh failed, retrying in [0-9]+ s"
t_like "the still-valid token keeps being served" "$(answer)" \
	'^OK account=work .* gen=1 '
for _ in $(seq 20); do daemon_call 'TOKEN work' >/dev/null; done
t_like "status tells why the token was not renewed" "$(daemon_call 'STATUS work')" \
	'state=valid .*failures=1 .*message=.*503'
t_is "twenty requests during the back-off did not hammer the provider" \
	"$(grep -c 'refresh failed, retrying' "$DAEMON_LOG")" 1

idp_call POST /_test/fault/clear '' >/dev/null
for _ in $(seq 120); do
	(($(grep -c 'account work: new access token' "$DAEMON_LOG") >= 2)) && break
	sleep 0.5
done
t_is "once the provider is back a new token comes" \
	"$(grep -c 'account work: new access token' "$DAEMON_LOG")" 2
t_like "and is served" "$(answer)" '^OK account=work .* gen=2 '
t_done
