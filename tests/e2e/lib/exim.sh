# shellcheck shell=bash
# SPDX-License-Identifier: MIT
# exim.sh - a real Exim for e2e tests: Debian's exim4-daemon-light, unpacked
# from its packages (never installed: exim4 conflicts with postfix as the
# system's MTA), configured the Debian way -- update-exim4.conf over the
# package's own conf.d or exim4.conf.template, plus the router, transport and
# authenticator of docs/exim.md -- with its spool and logs in $E2E_DIR/exim.
# Source it after env.sh and e2e_init.
#
#   exim_prepare         gets the packages (cached in $MO_EXIM_CACHE), unpacks
#                        them, makes sure the user Debian-exim exists; returns
#                        1 with the reason in EXIM_SKIP when that is impossible
#   exim_debian_config LAYOUT SOCKET   LAYOUT "split" (conf.d files) or
#                        "template" (exim4.conf.template): generates the
#                        configuration with docs/exim.md's three blocks, the
#                        smarthost being Dovecot submission on 127.0.0.1 and
#                        the token coming from SOCKET; sets EXIM_CONF
#   exim_docs_block NAME the block of docs/exim.md whose first line is "# NAME"
#   exim_cmd ARGS...     the unpacked exim4 -C $EXIM_CONF ARGS...
#   exim_queue FROM TO SUBJECT   puts a message in the queue; prints its id
#   exim_deliver ID      one delivery attempt, in the foreground (exim -M)
#   exim_send FROM TO SUBJECT    both; prints the message id
#   exim_queue_count     messages in the queue (exim -bpc)
#   exim_queue_run       one forced queue run in the foreground (exim -qff)
#   exim_log_lines ID    the main log's lines for message ID
#
# Exports EXIM_BIN, EXIM_CONF, EXIM_DIR, EXIM_MAINLOG, EXIM_PANICLOG,
# EXIM_REJECTLOG. Variables read: MO_EXIM_CACHE (where the .deb files are
# kept between runs; default /var/cache/mailoauth-test/exim), SUBMISSION_PORT.
#
# The test's changes to Debian's configuration, all in 000_localmacros (or
# prepended to the template's output, as Debian does with
# exim4.conf.localmacros): spool, log and config directories inside
# $EXIM_DIR, fixed host and qualify names, log_selector = +all (the leak
# check wants the most verbose logging), message logs kept; exim_path is
# the unpacked binary. To the docs' blocks: the smarthost is
# 127.0.0.1::$SUBMISSION_PORT without TLS (Dovecot's is off), and since
# that is this machine, "self = send" and "allow_localhost".
#
# SECURITY: Debian's binary has its exim user compiled in and refuses to run
# without a Debian-exim account, so exim_prepare creates one as the package
# would (a system user, no home, no login). Remote deliveries run as that
# user, as in production: the daemon must allow it (allow = Debian-exim).

EXIM_PACKAGES="exim4-base exim4-config exim4-daemon-light"
: "${MO_EXIM_CACHE:=/var/cache/mailoauth-test/exim}"
EXIM_DIR=$E2E_DIR/exim
EXIM_ROOT=$EXIM_DIR/root
EXIM_BIN=$EXIM_ROOT/usr/sbin/exim4
EXIM_CONF=$EXIM_DIR/exim-split.conf
EXIM_MAINLOG=$EXIM_DIR/log/mainlog
EXIM_PANICLOG=$EXIM_DIR/log/paniclog
EXIM_REJECTLOG=$EXIM_DIR/log/rejectlog
EXIM_DOCS=$TOP/docs/exim.md
EXIM_SKIP=
export EXIM_SKIP EXIM_BIN EXIM_CONF EXIM_DIR EXIM_MAINLOG EXIM_PANICLOG EXIM_REJECTLOG

# _exim_debs: the cached .deb of every package, one per line (the newest
# version when several are cached); fails when one is missing.
_exim_debs() {
	local p f
	for p in $EXIM_PACKAGES; do
		f=$(find "$MO_EXIM_CACHE" -maxdepth 1 -name "${p}_*.deb" 2>/dev/null | sort -V | tail -n 1)
		[[ -n "$f" ]] || return 1
		printf '%s\n' "$f"
	done
}

# _exim_download: apt-get download into the cache (under a lock: runs may
# share it), once more after "apt-get update" if the package lists are stale.
_exim_download() {
	local log=$E2E_DIR/exim-setup.log
	mkdir -p "$MO_EXIM_CACHE" || return 1
	(
		flock 9
		_exim_debs >/dev/null && exit 0
		cd "$MO_EXIM_CACHE" || exit 1
		# the cache belongs to root: apt's _apt sandbox user could not write it
		# shellcheck disable=SC2086 # a list of names
		apt-get -q -o APT::Sandbox::User=root download $EXIM_PACKAGES >>"$log" 2>&1 && exit 0
		# shellcheck disable=SC2086
		apt-get -qq update >>"$log" 2>&1 &&
			apt-get -q -o APT::Sandbox::User=root download $EXIM_PACKAGES >>"$log" 2>&1
	) 9>"$MO_EXIM_CACHE/.lock"
}

# _exim_user: the system user Debian's exim4-base creates (same options).
_exim_user() {
	id Debian-exim >/dev/null 2>&1 && return 0
	e2e_note "creating the system user Debian-exim (Debian's exim binary needs it)"
	if command -v adduser >/dev/null; then
		adduser --system --group --quiet --home /var/spool/exim4 --no-create-home \
			--disabled-login --force-badname Debian-exim >>"$E2E_DIR/exim-setup.log" 2>&1
	else
		useradd --system --user-group --no-create-home --home-dir /var/spool/exim4 \
			--shell /usr/sbin/nologin Debian-exim >>"$E2E_DIR/exim-setup.log" 2>&1
	fi
	id Debian-exim >/dev/null 2>&1
}

exim_prepare() {
	local deb missing
	if ! _exim_debs >/dev/null; then
		if ! _exim_download || ! _exim_debs >/dev/null; then
			EXIM_SKIP="cannot download $EXIM_PACKAGES with apt-get ($(tail -n 1 "$E2E_DIR/exim-setup.log" 2>/dev/null))"
			return 1
		fi
	fi
	mkdir -p "$EXIM_ROOT"
	while IFS= read -r deb; do
		dpkg-deb -x "$deb" "$EXIM_ROOT" || {
			EXIM_SKIP="dpkg-deb -x $deb failed"
			return 1
		}
	done < <(_exim_debs)
	[[ -x "$EXIM_BIN" && -f "$EXIM_ROOT/usr/sbin/update-exim4.conf" ]] || {
		EXIM_SKIP="no exim4 or update-exim4.conf in the packages"
		return 1
	}
	missing=$(ldd "$EXIM_BIN" 2>/dev/null | awk '/not found/ { printf "%s ", $1 }')
	if [[ -n "$missing" ]]; then
		EXIM_SKIP="exim4 needs libraries that are not installed: ${missing}(tests/deps.sh installs them)"
		return 1
	fi
	_exim_user || {
		EXIM_SKIP="cannot create the system user Debian-exim"
		return 1
	}
	mkdir -p "$EXIM_DIR/spool" "$EXIM_DIR/log"
	chown Debian-exim:Debian-exim "$EXIM_DIR/spool" "$EXIM_DIR/log"
	chmod 0750 "$EXIM_DIR/spool" "$EXIM_DIR/log"
	TAP_LOGS+=("$EXIM_MAINLOG" "$EXIM_PANICLOG")
}

# exim_docs_block NAME: the fenced block of docs/exim.md whose first line is
# "# NAME" (that line included).
exim_docs_block() {
	awk -v want="# $1" '
		/^```/ { if (inblock) { if (found) exit; inblock = 0 } else { inblock = 1; first = 1 }; next }
		inblock && first { first = 0; if ($0 == want) found = 1 }
		inblock && found { print }' "$EXIM_DOCS" | grep .
}

# _exim_blocks SOCKET: docs/exim.md's router, transport and authenticator,
# adapted to the test (see the top of this file), into $EXIM_DIR/blocks/.
# Fails if a block or a line the adaptation relies on is gone from the docs.
_exim_blocks() {
	local socket=$1 b=$EXIM_DIR/blocks d=/etc/exim4/conf.d
	mkdir -p "$b"
	if ! { exim_docs_block "$d/router/190_mailoauth_smarthost" >"$b/router" &&
		exim_docs_block "$d/transport/30_mailoauth_smtp" >"$b/transport" &&
		exim_docs_block "$d/auth/20_mailoauth_xoauth2" >"$b/auth"; }; then
		echo "docs/exim.md lacks one of the three configuration blocks"
		return 1
	fi
	if ! { grep -q 'route_list = \* smtp\.office365\.com::587 byname$' "$b/router" &&
		grep -q '^  no_more$' "$b/router" &&
		grep -q '^  hosts_require_tls = \*$' "$b/transport" &&
		grep -q '^  hosts_require_auth = \*$' "$b/transport" &&
		grep -qF '{/run/mailoauth/socket}{XOAUTH2 relay\n}' "$b/auth"; }; then
		echo "docs/exim.md's blocks changed: adapt _exim_blocks in tests/e2e/lib/exim.sh"
		return 1
	fi
	sed -i -e "s/smtp\.office365\.com::587/127.0.0.1::$SUBMISSION_PORT/" \
		-e 's/^  no_more$/  self = send\n  no_more/' "$b/router"
	sed -i -e '/^  hosts_require_tls = /d' -e '/^  tls_verify_hosts = /d' "$b/transport"
	echo '  allow_localhost' >>"$b/transport"
	sed -i "s|{/run/mailoauth/socket}|{$socket}|" "$b/auth"
}

# _exim_macros CONFDIR: the test's settings, in Debian's localmacros form.
_exim_macros() {
	cat <<EOF
# tests/e2e/lib/exim.sh: a private instance
CONFDIR = $1
SPOOLDIR = $EXIM_DIR/spool
MAIN_HARDCODE_PRIMARY_HOSTNAME = client.e2e.test
MAIN_QUALIFY_DOMAIN = e2e.test
MAIN_LOG_SELECTOR = +all
log_file_path = $EXIM_DIR/log/%slog
preserve_message_logs = true
EOF
}

# exim_debian_config LAYOUT SOCKET
exim_debian_config() {
	local layout=$1 socket=$2 dir=$EXIM_DIR/debian-$1 out=$EXIM_DIR/exim-$1.conf
	local b=$EXIM_DIR/blocks split=true
	[[ "$layout" == template ]] && split=false
	_exim_blocks "$socket" || return 1
	rm -rf "$dir"
	cp -a "$EXIM_ROOT/etc/exim4" "$dir"
	cat >"$dir/update-exim4.conf.conf" <<EOF
dc_eximconfig_configtype='smarthost'
dc_other_hostnames=''
dc_local_interfaces='127.0.0.1'
dc_readhost=''
dc_relay_domains=''
dc_minimaldns='false'
dc_relay_nets=''
dc_smarthost='127.0.0.1::$SUBMISSION_PORT'
CFILEMODE='644'
dc_use_split_config='$split'
dc_hide_mailname=''
dc_mailname_in_oh='true'
dc_localdelivery='mail_spool'
EOF
	if [[ "$layout" == split ]]; then
		_exim_macros "$dir" >"$dir/conf.d/main/000_localmacros"
		cp "$b/router" "$dir/conf.d/router/190_mailoauth_smarthost"
		cp "$b/transport" "$dir/conf.d/transport/30_mailoauth_smtp"
		cp "$b/auth" "$dir/conf.d/auth/20_mailoauth_xoauth2"
	else
		# where docs/exim.md says to paste them
		awk -v r="$b/router" -v t="$b/transport" -v a="$b/auth" '
			function put(f,  l) { while ((getline l < f) > 0) print l; close(f) }
			$0 == "### router/200_exim4-config_primary" && !rdone { put(r); rdone = 1 }
			{ print }
			$0 == "begin transports" { put(t) }
			$0 == "begin authenticators" { put(a) }' \
			"$EXIM_ROOT/etc/exim4/exim4.conf.template" >"$dir/exim4.conf.template"
		grep -c '^mailoauth_' "$dir/exim4.conf.template" | grep -qx 3 || {
			echo "the template lacks the places docs/exim.md names"
			return 1
		}
	fi
	# update-exim4.conf reads /etc/mailname, which may be missing: harmless
	sh "$EXIM_ROOT/usr/sbin/update-exim4.conf" -d "$dir" -o "$out.gen" >>"$E2E_DIR/exim-setup.log" 2>&1 ||
		return 1
	{
		# Debian reads exim4.conf.localmacros only from /etc/exim4: prepend it
		# here, as update-exim4.conf does
		[[ "$layout" == template ]] && _exim_macros "$dir"
		sed "s|^exim_path = .*|exim_path = $EXIM_BIN|" "$out.gen"
	} >"$out"
	chmod 0644 "$out"
	EXIM_CONF=$out
}

exim_cmd() {
	"$EXIM_BIN" -C "$EXIM_CONF" "$@"
}

# exim_queue FROM TO SUBJECT: puts a message in the queue (-odq) and prints
# its Exim message id. (Not -odi: after reception Exim runs as Debian-exim
# and re-executes itself for the delivery, and an untrusted -C then costs it
# its privileges. Exim's spec, 6.1: root tests "reception and delivery using
# two separate commands", -odq then -M.)
exim_queue() {
	local from=$1 to=$2 subject=$3 mid
	mid="$(date +%s%N).$RANDOM@client.e2e.test"
	printf 'From: <%s>\nTo: <%s>\nSubject: %s\nMessage-ID: <%s>\n\nsent by tests/e2e/lib/exim.sh\n' \
		"$from" "$to" "$subject" "$mid" |
		exim_cmd -odq -oi -f "$from" -- "$to" || return 1
	# "... [pid] 1xVHjP-0003xA-29 <= alice@example.com ... id=MID ..."
	awk -v m="id=$mid" '{ for (i = 2; i < NF; i++) if ($(i + 1) == "<=" && index($0, " " m " ")) { print $i; exit } }' \
		"$EXIM_MAINLOG" | grep .
}

exim_deliver() {
	exim_cmd -M "$1"
}

exim_send() {
	local id
	id=$(exim_queue "$@") || return 1
	exim_deliver "$id" >&2 || true # a deferral is no error here: the log says
	printf '%s\n' "$id"
}

exim_queue_count() {
	exim_cmd -bpc
}

exim_queue_run() {
	exim_cmd -qff
}

exim_log_lines() {
	grep -F -- " $1 " "$EXIM_MAINLOG"
}
