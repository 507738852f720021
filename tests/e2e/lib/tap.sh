# shellcheck shell=bash
# tap.sh — TAP (Test Anything Protocol) helpers for the bash end-to-end tests.
#
# Source it (tests/e2e/lib/env.sh does so too), then:
#   plan N                          optional; otherwise t_done prints "1..N" at the end
#   t_ok   "desc" cmd [args...]     ok if cmd exits 0 (its output is kept in $T_OUT)
#   t_fails "desc" cmd [args...]    ok if cmd exits non-zero (for negative tests)
#   t_is   "desc" GOT EXPECTED      ok if the two strings are equal
#   t_isnt "desc" GOT UNEXPECTED    ok if they differ
#   t_like "desc" STRING REGEX      ok if STRING matches the extended regex
#   t_unlike "desc" STRING REGEX    ok if it does not
#   t_file_like "desc" FILE REGEX   ok if a line of FILE matches (grep -E)
#   t_file_unlike "desc" FILE REGEX ok if no line of FILE matches
#   t_wait_file_like SECS "desc" FILE REGEX   like t_file_like, but waits up to SECS
#   t_pass "desc" / t_fail "desc" [diag...]   record a result decided by the caller
#   t_skip "desc" REASON            "ok N - desc # SKIP REASON"
#   t_diag TEXT...                  "# TEXT" on stdout;  t_note TEXT... the same on stderr
#   t_diag_file FILE [LINES]        the last LINES (default $TAP_DIAG_LINES) lines of FILE
#   t_last_ok                       status of the last test (0 passed, 1 failed)
#   t_bail REASON                   "Bail out! REASON" and exit 1
#   t_done                          prints the plan/summary; exits 1 if any test failed
#
# Every helper returns 0 whatever the outcome, so "set -e" scripts keep going
# after a failed test; use t_last_ok when later steps depend on a result.
# On a failure the diagnostics show the command output or file tail, plus the
# tails of every file listed in the array TAP_LOGS (env.sh adds the service
# logs there as it starts them).

[[ -n "${_TAP_LOADED-}" ]] && return 0
_TAP_LOADED=1
_TAP_SELF=${BASH_SOURCE[0]}

_TAP_N=0
_TAP_FAILED=0
_TAP_PLAN=""
_TAP_DONE=""
_TAP_LAST=0
TAP_DIAG_LINES=${TAP_DIAG_LINES:-15}
T_OUT=""
TAP_LOGS=()

plan() {
    _TAP_PLAN=$1
    echo "1..$1"
}

t_diag() {
    local arg line
    for arg in "$@"; do
        while IFS= read -r line; do
            printf '# %s\n' "$line"
        done <<<"$arg"
    done
}

t_note() {
    t_diag "$@" >&2
}

t_diag_file() {
    local file=$1 lines=${2:-$TAP_DIAG_LINES}
    if [[ -r "$file" ]]; then
        t_diag "--- last $lines lines of $file:"
        t_diag "$(tail -n "$lines" "$file" | tr -d '\r')"
    else
        t_diag "--- $file: not readable"
    fi
}

# _tap_desc DESC: one line, '#' escaped as TAP requires.
_tap_desc() {
    local d=${1//$'\n'/ }
    printf '%s' "${d//#/\\#}"
}

# _tap_caller: "file:line" of the first caller outside this file.
_tap_caller() {
    local i
    for ((i = 1; i < ${#BASH_SOURCE[@]}; i++)); do
        if [[ "${BASH_SOURCE[i]}" != "$_TAP_SELF" ]]; then
            printf '%s:%s' "${BASH_SOURCE[i]}" "${BASH_LINENO[i - 1]}"
            return 0
        fi
    done
    printf '?'
}

_tap_logs() {
    local f
    for f in "${TAP_LOGS[@]}"; do
        [[ -s "$f" ]] && t_diag_file "$f"
    done
    return 0
}

t_pass() {
    _TAP_N=$((_TAP_N + 1))
    _TAP_LAST=0
    printf 'ok %d - %s\n' "$_TAP_N" "$(_tap_desc "$1")"
}

# t_fail DESC [DIAG...]: a failed test with optional diagnostic lines.
t_fail() {
    local desc=$1
    shift
    _TAP_N=$((_TAP_N + 1))
    _TAP_FAILED=$((_TAP_FAILED + 1))
    _TAP_LAST=1
    printf 'not ok %d - %s\n' "$_TAP_N" "$(_tap_desc "$desc")"
    t_diag "  Failed test '$desc' at $(_tap_caller)"
    if (($#)); then
        t_diag "$@"
    fi
    _tap_logs
    return 0
}

t_skip() {
    _TAP_N=$((_TAP_N + 1))
    _TAP_LAST=0
    printf 'ok %d - %s # SKIP %s\n' "$_TAP_N" "$(_tap_desc "$1")" "$(_tap_desc "${2-}")"
}

t_last_ok() {
    return "$_TAP_LAST"
}

# _tap_run CMD...: runs CMD with stdout+stderr captured in T_OUT; sets _TAP_RC.
_tap_run() {
    local out
    out=$(mktemp "${E2E_DIR:-${TMPDIR:-/tmp}}/tap-out.XXXXXX")
    _TAP_RC=0
    "$@" >"$out" 2>&1 </dev/null || _TAP_RC=$?
    T_OUT=$(tr -d '\r' <"$out")
    rm -f "$out"
}

t_ok() {
    local desc=$1
    shift
    _tap_run "$@"
    if ((_TAP_RC == 0)); then
        t_pass "$desc"
    else
        t_fail "$desc" "  command: $*" "  exit status: $_TAP_RC" "  output (last $TAP_DIAG_LINES lines):" \
            "$(tail -n "$TAP_DIAG_LINES" <<<"$T_OUT")"
    fi
}

t_fails() {
    local desc=$1
    shift
    _tap_run "$@"
    if ((_TAP_RC != 0)); then
        t_pass "$desc"
    else
        t_fail "$desc" "  command: $*" "  succeeded but was expected to fail" \
            "  output (last $TAP_DIAG_LINES lines):" "$(tail -n "$TAP_DIAG_LINES" <<<"$T_OUT")"
    fi
}

t_is() {
    if [[ "$2" == "$3" ]]; then
        t_pass "$1"
    else
        t_fail "$1" "       got: '$2'" "  expected: '$3'"
    fi
}

t_isnt() {
    if [[ "$2" != "$3" ]]; then
        t_pass "$1"
    else
        t_fail "$1" "       got: '$2'" "  expected anything else"
    fi
}

t_like() {
    if [[ "$2" =~ $3 ]]; then
        t_pass "$1"
    else
        t_fail "$1" "  string: '$(tail -n "$TAP_DIAG_LINES" <<<"$2")'" "  does not match: /$3/"
    fi
}

t_unlike() {
    if [[ ! "$2" =~ $3 ]]; then
        t_pass "$1"
    else
        t_fail "$1" "  string: '$(tail -n "$TAP_DIAG_LINES" <<<"$2")'" "  matches: /$3/"
    fi
}

t_file_like() {
    if [[ -r "$2" ]] && grep -Eq -- "$3" "$2"; then
        t_pass "$1"
    else
        t_fail "$1" "  no line of $2 matches /$3/" "$(t_diag_file "$2" | sed 's/^# //')"
    fi
}

t_file_unlike() {
    if [[ -r "$2" ]] && ! grep -Eq -- "$3" "$2"; then
        t_pass "$1"
    else
        t_fail "$1" "  $2 matches /$3/ (or is unreadable):" \
            "$(grep -E -- "$3" "$2" 2>&1 | tail -n "$TAP_DIAG_LINES")"
    fi
}

# t_wait_file_like SECS DESC FILE REGEX: polls every 0.1 s for up to SECS seconds.
t_wait_file_like() {
    local secs=$1 desc=$2 file=$3 re=$4 deadline
    deadline=$(($(date +%s%N) + secs * 1000000000))
    while (($(date +%s%N) < deadline)); do
        if [[ -r "$file" ]] && grep -Eq -- "$re" "$file"; then
            t_pass "$desc"
            return 0
        fi
        sleep 0.1
    done
    t_fail "$desc" "  no line of $file matched /$re/ within ${secs}s" "$(t_diag_file "$file" | sed 's/^# //')"
}

t_bail() {
    printf 'Bail out! %s\n' "$*"
    exit 1
}

# TAP_DONE_HOOKS: functions t_done runs first; they may add tests.
TAP_DONE_HOOKS=()
t_done() {
    local hook
    for hook in "${TAP_DONE_HOOKS[@]}"; do
        "$hook"
    done
    _TAP_DONE=1
    if [[ -z "$_TAP_PLAN" ]]; then
        echo "1..$_TAP_N"
    elif ((_TAP_PLAN != _TAP_N)); then
        t_diag "planned $_TAP_PLAN tests but ran $_TAP_N"
        exit 1
    fi
    if ((_TAP_FAILED)); then
        t_diag "failed $_TAP_FAILED of $_TAP_N tests"
        exit 1
    fi
    exit 0
}

# t_no_secret_in DESC FILE SECRET...: passes when no SECRET (fixed strings;
# empty ones are skipped) occurs in FILE; a failure never prints the secret.
t_no_secret_in() {
    local desc=$1 file=$2 s found=0
    shift 2
    for s in "$@"; do
        [[ -n "$s" ]] || continue
        grep -qF -- "$s" "$file" 2>/dev/null && found=$((found + 1))
    done
    if ((found == 0)); then
        t_pass "$desc"
    else
        t_fail "$desc" "  $found secret(s) found in $file (not shown)"
    fi
}
