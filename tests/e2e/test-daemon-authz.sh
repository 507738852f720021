#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-daemon-authz.sh - who may have a token, on every kind of socket, and
# which unsafe modes keep mailoauthd from starting (issue #6).
#
#   Two accounts: "byuid" (allow = daemon) and "bygroup" (allow = @mail).
#   Callers, made with setpriv from Debian's base accounts:
#     daemon   uid daemon, gid nogroup, no other group
#     primary  uid nobody, gid mail, no other group
#     supp     uid nobody, gid nogroup, supplementary group mail
#     none     uid nobody, gid nogroup, no other group
#   On the main socket, an extra_sockets socket and a socket passed by
#   systemd-socket-activate: allowed by uid, by primary group and by
#   supplementary group get a token; everyone else gets ERR denied (for
#   TOKEN, TOKEN-USER, XOAUTH2 and OAUTHBEARER alike) and no token, LIST
#   shows each caller only its accounts, and `mailoauth token` exits 0 or 77.
#
#   Refused at start, with a message naming the path: a store file
#   readable by group or others, a key file readable by others, a config
#   file writable by group or others, a socket directory (main or extra)
#   writable by group or others; a sticky one (as /tmp) is accepted.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib/env.sh"

ALICE=alice@example.com
BOB=bob@example.com
e2e_init
. "$E2E_LIB/daemon.sh"
start_idp
for u in daemon nobody; do id "$u" >/dev/null 2>&1 || t_bail "no user $u"; done
for g in mail nogroup; do getent group "$g" >/dev/null || t_bail "no group $g"; done

EXTRA_DIR=$E2E_DIR/extra
EXTRA_SOCKET=$EXTRA_DIR/socket
ACT_DIR=$E2E_DIR/activated
ACT_SOCKET=$ACT_DIR/socket
mkdir -m 0755 "$EXTRA_DIR" "$ACT_DIR"
export DAEMON_EXTRA="extra_sockets = $EXTRA_SOCKET"
daemon_config byuid "$ALICE" "allow = daemon

[account bygroup]
provider = microsoft
tenant = contoso
authority = $IDP_URL
client_id = mailoauth-e2e
user = $BOB
allow = @mail"
chmod 0644 "$DAEMON_CONF"	# no secrets in it: the CLI reads it as other uids
daemon_seed byuid "$ALICE"
daemon_seed bygroup "$BOB"
start_daemon

declare -A AS=(
	[daemon]="--reuid=daemon --regid=nogroup --clear-groups"
	[primary]="--reuid=nobody --regid=mail --clear-groups"
	[supp]="--reuid=nobody --regid=nogroup --groups=mail"
	[none]="--reuid=nobody --regid=nogroup --clear-groups"
)
NOBODY=$(id -u nobody)
DAEMON_UID=$(id -u daemon)

# ask WHO SOCKET REQUEST: the answer, any token in it replaced by "T"
ask() {
	# shellcheck disable=SC2086
	printf '%s\n' "$3" | setpriv ${AS[$1]} timeout 20 socat -t 10 - "UNIX-CONNECT:$2" |
		tr '\001' '|' | sed -E 's/(token=|Bearer |auth=Bearer )[^ |]+/\1T/g'
}
# cli WHO SOCKET ACCOUNT: `mailoauth token ACCOUNT` as WHO; sets RC and
# CLI_OUT (a token is replaced by "T" once checked for its shape)
cli() {
	local out=$E2E_DIR/cli.out
	RC=0
	# shellcheck disable=SC2086
	MAILOAUTH_SOCKET=$2 setpriv ${AS[$1]} \
		"$MO_PROG_BUILD/token-helper/mailoauth" --config "$DAEMON_CONF" token "$3" \
		>"$out" 2>"$E2E_DIR/cli.err" || RC=$?
	CLI_OUT=$(sed -E 's/^[A-Za-z0-9._~+/-]{100,}=*$/T/' "$out")
	CLI_ERR=$(cat "$E2E_DIR/cli.err")
	rm -f "$out"
}

# matrix NAME SOCKET: every caller against both accounts on SOCKET
matrix() {
	local n=$1 s=$2 denied
	t_like "$n: uid daemon gets byuid (allowed by uid)" "$(ask daemon "$s" 'TOKEN byuid')" \
		"^OK account=byuid user=$ALICE .* token=T\$"
	t_like "$n: gid mail gets bygroup (allowed by primary group)" \
		"$(ask primary "$s" 'TOKEN bygroup')" "^OK account=bygroup user=$BOB .* token=T\$"
	t_like "$n: supplementary group mail gets bygroup (allowed by supplementary group)" \
		"$(ask supp "$s" 'TOKEN bygroup')" "^OK account=bygroup user=$BOB .* token=T\$"
	t_like "$n: uid daemon is denied bygroup" "$(ask daemon "$s" 'TOKEN bygroup')" \
		"^ERR denied uid $DAEMON_UID may not use account bygroup"
	t_like "$n: group mail is denied byuid" "$(ask supp "$s" 'TOKEN byuid')" \
		"^ERR denied uid $NOBODY may not use account byuid"
	denied="^ERR denied uid $NOBODY may not use account bygroup[^|]*\$"
	t_like "$n: nobody/nogroup is denied bygroup: TOKEN" "$(ask none "$s" 'TOKEN bygroup')" "$denied"
	t_like "$n: ... TOKEN-USER" "$(ask none "$s" "TOKEN-USER $BOB bygroup")" "$denied"
	t_like "$n: ... XOAUTH2, no SASL message" "$(ask none "$s" 'XOAUTH2 bygroup')" "$denied"
	t_like "$n: ... OAUTHBEARER, no SASL message" "$(ask none "$s" 'OAUTHBEARER bygroup')" "$denied"
	t_is "$n: LIST shows uid daemon its account" "$(ask daemon "$s" LIST)" "OK accounts=byuid"
	t_is "$n: LIST shows group mail its account" "$(ask supp "$s" LIST)" "OK accounts=bygroup"
	t_is "$n: LIST shows nobody/nogroup none" "$(ask none "$s" LIST)" "OK accounts="
	cli supp "$s" bygroup
	t_is "$n: mailoauth token bygroup as group mail: exit 0 and a token" "$RC/$CLI_OUT" "0/T"
	cli none "$s" bygroup
	t_is "$n: mailoauth token bygroup as nobody/nogroup: exit 77, no token" "$RC/$CLI_OUT" "77/"
	t_like "$n: saying why" "$CLI_ERR" "may not use account bygroup"
}

# ---------------------------------------------------------------- sockets
matrix main "$DAEMON_SOCKET"
t_ok "the extra socket exists" test -S "$EXTRA_SOCKET"
matrix extra "$EXTRA_SOCKET"

activate() {
	stop_daemon
	rm -f "$ACT_SOCKET"
	systemd-socket-activate -l "$ACT_SOCKET" \
		"$MO_PROG_BUILD/token-helper/mailoauthd" --config "$DAEMON_CONF" --system \
		</dev/null >>"$DAEMON_LOG" 2>&1 &
	export DAEMON_PID=$!	# for stop_daemon
	for _ in $(seq 200); do
		[[ -S "$ACT_SOCKET" ]] && break
		sleep 0.05
	done
	chmod 0666 "$ACT_SOCKET"	# SocketMode=0666, as mailoauthd.socket says
}
if command -v systemd-socket-activate >/dev/null; then
	dlog=$(log_size "$DAEMON_LOG")
	activate
	matrix activated "$ACT_SOCKET"
	t_like "the daemon served the socket systemd passed" "$(log_since "$DAEMON_LOG" "$dlog")" \
		'serving 1 socket\(s\) from systemd'
	t_ok "and did not listen on its own socket" test ! -S "$DAEMON_SOCKET"
else
	t_skip "socket activation" "systemd-socket-activate is not installed (package systemd)"
fi
stop_daemon

# ---------------------------------------------------------------- unsafe modes
# refused CONF: runs the daemon in the foreground; sets RC and OUT. One that
# starts after all is stopped by timeout (RC 124).
refused() {
	RC=0
	OUT=$(timeout 20 "$MO_PROG_BUILD/token-helper/mailoauthd" --config "$1" --system \
		</dev/null 2>&1) || RC=$?
}
# unsafe DESC PATH MODE STATUS REGEX: PATH in MODE keeps the daemon from
# starting, with exit STATUS and a message matching REGEX; mode restored
unsafe() {
	local desc=$1 path=$2 mode=$3 status=$4 re=$5 old
	old=$(stat -c %a "$path")
	chmod "$mode" "$path"
	refused "$DAEMON_CONF"
	chmod "$old" "$path"
	t_is "$desc: refused (exit $status)" "$RC" "$status"
	t_like "$desc: the message names the path" "$OUT" "$re"
}
# the daemon ran as root: its files are root's
unsafe "store file readable by group" "$DAEMON_STORE" 0640 78 \
	"the store file $DAEMON_STORE can be read or written by group or others \\(mode 0640\\)"
unsafe "store file readable by others" "$DAEMON_STORE" 0604 78 \
	"the store file $DAEMON_STORE can be read or written by group or others \\(mode 0604\\)"
unsafe "key file readable by others" "$DAEMON_KEY" 0604 78 \
	"the key file $DAEMON_KEY can be read or written by group or others \\(mode 0604\\)"
unsafe "config file writable by group" "$DAEMON_CONF" 0664 78 \
	"$DAEMON_CONF: is writable by group or others \\(mode 0664\\)"
unsafe "config file writable by others" "$DAEMON_CONF" 0646 78 \
	"$DAEMON_CONF: is writable by group or others \\(mode 0646\\)"
SOCK_DIR=$(dirname "$DAEMON_SOCKET")
unsafe "main socket directory writable by others" "$SOCK_DIR" 0757 69 \
	"the socket directory $SOCK_DIR is writable by group or others \\(mode 0757\\).*$DAEMON_SOCKET"
unsafe "main socket directory writable by group" "$SOCK_DIR" 0775 69 \
	"the socket directory $SOCK_DIR is writable by group or others \\(mode 0775\\)"
unsafe "extra socket directory writable by others" "$EXTRA_DIR" 0777 69 \
	"the socket directory $EXTRA_DIR is writable by group or others \\(mode 0777\\).*$EXTRA_SOCKET"
t_ok "no socket was left behind" test ! -e "$DAEMON_SOCKET" -a ! -e "$EXTRA_SOCKET"

chmod 1777 "$EXTRA_DIR"
start_daemon
t_ok "a sticky world-writable directory (as /tmp) is accepted for a socket" test -S "$EXTRA_SOCKET"
t_like "and served there" "$(ask supp "$EXTRA_SOCKET" 'TOKEN bygroup')" '^OK account=bygroup '
chmod 0755 "$EXTRA_DIR"

# ---------------------------------------------------------------- no secrets
tokens=()
for acct in byuid bygroup; do
	tokens+=("$(daemon_call "TOKEN $acct" | sed -n 's/.* token=//p')")
	tokens+=("$(store_get "$acct" | _json_get refresh_token)")
done
t_is "four secrets to look for" "$(printf '%s\n' "${tokens[@]}" | grep -c .)" 4
t_no_secret_in "no token in the daemon's log" "$DAEMON_LOG" "${tokens[@]}"
t_file_unlike "nor any token of the run" "$DAEMON_LOG" \
	'eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}|0\.A[A-Za-z0-9_-]{100,}'
t_done
