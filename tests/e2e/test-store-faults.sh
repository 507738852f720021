#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-store-faults.sh - the file store on a tiny tmpfs that fills up or
# turns read-only, with the IdP rotating refresh tokens strictly (a rotated
# refresh token that is not kept is a lost grant), and a key file that is
# missing, not a regular file or damaged. Takes about half a minute.
#
# Access tokens live 30 s, less than the minute mailoauthd wants left before
# it serves one from its cache, so every TOKEN request is a refresh with a
# rotation, and every rotation is a store write.
#   disk full (ENOSPC): the write fails; TOKEN says why (temporary, never
#     login-required), so do STATUS and the log; the old store file is
#     intact and no temporary file is left; while the disk stays full the
#     daemon retries the write and does not refresh again (the IdP sees no
#     request); once space is freed it stores the rotated grant it kept in
#     memory, which is the IdP's newest and works;
#   a token that expired while the write kept failing is not served;
#   read-only (remount,ro): the same, and `mailoauth login` refuses at once
#     (exit 74) with the reason, before anyone signs in; a store that fills
#     up during a sign-in fails the login (74) and leaves the store as it
#     was;
#   key file: missing while the store exists, a FIFO (whose open would
#     block), the wrong size: mailoauthd and `mailoauth login` stop with a
#     clear error, never hang.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib/env.sh"

ALICE=alice@example.com
e2e_init
. "$E2E_LIB/daemon.sh"
. "$E2E_LIB/durability.sh"
start_idp
STRICT_ROTATION=1
idp_call POST /_test/config '{"token_lifetime": 30, "strict_rotation": true,
	"device_interval": 1}' >/dev/null

if ! tmpfs_mount 64k; then
	t_skip "store faults on a small tmpfs" "cannot mount a tmpfs here (needs CAP_SYS_ADMIN)"
	t_done
fi
MNT=$TMPFS
DAEMON_STORE=$MNT/store	# the key file stays in $DAEMON_DIR
daemon_config work "$ALICE"
daemon_seed work "$ALICE"
start_daemon
CLI=("$MO_PROG_BUILD/token-helper/mailoauth" --config "$DAEMON_CONF" --system)
OUTS=()		# what the CLI printed

# token NAME: TOKEN work, the answer in $E2E_DIR/NAME.ans; prints it without the token
token() {
	daemon_call "TOKEN work" >"$E2E_DIR/$1.ans" 2>&1 || true
	no_token "$(cat "$E2E_DIR/$1.ans")"
}
# store_blob: the SHA-256 of the store file and of the stored grant
store_blob() {
	printf '%s %s\n' "$(sha256sum <"$DAEMON_STORE" | cut -c1-16)" \
		"$(store_get work 2>&1 | sha256sum | cut -c1-16)"
}
temps() {
	find "$MNT" -name '*.tmp*' | wc -l
}
# fill: a filler file takes every free byte of the tmpfs
fill() {
	dd if=/dev/zero of="$MNT/filler" bs=4k 2>/dev/null || true
}
idp_tokens() {
	idp_counters token
}

t_like "a token is served" "$(token t0)" '^OK account=work '
rt=$(stored_rt work)
t_ok "the store holds a live refresh token ($rt)" usable_rt "$rt"

# ---- disk full
fill
t_is "the tmpfs is full" "$(df --output=avail -B1 "$MNT" | tail -n 1 | tr -d ' ')" 0
before=$(store_blob)
rt_before=$(stored_rt work)
answer=$(token t1)
t_like "TOKEN fails while the rotated grant cannot be stored, as a temporary failure" \
	"$answer" '^ERR unavailable .*cannot store the rotated refresh token of account work'
t_like "and names the reason" "$answer" 'No space left on device'
t_like "STATUS says it too" "$(daemon_call 'STATUS work')" \
	'state=empty .*message=cannot%20store%20the%20rotated.*No%20space%20left%20on%20device'
t_file_like "the log says it" "$DAEMON_LOG" \
	'account work: refresh failed, retrying in [0-9]+ s: cannot store the rotated refresh token of account work in file .*No space left on device'
t_is "the store file is unchanged and decrypts to the same grant" "$(store_blob)" "$before"
t_is "no temporary file is left behind" "$(temps)" 0
rt=$(stored_rt work)
t_like "the stored refresh token is the one the IdP replaced (lost if the daemon forgot the new one)" \
	"$rt" "^serial=$(meta_field "$rt_before" serial) .*replaced=1"
n=$(idp_tokens)
for i in 1 2 3; do token "t2.$i" >/dev/null; done
t_like "while the disk stays full, TOKEN keeps failing for the same reason" "$(token t3)" \
	'^ERR unavailable .*No space left on device'
t_is "and the daemon retried only the store write, not the IdP" "$(idp_tokens)" "$n"
t_is "still no temporary file" "$(temps)" 0
rm -f "$MNT/filler"
answer=$(token t4)
t_like "space freed: the next TOKEN is served" "$answer" '^OK account=work '
rt=$(stored_rt work)
t_ok "the store holds the rotated grant, live at the IdP ($rt)" usable_rt "$rt"
t_is "and it is the IdP's newest refresh token" "$(meta_field "$rt" serial)" \
	"$(idp_max_serial)"
t_like "the served token is live" "$(served_at "$E2E_DIR/t4.ans")" 'kind=access .*revoked=0 .*expired=0'
t_like "STATUS is clean again" "$(daemon_call 'STATUS work')" 'state=valid .*failures=0'
t_like "under strict rotation the stored grant goes on working" "$(token t5)" '^OK account=work '

# ---- a token that expired while its grant could not be stored
idp_call POST /_test/config '{"token_lifetime": 2}' >/dev/null
fill
t_like "full again: TOKEN fails" "$(token t6)" '^ERR unavailable .*No space left on device'
sleep 3		# the access token that came with the rotation has expired
rm -f "$MNT/filler"
answer=$(token t7)
t_like "space freed after the token expired: a token is served" "$answer" '^OK account=work '
t_like "and it is a live one, not the one that expired meanwhile" \
	"$(served_at "$E2E_DIR/t7.ans")" 'kind=access .*revoked=0 .*expired=0'
rt=$(stored_rt work)
t_ok "the store holds a live grant ($rt)" usable_rt "$rt"
idp_call POST /_test/config '{"token_lifetime": 30}' >/dev/null

# ---- read-only
token t8 >/dev/null
mount -o remount,ro "$MNT"
before=$(store_blob)
rt_before=$(stored_rt work)
answer=$(token t9)
t_like "read-only store: TOKEN fails, temporarily, and says why" "$answer" \
	'^ERR unavailable .*cannot store the rotated refresh token of account work.*Read-only file system'
t_like "STATUS says it too" "$(daemon_call 'STATUS work')" 'message=cannot%20store.*Read-only%20file%20system'
t_is "the store is unchanged" "$(store_blob)" "$before"
n=$(idp_tokens)
t_is "RELOAD (every account without a token) answers" "$(daemon_call RELOAD)" OK
t_like "TOKEN still fails the same way" "$(token t10)" '^ERR unavailable .*Read-only file system'
t_is "without asking the IdP again" "$(idp_tokens)" "$n"

# mailoauth login cannot store a grant there: it says so before a sign-in
devcodes=$(idp_counters devicecode)
rc=0
timeout 60 "${CLI[@]}" login --no-qr work </dev/null >"$E2E_DIR/login-ro.out" 2>"$E2E_DIR/login-ro.err" || rc=$?
OUTS+=("$E2E_DIR/login-ro.out" "$E2E_DIR/login-ro.err")
t_is "mailoauth login with a read-only store exits 74" "$rc" 74
t_file_like "and says the store is read-only" "$E2E_DIR/login-ro.err" \
	"^mailoauth: .*$DAEMON_STORE.*Read-only file system"
t_is "before anyone was asked to sign in" "$(idp_counters devicecode)" "$devcodes"

mount -o remount,rw "$MNT"
# what an admin does after fixing the store: RELOAD ACCOUNT. The store
# still holds the grant the kept one was rotated from, so the daemon keeps
# and stores the rotated one rather than go back to the replaced one.
t_like "read-write again: RELOAD work stores the kept grant and has a token" \
	"$(daemon_call 'RELOAD work')" '^OK account=work state=valid '
t_like "TOKEN is served" "$(token t11)" '^OK account=work '
rt=$(stored_rt work)
t_ok "the store holds a live grant ($rt)" usable_rt "$rt"
t_is "the IdP's newest" "$(meta_field "$rt" serial)" "$(idp_max_serial)"

# login NAME ARGS...: mailoauth login in the background, output in NAME.out/.err
login_bg() {
	BG_NAME=$1
	shift
	timeout 60 "${CLI[@]}" login --no-qr "$@" </dev/null >"$E2E_DIR/$BG_NAME.out" \
		2>"$E2E_DIR/$BG_NAME.err" &
	BG_PID=$!
	OUTS+=("$E2E_DIR/$BG_NAME.out" "$E2E_DIR/$BG_NAME.err")
}
user_code() {
	local code=
	for _ in $(seq 200); do
		code=$(sed -n 's/^  Code: \([A-Z0-9-]*\).*/\1/p' "$E2E_DIR/$BG_NAME.out" | head -n 1)
		[[ -n "$code" ]] && break
		sleep 0.05
	done
	printf '%s' "$code"
}

# ---- disk full: mailoauth login refuses before the sign-in ...
fill
rc=0
timeout 60 "${CLI[@]}" login --no-qr work </dev/null >"$E2E_DIR/login-full.out" 2>"$E2E_DIR/login-full.err" || rc=$?
OUTS+=("$E2E_DIR/login-full.out" "$E2E_DIR/login-full.err")
t_is "mailoauth login with a full store exits 74" "$rc" 74
t_file_like "and says the file system is full" "$E2E_DIR/login-full.err" \
	"^mailoauth: cannot log in account 'work': .*file system of $MNT is full"
t_is "before anyone was asked to sign in" "$(idp_counters devicecode)" "$devcodes"
rm -f "$MNT/filler"
# ... and fails cleanly when the disk fills up during the sign-in
before=$(store_blob)
login_bg login-fills work
code=$(user_code)
t_like "with free space the sign-in starts" "$code" '^[A-Z]{4}-[A-Z]{4}$'
fill
idp_call POST /_test/device/approve "{\"user_code\": \"$code\", \"user\": \"$ALICE\"}" >/dev/null
rc=0
wait "$BG_PID" || rc=$?
t_is "the disk filled during the sign-in: mailoauth login exits 74" "$rc" 74
t_file_like "saying the grant could not be saved, and why" "$E2E_DIR/login-fills.err" \
	"^mailoauth: cannot save the grant of work in file $DAEMON_STORE: .*No space left on device; the store is unchanged"
t_is "the store is unchanged" "$(store_blob)" "$before"
t_is "no temporary file is left behind" "$(temps)" 0
rm -f "$MNT/filler"
t_like "space freed: the daemon goes on with its grant" "$(token t12)" '^OK account=work '

# ---- a login while the daemon holds a rotation the store refused: the
# login's grant wins (the RELOAD after it drops the older rotation)
fill
t_like "full: the daemon keeps a rotation in memory" "$(token t13)" '^ERR unavailable '
rm -f "$MNT/filler"
login_bg login-wins work
code=$(user_code)
idp_call POST /_test/device/approve "{\"user_code\": \"$code\", \"user\": \"$ALICE\"}" >/dev/null
rc=0
wait "$BG_PID" || rc=$?
t_is "space freed, mailoauth login succeeds" "$rc" 0
t_file_like "and the daemon took the new grant at once" "$E2E_DIR/login-wins.out" \
	'^mailoauthd has a fresh token for work\.'
rt=$(stored_rt work)
t_ok "the store holds a live grant ($rt)" usable_rt "$rt"
t_is "the IdP's newest (the login's grant, rotated once by the daemon)" \
	"$(meta_field "$rt" serial)" "$(idp_max_serial)"
t_like "TOKEN is served" "$(token t14)" '^OK account=work '
t_file_unlike "the daemon never asked for a new login" "$DAEMON_LOG" 'login-required|mailoauth login'

# ---- the key file
stop_daemon
KEY=$DAEMON_DIR/store.key
mv "$KEY" "$KEY.good"
# key_fault NAME EXIT REGEX: mailoauthd (78) and mailoauth login (EXIT) stop
# at once with a clear error (REGEX) and leave the store alone
key_fault() {
	local rc=0 what=$1 want=$2 re=$3 before
	before=$(sha256sum <"$DAEMON_STORE")
	timeout 20 "$MO_PROG_BUILD/token-helper/mailoauthd" --config "$DAEMON_CONF" --system \
		</dev/null >"$E2E_DIR/key.out" 2>&1 || rc=$?
	t_is "$what: mailoauthd exits 78" "$rc" 78
	t_file_like "$what: and says why" "$E2E_DIR/key.out" "$re"
	rc=0
	timeout 20 "${CLI[@]}" login --no-qr work </dev/null >"$E2E_DIR/key-login.out" \
		2>"$E2E_DIR/key-login.err" || rc=$?
	OUTS+=("$E2E_DIR/key.out" "$E2E_DIR/key-login.out" "$E2E_DIR/key-login.err")
	t_is "$what: mailoauth login exits $want" "$rc" "$want"
	t_file_like "$what: and says why" "$E2E_DIR/key-login.err" "^mailoauth: .*$re"
	t_is "$what: the store is untouched" "$(sha256sum <"$DAEMON_STORE")" "$before"
}
key_fault "missing key file" 74 "the key file $KEY is missing but the store $DAEMON_STORE exists"
mkfifo -m 0600 "$KEY"
key_fault "a FIFO as key file" 77 "the key file $KEY is not a regular file"
rm -f "$KEY"
head -c 31 "$KEY.good" >"$KEY"
chmod 0600 "$KEY"
key_fault "a 31-byte key file" 74 "the key file $KEY holds 31 bytes, not 32"
mv -f "$KEY.good" "$KEY"

# a key file its user may not read (mode 0000; as root any mode reads, so
# the CLI and the daemon run as nobody here, with a store of their own)
NB=$E2E_DIR/nobody
mkdir -p "$NB"
cat >"$NB/mailoauth.conf" <<EOF
[daemon]
socket = $NB/socket
store = file
store_path = $NB/store
store_key_file = $NB/store.key

[account work]
provider = microsoft
tenant = contoso
authority = $IDP_URL
client_id = mailoauth-e2e
user = $ALICE
EOF
head -c 32 /dev/urandom >"$NB/store.key"
chmod 0000 "$NB/store.key"
chown -R nobody:nogroup "$NB"
chmod 0700 "$NB"
as_nobody() {
	setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"
}
rc=0
as_nobody timeout 20 "$MO_PROG_BUILD/token-helper/mailoauthd" --config "$NB/mailoauth.conf" --user \
	</dev/null >"$E2E_DIR/nobody-d.out" 2>&1 || rc=$?
t_is "an unreadable key file: mailoauthd exits 78" "$rc" 78
t_file_like "and says why" "$E2E_DIR/nobody-d.out" "cannot read the key file $NB/store.key: Permission denied"
rc=0
as_nobody timeout 20 "$MO_PROG_BUILD/token-helper/mailoauth" --config "$NB/mailoauth.conf" --user \
	login --no-qr work </dev/null >"$E2E_DIR/nobody-l.out" 2>"$E2E_DIR/nobody-l.err" || rc=$?
t_is "an unreadable key file: mailoauth login exits 74" "$rc" 74
t_file_like "and says why" "$E2E_DIR/nobody-l.err" \
	"^mailoauth: cannot read the key file $NB/store.key: Permission denied"
t_ok "nothing was created next to it" test ! -e "$NB/store"

# the store's lock held by another process (a stopped mailoauth, say):
# mailoauth login gives up after the store's 10 s lock wait, before any
# sign-in, and says who to look for
(exec 9>>"$DAEMON_STORE.lock" && flock 9 && exec sleep 60) &
LOCKER=$!
stop_locker() {
	[[ -n "${LOCKER-}" ]] || return 0
	kill "$LOCKER" 2>/dev/null || true
	wait "$LOCKER" 2>/dev/null || true
	LOCKER=
}
E2E_STOP_HOOKS+=(stop_locker)
for _ in $(seq 50); do
	fuser "$DAEMON_STORE.lock" >/dev/null 2>&1 && break
	sleep 0.1
done
devcodes=$(idp_counters devicecode)
rc=0
timeout 40 "${CLI[@]}" login --no-qr work </dev/null >"$E2E_DIR/login-locked.out" \
	2>"$E2E_DIR/login-locked.err" || rc=$?
OUTS+=("$E2E_DIR/login-locked.out" "$E2E_DIR/login-locked.err")
stop_locker
t_is "a locked store: mailoauth login exits 75 (try later)" "$rc" 75
t_file_like "and says the store is locked and how to find by whom" "$E2E_DIR/login-locked.err" \
	"^mailoauth: cannot log in account 'work': .*is locked by another process .*'fuser $DAEMON_STORE.lock'"
t_is "before anyone was asked to sign in" "$(idp_counters devicecode)" "$devcodes"

t_is "the store decrypts with the right key" "$(stored_rt work | cut -c1-7)" "serial="
rm -f "$DAEMON_SOCKET"
start_daemon
t_like "and the daemon serves from it again" "$(token t15)" '^OK account=work '

t_ok "no token or secret in the daemon's log or the CLI's output" \
	no_issued_secret_in "$DAEMON_LOG" "${OUTS[@]}"
rm -f "$E2E_DIR"/*.ans
t_done
