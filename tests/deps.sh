#!/bin/sh
# SPDX-License-Identifier: MIT
# deps.sh - install the Debian packages that building and testing need
#
# Run by `make check` and `make demo`. Checks with dpkg-query and installs
# only what is missing, non-interactively, as root. Services that packages
# would start (Postfix, Dovecot) are kept from starting: the tests run their
# own instances on loopback ports. The last line of libraries is what
# Debian's exim4 binary needs: tests/e2e/test-exim.sh unpacks
# exim4-daemon-light from its .deb without installing it (it would replace
# Postfix as the MTA), so apt does not pull them in.
set -eu

PACKAGES="build-essential pkg-config libsasl2-dev libsasl2-modules sasl2-bin
 libcmocka-dev libcurl4-openssl-dev libssl-dev libjansson-dev libsecret-1-dev
 libglib2.0-dev libsystemd-dev postfix dovecot-core dovecot-imapd
 dovecot-submissiond isync gnome-keyring dbus dbus-x11 libsecret-tools
 python3 curl socat valgrind clang libclang-rt-14-dev util-linux bsdutils procps
 openssl ca-certificates libqrencode-dev msmtp neomutt
 libidn12 libgnutls-dane0 libnsl2 libpcre2-8-0 libdb5.3 strace"

missing=""
for p in $PACKAGES; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$status" in
	*" installed") ;;
	*) missing="$missing $p" ;;
	esac
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "deps.sh: missing packages:$missing" >&2
	echo "deps.sh: run as root, or: sudo apt-get install$missing" >&2
	exit 1
fi

echo "deps.sh: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
# keep packages from starting their system services while installing
policy=/usr/sbin/policy-rc.d
own_policy=no
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' > "$policy"
	chmod 755 "$policy"
	own_policy=yes
fi
rc=0
{ apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing; } \
	> /tmp/mailoauth-deps.log 2>&1 || rc=$?
[ "$own_policy" = yes ] && rm -f "$policy"
if [ "$rc" != 0 ]; then
	tail -n 20 /tmp/mailoauth-deps.log >&2
	echo "deps.sh: apt-get failed (full log: /tmp/mailoauth-deps.log)" >&2
	exit 1
fi
