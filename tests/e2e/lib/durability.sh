# shellcheck shell=bash
# SPDX-License-Identifier: MIT
# durability.sh - helpers for the crash and store-fault tests (source after
# daemon.sh):
#
#   stored_rt ACCOUNT      what the IdP knows of the refresh token in the
#                          store: "serial=N kind=refresh user=U revoked=0
#                          replaced=0 expired=0", "unknown", or "error: WHY"
#                          when the store does not decrypt or has no grant
#   stored_rts ACCOUNT...  the same for several, one "ACCOUNT LINE" each,
#                          then "- maxserial=N" (idp_max_serial)
#   served_at FILE         the same for the access token in a daemon answer
#   idp_max_serial         the serial of the newest token the IdP issued
#   meta_field LINE KEY    one KEY=VALUE of such a line
#   usable_rt LINE         true if LINE is a live refresh token (not revoked,
#                          replaced under strict rotation, or expired)
#   tmpfs_mount SIZE       a small tmpfs at $TMPFS (outside $E2E_DIR),
#                          unmounted and removed by stop_all (E2E_STOP_HOOKS)
#                          whatever happens; those of runs killed with
#                          SIGKILL are reaped when this file is sourced
#   no_token ANSWER        prints a daemon answer without its token
#   no_issued_secret_in FILE|DIR...  no secret the test IdP issued is in them
# Nothing here prints a token: lookups go by SHA-256 prefix.

_GRANTCHECK=$E2E_LIB/grantcheck.py

stored_rt() {
	local grant out
	if ! grant=$(store_get "$1" 2>&1); then
		printf 'error: %s\n' "$grant"
		return 0
	fi
	out=$(printf %s "$grant" | "$E2E_PYTHON" "$_GRANTCHECK" "$IDP_URL" refresh 2>&1) ||
		out="error: $out"
	printf '%s\n' "$out"
}

# stored_rts ACCOUNT...: "ACCOUNT LINE" for each, LINE as stored_rt prints,
# then "- maxserial=N"
stored_rts() {
	local a grant
	for a in "$@"; do
		if grant=$(store_get "$a" 2>&1); then
			printf '%s %s\n' "$a" "$(tr -d '\n' <<<"$grant")"
		else
			printf '%s error: %s\n' "$a" "$(tr -d '\n' <<<"$grant")"
		fi
	done | "$E2E_PYTHON" "$_GRANTCHECK" "$IDP_URL" refresh-many
}

served_at() {
	"$E2E_PYTHON" "$_GRANTCHECK" "$IDP_URL" access <"$1" 2>&1 || true
}

idp_max_serial() {
	"$E2E_PYTHON" "$_GRANTCHECK" "$IDP_URL" maxserial
}

meta_field() {
	sed -n "s/.*\\b$2=\\([^ ]*\\).*/\\1/p" <<<"$1"
}

usable_rt() {
	[[ "$1" == *"kind=refresh "* && "$1" == *" revoked=0 "* && "$1" == *" expired=0" ]] ||
		return 1
	[[ "$1" == *" replaced=0 "* || "${STRICT_ROTATION-}" != 1 ]]
}

no_token() {
	printf '%s\n' "${1%% token=*}"
}

# no_issued_secret_in FILE|DIR...: true when no token, code or secret the
# test IdP handed out (its $MO_IDP_SECRETS_FILE list) occurs in them; the
# list is read from its file, never passed in argv
no_issued_secret_in() {
	[[ -s "$MO_IDP_SECRETS_FILE" ]] || return 0
	! grep -rqF -f "$MO_IDP_SECRETS_FILE" -- "$@"
}

# The tmpfs lives outside $E2E_DIR, in /tmp/mailoauth-mnt.XXXXXX/fs: a run
# killed with SIGKILL cannot unmount, and a mount point left inside a test
# directory would make e2e_init's reaper fail (rm -rf: busy) in every
# later test. Those directories are reaped here instead (_tmpfs_reap_stale).
_TMPFS_DIRS=()
# tmpfs_mount SIZE: mounts a tmpfs of SIZE (mount's size=, e.g. 64k); sets
# TMPFS to its path
tmpfs_mount() {
	local dir
	dir=$(mktemp -d /tmp/mailoauth-mnt.XXXXXX) || return 1
	echo "$$" >"$dir/owner.pid"
	mkdir "$dir/fs"
	_TMPFS_DIRS+=("$dir")
	mount -t tmpfs -o "size=$1,mode=0700" mailoauth-e2e-tmpfs "$dir/fs" 2>/dev/null || return 1
	# shellcheck disable=SC2034 # for the test that sources this
	TMPFS=$dir/fs
}

# _tmpfs_remove DIR: unmounts DIR/fs and removes DIR
_tmpfs_remove() {
	if mountpoint -q "$1/fs"; then
		umount "$1/fs" 2>/dev/null || umount -l "$1/fs" || return 1
	fi
	rm -rf -- "$1"
}

_tmpfs_umount_all() {
	local d
	for d in "${_TMPFS_DIRS[@]}"; do
		_tmpfs_remove "$d" || true
	done
	_TMPFS_DIRS=()
}
E2E_STOP_HOOKS+=(_tmpfs_umount_all)

# _tmpfs_reap_stale: what runs killed with SIGKILL left (owner.pid dead)
_tmpfs_reap_stale() {
	local dir owner
	for dir in /tmp/mailoauth-mnt.*; do
		[[ -d "$dir" ]] || continue
		owner=$(cat "$dir/owner.pid" 2>/dev/null) || owner=
		pid_alive "$owner" && continue
		_tmpfs_remove "$dir" || true
	done
}
_tmpfs_reap_stale
