#!/bin/sh
# SPDX-License-Identifier: MIT
# browser.sh URL - a scripted browser for `mailoauth login` (flow authcode)
# in the e2e tests; set BROWSER to this file. It fetches URL (the test
# IdP's authorize endpoint, which approves at once and answers 302 to the
# loopback redirect_uri), asks the listener for /favicon.ico as browsers
# do, then follows the redirect to the listener.
#
#   BROWSER_DIR    where it writes: url (the URL it was given: no secret in
#                  it), favicon (the listener's status for /favicon.ico),
#                  page (the listener's answer), status (its HTTP status)
#   BROWSER_MODE   "wrong-state": replace the state in the redirect, as a
#                  forged or stale request would
# The redirect (it holds the authorization code) is never written down.
set -u
dir=${BROWSER_DIR:?}
url=$1
printf '%s\n' "$url" >"$dir/url"
loc=$(curl -sS -o /dev/null -w '%{redirect_url}' --max-time 10 "$url") || exit 1
case $loc in
http://127.0.0.1:*) ;;
*) echo "no loopback redirect" >"$dir/page"; exit 1 ;;
esac
origin=${loc%%\?*}
curl -s -o /dev/null -w '%{http_code}' --max-time 10 "${origin}favicon.ico" >"$dir/favicon"
if [ "${BROWSER_MODE-}" = wrong-state ]; then
	loc=$(printf '%s' "$loc" | sed 's/state=[^&]*/state=forged-by-someone-else/')
fi
curl -s -o "$dir/page" -w '%{http_code}' --max-time 10 "$loc" >"$dir/status"
