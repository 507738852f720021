# shellcheck shell=bash
# env.sh — the end-to-end test environment for mailoauth, sourced by the bash
# tests in tests/e2e/. It starts real programs on loopback, each with all its
# state under one private directory $E2E_DIR, and stops them again:
#
#   the test identity provider (tests/idp/idp.py)         start_idp
#   an SMTP sink that stores what it receives (sink.py)    start_sink
#   Dovecot: IMAP + submission, XOAUTH2/OAUTHBEARER only,
#     tokens checked by introspection at the IdP,
#     submission relaying to the sink                      start_dovecot
#   a custom Postfix instance whose chrooted smtp(8)
#     relays to Dovecot submission with SASL               start_postfix
#
# Usage in a test (needs root: Dovecot and Postfix drop privileges themselves):
#   . "$(dirname "$0")/lib/env.sh"
#   e2e_init
#   start_idp; start_sink; start_dovecot; start_postfix
#   ...t_ok / t_is ... (tap.sh, sourced here)
#   t_done                    # the EXIT trap then runs stop_all and removes $E2E_DIR
#
# E2E_KEEP=1 keeps $E2E_DIR (logs, configs, queues) after the run; with
# MO_SUITE_DIR set (tests/run-tests) it is moved to $MO_SUITE_DIR/artifacts.
# E2E_DEBUG=1 turns on Dovecot's auth_debug and Postfix's debug_peer_list for 127.0.0.1.
# Nothing here reads or writes /etc/postfix or /etc/dovecot configuration, or
# uses a fixed port: every listener is on 127.0.0.1 and a port the kernel chose.

E2E_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$E2E_LIB/../../.." && pwd) # the repository root
# Debian's interpreter when there is one: a pyenv shim costs ~0.2 s per start.
if [[ -z "${E2E_PYTHON-}" ]]; then
    if [[ -x /usr/bin/python3 ]]; then E2E_PYTHON=/usr/bin/python3; else E2E_PYTHON=python3; fi
fi
export TOP

# MO_BUILD: the build whose plugin and test tools are used (default build/).
# MO_PROG_BUILD: the build whose daemon, CLI and mailoauth-graph are run:
# ${MO_BUILD}-asan (AddressSanitizer + UBSan, as `make check` builds it) when
# it exists, so every end-to-end test also runs our programs under the
# sanitizers; MO_SANITIZE=0 uses MO_BUILD. The plugin always comes from
# MO_BUILD: it is loaded by Postfix, Dovecot's clients and mbsync, which are
# not built with ASan. MO_VALGRIND=1 runs start_daemon's daemon under valgrind.
: "${MO_BUILD:=$TOP/build}"
if [[ -z "${MO_PROG_BUILD-}" ]]; then
    MO_PROG_BUILD=$MO_BUILD
    if [[ "${MO_SANITIZE-1}" != 0 && -x "$MO_BUILD-asan/token-helper/mailoauthd" ]]; then
        MO_PROG_BUILD=$MO_BUILD-asan
    fi
fi
export MO_BUILD MO_PROG_BUILD

# shellcheck source-path=SCRIPTDIR source=tap.sh
. "$E2E_LIB/tap.sh"

# ---------------------------------------------------------------- basics

e2e_note() {
    printf '# %s\n' "$*" >&2
}

# e2e_bail MSG [LOGFILE...]: a setup step failed; show the logs, abort the test.
e2e_bail() {
    local msg=$1 f
    shift
    for f in "$@"; do
        [[ -e "$f" ]] && t_diag_file "$f" 30
    done
    t_bail "$msg"
}

# free_ports N: prints N distinct loopback TCP ports that were free just now.
free_ports() {
    "$E2E_PYTHON" - "${1:-1}" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

free_port() {
    free_ports 1
}

# port_listening PORT: true if something listens on 127.0.0.1:PORT (no connection made).
port_listening() {
    [[ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]]
}

# wait_port PORT [SECS]: waits until 127.0.0.1:PORT accepts connections.
wait_port() {
    local port=$1 tries=$((${2:-10} * 10))
    while ((tries-- > 0)); do
        port_listening "$port" && return 0
        sleep 0.1
    done
    return 1
}

# log_size FILE: its size in bytes (0 if missing); log_since FILE OFFSET: what
# was appended after OFFSET. Used to look at the lines of one start-up only.
log_size() {
    stat -c %s "$1" 2>/dev/null || echo 0
}

log_since() {
    tail -c "+$(($2 + 1))" "$1" 2>/dev/null
}

# pid_alive PID: true if the process exists and is not a zombie.
pid_alive() {
    local stat
    [[ -n "$1" ]] || return 1
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ "${stat:0:1}" != [ZX] ]]
}

# session_pids SID: live processes of session SID (Dovecot and Postfix masters
# call setsid(), so all their children are in the session of the master).
session_pids() {
    ps -eo pid=,sid=,stat= | awk -v s="$1" '$2 == s && $3 !~ /^[ZX]/ { print $1 }'
}

# stop_pid PID [SECS]: SIGTERM, wait up to SECS (default 10), then SIGKILL.
stop_pid() {
    local pid=$1 tries=$((${2:-10} * 10))
    [[ -n "$pid" ]] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    while ((tries-- > 0)) && pid_alive "$pid"; do
        sleep 0.1
    done
    if pid_alive "$pid"; then
        e2e_note "process $pid ignored SIGTERM; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true # reap it if it is our child
}

# wait_session_gone SID [SECS]: waits for every process of session SID to exit
# (SIGKILL for stragglers after SECS).
wait_session_gone() {
    local sid=$1 tries=$((${2:-10} * 10)) left
    [[ -n "$sid" ]] || return 0
    while ((tries-- > 0)); do
        [[ -z "$(session_pids "$sid")" ]] && return 0
        sleep 0.1
    done
    left=$(session_pids "$sid" | tr '\n' ' ')
    if [[ -n "$left" ]]; then
        e2e_note "session $sid still has processes $left; killing them"
        # shellcheck disable=SC2086
        kill -KILL $left 2>/dev/null || true
    fi
}

# _e2e_spawn NAME CMD...: starts CMD in the background, stdin /dev/null, output
# to $E2E_DIR/NAME.out; sets _E2E_SPAWNED to its pid.
_e2e_spawn() {
    local name=$1
    shift
    "$@" </dev/null >>"$E2E_DIR/$name.out" 2>&1 &
    _E2E_SPAWNED=$!
    echo "$_E2E_SPAWNED" >"$E2E_DIR/$name.pid"
}

# _e2e_wait_port_file NAME PID FILE [SECS]: waits for the port FILE a server
# writes once listening; prints the port.
_e2e_wait_port_file() {
    local name=$1 pid=$2 file=$3 tries=$((${4:-10} * 10))
    while ((tries-- > 0)); do
        if [[ -s "$file" ]]; then
            tr -d ' \n' <"$file"
            return 0
        fi
        pid_alive "$pid" || break
        sleep 0.1
    done
    return 1
}

# ---------------------------------------------------------------- setup / teardown

# e2e_init: creates $E2E_DIR, picks the ports, installs the cleanup trap.
e2e_init() {
    [[ $EUID -eq 0 ]] || t_bail "the end-to-end tests must run as root (Dovecot and Postfix drop privileges)"
    umask 022
    e2e_reap_stale
    E2E_DIR=$(mktemp -d /tmp/mailoauth-e2e.XXXXXX) || t_bail "mktemp failed"
    chmod 0755 "$E2E_DIR"
    echo "$$" >"$E2E_DIR/owner.pid"
    export E2E_DIR
    trap _e2e_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    # Sanitizer and valgrind reports of every program under test land here
    # (writable by the other uids some tests run as); t_done fails on any.
    E2E_SANITIZER_DIR=$E2E_DIR/sanitizer
    mkdir -p "$E2E_SANITIZER_DIR"
    chmod 1777 "$E2E_SANITIZER_DIR"
    export E2E_SANITIZER_DIR
    export ASAN_OPTIONS="log_path=$E2E_SANITIZER_DIR/asan:detect_leaks=1:abort_on_error=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
    export UBSAN_OPTIONS="log_path=$E2E_SANITIZER_DIR/ubsan:print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
    [[ -f "$TOP/tests/lsan.supp" ]] && export LSAN_OPTIONS="suppressions=$TOP/tests/lsan.supp"
    TAP_DONE_HOOKS+=(_e2e_finish)
    # The test IdP lists every secret it hands out here (tests/idp/README.md).
    # Under tests/run-tests (MO_SUITE_DIR set) the list is the whole suite's
    # and $E2E_DIR is kept under $MO_SUITE_DIR/artifacts for tests/secret-scan.
    export MO_IDP_SECRETS_FILE=${MO_SUITE_DIR:-$E2E_DIR}/issued-secrets
    read -r IMAP_PORT SUBMISSION_PORT POSTFIX_PORT < <(free_ports 3)
    export IMAP_PORT SUBMISSION_PORT POSTFIX_PORT
    # Paths are known from the start (e.g. a socket for the chrooted smtp(8)
    # must be created under $POSTFIX_QUEUE before Postfix starts).
    DOVECOT_DIR=$E2E_DIR/dovecot
    DOVECOT_CONF=$DOVECOT_DIR/dovecot.conf
    DOVECOT_LOG=$E2E_DIR/dovecot.log
    DOVECOT_HOME=$DOVECOT_DIR/home
    POSTFIX_DIR=$E2E_DIR/postfix
    POSTFIX_QUEUE=$E2E_DIR/postfix-spool
    POSTFIX_DATA=$E2E_DIR/postfix-data
    POSTFIX_LOG=$E2E_DIR/postfix.log
    SINK_DIR=$E2E_DIR/sink
    export DOVECOT_CONF DOVECOT_LOG DOVECOT_HOME POSTFIX_DIR POSTFIX_QUEUE POSTFIX_LOG SINK_DIR
    e2e_note "E2E_DIR=$E2E_DIR"
}

# e2e_reap_stale: a run killed with SIGKILL cannot clean up; this stops what
# such runs left (their owner.pid is dead) and removes their directories, except
# those kept with E2E_KEEP=1. A pid is only signalled if the process still
# belongs to that directory (command line or working directory inside it).
e2e_reap_stale() {
    local dir owner pidfile pid
    for dir in /tmp/mailoauth-e2e.*; do
        [[ -d "$dir" && -r "$dir/owner.pid" && ! -e "$dir/kept" ]] || continue
        owner=$(cat "$dir/owner.pid" 2>/dev/null) || continue
        pid_alive "$owner" && continue
        e2e_note "reaping stale test directory $dir (owner $owner is gone)"
        for pidfile in "$dir/postfix-spool/pid/master.pid" "$dir/dovecot/run/master.pid" \
            "$dir/idp.pid" "$dir/sink.pid"; do
            pid=$(tr -d ' \n' <"$pidfile" 2>/dev/null) || continue
            _pid_belongs_to "$pid" "$dir" || continue
            kill -TERM "$pid" 2>/dev/null || true
            wait_session_gone "$pid" 10
            stop_pid "$pid" 5
        done
        rm -rf -- "$dir"
    done
}

# _pid_belongs_to PID DIR: the process runs from DIR or names DIR in its arguments.
_pid_belongs_to() {
    pid_alive "$1" || return 1
    [[ "$(readlink "/proc/$1/cwd" 2>/dev/null)" == "$2"* ]] && return 0
    tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$2/"
}

# stop_all: stops everything this environment started and waits for it to exit.
# Helpers sourced later (e.g. tokend.sh) add their stop function to the array
# E2E_STOP_HOOKS; those run first.
E2E_STOP_HOOKS=()
stop_all() {
    local hook
    for hook in "${E2E_STOP_HOOKS[@]}"; do
        "$hook" || true
    done
    _dovecot_signal_stop # Dovecot takes longest: let it shut down meanwhile
    stop_postfix
    stop_dovecot
    stop_sink
    stop_idp
}

# _e2e_finish: run by t_done before the plan line: stops everything (so the
# programs under test exit and report leaks), then one test that no sanitizer
# or valgrind report was written. The reports hold stacks, never memory contents.
_e2e_finish() {
    local f reports=()
    stop_all
    for f in "$E2E_SANITIZER_DIR"/*; do
        [[ -s "$f" ]] && reports+=("$f")
    done
    if ((${#reports[@]} == 0)); then
        t_pass "no sanitizer or valgrind report from the programs under test"
    else
        t_fail "no sanitizer or valgrind report from the programs under test" \
            "  ${#reports[@]} report(s) in $E2E_SANITIZER_DIR"
        for f in "${reports[@]}"; do
            t_diag_file "$f" 60
        done
    fi
}

_e2e_cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    stop_all
    if [[ -n "${_TAP_LOADED-}" && -z "${_TAP_DONE-}" && $rc -ne 0 ]]; then
        t_diag "test script exited with status $rc before t_done"
        _tap_logs
    fi
    if [[ -n "${E2E_DIR-}" && -d "$E2E_DIR" ]]; then
        if [[ "${E2E_KEEP-}" == 1 ]]; then
            touch "$E2E_DIR/kept"
            e2e_note "kept $E2E_DIR"
        elif [[ "$E2E_DIR" == /tmp/mailoauth-e2e.* ]]; then
            if [[ -n "${MO_SUITE_DIR-}" ]]; then
                mkdir -p "$MO_SUITE_DIR/artifacts"
                mv -- "$E2E_DIR" "$MO_SUITE_DIR/artifacts/$(basename "$0" .sh).${E2E_DIR##*.}" ||
                    rm -rf -- "$E2E_DIR"
            else
                rm -rf -- "$E2E_DIR"
            fi
        fi
    fi
    exit "$rc"
}

# ---------------------------------------------------------------- identity provider

# start_idp [IDP-ARGS...]: runs $E2E_IDP_SCRIPT (default tests/idp/idp.py);
# exports IDP_PORT and IDP_URL=http://127.0.0.1:PORT.
# shellcheck disable=SC2120 # arguments are optional
start_idp() {
    local script=${E2E_IDP_SCRIPT:-$TOP/tests/idp/idp.py} dir=$E2E_DIR/idp
    [[ -f "$script" ]] || e2e_bail "start_idp: $script does not exist"
    mkdir -p "$dir/state"
    rm -f "$dir/port"
    _e2e_spawn idp "$E2E_PYTHON" "$script" --state-dir "$dir/state" --host 127.0.0.1 --port 0 \
        --port-file "$dir/port" --log "$E2E_DIR/idp.log" "$@"
    IDP_PID=$_E2E_SPAWNED
    IDP_PORT=$(_e2e_wait_port_file idp "$IDP_PID" "$dir/port" 15) ||
        e2e_bail "start_idp: no port file after 15 s" "$E2E_DIR/idp.out" "$E2E_DIR/idp.log"
    IDP_URL=http://127.0.0.1:$IDP_PORT
    export IDP_PORT IDP_URL IDP_PID
    TAP_LOGS+=("$E2E_DIR/idp.log")
}

stop_idp() {
    [[ -n "${IDP_PID-}" ]] || return 0
    stop_pid "$IDP_PID"
    IDP_PID=
}

# _json_get KEY: prints the value of KEY in the JSON object on stdin.
_json_get() {
    "$E2E_PYTHON" -c 'import json, sys
v = json.load(sys.stdin)[sys.argv[1]]
print(json.dumps(v) if isinstance(v, (dict, list, bool)) or v is None else v)' "$1"
}

# idp_call METHOD PATH [JSON]: prints the IdP's reply body; fails on HTTP >= 400.
idp_call() {
    local args=(-sS --fail-with-body --max-time 10 -X "$1")
    [[ -n "${3-}" ]] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
    curl "${args[@]}" "$IDP_URL$2"
}

# idp_mint USER [SCOPE] [EXPIRES_IN]: prints a fresh access token for USER.
idp_mint() {
    local body reply
    body=$("$E2E_PYTHON" -c 'import json, sys
r = {"user": sys.argv[1]}
if len(sys.argv) > 2 and sys.argv[2]: r["scope"] = sys.argv[2]
if len(sys.argv) > 3 and sys.argv[3]: r["expires_in"] = int(sys.argv[3])
print(json.dumps(r))' "$@") || return 1
    reply=$(idp_call POST /_test/mint "$body") || {
        echo "idp_mint: $reply" >&2
        return 1
    }
    _json_get access_token <<<"$reply"
}

# idp_mint_json JSON: like idp_mint with a full /_test/mint request body
# (e.g. '{"user": "a@example.com", "provider": "google"}').
idp_mint_json() {
    local reply
    reply=$(idp_call POST /_test/mint "$1") || {
        echo "idp_mint_json: $reply" >&2
        return 1
    }
    _json_get access_token <<<"$reply"
}

# idp_revoke USER: revokes every token of USER.
idp_revoke() {
    idp_call POST /_test/revoke "$("$E2E_PYTHON" -c 'import json, sys; print(json.dumps({"user": sys.argv[1]}))' "$1")" >/dev/null
}

# idp_counters [KEY]: prints the IdP's counters (JSON), or one of them.
idp_counters() {
    if [[ -n "${1-}" ]]; then
        idp_call GET /_test/counters | _json_get "$1"
    else
        idp_call GET /_test/counters
    fi
}

# ---------------------------------------------------------------- SMTP sink

# start_sink: runs tests/e2e/sink.py; exports SINK_PORT and SINK_DIR (one
# msg-NNNNNN.eml file per message received, envelope first).
start_sink() {
    local dir=$E2E_DIR/sink-run
    mkdir -p "$dir" "$SINK_DIR"
    rm -f "$dir/port"
    _e2e_spawn sink "$E2E_PYTHON" "$TOP/tests/e2e/sink.py" --host 127.0.0.1 --port 0 \
        --port-file "$dir/port" --dir "$SINK_DIR" --log "$E2E_DIR/sink.log"
    SINK_PID=$_E2E_SPAWNED
    SINK_PORT=$(_e2e_wait_port_file sink "$SINK_PID" "$dir/port" 15) ||
        e2e_bail "start_sink: no port file after 15 s" "$E2E_DIR/sink.out"
    export SINK_PORT SINK_DIR SINK_PID
    TAP_LOGS+=("$E2E_DIR/sink.log")
}

stop_sink() {
    [[ -n "${SINK_PID-}" ]] || return 0
    stop_pid "$SINK_PID"
    SINK_PID=
}

# sink_count: number of messages the sink has stored.
sink_count() {
    find "$SINK_DIR" -maxdepth 1 -name 'msg-*.eml' | wc -l
}

# sink_wait N [SECS]: waits until the sink holds at least N messages.
sink_wait() {
    local n=$1 tries=$((${2:-20} * 10))
    while ((tries-- > 0)); do
        (($(sink_count) >= n)) && return 0
        sleep 0.1
    done
    return 1
}

# sink_last: prints the path of the newest stored message.
sink_last() {
    find "$SINK_DIR" -maxdepth 1 -name 'msg-*.eml' | sort | tail -n 1
}

# ---------------------------------------------------------------- Dovecot

# start_dovecot: Dovecot with IMAP on $IMAP_PORT and submission on
# $SUBMISSION_PORT (127.0.0.1, no TLS), mechanisms XOAUTH2 and OAUTHBEARER
# only, passdb oauth2 introspecting tokens at $IDP_URL, static userdb with
# Maildir homes in $E2E_DIR/dovecot/home, submission relaying to the sink.
# Starts the IdP and the sink first if they are not running.
# Variables read: DOVECOT_EXTRA_CONF (lines appended to dovecot.conf),
# DOVECOT_OAUTH2_EXTRA (lines appended to oauth2.conf.ext),
# E2E_DOVECOT_AUTH_PENALTY=1 to keep Dovecot's per-IP penalty for failed logins.
# Exports DOVECOT_CONF, DOVECOT_LOG, DOVECOT_PID, DOVECOT_HOME.
start_dovecot() {
    local attempt
    [[ -n "${IDP_URL-}" ]] || start_idp
    [[ -n "${SINK_PORT-}" ]] || start_sink
    mkdir -p "$DOVECOT_DIR/state" "$DOVECOT_HOME"
    chown nobody:nogroup "$DOVECOT_HOME"
    for attempt in 1 2 3; do
        _dovecot_write_conf
        if _dovecot_launch; then
            TAP_LOGS+=("$DOVECOT_LOG")
            return 0
        fi
        if log_since "$DOVECOT_LOG" "$_DOVECOT_LOG_START" | grep -q 'Address already in use' && ((attempt < 3)); then
            e2e_note "start_dovecot: port taken, retrying with other ports"
            read -r IMAP_PORT SUBMISSION_PORT < <(free_ports 2)
            export IMAP_PORT SUBMISSION_PORT
            continue
        fi
        break
    done
    e2e_bail "start_dovecot failed" "$E2E_DIR/dovecot.out" "$DOVECOT_LOG"
}

_dovecot_write_conf() {
    local penalty=""
    if [[ "${E2E_DOVECOT_AUTH_PENALTY-}" != 1 ]]; then
        # Without its socket the auth process cannot ask anvil for the
        # failure penalty of an IP (seconds of delay after a failed login).
        penalty='service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}'
    fi
    cat >"$DOVECOT_DIR/oauth2.conf.ext" <<EOF
# generated by tests/e2e/lib/env.sh
introspection_url = $IDP_URL/introspect
introspection_mode = auth
force_introspection = yes
username_attribute = email
active_attribute = active
active_value = true
${DOVECOT_OAUTH2_EXTRA-}
EOF
    cat >"$DOVECOT_CONF" <<EOF
# generated by tests/e2e/lib/env.sh -- a private Dovecot for one test run
instance_name = $(basename "$E2E_DIR")
base_dir = $DOVECOT_DIR/run
state_dir = $DOVECOT_DIR/state
log_path = $DOVECOT_LOG
protocols = imap submission
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = xoauth2 oauthbearer
auth_failure_delay = 0
auth_verbose = yes
auth_debug = $([[ -n "${E2E_DEBUG-}" ]] && echo yes || echo no)
hostname = mail.e2e.test
postmaster_address = postmaster@e2e.test
mail_location = maildir:~/Maildir

submission_relay_host = 127.0.0.1
submission_relay_port = $SINK_PORT
submission_relay_trusted = yes
submission_relay_ssl = no

service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAP_PORT
  }
  inet_listener imaps {
    port = 0
  }
}
service submission-login {
  inet_listener submission {
    address = 127.0.0.1
    port = $SUBMISSION_PORT
  }
}
$penalty

passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = $DOVECOT_DIR/oauth2.conf.ext
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$DOVECOT_HOME/%u allow_all_users=yes
}
${DOVECOT_EXTRA_CONF-}
EOF
}

# _dovecot_launch: starts the master (it daemonizes; its output must go to a
# file, never a pipe) and waits for both listeners.
_dovecot_launch() {
    local tries=100
    rm -f "$DOVECOT_DIR/run/master.pid"
    _DOVECOT_LOG_START=$(log_size "$DOVECOT_LOG")
    dovecot -c "$DOVECOT_CONF" </dev/null >>"$E2E_DIR/dovecot.out" 2>&1 || return 1
    while ((tries-- > 0)); do
        DOVECOT_PID=$(cat "$DOVECOT_DIR/run/master.pid" 2>/dev/null) || DOVECOT_PID=
        if pid_alive "$DOVECOT_PID" && port_listening "$IMAP_PORT" && port_listening "$SUBMISSION_PORT"; then
            export DOVECOT_PID
            return 0
        fi
        log_since "$DOVECOT_LOG" "$_DOVECOT_LOG_START" | grep -q 'Fatal:' && break
        sleep 0.1
    done
    [[ -n "${DOVECOT_PID-}" ]] && stop_dovecot
    return 1
}

# stop_dovecot: stops the master (SIGTERM, what "doveadm stop" sends, without
# its slow polling) and waits for all its processes to exit (~1 s).
stop_dovecot() {
    [[ -n "${DOVECOT_PID-}" ]] || return 0
    _dovecot_signal_stop
    wait_session_gone "$DOVECOT_PID" 15
    DOVECOT_PID=
    _DOVECOT_STOPPING=
}

_dovecot_signal_stop() {
    [[ -n "${DOVECOT_PID-}" && -z "${_DOVECOT_STOPPING-}" ]] || return 0
    kill -TERM "$DOVECOT_PID" 2>/dev/null || true
    _DOVECOT_STOPPING=1
}

# dovecot_deliver USER FILE: stores the message in FILE in USER's INBOX.
dovecot_deliver() {
    doveadm -c "$DOVECOT_CONF" save -u "$1" -m INBOX <"$2"
}

# dovecot_count USER [MAILBOX]: prints the number of messages in the mailbox.
dovecot_count() {
    doveadm -c "$DOVECOT_CONF" -f flow mailbox status -u "$1" messages "${2:-INBOX}" |
        sed -n 's/.*messages=\([0-9]*\).*/\1/p'
}

# imap_login MECH USER TOKEN [SOURCE-IP]: authenticates to Dovecot IMAP with
# tests/e2e/lib/saslclient.py (exit 0 ok, 1 rejected); prints "INBOX messages=N".
imap_login() {
    local args=(imap --port "$IMAP_PORT" --mech "$1" --user "$2" --token "$3")
    [[ -n "${4-}" ]] && args+=(--source "$4")
    "$E2E_PYTHON" "$E2E_LIB/saslclient.py" "${args[@]}"
}

# submission_send MECH USER TOKEN FROM TO SUBJECT [SOURCE-IP]: authenticates
# to Dovecot submission and sends one message (relayed to the sink).
submission_send() {
    local args=(smtp --port "$SUBMISSION_PORT" --mech "$1" --user "$2" --token "$3"
        --from "$4" --to "$5" --subject "$6")
    [[ -n "${7-}" ]] && args+=(--source "$7")
    "$E2E_PYTHON" "$E2E_LIB/saslclient.py" "${args[@]}"
}

# ---------------------------------------------------------------- Postfix

# postfix_setup [MECHANISM-FILTER]: writes a custom Postfix instance (config
# dir $POSTFIX_DIR) and creates its queue directory $POSTFIX_QUEUE, without
# starting it. master.cf is Debian's stock one -- smtp(8) chrooted in the queue
# directory as on Debian -- with its smtpd moved to 127.0.0.1:$POSTFIX_PORT;
# relayhost is [127.0.0.1]:$SUBMISSION_PORT (or $POSTFIX_RELAYHOST) with SASL,
# mechanism filter ${1:-${POSTFIX_MECH:-xoauth2}}. Variables read:
# POSTFIX_SASL_USER / POSTFIX_SASL_PASS (the sasl_passwd entry, defaults
# alice@example.com / x). Call it before start_postfix to place a socket for
# the chrooted smtp(8) under $POSTFIX_QUEUE (e.g. private/, which it creates
# owned by postfix): a private/ created by root beforehand makes "postfix
# check" warn and the master fail to start.
postfix_setup() {
    local mech=${1:-${POSTFIX_MECH:-xoauth2}}
    [[ -n "${POSTFIX_RELAYHOST-}" || -n "${DOVECOT_PID-}" ]] ||
        e2e_bail "postfix_setup: start_dovecot first (or set POSTFIX_RELAYHOST)"
    _postfix_write_conf "$mech"
    _postfix_prepare
    _POSTFIX_SET_UP=1
}

# start_postfix [MECHANISM-FILTER]: postfix_setup (unless done), then starts the
# instance. import_environment is computed now: Postfix's default list plus
# SASL_PATH and every MAILOAUTH_* variable set at this point, plus the
# NAME=VALUE words in POSTFIX_EXTRA_ENV.
# Exports POSTFIX_PORT (may change if the port was taken) and POSTFIX_PID.
# shellcheck disable=SC2120 # the argument is optional
start_postfix() {
    local attempt
    if [[ -z "${_POSTFIX_SET_UP-}" ]]; then
        postfix_setup "$@"
    elif [[ -n "${1-}" ]]; then
        postconf -c "$POSTFIX_DIR" -e "smtp_sasl_mechanism_filter=$1"
    fi
    postconf -c "$POSTFIX_DIR" -e "import_environment=$(_postfix_import_env)"
    _postfix_backdate
    for attempt in 1 2 3; do
        if _postfix_launch; then
            TAP_LOGS+=("$POSTFIX_LOG")
            return 0
        fi
        if log_since "$POSTFIX_LOG" "$_POSTFIX_LOG_START" | grep -q 'Address already in use' && ((attempt < 3)); then
            e2e_note "start_postfix: port taken, retrying with another port"
            POSTFIX_PORT=$(free_port)
            export POSTFIX_PORT
            _postfix_master_cf >"$POSTFIX_DIR/master.cf"
            _postfix_backdate
            continue
        fi
        break
    done
    e2e_bail "start_postfix failed" "$E2E_DIR/postfix.out" "$POSTFIX_LOG"
}

# _postfix_import_env: import_environment = Postfix's default list, plus
# SASL_PATH, every MAILOAUTH_* variable and $POSTFIX_EXTRA_ENV.
_postfix_import_env() {
    local list name
    list=$(postconf -d -h import_environment)
    [[ -n "${SASL_PATH-}" ]] && list+=" SASL_PATH=$SASL_PATH"
    while IFS= read -r name; do
        [[ -n "$name" ]] && list+=" $name=${!name}"
    done < <(compgen -e | grep '^MAILOAUTH_' || true)
    [[ -n "${POSTFIX_EXTRA_ENV-}" ]] && list+=" $POSTFIX_EXTRA_ENV"
    printf '%s' "$list"
}

# _postfix_master_cf: Debian's stock master.cf with the port-25 smtpd moved to
# 127.0.0.1:$POSTFIX_PORT and every other inet service commented out.
_postfix_master_cf() {
    local src=/usr/share/postfix/master.cf.dist
    [[ -r "$src" ]] || src=/etc/postfix/master.cf
    awk -v listen="127.0.0.1:$POSTFIX_PORT" '
        /^[^#[:space:]]/ && $2 == "inet" {
            if ($1 == "smtp" && !done) { $1 = listen; done = 1; print; next }
            print "#" $0; next
        }
        { print }' "$src"
}

_postfix_write_conf() {
    local mech=$1 relay=${POSTFIX_RELAYHOST:-[127.0.0.1]:$SUBMISSION_PORT}
    mkdir -p "$POSTFIX_DIR"
    _postfix_master_cf >"$POSTFIX_DIR/master.cf"
    cat >"$POSTFIX_DIR/main.cf" <<EOF
# generated by tests/e2e/lib/env.sh -- a private Postfix for one test run
compatibility_level = 3.6
queue_directory = $POSTFIX_QUEUE
data_directory = $POSTFIX_DATA
maillog_file = $POSTFIX_LOG
maillog_file_prefixes = $E2E_DIR

myhostname = client.e2e.test
mydomain = e2e.test
myorigin = \$myhostname
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
biff = no
append_dot_mydomain = no
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_tls_security_level = none

relayhost = $relay
smtp_dns_support_level = disabled
smtp_tls_security_level = none
smtp_sasl_auth_enable = yes
smtp_sasl_password_maps = texthash:$POSTFIX_DIR/sasl_passwd
smtp_sasl_mechanism_filter = $mech
smtp_sasl_auth_soft_bounce = yes

queue_run_delay = 5s
minimal_backoff_time = 5s
maximal_backoff_time = 10s
EOF
    if [[ -n "${E2E_DEBUG-}" ]]; then
        echo "debug_peer_list = 127.0.0.1" >>"$POSTFIX_DIR/main.cf"
    fi
    _postfix_write_sasl_passwd "${POSTFIX_SASL_USER:-alice@example.com}" "${POSTFIX_SASL_PASS:-x}"
}

_postfix_write_sasl_passwd() {
    local relay=${POSTFIX_RELAYHOST:-[127.0.0.1]:$SUBMISSION_PORT}
    printf '%s %s:%s\n' "$relay" "$1" "$2" >"$POSTFIX_DIR/sasl_passwd"
    chmod 0600 "$POSTFIX_DIR/sasl_passwd"
    _postfix_backdate
}

# _postfix_backdate: Postfix re-reads a configuration file younger than about
# 2 s every 0.3 s until it is older (it might still be being edited): every
# postfix/postconf command after an edit would take ~2 s. Our edits are
# complete, so date the files back.
_postfix_backdate() {
    touch -d "@$(($(date +%s) - 10))" "$POSTFIX_DIR"/main.cf "$POSTFIX_DIR"/master.cf \
        "$POSTFIX_DIR"/sasl_passwd 2>/dev/null || true
}

# _postfix_prepare: queue directory, its chroot files (Debian's own
# configure-instance.sh copies /etc/services, resolv.conf, NSS libraries...
# exactly as the Debian init script does), and the Postfix-owned directories.
_postfix_prepare() {
    mkdir -p "$POSTFIX_QUEUE"
    chmod 0755 "$POSTFIX_QUEUE"
    if [[ -r /usr/lib/postfix/configure-instance.sh ]]; then
        MAIL_CONFIG=$POSTFIX_DIR sh /usr/lib/postfix/configure-instance.sh - \
            >>"$E2E_DIR/postfix.out" 2>&1 || e2e_note "configure-instance.sh failed (see postfix.out)"
    fi
    # "check" creates the missing queue subdirectories and $data_directory
    # with the owners and modes Postfix wants. (Not "set-permissions": that
    # would also walk the system's Postfix files.)
    postfix -c "$POSTFIX_DIR" check >>"$E2E_DIR/postfix.out" 2>&1 || true
}

_postfix_launch() {
    local tries=50
    _POSTFIX_LOG_START=$(log_size "$POSTFIX_LOG")
    postfix -c "$POSTFIX_DIR" start </dev/null >>"$E2E_DIR/postfix.out" 2>&1 || return 1
    while ((tries-- > 0)); do
        POSTFIX_PID=$(tr -d ' \n' <"$POSTFIX_QUEUE/pid/master.pid" 2>/dev/null) || POSTFIX_PID=
        if pid_alive "$POSTFIX_PID" && port_listening "$POSTFIX_PORT"; then
            export POSTFIX_PID
            return 0
        fi
        sleep 0.1
    done
    stop_postfix
    return 1
}

# stop_postfix: "postfix stop" and wait until the master and its children exited.
stop_postfix() {
    [[ -n "${POSTFIX_PID-}" ]] || return 0
    postfix -c "$POSTFIX_DIR" stop >>"$E2E_DIR/postfix.out" 2>&1 || kill -TERM "$POSTFIX_PID" 2>/dev/null || true
    wait_session_gone "$POSTFIX_PID" 15
    POSTFIX_PID=
}

# postfix_restart: stop and start with the current configuration (needed for
# import_environment and other master settings; a reload is not enough).
postfix_restart() {
    stop_postfix
    _postfix_launch || e2e_bail "postfix_restart failed" "$E2E_DIR/postfix.out" "$POSTFIX_LOG"
}

# postfix_conf KEY=VALUE...: edits main.cf; reloads, or restarts when a key
# needs it (import_environment, inet_*, directories).
postfix_conf() {
    local kv restart=""
    postconf -c "$POSTFIX_DIR" -e "$@" || return 1
    _postfix_backdate
    for kv in "$@"; do
        case "${kv%%=*}" in
        import_environment | inet_interfaces | inet_protocols | queue_directory | data_directory | maillog_file)
            restart=1 ;;
        esac
    done
    if [[ -n "$restart" ]]; then
        postfix_restart
    else
        postfix -c "$POSTFIX_DIR" reload >>"$E2E_DIR/postfix.out" 2>&1
    fi
}

# postfix_sasl_passwd USER [PASSWORD]: rewrites the sasl_passwd entry for the
# relay host and reloads.
postfix_sasl_passwd() {
    _postfix_write_sasl_passwd "$1" "${2:-x}"
    postfix -c "$POSTFIX_DIR" reload >>"$E2E_DIR/postfix.out" 2>&1
}

# postfix_sasl_passwd_entry KEY USER PASSWORD: sets the sasl_passwd entry for
# KEY (a sender address for smtp_sender_dependent_authentication, or a next
# hop), replacing an entry with the same key and keeping the others; reloads
# when Postfix runs. Call it after postfix_setup (which writes the relay
# host's entry).
postfix_sasl_passwd_entry() {
    local f=$POSTFIX_DIR/sasl_passwd
    { awk -v k="$1" '$1 != k' "$f" 2>/dev/null || true; printf '%s %s:%s\n' "$1" "$2" "$3"; } >"$f.new"
    chmod 0600 "$f.new"
    mv -f "$f.new" "$f"
    _postfix_backdate
    if [[ -n "${POSTFIX_PID-}" ]]; then
        postfix -c "$POSTFIX_DIR" reload >>"$E2E_DIR/postfix.out" 2>&1
    fi
}

# postfix_check: "postfix check" (in a pty: Postfix prints its complaints only
# to a terminal); prints its output; fails on a non-zero status or any output.
postfix_check() {
    local out rc=0
    out=$(script -qec "postfix -c '$POSTFIX_DIR' check" /dev/null 2>&1 | tr -d '\r') || rc=$?
    [[ -n "$out" ]] && printf '%s\n' "$out"
    ((rc == 0)) && [[ -z "$out" ]]
}

# postfix_send FROM TO SUBJECT [BODY]: submits a message to the instance's
# smtpd on $POSTFIX_PORT; prints the queue id.
postfix_send() {
    "$E2E_PYTHON" - "$POSTFIX_PORT" "$@" <<'EOF'
import email.utils, re, smtplib, sys
port, sender, rcpt, subject = sys.argv[1:5]
body = sys.argv[5] if len(sys.argv) > 5 else "sent by tests/e2e/lib/env.sh postfix_send"
msg = ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: %s\r\n\r\n%s\r\n"
       % (sender, rcpt, subject, email.utils.formatdate(),
          email.utils.make_msgid(domain="client.e2e.test"), body))
with smtplib.SMTP("127.0.0.1", int(port), timeout=20) as s:
    s.ehlo("client.e2e.test")
    code, text = s.mail(sender)
    if code != 250: sys.exit("MAIL FROM: %d %s" % (code, text.decode()))
    code, text = s.rcpt(rcpt)
    if code not in (250, 251): sys.exit("RCPT TO: %d %s" % (code, text.decode()))
    code, text = s.data(msg.encode())
    if code != 250: sys.exit("DATA: %d %s" % (code, text.decode()))
m = re.search(r"queued as (\S+)", text.decode())
print(m.group(1) if m else text.decode())
EOF
}

# postfix_flush: asks the queue manager to retry every deferred message now.
postfix_flush() {
    postqueue -c "$POSTFIX_DIR" -f
}

# postfix_queue_count: number of messages in the queue (all queues).
postfix_queue_count() {
    postqueue -c "$POSTFIX_DIR" -j | grep -c '^{' || true
}

# postfix_wait_queue_empty [SECS]: waits until the queue is empty.
postfix_wait_queue_empty() {
    local tries=$((${1:-20} * 10))
    while ((tries-- > 0)); do
        (($(postfix_queue_count) == 0)) && return 0
        sleep 0.1
    done
    return 1
}

# postfix_smtp_chroot_configured: true if master.cf runs smtp/unix chrooted
# (what the daemons will do; "-" means Postfix's compiled-in default, "n").
postfix_smtp_chroot_configured() {
    local v
    v=$(postconf -c "$POSTFIX_DIR" -Fh smtp/unix/chroot)
    [[ "$v" == y ]] || {
        echo "smtp/unix/chroot = $v"
        return 1
    }
}

# postfix_smtp_pids: pids of the running smtp(8) processes of this instance.
postfix_smtp_pids() {
    ps -eo pid=,ppid=,comm=,stat= | awk -v m="$POSTFIX_PID" '$2 == m && $3 == "smtp" && $4 !~ /^Z/ { print $1 }'
}

# postfix_smtp_chroot_ok [SECS]: waits up to SECS (default 15) for an smtp(8)
# process (send a message first), then checks that every one of them runs with
# its root directory at the queue directory.
postfix_smtp_chroot_ok() {
    local tries=$((${1:-15} * 10)) pids pid root want
    want=$(readlink -f "$POSTFIX_QUEUE")
    while ((tries-- > 0)); do
        pids=$(postfix_smtp_pids)
        [[ -n "$pids" ]] && break
        sleep 0.1
    done
    if [[ -z "$pids" ]]; then
        echo "no smtp process of master $POSTFIX_PID is running"
        return 1
    fi
    for pid in $pids; do
        root=$(readlink "/proc/$pid/root")
        echo "smtp pid $pid root $root"
        [[ "$root" == "$want" ]] || return 1
    done
}
