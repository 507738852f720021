#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-store-secret-service.sh — the Secret Service store (token-helper/
# store_secret.c) against a real gnome-keyring-daemon in a private D-Bus
# session, driven through tests/tools/store-tool (the CLI's synchronous API):
#
#   unlocked keyring: save / load / overwrite / remove round trips, the item's
#     label and schema, a 60 KiB secret, absent accounts
#   locked keyring (collection locked over D-Bus, then a daemon started with
#     the wrong password): every operation fails within seconds with the
#     "keyring is locked" sentence - never a hang, never "absent"
#   a keyring daemon that does not answer (SIGSTOP): the 10 s timeout
#   no Secret Service on the bus, and no session bus at all: a clear error, fast
#   the file store through the same tool
#
# Every call runs under `timeout 30`, so a hang fails a test instead of
# blocking CI. Secrets never reach the output: loads are compared by hash.
# Output is TAP; exits non-zero when a test failed.
#   bash tests/e2e/test-store-secret-service.sh
# STORE_TOOL overrides the tool (default $MO_BUILD/tests/store-tool).
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
: "${MO_BUILD:=$TOP/build}"
: "${STORE_TOOL:=$MO_BUILD/tests/store-tool}"
export MO_BUILD STORE_TOOL

# ---- outside: a private HOME and D-Bus session, then run again inside it
if [[ "${1-}" != --in-session ]]; then
    # shellcheck source-path=SCRIPTDIR source=lib/tap.sh
    . "$HERE/lib/tap.sh"
    for prog in dbus-run-session dbus-daemon gnome-keyring-daemon gdbus secret-tool timeout; do
        command -v "$prog" >/dev/null || { echo "1..0 # SKIP $prog is not installed"; exit 0; }
    done
    [[ -x "$STORE_TOOL" ]] || t_bail "$STORE_TOOL is not built (make tests)"
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/mo-secret.XXXXXX")
    chmod 700 "$WORK"
    mkdir -m 700 "$WORK/home" "$WORK/run"
    rc=0
    env -u DISPLAY -u WAYLAND_DISPLAY -u DBUS_SESSION_BUS_ADDRESS \
        -u GNOME_KEYRING_CONTROL -u SSH_AUTH_SOCK -u CREDENTIALS_DIRECTORY \
        HOME="$WORK/home" XDG_RUNTIME_DIR="$WORK/run" \
        XDG_DATA_HOME="$WORK/home/.local/share" XDG_CONFIG_HOME="$WORK/home/.config" \
        XDG_CACHE_HOME="$WORK/home/.cache" MO_WORK="$WORK" \
        timeout 300 dbus-run-session -- bash "${BASH_SOURCE[0]}" --in-session \
        2> >(grep -v -e 'Failed to set fd limit' >&2) || rc=$?
    if [[ -z "${E2E_KEEP-}" ]]; then rm -rf "$WORK"; else echo "# kept $WORK" >&2; fi
    exit "$rc"
fi

# ---- inside the private session
# shellcheck source-path=SCRIPTDIR source=lib/tap.sh
. "$HERE/lib/tap.sh"
WORK=$MO_WORK
export E2E_DIR=$WORK # tap.sh keeps its scratch files there
PASSWORD="mo-e2e-keyring-password"
KEYRING_PID=
EXTRA_BUS_PID=
LOCKED_RE='^store-tool: the Secret Service keyring is locked: unlock it \(e\.g\. log in to the desktop\) or use store = file$'

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    if [[ -n "$KEYRING_PID" ]]; then
        kill -CONT "$KEYRING_PID" 2>/dev/null
        kill "$KEYRING_PID" 2>/dev/null
    fi
    [[ -n "$EXTRA_BUS_PID" ]] && kill "$EXTRA_BUS_PID" 2>/dev/null
    return 0
}
trap cleanup EXIT

bus_call() { # bus_call DEST PATH METHOD ARGS...
    timeout 10 gdbus call --session -d "$1" -o "$2" -m "$3" "${@:4}"
}

# keyring_start PASSWORD: gnome-keyring-daemon unlocking "login" with it;
# waits until org.freedesktop.secrets has an owner and sets KEYRING_PID
keyring_start() {
    local i out
    printf %s "$1" | gnome-keyring-daemon --unlock --components=secrets --daemonize \
        >"$WORK/keyring.env" 2>>"$WORK/keyring.log"
    for ((i = 0; i < 100; i++)); do
        out=$(bus_call org.freedesktop.DBus /org/freedesktop/DBus \
            org.freedesktop.DBus.GetConnectionUnixProcessID org.freedesktop.secrets 2>/dev/null) &&
            break
        sleep 0.1
    done
    KEYRING_PID=$(sed -n 's/^(uint32 \([0-9]*\),)$/\1/p' <<<"$out")
    [[ -n "$KEYRING_PID" ]]
}

keyring_stop() {
    local i
    [[ -n "$KEYRING_PID" ]] || return 0
    kill -CONT "$KEYRING_PID" 2>/dev/null
    kill "$KEYRING_PID" 2>/dev/null
    for ((i = 0; i < 50; i++)); do
        kill -0 "$KEYRING_PID" 2>/dev/null || break
        sleep 0.1
    done
    KEYRING_PID=
}

collection_locked() { # prints true/false for the login collection
    bus_call org.freedesktop.secrets /org/freedesktop/secrets/collection/login \
        org.freedesktop.DBus.Properties.Get org.freedesktop.Secret.Collection Locked |
        sed -n 's/^(<\(true\|false\)>,)$/\1/p'
}

# run [INPUT] -- ARGS...: store-tool ARGS under `timeout 30`, INPUT on stdin.
# Sets RC, MS (elapsed milliseconds), ERR (stderr), SHA (sha256 of stdout).
# Standard output, which may hold a secret, is never printed.
run() {
    local input=$1 start end
    shift 2
    start=$(date +%s%N)
    RC=0
    printf %s "$input" | timeout 30 "$STORE_TOOL" "$@" >"$WORK/out" 2>"$WORK/err" || RC=$?
    end=$(date +%s%N)
    MS=$(((end - start) / 1000000))
    ERR=$(<"$WORK/err")
    SHA=$(sha256sum <"$WORK/out" | cut -d' ' -f1)
    rm -f "$WORK/out"
}

sha() { printf %s "$1" | sha256sum | cut -d' ' -f1; }

# expect_ok DESC: the last run succeeded
expect_ok() {
    if ((RC == 0)); then t_pass "$1"; else t_fail "$1" "  exit status $RC after ${MS} ms" "  stderr: $ERR"; fi
}

# expect_secret DESC VALUE: the last run loaded VALUE
expect_secret() {
    if ((RC == 0)) && [[ "$SHA" == "$(sha "$2")" ]]; then
        t_pass "$1"
    else
        t_fail "$1" "  exit status $RC after ${MS} ms" "  stderr: $ERR" \
            "  standard output $( ((RC == 0)) && echo 'differs from the saved secret' || echo 'not compared')"
    fi
}

# expect_error DESC REGEX MAX_MS: the last run failed (status 1) within
# MAX_MS with a message matching REGEX
expect_error() {
    if ((RC == 1)) && [[ "$ERR" =~ $2 ]] && ((MS <= $3)); then
        t_pass "$1"
    else
        t_fail "$1" "  exit status $RC (want 1) after ${MS} ms (limit $3 ms)" \
            "  stderr: $ERR" "  want:   /$2/"
    fi
}

A1_V1='{"refresh_token":"0.AAAA-e2e-one","saved_at":1700000000}'
A1_V2='{"refresh_token":"0.BBBB-e2e-two \"quoted\" é","saved_at":1700000001}'
A2_V1='{"client_secret":"e2e~secret.with spaces","saved_at":1700000002}'
BIG=$(head -c 45000 /dev/urandom | base64 -w0)
BIG='{"private_key_pem":"'${BIG:0:60000}'"}'

# ================= an unlocked keyring
if keyring_start "$PASSWORD"; then
    t_pass "gnome-keyring-daemon owns org.freedesktop.secrets in the private session"
else
    t_diag_file "$WORK/keyring.log"
    t_bail "gnome-keyring-daemon did not start"
fi
t_is "the login keyring is unlocked" "$(collection_locked)" false

run "$A1_V1" -- secret save a1
expect_ok "save a1"
run "" -- secret load a1
expect_secret "load a1 gives what was saved" "$A1_V1"

items=$(timeout 10 secret-tool search --all account a1 2>&1 | grep -v '^secret = ')
t_like "the item is labelled 'mailoauth: a1'" "$items" $'(^|\n)label = mailoauth: a1(\n|$)'
t_like "the item has schema org.mailoauth.Account" "$items" $'(^|\n)schema = org.mailoauth.Account(\n|$)'
t_is "there is one item for a1" "$(grep -c '^label = ' <<<"$items")" 1

run "$A1_V2" -- secret save a1
expect_ok "save a1 again (overwrite)"
run "" -- secret load a1
expect_secret "load a1 gives the new value" "$A1_V2"
t_is "overwriting kept one item for a1" \
    "$(timeout 10 secret-tool search --all account a1 2>&1 | grep -c '^label = ')" 1

run "$A2_V1" -- secret save a2
expect_ok "save a second account"
run "$BIG" -- secret save big.account@example.com
expect_ok "save a ${#BIG}-byte secret"
run "" -- secret load big.account@example.com
expect_secret "load the large secret" "$BIG"
run "" -- secret load a2
expect_secret "a2 is unaffected by the other saves" "$A2_V1"

run "" -- secret load nobody
if ((RC == 2)) && [[ "$ERR" == "store-tool: no secret stored for nobody" ]]; then
    t_pass "an absent account loads as absent (status 2), not as an error"
else
    t_fail "an absent account loads as absent (status 2), not as an error" "  status $RC, stderr: $ERR"
fi

run "" -- secret remove a1
expect_ok "remove a1"
run "" -- secret load a1
t_is "a1 is gone after remove" "$RC" 2
run "" -- secret load a2
expect_secret "a2 survives the removal of a1" "$A2_V1"
run "" -- secret remove a1
expect_ok "removing an absent account succeeds"
run "x" -- secret save "bad/name"
expect_error "an invalid account name is refused" '^store-tool: invalid account name' 5000

# ================= the keyring locked over D-Bus
out=$(bus_call org.freedesktop.secrets /org/freedesktop/secrets org.freedesktop.Secret.Service.Lock \
    "[objectpath '/org/freedesktop/secrets/collection/login']" 2>&1)
t_is "the login keyring is now locked" "$(collection_locked)" true

run "" -- secret load a2
expect_error "locked: load of a stored account fails fast with the locked sentence" "$LOCKED_RE" 5000
t_diag "locked keyring, load: status $RC after $MS ms: $ERR"
run "" -- secret load nobody
expect_error "locked: load of an absent account says locked, not absent" "$LOCKED_RE" 5000
run "$A1_V1" -- secret save a1
expect_error "locked: save fails fast with the locked sentence" "$LOCKED_RE" 5000
run "" -- secret remove a2
expect_error "locked: remove fails fast with the locked sentence" "$LOCKED_RE" 5000

# ================= a daemon started with the wrong password
keyring_stop
if keyring_start "not-the-$PASSWORD"; then
    t_pass "gnome-keyring-daemon restarted with a wrong password"
else
    t_fail "gnome-keyring-daemon restarted with a wrong password" "$(tail -n 5 "$WORK/keyring.log")"
fi
t_is "the login keyring stayed locked" "$(collection_locked)" true
run "" -- secret load a2
expect_error "wrong password: load fails fast with the locked sentence" "$LOCKED_RE" 5000
t_diag "wrong-password keyring, load: status $RC after $MS ms"

# ================= a keyring daemon that never answers
if [[ -n "$KEYRING_PID" ]] && kill -STOP "$KEYRING_PID"; then
    run "" -- secret load a2
    expect_error "a stopped keyring daemon: load gives up after the 10 s timeout" \
        '^store-tool: the Secret Service did not answer within 10 s' 20000
    if ((MS >= 9000)); then t_pass "... and not before it (${MS} ms)"; else t_fail "... and not before it (${MS} ms)"; fi
    run "x" -- secret save a3
    expect_error "a stopped keyring daemon: save gives up after the timeout too" \
        '^store-tool: the Secret Service did not answer within 10 s' 20000
    kill -CONT "$KEYRING_PID"
else
    t_fail "could not stop the keyring daemon"
fi

# ================= the right password again: nothing was lost
keyring_stop
keyring_start "$PASSWORD"
t_is "restarted with the right password, the keyring is unlocked" "$(collection_locked)" false
run "" -- secret load a2
expect_secret "a2 survived locking and restarts" "$A2_V1"
run "" -- secret load big.account@example.com
expect_secret "the large secret survived too" "$BIG"
keyring_stop

# ================= no Secret Service on the bus
cat >"$WORK/bare-bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir=$WORK/run</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
EOF
bus_info=$(dbus-daemon --config-file="$WORK/bare-bus.conf" --fork --print-address=1 --print-pid=1 \
    2>>"$WORK/keyring.log")
BARE_ADDR=$(sed -n 1p <<<"$bus_info")
EXTRA_BUS_PID=$(sed -n 2p <<<"$bus_info")
if [[ -n "$BARE_ADDR" ]]; then
    DBUS_SESSION_BUS_ADDRESS=$BARE_ADDR run "" -- secret load a2
    expect_error "a session bus without a Secret Service: load fails fast and says so" \
        '^store-tool: the Secret Service is not available \(.*\): run mailoauth in a desktop session with a keyring such as gnome-keyring, or use store = file$' 5000
    t_diag "no Secret Service, load: status $RC after $MS ms: $ERR"
    DBUS_SESSION_BUS_ADDRESS=$BARE_ADDR run "x" -- secret save a2
    expect_error "a session bus without a Secret Service: save fails fast and says so" \
        '^store-tool: the Secret Service is not available' 5000
    kill "$EXTRA_BUS_PID" 2>/dev/null
    EXTRA_BUS_PID=
else
    t_fail "could not start a bare D-Bus daemon" "$(tail -n 5 "$WORK/keyring.log")"
fi

# ================= a keyring that D-Bus activates, with no keyring file yet
# (a user session on a server: gnome-keyring starts on demand, and creating
# the default keyring needs a prompt that nobody can answer)
mkdir -m 700 "$WORK/home2" "$WORK/run2"
bus_info=$(env HOME="$WORK/home2" XDG_RUNTIME_DIR="$WORK/run2" \
    XDG_DATA_HOME="$WORK/home2/.local/share" XDG_CONFIG_HOME="$WORK/home2/.config" \
    XDG_CACHE_HOME="$WORK/home2/.cache" \
    dbus-daemon --session --fork --print-address=1 --print-pid=1 2>>"$WORK/keyring.log")
FRESH_ADDR=$(sed -n 1p <<<"$bus_info")
EXTRA_BUS_PID=$(sed -n 2p <<<"$bus_info")
if [[ -n "$FRESH_ADDR" ]]; then
    DBUS_SESSION_BUS_ADDRESS=$FRESH_ADDR run "x" -- secret save a1
    expect_error "an activated keyring without a default keyring: save fails fast and says so" \
        '^store-tool: the Secret Service (has no default keyring|keyring is locked)' 10000
    t_diag "activated keyring, no keyring file, save: status $RC after $MS ms: $ERR"
    DBUS_SESSION_BUS_ADDRESS=$FRESH_ADDR run "" -- secret load a1
    if ((RC == 2)); then
        t_pass "... and load finds nothing (status 2) in ${MS} ms"
    else
        t_fail "... and load finds nothing (status 2)" "  status $RC after $MS ms, stderr: $ERR"
    fi
    out=$(DBUS_SESSION_BUS_ADDRESS=$FRESH_ADDR timeout 10 gdbus call --session -d org.freedesktop.DBus \
        -o /org/freedesktop/DBus -m org.freedesktop.DBus.GetConnectionUnixProcessID \
        org.freedesktop.secrets 2>/dev/null)
    activated=$(sed -n 's/^(uint32 \([0-9]*\),)$/\1/p' <<<"$out")
    [[ -n "$activated" ]] && kill "$activated" 2>/dev/null
    kill "$EXTRA_BUS_PID" 2>/dev/null
    EXTRA_BUS_PID=
else
    t_fail "could not start a second D-Bus session" "$(tail -n 5 "$WORK/keyring.log")"
fi

# ================= no session bus at all
DBUS_SESSION_BUS_ADDRESS="unix:path=$WORK/no-such-bus" run "" -- secret load a2
expect_error "no session bus: load fails fast and says the Secret Service is not available" \
    '^store-tool: the Secret Service is not available' 5000
t_diag "no session bus, load: status $RC after $MS ms: $ERR"

# ================= the file store through the same tool
run "$A1_V1" -- file "$WORK/fs/store" "$WORK/fs/key" save a1
expect_ok "file store: save (creates the directory and the key)"
t_is "file store: key file mode" "$(stat -c %a "$WORK/fs/key" 2>&1)" 600
run "" -- file "$WORK/fs/store" "$WORK/fs/key" load a1
expect_secret "file store: load" "$A1_V1"
if grep -qF "0.AAAA-e2e-one" "$WORK/fs/store"; then
    t_fail "file store: the secret is not in the file in clear"
else
    t_pass "file store: the secret is not in the file in clear"
fi
run "" -- file "$WORK/fs/store" "$WORK/fs/key" remove a1
expect_ok "file store: remove"
run "" -- file "$WORK/fs/store" "$WORK/fs/key" load a1
t_is "file store: removed account is absent" "$RC" 2

t_done
