#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-demo.sh - `make demo`'s story (tests/demo.sh) runs clean twice in a
# row on the same machine, tells each step, and leaves nothing behind: no
# process, no temporary directory.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib/tap.sh"
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export MO_BUILD=${MO_BUILD:-$TOP/build}
out=$(mktemp /tmp/mailoauth-demo-test.XXXXXX)
trap 'rm -f "$out"' EXIT

for run in 1 2; do
	rc=0
	"$TOP/tests/demo.sh" >"$out" 2>&1 </dev/null || rc=$?
	t_is "run $run: the demo exits 0" "$rc" 0
	[[ $rc -eq 0 ]] || t_diag_file "$out" 40
	t_file_like "run $run: the device login succeeded" "$out" 'Logged in: account work \(alice@example.com\)\.'
	t_file_like "run $run: Postfix relayed the message" "$out" 'status=sent'
	t_file_like "run $run: Dovecot saw an XOAUTH2 login" "$out" 'Login: user=<alice@example.com>, method=XOAUTH2'
	t_file_like "run $run: the store holds the rotated refresh token" "$out" \
		'the store holds sha256 [0-9a-f]{16}'
	t_file_like "run $run: status says valid" "$out" 'state: +valid'
	t_file_like "run $run: it ends by cleaning up" "$out" '==> 7\. Stopping everything'
	dir=$(sed -n "s/^==> 7\. Stopping everything and removing //p" "$out" | head -n 1)
	t_like "run $run: the demo named its temporary directory" "$dir" '^/tmp/mailoauth-e2e\.'
	t_ok "run $run: no temporary directory left" test ! -e "${dir:-/nonexistent}"
done
t_done
