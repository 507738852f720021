# SPDX-License-Identifier: MIT
# grantcheck.py - what the test IdP knows about a token we hold, without
# ever printing the token (tests/e2e/lib/durability.sh)
#
#   grantcheck.py IDP_URL refresh   stdin: a grant (JSON, as store-tool loads it)
#   grantcheck.py IDP_URL access    stdin: a daemon answer "OK ... token=T"
#   grantcheck.py IDP_URL maxserial
#   grantcheck.py IDP_URL refresh-many   stdin: lines "NAME GRANT-JSON" (or
#                                        "NAME error: WHY"); prints "NAME LINE"
#                                        for each, then "- maxserial=N"
#
# refresh/access print one line "serial=N kind=K user=U revoked=0|1
# replaced=0|1 expired=0|1" for the token, looked up by its SHA-256 prefix
# in /_test/tokens; "unknown" when the IdP never issued it. Exit 1 when
# stdin holds no such token (the reason on stderr, secret-free).
import hashlib
import json
import re
import sys
import urllib.request


def tokens(url):
    with urllib.request.urlopen(url + "/_test/tokens", timeout=10) as r:
        return json.load(r)["tokens"]


def describe(url, value):
    known = {t["sha256"]: t for t in tokens(url)}
    return describe_many(known, json.dumps({"refresh_token": value}))


def describe_many(known, grant):
    if grant.startswith("error:"):
        return grant
    try:
        value = json.loads(grant).get("refresh_token")
    except ValueError:
        return "error: the grant is not JSON"
    if not value:
        return "error: the grant has no refresh token"
    t = known.get(hashlib.sha256(value.encode()).hexdigest()[:16])
    if not t:
        return "unknown"
    return "serial=%d kind=%s user=%s revoked=%d replaced=%d expired=%d" % (
        t["serial"], t["kind"], t["user"], t["revoked"], t["replaced"], t["expired"])


def main():
    url, what = sys.argv[1], sys.argv[2]
    if what == "maxserial":
        print(max([t["serial"] for t in tokens(url)] or [0]))
        return 0
    data = sys.stdin.read()
    if what == "refresh-many":
        known = {t["sha256"]: t for t in tokens(url)}
        for line in data.splitlines():
            name, _, rest = line.partition(" ")
            print(name, describe_many(known, rest))
        print("- maxserial=%d" % max([t["serial"] for t in known.values()] or [0]))
        return 0
    if what == "refresh":
        try:
            value = json.loads(data).get("refresh_token")
        except ValueError:
            sys.exit("the grant is not JSON")
        if not value:
            sys.exit("the grant has no refresh token")
    else:
        m = re.search(r"(?m)^OK .* token=(\S+)", data)
        if not m:
            sys.exit("no token in the answer")
        value = m.group(1)
    print(describe(url, value))
    return 0


if __name__ == "__main__":
    sys.exit(main())
