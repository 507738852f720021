#!/usr/bin/env python3
"""A local stand-in for the OAuth 2.0 identity providers mailoauth talks to.

It imitates Microsoft Entra ID (v2.0 endpoints under /{tenant}/oauth2/v2.0/)
and Google (under /google/) closely enough for the mailoauth test suite:

* grants: device code, authorization code with PKCE (S256), refresh token
  (rotating for Microsoft, not for Google) and client credentials with a
  client secret or a certificate-signed JWT assertion (checked with the
  openssl command);
* responses and errors shaped like the real services (AADSTS error codes);
* token introspection for Dovecot's oauth2 passdb (/introspect) and a tiny
  Microsoft Graph: /v1.0/me, and /v1.0/users/{user}/sendMail (MIME form),
  which records what it was asked to send for the tests to read;
* a control API under /_test/ through which tests mint and revoke tokens,
  change settings, inject faults and read request counters.

It serves plain HTTP on a loopback address only (HTTPS with --tls-cert and
--tls-key, for tests of certificate checks) and uses nothing but the
Python standard library.  No token, code or secret is ever written to the
log.  See README.md next to this file.
"""

import argparse
import base64
import hashlib
import hmac
import html
import ipaddress
import json
import os
import re
import secrets
import signal
import socket
import socketserver
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field, replace
import email.parser
import email.policy
import email.utils
from email.message import Message
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import NamedTuple
from urllib.parse import parse_qsl, urlencode, urlsplit

MAX_BODY = 1024 * 1024          # larger request bodies get 413
GRAPH_MAX_REQUEST = 4 * 1024 * 1024     # Graph's sendMail limit (413 above it)
GRAPH_SEND_PATH = re.compile(r"/v1\.0/users/[^/]+/sendMail")
MAX_DRAIN = 16 * 1024 * 1024    # read and discard at most this much of one
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
OIDC_SCOPES = {"openid", "profile", "email", "offline_access"}
GRAPH = "https://graph.microsoft.com"
GOOGLE_MAIL_SCOPES = ("https://mail.google.com/", "https://www.googleapis.com/auth/gmail")
USER_CODE_LETTERS = "BCDFGHJKLMNPQRSTVWXZ"
CLOCK_SKEW = 300                # seconds of leeway for an assertion's nbf

DEFAULTS = {
    "token_lifetime": 3599,
    "refresh_token_lifetime": 90 * 86400,
    "strict_rotation": False,
    "device_interval": 5,
    "device_expires_in": 900,
    "slow_down_step": 5,
    "auto_approve": True,
    "authorize_error": None,
    "known_clients_only": False,
    "default_user": "alice@example.com",
    "metadata_issuer": None,
    "metadata_rfc8414": True,
}
SETTING_TYPES = {
    "token_lifetime": "number", "refresh_token_lifetime": "number",
    "device_interval": "number", "device_expires_in": "number",
    "slow_down_step": "number", "strict_rotation": "bool",
    "auto_approve": "bool", "known_clients_only": "bool",
    "authorize_error": "optional_string", "default_user": "string",
    "metadata_issuer": "optional_string", "metadata_rfc8414": "bool",
}
FAULT_KINDS = ("delay", "status", "throttle", "malformed_json", "truncated_json",
               "huge_body", "reset", "html", "aadsts", "empty")


# ---------------------------------------------------------------- helpers

def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


SECRETS_FILE = os.environ.get("MO_IDP_SECRETS_FILE")
_secrets_lock = threading.Lock()


def remember_secret(*values) -> None:
    """Append every token, code and client secret handed out to the file
    $MO_IDP_SECRETS_FILE names (one per line), for the tests' secret scans."""
    if not SECRETS_FILE:
        return
    with _secrets_lock, open(SECRETS_FILE, "a", encoding="ascii") as out:
        out.writelines(f"{v}\n" for v in values if v)


def random_b64url(length: int) -> str:
    return b64url(secrets.token_bytes(length * 3 // 4 + 3))[:length]


def compact_json(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


def utc_stamp(when: float | None = None) -> str:
    moment = datetime.fromtimestamp(time.time() if when is None else when, timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")


def json_number(value):
    return int(value) if float(value).is_integer() else value


def stable_uuid(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "mailoauth-idp:" + ":".join(parts)))


def tenant_id(tenant: str) -> str:
    try:
        return str(uuid.UUID(tenant))
    except ValueError:
        return stable_uuid("tenant", tenant.lower())


def redact(value: str | None) -> str:
    return value[:6] + "…" if value else "-"


def is_loopback_address(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def write_json_atomic(path: Path, obj) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)


def parse_form(body: bytes) -> dict[str, str]:
    """Parse an x-www-form-urlencoded body; ValueError if malformed or repeated."""
    pairs = parse_qsl(body.decode("ascii"), keep_blank_values=True,
                      strict_parsing=True, errors="strict", max_num_fields=64)
    form = dict(pairs)
    if len(form) != len(pairs):
        raise ValueError("repeated parameter")
    return form


def resource_of(scope: str) -> str:
    """The resource a delegated scope belongs to (bare names mean Graph)."""
    return scope.rsplit("/", 1)[0] if "://" in scope else GRAPH


def pkce_matches(verifier: str, challenge: str) -> bool:
    if not re.fullmatch(r"[A-Za-z0-9._~-]{43,128}", verifier):
        return False
    digest = b64url(hashlib.sha256(verifier.encode("ascii")).digest())
    return hmac.compare_digest(digest, challenge)


def is_loopback_redirect(uri: str | None) -> bool:
    if not uri:
        return False
    parts = urlsplit(uri)
    try:
        port = parts.port
    except ValueError:
        return False
    return (parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost")
            and port is not None and not parts.username and not parts.fragment
            and (parts.path == "" or parts.path.startswith("/")))


# ---------------------------------------------------------------- responses

@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    note: str = ""          # short, secret-free words for the request log
    reset: bool = False     # close the connection without answering


def json_response(obj, status: int = 200, **kwargs) -> Response:
    return Response(status, json.dumps(obj).encode(), **kwargs)


def html_response(status: int, title: str, text: str) -> Response:
    title, text = html.escape(title), html.escape(text)
    page = (f"<!DOCTYPE html><html><head><title>{title}</title></head>"
            f"<body><h1>{title}</h1><p>{text}</p></body></html>")
    return Response(status, page.encode(), "text/html; charset=utf-8")


def redirect_response(uri: str, params: dict[str, str]) -> Response:
    separator = "&" if urlsplit(uri).query else "?"
    return Response(302, b"", "text/html; charset=utf-8",
                    {"Location": uri + separator + urlencode(params)})


def entra_error_body(error: str, codes: list[int], text: str) -> dict:
    trace, correlation, stamp = str(uuid.uuid4()), str(uuid.uuid4()), utc_stamp()
    first = codes[0] if codes else 0
    code_text = f"AADSTS{first}: " if codes else ""
    return {
        "error": error,
        "error_description": (f"{code_text}{text}\r\nTrace ID: {trace}\r\n"
                              f"Correlation ID: {correlation}\r\nTimestamp: {stamp}"),
        "error_codes": codes,
        "timestamp": stamp,
        "trace_id": trace,
        "correlation_id": correlation,
        "error_uri": f"https://login.microsoftonline.com/error?code={first}",
    }


class OAuthError(Exception):
    """Raised by endpoint code; carries the finished error response."""

    def __init__(self, response: Response):
        super().__init__(response.note)
        self.response = response


class ErrorSpec(NamedTuple):
    error: str
    aadsts: int
    text: str
    google_error: str
    google_text: str | None
    status: int = 400
    google_status: int | None = None


ERRORS = {
    "missing_param": ErrorSpec(
        "invalid_request", 900144,
        "The request body must contain the following parameter: '{0}'.",
        "invalid_request", "Missing required parameter: {0}"),
    "malformed_request": ErrorSpec(
        "invalid_request", 9002313, "Invalid request. Request is malformed or invalid.",
        "invalid_request", "Invalid request."),
    "unsupported_grant": ErrorSpec(
        "unsupported_grant_type", 70003, "The app requested an unsupported grant type '{0}'.",
        "unsupported_grant_type", "Invalid grant_type: {0}"),
    "unknown_client": ErrorSpec(
        "unauthorized_client", 700016,
        "Application with identifier '{0}' was not found in the directory.",
        "invalid_client", "The OAuth client was not found.", google_status=401),
    "bad_secret": ErrorSpec(
        "invalid_client", 7000215,
        "Invalid client secret provided. Ensure the secret being sent in the request is the "
        "client secret value, not the client secret ID, for a secret added to app '{0}'.",
        "invalid_client", "Unauthorized", status=401),
    "missing_credentials": ErrorSpec(
        "invalid_client", 7000218,
        "The request body must contain the following parameter: 'client_assertion' or "
        "'client_secret'.",
        "invalid_request", "client_secret is missing.", status=401, google_status=400),
    "grant_invalid": ErrorSpec(
        "invalid_grant", 70000, "Provided grant is invalid or malformed.",
        "invalid_grant", "Malformed auth code."),
    "client_mismatch": ErrorSpec(
        "invalid_grant", 70000,
        "Provided grant is invalid or malformed. It was issued to a different client.",
        "unauthorized_client", "Unauthorized"),
    "refresh_unknown": ErrorSpec(
        "invalid_grant", 70000, "Provided grant is invalid or malformed.",
        "invalid_grant", "Token has been expired or revoked."),
    "refresh_revoked": ErrorSpec(
        "invalid_grant", 70000,
        "The provided grant has been revoked. A fresh auth token is needed.",
        "invalid_grant", "Token has been expired or revoked."),
    "refresh_replaced": ErrorSpec(
        "invalid_grant", 70008,
        "The refresh token was already redeemed and has been replaced by a newer one.",
        "invalid_grant", "Token has been expired or revoked."),
    "refresh_expired": ErrorSpec(
        "invalid_grant", 700082, "The refresh token has expired due to inactivity.",
        "invalid_grant", "Token has been expired or revoked."),
    "code_redeemed": ErrorSpec(
        "invalid_grant", 54005,
        "OAuth2 Authorization code was already redeemed, please retry with a new valid code "
        "or use an existing refresh token.",
        "invalid_grant", "Bad Request"),
    "code_expired": ErrorSpec(
        "invalid_grant", 70008,
        "The provided authorization code or refresh token has expired due to inactivity.",
        "invalid_grant", "Bad Request"),
    "redirect_mismatch": ErrorSpec(
        "invalid_grant", 50011,
        "The redirect URI '{0}' specified in the request does not match the redirect URI "
        "used to obtain the authorization code.",
        "redirect_uri_mismatch", "Bad Request"),
    "pkce_missing": ErrorSpec(
        "invalid_grant", 50148,
        "The code_verifier does not match the code_challenge supplied in the authorization "
        "request for PKCE.",
        "invalid_grant", "Missing code verifier."),
    "pkce_mismatch": ErrorSpec(
        "invalid_grant", 501481,
        "The Code_Verifier does not match the code_challenge supplied in the authorization "
        "request.",
        "invalid_grant", "Invalid code verifier."),
    "device_pending": ErrorSpec(
        "authorization_pending", 70016,
        "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
        "authorization_pending", "Precondition Required.", google_status=428),
    "device_slow_down": ErrorSpec(
        "slow_down", 70016,
        "OAuth 2.0 device flow error. Polling too fast; wait longer between requests.",
        "slow_down", "Forbidden", google_status=403),
    "device_declined": ErrorSpec(
        "authorization_declined", 70000, "The user declined the authorization request.",
        "access_denied", "Forbidden", google_status=403),
    "device_expired": ErrorSpec(
        "expired_token", 70019, "Verification code expired.",
        "expired_token", "Expired"),
    "device_bad_code": ErrorSpec(
        "bad_verification_code", 70000,
        "The device code is unknown, belongs to another client or was already redeemed.",
        "invalid_grant", "Malformed auth code."),
    "device_scope": ErrorSpec(
        "invalid_scope", 70011, "The provided value for the input parameter 'scope' is not valid.",
        "invalid_scope", None),
    "multiple_resources": ErrorSpec(
        "invalid_scope", 28000,
        "Provided value for the input parameter scope is not valid because it contains more "
        "than one resource. Scope {0} is not valid.",
        "invalid_scope", None),
    "app_scope": ErrorSpec(
        "invalid_scope", 1002012,
        "The provided value for scope {0} is not valid. Client credential flows must have a "
        "scope value with /.default suffixed to the resource identifier (application ID URI).",
        "invalid_scope", None),
    "assertion_type": ErrorSpec(
        "invalid_request", 9002313,
        "Invalid request. client_assertion_type must be '" + JWT_BEARER + "'.",
        "invalid_request", "Invalid request."),
    "assertion_malformed": ErrorSpec(
        "invalid_client", 50027, "JWT token is invalid or malformed. [Reason - {0}]",
        "invalid_client", "Unauthorized", status=401),
    "assertion_key": ErrorSpec(
        "invalid_client", 700027,
        "Client assertion contains an invalid signature. [Reason - The key was not found.]",
        "invalid_client", "Unauthorized", status=401),
    "assertion_signature": ErrorSpec(
        "invalid_client", 700027,
        "Client assertion contains an invalid signature. [Reason - Key was found, but use of "
        "the key to verify the signature failed.]",
        "invalid_client", "Unauthorized", status=401),
    "assertion_replay": ErrorSpec(
        "invalid_client", 700027,
        "Client assertion failed validation. [Reason - The jti claim is missing or was "
        "already used.]",
        "invalid_client", "Unauthorized", status=401),
    "assertion_audience": ErrorSpec(
        "invalid_client", 700023,
        "Client assertion audience claim does not match the token endpoint.",
        "invalid_client", "Unauthorized", status=401),
    "assertion_issuer": ErrorSpec(
        "invalid_client", 700021,
        "Client assertion application identifier doesn't match 'client_id' parameter.",
        "invalid_client", "Unauthorized", status=401),
    "assertion_time": ErrorSpec(
        "invalid_client", 700024, "Client assertion is not within its valid time range.",
        "invalid_client", "Unauthorized", status=401),
}


# ---------------------------------------------------------------- state

@dataclass(frozen=True)
class Grant:
    """Who a token is for: the part that survives refreshes."""
    provider: str
    tenant: str
    client_id: str
    user: str | None
    scopes: tuple[str, ...]
    app_only: bool = False

    @property
    def resource_scopes(self) -> list[str]:
        return [s for s in self.scopes if s.lower() not in OIDC_SCOPES]

    @property
    def resource(self) -> str:
        scopes = self.resource_scopes
        return resource_of(scopes[0]) if scopes else GRAPH


@dataclass
class TokenRecord:
    value: str
    kind: str               # "access" or "refresh"
    grant: Grant
    issued_at: float
    expires_at: float
    serial: int = 0
    revoked: bool = False
    replaced: bool = False

    def usable(self, now: float) -> bool:
        return not self.revoked and now < self.expires_at

    def meta(self, now: float) -> dict:
        return {
            "serial": self.serial,
            "prefix": self.value[:8],
            "sha256": hashlib.sha256(self.value.encode()).hexdigest()[:16],
            "kind": self.kind,
            "provider": self.grant.provider,
            "user": self.grant.user,
            "client_id": self.grant.client_id,
            "scope": " ".join(self.grant.scopes),
            "issued_at": int(self.issued_at),
            "exp": int(self.expires_at),
            "expired": now >= self.expires_at,
            "revoked": self.revoked,
            "replaced": self.replaced,
        }


@dataclass
class AuthCode:
    grant: Grant
    redirect_uri: str
    challenge: str
    expires_at: float
    used: bool = False


@dataclass
class DeviceRequest:
    grant: Grant                # user is filled in on approval
    user_code: str
    expires_at: float
    interval: float
    last_poll: float
    status: str = "pending"     # pending, approved, declined, redeemed


@dataclass
class Client:
    secret: str | None = None
    certificates: dict[str, Path] = field(default_factory=dict)   # x5t#S256 -> public key
    user: str | None = None     # mailbox reported for its app-only tokens


@dataclass
class Fault:
    path_prefix: str
    kind: str
    count: int | None           # None: until cleared
    params: dict

    def matches(self, path: str) -> bool:
        return self.path_prefix == "*" or path.startswith(self.path_prefix)


def fresh_counters() -> dict:
    return {"token": 0, "token_by_grant": {}, "token_by_tenant": {}, "devicecode": 0,
            "authorize": 0,
            "introspect": 0, "introspect_active": 0, "graph": 0, "revoke": 0,
            "metadata": 0, "sendmail": 0}


class Store:
    """All mutable state behind one lock; the inspectable parts go to state_dir."""

    def __init__(self, state_dir: Path):
        self.lock = threading.RLock()
        self.state_dir = state_dir
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.config = dict(DEFAULTS)
            self.clients: dict[str, Client] = {}
            self.tokens: dict[str, TokenRecord] = {}
            self.codes: dict[str, AuthCode] = {}
            self.devices: dict[str, DeviceRequest] = {}
            self.faults: list[Fault] = []
            self.graph_sent: list[dict] = []
            self.seen_jtis: set[tuple[str, str]] = set()
            self.serial = 0
            self.counters = fresh_counters()

    def add_tokens(self, *records: TokenRecord) -> None:
        with self.lock:
            for record in records:
                self.serial += 1
                record.serial = self.serial
                self.tokens[record.value] = record
        remember_secret(*(record.value for record in records))

    def count(self, name: str, grant_type: str | None = None,
              tenant: str | None = None) -> None:
        with self.lock:
            self.counters[name] += 1
            if grant_type is not None:
                by_grant = self.counters["token_by_grant"]
                by_grant[grant_type] = by_grant.get(grant_type, 0) + 1
            if tenant is not None:
                by_tenant = self.counters["token_by_tenant"]
                by_tenant[tenant] = by_tenant.get(tenant, 0) + 1

    def take_fault(self, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.matches(path):
                    if fault.count is not None:
                        fault.count -= 1
                        if fault.count <= 0:
                            self.faults.remove(fault)
                    return fault
        return None

    def live_access_token(self, value: str | None) -> TokenRecord | None:
        with self.lock:
            record = self.tokens.get(value or "")
            if record and record.kind == "access" and record.usable(time.time()):
                return record
        return None

    def token_list(self, user: str | None) -> list[dict]:
        now = time.time()
        with self.lock:
            records = sorted(self.tokens.values(), key=lambda r: r.serial)
            return [r.meta(now) for r in records
                    if user is None or (r.grant.user or "").lower() == user.lower()]

    def save(self) -> None:
        with self.lock:
            write_json_atomic(self.state_dir / "counters.json", self.counters)
            write_json_atomic(self.state_dir / "tokens.json", self.token_list(None))


# ---------------------------------------------------------------- tokens

def user_code() -> str:
    letters = "".join(secrets.choice(USER_CODE_LETTERS) for _ in range(8))
    return letters[:4] + "-" + letters[4:]


def entra_claims(grant: Grant, issued: int, expires: int) -> dict:
    tid = tenant_id(grant.tenant)
    claims = {"aud": grant.resource, "iss": f"https://sts.windows.net/{tid}/",
              "iat": issued, "nbf": issued, "exp": expires, "appid": grant.client_id,
              "app_displayname": "mailoauth", "tid": tid, "rh": random_b64url(60),
              "uti": random_b64url(22), "ver": "1.0"}
    if grant.app_only:
        claims.update(appidacr="1", idp=claims["iss"], idtyp="app",
                      oid=stable_uuid("app", grant.client_id), roles=["SMTP.SendAsApp"],
                      sub=stable_uuid("app", grant.client_id))
    else:
        user = grant.user or ""
        claims.update(acct=0, acr="1", amr=["pwd", "mfa"], appidacr="0", email=user,
                      idtyp="user", ipaddr="127.0.0.1", name=user.split("@")[0],
                      oid=stable_uuid("user", user.lower()),
                      puid=secrets.token_hex(8).upper(),
                      scp=" ".join(s.rsplit("/", 1)[-1] for s in grant.resource_scopes),
                      sid=str(uuid.uuid4()), sub=random_b64url(43),
                      unique_name=user, upn=user)
    return claims


def entra_access_token(grant: Grant, issued: float, expires: float) -> str:
    """A JWT-shaped token of Microsoft's size; the signature is random bytes."""
    header = b64url(b'{"typ":"JWT","alg":"RS256"}')
    signature = random_b64url(342)
    claims = entra_claims(grant, int(issued), int(expires))
    target = 1800 + secrets.randbelow(500)
    room = target - len(header) - len(signature) - 2 - len(b64url(compact_json(claims)))
    claims["aio"] = random_b64url(max(16, room * 3 // 4 - len('"aio":"",')))
    return f"{header}.{b64url(compact_json(claims))}.{signature}"


class Microsoft:
    """Entra ID v2.0 shapes: rotating refresh tokens, AADSTS errors."""
    name = "microsoft"
    grant_types = frozenset({"authorization_code", "refresh_token", DEVICE_GRANT,
                             "client_credentials"})
    rotates = True

    def error(self, kind: str, *args) -> OAuthError:
        spec = ERRORS[kind]
        body = entra_error_body(spec.error, [spec.aadsts], spec.text.format(*args))
        return OAuthError(json_response(body, spec.status,
                                        note=f"error={spec.error}/{spec.aadsts}"))

    def authorize_error(self, error: str, code: int, text: str) -> dict[str, str]:
        return {"error": error, "error_description": f"AADSTS{code}: {text}"}

    def redirect_extras(self, scope: str) -> dict[str, str]:
        return {"session_state": str(uuid.uuid4())}

    def scope_problem(self, scopes: list[str], device: bool) -> str | None:
        """An ERRORS kind if Entra would refuse these scopes, else None."""
        resources = {resource_of(s) for s in scopes if s.lower() not in OIDC_SCOPES}
        return "multiple_resources" if len(resources) > 1 else None

    def wants_refresh(self, grant: Grant) -> bool:
        return not grant.app_only and "offline_access" in (s.lower() for s in grant.scopes)

    def access_token(self, grant: Grant, issued: float, expires: float) -> str:
        return entra_access_token(grant, issued, expires)

    def refresh_token(self) -> str:
        return "0.A" + random_b64url(1000)

    def auth_code(self) -> str:
        return "1.A" + random_b64url(700)

    def device_code(self) -> str:
        return "DAQABIQEAAAD" + random_b64url(300)

    def token_body(self, grant: Grant, access: str, refresh: str | None, lifetime) -> dict:
        body = {"token_type": "Bearer"}
        if not grant.app_only:
            body["scope"] = " ".join(grant.resource_scopes)
        body.update(expires_in=lifetime, ext_expires_in=lifetime, access_token=access)
        if refresh:
            body["refresh_token"] = refresh
        return body

    def device_body(self, code: str, device: DeviceRequest, uri: str, expires_in) -> dict:
        return {"user_code": device.user_code, "device_code": code, "verification_uri": uri,
                "expires_in": expires_in, "interval": json_number(device.interval),
                "message": (f"To sign in, use a web browser to open the page {uri} and enter "
                            f"the code {device.user_code} to authenticate.")}


class Google:
    """Google shapes: opaque ya29 tokens, refresh tokens that do not rotate."""
    name = "google"
    grant_types = frozenset({"authorization_code", "refresh_token", DEVICE_GRANT})
    rotates = False

    def error(self, kind: str, *args) -> OAuthError:
        spec = ERRORS[kind]
        body = {"error": spec.google_error}
        if spec.google_text is not None:
            body["error_description"] = spec.google_text.format(*args)
        status = spec.google_status or spec.status
        return OAuthError(json_response(body, status, note=f"error={spec.google_error}"))

    def authorize_error(self, error: str, code: int, text: str) -> dict[str, str]:
        return {"error": error, "error_description": text}

    def redirect_extras(self, scope: str) -> dict[str, str]:
        return {"scope": scope}

    def scope_problem(self, scopes: list[str], device: bool) -> str | None:
        """Google's device flow refuses Gmail scopes."""
        if device and any(s.startswith(GOOGLE_MAIL_SCOPES) for s in scopes):
            return "device_scope"
        return None

    def wants_refresh(self, grant: Grant) -> bool:
        return not grant.app_only

    def access_token(self, grant: Grant, issued: float, expires: float) -> str:
        return "ya29." + random_b64url(150)

    def refresh_token(self) -> str:
        return "1//0" + random_b64url(99)

    def auth_code(self) -> str:
        return "4/0A" + random_b64url(70)

    def device_code(self) -> str:
        return "AH-1Ng" + random_b64url(90)

    def token_body(self, grant: Grant, access: str, refresh: str | None, lifetime) -> dict:
        body = {"access_token": access, "expires_in": lifetime}
        if refresh:
            body["refresh_token"] = refresh
        body.update(scope=" ".join(grant.scopes), token_type="Bearer")
        return body

    def device_body(self, code: str, device: DeviceRequest, uri: str, expires_in) -> dict:
        return {"device_code": code, "user_code": device.user_code,
                "expires_in": expires_in, "interval": json_number(device.interval),
                "verification_url": uri}


PROVIDERS = {"microsoft": Microsoft(), "google": Google()}


# ---------------------------------------------------------------- certificates

def openssl(args: list[str], stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *args], input=stdin, capture_output=True,
                          timeout=10, check=False)


def load_certificate(pem: str, cert_dir: Path) -> tuple[str, Path]:
    """Return (x5t#S256, path of its public key) for a PEM certificate."""
    digest = hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem.strip())).digest()
    result = openssl(["x509", "-pubkey", "-noout"], pem.encode())
    if result.returncode != 0:
        raise ValueError("openssl cannot read cert_pem")
    cert_dir.mkdir(exist_ok=True)
    key_path = cert_dir / f"{digest.hex()}.pub.pem"
    key_path.write_bytes(result.stdout)
    return b64url(digest), key_path


def rs256_valid(key_path: Path, signed: bytes, signature: bytes, workdir: Path) -> bool:
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        data, sig = Path(tmp, "data"), Path(tmp, "sig")
        data.write_bytes(signed)
        sig.write_bytes(signature)
        result = openssl(["dgst", "-sha256", "-verify", str(key_path),
                          "-signature", str(sig), str(data)])
        return result.returncode == 0


def decode_jwt(token: str) -> tuple[dict, dict, bytes, bytes]:
    """Split a compact JWS into header, claims, signed part and signature."""
    header_b64, claims_b64, signature_b64 = token.split(".")
    header = json.loads(b64url_decode(header_b64))
    claims = json.loads(b64url_decode(claims_b64))
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise ValueError("not a JSON object")
    signed = f"{header_b64}.{claims_b64}".encode("ascii")
    return header, claims, signed, b64url_decode(signature_b64)


# ---------------------------------------------------------------- requests

@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: Message
    body: bytes
    client_ip: str

    @property
    def content_type(self) -> str:
        return (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()

    def form(self) -> dict[str, str]:
        if self.content_type != "application/x-www-form-urlencoded":
            return {}
        return parse_form(self.body)

    def bearer_token(self) -> str | None:
        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None

    def json_object(self) -> dict:
        if not self.body.strip():
            return {}
        obj = json.loads(self.body)
        if not isinstance(obj, dict):
            raise ValueError("expected a JSON object")
        return obj


def form_grant_type(req: Request) -> str:
    """The grant_type for the counters, without failing on a bad body."""
    try:
        return req.form().get("grant_type") or "none"
    except (ValueError, UnicodeDecodeError):
        return "malformed"


class ControlError(Exception):
    """A bad control API request; answered with 400 {"error": message}."""


# ---------------------------------------------------------------- faults

SAMPLE_TOKEN_RESPONSE = json.dumps({
    "token_type": "Bearer", "scope": "https://outlook.office.com/SMTP.Send",
    "expires_in": 3599, "ext_expires_in": 3599,
    "access_token": "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.e30.c2lnbmF0dXJl",
    "refresh_token": "0.AAAAfault-injected"}).encode()


def parse_fault(obj: dict) -> Fault:
    kind = obj.get("kind")
    if kind not in FAULT_KINDS:
        raise ControlError(f"kind must be one of {', '.join(FAULT_KINDS)}")
    prefix = obj.get("path_prefix", "*")
    count = obj.get("count")
    if not isinstance(prefix, str) or not (prefix == "*" or prefix.startswith("/")):
        raise ControlError("path_prefix must be '*' or start with '/'")
    if count is not None and (type(count) is not int or count < 1):
        raise ControlError("count must be a positive integer")
    params = {k: v for k, v in obj.items() if k not in ("kind", "path_prefix", "count")}
    fault = Fault(prefix, kind, count, params)
    try:                        # build the answer once now, so bad parameters fail here
        fault_response(fault, dry_run=True)
    except (TypeError, ValueError) as exc:
        raise ControlError(f"bad parameter for {kind}: {exc}") from None
    return fault


def fault_response(fault: Fault, dry_run: bool = False) -> Response | None:
    """The canned answer for a fault; None means "answer normally" (after a delay)."""
    p = fault.params
    match fault.kind:
        case "delay":
            seconds = float(p.get("seconds", 1))
            if not dry_run:
                time.sleep(seconds)
            return None
        case "status":
            status = int(p.get("status", 503))
            body = str(p.get("body", f"{status} injected failure"))
            content_type = p.get("content_type", "text/plain; charset=utf-8")
            return Response(status, body.encode(), str(content_type))
        case "throttle":
            retry_after = int(p.get("retry_after", 1))
            body = entra_error_body(
                "temporarily_unavailable", [50196],
                "The server terminated an operation because it encountered a client request "
                "loop. Please contact your app vendor.")
            return json_response(body, 429, headers={"Retry-After": str(retry_after)})
        case "malformed_json":
            return Response(200, b'{"token_type":"Bearer","expires_in":3599,'
                                 b'"access_token":eyJ0eXAiOiJKV1Qi,}')
        case "truncated_json":
            return Response(200, SAMPLE_TOKEN_RESPONSE[:len(SAMPLE_TOKEN_RESPONSE) // 2])
        case "huge_body":
            size = int(p.get("bytes", 5 * 1024 * 1024))
            return Response(200, b'{"token_type":"Bearer","access_token":"'
                                 + b"A" * (0 if dry_run else size) + b'"}')
        case "reset":
            return Response(0, reset=True)
        case "html":
            return html_response(200, "Sign in to your account",
                                 "The network you are using requires you to sign in.")
        case "aadsts":
            codes = [int(c) for c in p.get("codes", [70000])]
            body = entra_error_body(str(p.get("error", "invalid_grant")), codes,
                                    str(p.get("description", "Injected error.")))
            return json_response(body, int(p.get("status", 400)))
        case "empty":
            return Response(200, b"")
    raise ValueError(fault.kind)


# ---------------------------------------------------------------- the IdP

class IdentityProvider:
    """The endpoints.  Each handler takes a Request and returns a Response."""

    def __init__(self, store: Store, base_url: str):
        self.store = store
        self.base_url = base_url
        self.routes = [
            ("POST", r"/(?P<tenant>[\w.-]+)/oauth2/v2\.0/devicecode", "devicecode",
             self.entra_devicecode),
            ("POST", r"/(?P<tenant>[\w.-]+)/oauth2/v2\.0/token", "token", self.entra_token),
            ("GET", r"/(?P<tenant>[\w.-]+)/oauth2/v2\.0/authorize", "authorize",
             self.entra_authorize),
            ("POST", r"/google/token", "token", self.google_token),
            ("GET", r"/google/auth", "authorize", self.google_authorize),
            ("POST", r"/google/device/code", "devicecode", self.google_devicecode),
            ("POST", r"/google/revoke", "revoke", self.google_revoke),
            ("GET", r"/introspect", "introspect", self.introspect),
            ("POST", r"/introspect", "introspect", self.introspect),
            ("GET", r"/v1\.0/me", "graph", self.graph_me),
            ("POST", r"/v1\.0/users/(?P<user>[^/]+)/sendMail", "sendmail",
             self.graph_send_mail),
            ("GET", r"/devicelogin", None, self.devicelogin_page),
            ("GET", r"/\.well-known/oauth-authorization-server/(?P<tenant>[\w.-]+)",
             "metadata", self.metadata_rfc8414),
            ("GET", r"/(?P<tenant>[\w.-]+)/\.well-known/openid-configuration", "metadata",
             self.metadata_oidc),
        ]
        self.control_routes = {
            ("GET", "/_test/health"): lambda req: {"ok": True},
            ("POST", "/_test/mint"): self.control_mint,
            ("POST", "/_test/revoke"): self.control_revoke,
            ("GET", "/_test/config"): lambda req: self.config_view(),
            ("POST", "/_test/config"): self.control_config,
            ("POST", "/_test/fault"): self.control_fault,
            ("POST", "/_test/fault/clear"): self.control_fault_clear,
            ("GET", "/_test/counters"): self.control_counters,
            ("POST", "/_test/counters/reset"): self.control_counters_reset,
            ("GET", "/_test/tokens"): self.control_tokens,
            ("POST", "/_test/device/approve"): self.control_device_approve,
            ("POST", "/_test/reset"): self.control_reset,
            ("GET", "/_test/graph/sent"): self.control_graph_sent,
            ("POST", "/_test/graph/clear"): self.control_graph_clear,
        }

    # -- dispatch

    def handle(self, req: Request) -> Response:
        """Count the request, apply any fault, else let the endpoint answer."""
        if req.path.startswith("/_test/"):
            return self.control(req)
        route = self.find_route(req)
        if isinstance(route, Response):
            return route
        counter, handler, params = route
        grant_type = form_grant_type(req) if counter == "token" else None
        if counter:
            self.store.count(counter, grant_type,
                             params.get("tenant") if counter == "token" else None)
        fault = self.store.take_fault(req.path)
        response = fault_response(fault) if fault else None
        if response is None:
            try:
                response = handler(req, **params)
            except OAuthError as exc:
                response = exc.response
        notes = [f"grant={grant_type}" if grant_type else "",
                 f"fault={fault.kind}" if fault else "", response.note]
        response.note = " ".join(n for n in notes if n)
        return response

    def find_route(self, req: Request):
        """(counter name, handler, path parameters), or a 404/405 Response."""
        path_known = False
        for method, pattern, counter, handler in self.routes:
            match = re.fullmatch(pattern, req.path)
            if match and method == req.method:
                return counter, handler, match.groupdict()
            path_known = path_known or match is not None
        if path_known:
            return json_response({"error": "method_not_allowed"}, 405)
        return json_response({"error": "not_found"}, 404)

    def control(self, req: Request) -> Response:
        if not is_loopback_address(req.client_ip):
            return json_response({"error": "control API is loopback-only"}, 403)
        handler = self.control_routes.get((req.method, req.path))
        if handler is None:
            return json_response({"error": "unknown control endpoint"}, 404)
        try:
            return json_response(handler(req))
        except (ControlError, ValueError) as exc:
            return json_response({"error": str(exc)}, 400)

    # -- shared pieces

    def form(self, req: Request, provider) -> dict[str, str]:
        try:
            return req.form()
        except (ValueError, UnicodeDecodeError):
            raise provider.error("malformed_request") from None

    def check_known_client(self, client_id: str, provider) -> None:
        if client_id not in self.store.clients and self.store.config["known_clients_only"]:
            raise provider.error("unknown_client", client_id)

    def check_scopes(self, provider, scopes: list[str], device: bool = False) -> None:
        problem = provider.scope_problem(scopes, device)
        if problem:
            raise provider.error(problem, " ".join(scopes))

    def issue(self, provider, grant: Grant, with_refresh: bool,
              lifetime: float | None = None) -> dict:
        config = self.store.config
        lifetime = config["token_lifetime"] if lifetime is None else lifetime
        now = time.time()
        access = TokenRecord(provider.access_token(grant, now, now + lifetime),
                             "access", grant, now, now + lifetime)
        records = [access]
        if with_refresh:
            records.append(TokenRecord(provider.refresh_token(), "refresh", grant, now,
                                       now + config["refresh_token_lifetime"]))
        self.store.add_tokens(*records)
        refresh = records[1].value if with_refresh else None
        return provider.token_body(grant, access.value, refresh, json_number(lifetime))

    # -- token endpoint

    def entra_token(self, req: Request, tenant: str) -> Response:
        return self.token(req, PROVIDERS["microsoft"], tenant)

    def google_token(self, req: Request) -> Response:
        return self.token(req, PROVIDERS["google"], "google")

    def google_revoke(self, req: Request) -> Response:
        """RFC 7009 as Google does it: revoking a refresh token revokes its
        whole grant (every token issued with it); 400 invalid_token for an
        unknown token."""
        token = parse_form(req.body).get("token", "")
        with self.store.lock:
            record = self.store.tokens.get(token)
            if record is None:
                return json_response({"error": "invalid_token",
                                      "error_description": "Token expired or revoked"},
                                     status=400)
            for other in self.store.tokens.values():
                if other.grant is record.grant:
                    other.revoked = True
        return json_response({})

    def token(self, req: Request, provider, tenant: str) -> Response:
        form = self.form(req, provider)
        grant_type = form.get("grant_type")
        if not grant_type:
            raise provider.error("missing_param", "grant_type")
        if grant_type not in provider.grant_types:
            raise provider.error("unsupported_grant", grant_type)
        handler = {
            "authorization_code": self.grant_authorization_code,
            "refresh_token": self.grant_refresh_token,
            DEVICE_GRANT: self.grant_device_code,
            "client_credentials": self.grant_client_credentials,
        }[grant_type]
        return json_response(handler(req, form, provider, tenant))

    def require(self, form: dict, name: str, provider) -> str:
        value = form.get(name)
        if not value:
            raise provider.error("missing_param", name)
        return value

    def authenticate(self, req: Request, form: dict, provider, confidential: bool) -> str:
        """Check client_id and any client credentials; return the client_id."""
        client_id = self.require(form, "client_id", provider)
        client = self.store.clients.get(client_id)
        if client is None:
            if confidential or self.store.config["known_clients_only"]:
                raise provider.error("unknown_client", client_id)
            return client_id
        has_secret = "client_secret" in form
        has_assertion = "client_assertion" in form or "client_assertion_type" in form
        if has_secret and has_assertion:
            raise provider.error("malformed_request")
        if has_assertion:
            self.verify_assertion(req, form, client_id, client, provider)
        elif has_secret:
            if client.secret is None or not hmac.compare_digest(
                    form["client_secret"].encode(), client.secret.encode()):
                raise provider.error("bad_secret", client_id)
        elif confidential or client.secret is not None:
            raise provider.error("missing_credentials")
        return client_id

    def verify_assertion(self, req: Request, form: dict, client_id: str, client: Client,
                         provider) -> None:
        if form.get("client_assertion_type") != JWT_BEARER:
            raise provider.error("assertion_type")
        assertion = self.require(form, "client_assertion", provider)
        try:
            header, claims, signed, signature = decode_jwt(assertion)
        except (ValueError, UnicodeDecodeError):
            raise provider.error("assertion_malformed", "not a compact JWS") from None
        if header.get("alg") != "RS256":
            raise provider.error("assertion_malformed", "alg must be RS256")
        key_path = client.certificates.get(header.get("x5t#S256"))
        if key_path is None:
            raise provider.error("assertion_key")
        if not rs256_valid(key_path, signed, signature, self.store.state_dir):
            raise provider.error("assertion_signature")
        self.check_assertion_claims(req, claims, client_id, provider)

    def check_assertion_claims(self, req: Request, claims: dict, client_id: str,
                               provider) -> None:
        endpoints = {self.base_url + req.path,
                     f"http://{req.headers.get('Host', '')}{req.path}"}
        if claims.get("aud") not in endpoints:
            raise provider.error("assertion_audience")
        if claims.get("iss") != client_id or claims.get("sub") != client_id:
            raise provider.error("assertion_issuer")
        now = time.time()
        exp, nbf = claims.get("exp"), claims.get("nbf", 0)
        if not isinstance(exp, (int, float)) or not isinstance(nbf, (int, float)) \
                or exp <= now or nbf > now + CLOCK_SKEW:
            raise provider.error("assertion_time")
        jti = claims.get("jti")
        with self.store.lock:
            if not isinstance(jti, str) or not jti or (client_id, jti) in self.store.seen_jtis:
                raise provider.error("assertion_replay")
            self.store.seen_jtis.add((client_id, jti))

    def grant_authorization_code(self, req, form, provider, tenant) -> dict:
        value = self.require(form, "code", provider)
        client_id = self.authenticate(req, form, provider, confidential=False)
        redirect_uri = self.require(form, "redirect_uri", provider)
        verifier = form.get("code_verifier")
        with self.store.lock:
            code = self.store.codes.get(value)
            if code is None or code.grant.provider != provider.name:
                raise provider.error("grant_invalid")
            if code.used:
                raise provider.error("code_redeemed")
            if time.time() >= code.expires_at:
                raise provider.error("code_expired")
            if code.grant.client_id != client_id:
                raise provider.error("client_mismatch")
            if code.redirect_uri != redirect_uri:
                raise provider.error("redirect_mismatch", redirect_uri)
            if not verifier:
                raise provider.error("pkce_missing")
            if not pkce_matches(verifier, code.challenge):
                raise provider.error("pkce_mismatch")
            code.used = True
        return self.issue(provider, code.grant, provider.wants_refresh(code.grant))

    def grant_refresh_token(self, req, form, provider, tenant) -> dict:
        value = self.require(form, "refresh_token", provider)
        client_id = self.authenticate(req, form, provider, confidential=False)
        scopes = tuple(form.get("scope", "").split())
        with self.store.lock:
            record = self.store.tokens.get(value)
            if record is None or record.kind != "refresh" \
                    or record.grant.provider != provider.name:
                raise provider.error("refresh_unknown")
            if record.revoked:
                raise provider.error("refresh_revoked")
            if time.time() >= record.expires_at:
                raise provider.error("refresh_expired")
            if record.replaced and self.store.config["strict_rotation"]:
                raise provider.error("refresh_replaced")
            if record.grant.client_id != client_id:
                raise provider.error("client_mismatch")
            if scopes:
                self.check_scopes(provider, list(scopes))
            grant = replace(record.grant, scopes=scopes or record.grant.scopes)
            record.replaced = record.replaced or provider.rotates
        return self.issue(provider, grant, with_refresh=provider.rotates)

    def grant_device_code(self, req, form, provider, tenant) -> dict:
        value = self.require(form, "device_code", provider)
        client_id = self.require(form, "client_id", provider)
        self.check_known_client(client_id, provider)
        with self.store.lock:
            device = self.store.devices.get(value)
            if device is None or device.grant.provider != provider.name \
                    or device.grant.client_id != client_id or device.status == "redeemed":
                raise provider.error("device_bad_code")
            now = time.time()
            if now >= device.expires_at:
                raise provider.error("device_expired")
            if device.status == "declined":
                raise provider.error("device_declined")
            too_soon = now < device.last_poll + device.interval - 0.1
            device.last_poll = now
            if too_soon:
                device.interval += self.store.config["slow_down_step"]
                raise provider.error("device_slow_down")
            if device.status == "pending":
                raise provider.error("device_pending")
            device.status = "redeemed"
        return self.issue(provider, device.grant, provider.wants_refresh(device.grant))

    def grant_client_credentials(self, req, form, provider, tenant) -> dict:
        client_id = self.authenticate(req, form, provider, confidential=True)
        scope = self.require(form, "scope", provider)
        scopes = scope.split()
        if len(scopes) != 1 or not scopes[0].endswith("/.default"):
            raise provider.error("app_scope", scope)
        client = self.store.clients[client_id]
        grant = Grant(provider.name, tenant, client_id, client.user, tuple(scopes), True)
        return self.issue(provider, grant, with_refresh=False)

    # -- device authorization endpoint

    def entra_devicecode(self, req: Request, tenant: str) -> Response:
        return self.devicecode(req, PROVIDERS["microsoft"], tenant)

    def google_devicecode(self, req: Request) -> Response:
        return self.devicecode(req, PROVIDERS["google"], "google")

    def devicecode(self, req: Request, provider, tenant: str) -> Response:
        form = self.form(req, provider)
        client_id = self.require(form, "client_id", provider)
        scopes = self.require(form, "scope", provider).split()
        self.check_scopes(provider, scopes, device=True)
        self.check_known_client(client_id, provider)
        config = self.store.config
        now = time.time()
        device = DeviceRequest(Grant(provider.name, tenant, client_id, None, tuple(scopes)),
                               user_code(), now + config["device_expires_in"],
                               config["device_interval"], now)
        code = provider.device_code()
        with self.store.lock:
            self.store.devices[code] = device
            remember_secret(code)
        uri = f"{self.base_url}/devicelogin"
        return json_response(provider.device_body(code, device, uri,
                                                  json_number(config["device_expires_in"])),
                             note=f"user_code={redact(device.user_code)}")

    # -- metadata (RFC 8414, OpenID Connect Discovery) for provider generic

    def metadata_rfc8414(self, req: Request, tenant: str) -> Response:
        if not self.store.config["metadata_rfc8414"]:
            return json_response({"error": "not_found"}, 404)
        return self.metadata(tenant)

    def metadata_oidc(self, req: Request, tenant: str) -> Response:
        return self.metadata(tenant)

    def metadata(self, tenant: str) -> Response:
        """Issuer BASE/{tenant}, pointing at the Entra-shaped endpoints of
        that tenant; metadata_issuer makes the document lie about it."""
        issuer = f"{self.base_url}/{tenant}"
        lie = self.store.config["metadata_issuer"]
        endpoints = f"{issuer}/oauth2/v2.0"
        return json_response({
            "issuer": lie if lie is not None else issuer,
            "token_endpoint": f"{endpoints}/token",
            "device_authorization_endpoint": f"{endpoints}/devicecode",
            "authorization_endpoint": f"{endpoints}/authorize",
            "grant_types_supported": ["authorization_code", "refresh_token", DEVICE_GRANT,
                                      "client_credentials"],
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none", "client_secret_post",
                                                      "private_key_jwt"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
        }, note="lie" if lie is not None else "")

    def devicelogin_page(self, req: Request) -> Response:
        return html_response(200, "Enter code",
                             "This test identity provider approves device codes through "
                             "POST /_test/device/approve.")

    # -- authorization endpoint

    def entra_authorize(self, req: Request, tenant: str) -> Response:
        return self.authorize(req, PROVIDERS["microsoft"], tenant)

    def google_authorize(self, req: Request) -> Response:
        return self.authorize(req, PROVIDERS["google"], "google")

    def authorize(self, req: Request, provider, tenant: str) -> Response:
        q = req.query
        client_id, redirect_uri = q.get("client_id"), q.get("redirect_uri")
        if not client_id:
            return html_response(400, "Sign in error", "The request must contain client_id.")
        if self.store.config["known_clients_only"] and client_id not in self.store.clients:
            return html_response(400, "Sign in error",
                                 f"Application with identifier '{client_id}' was not found.")
        if not is_loopback_redirect(redirect_uri):
            return html_response(400, "Sign in error",
                                 "redirect_uri must be http://127.0.0.1:PORT/... or "
                                 "http://localhost:PORT/...")
        echo = {"state": q["state"]} if "state" in q else {}
        problem = self.authorize_problem(q, provider)
        if problem is None and self.store.config["authorize_error"] is not None:
            problem = {"error": "access_denied",
                       "error_description": self.store.config["authorize_error"]}
        if problem is not None:
            return redirect_response(redirect_uri, {**problem, **echo})
        if not self.store.config["auto_approve"]:
            return html_response(200, "Sign in to your account", "Waiting for a human.")
        scopes = q["scope"].split()
        user = q.get("login_hint") or self.store.config["default_user"]
        code = provider.auth_code()
        with self.store.lock:
            remember_secret(code)
            self.store.codes[code] = AuthCode(
                Grant(provider.name, tenant, client_id, user, tuple(scopes)), redirect_uri,
                q["code_challenge"], time.time() + 600)
        return redirect_response(redirect_uri,
                                 {"code": code, **echo, **provider.redirect_extras(q["scope"])})

    def authorize_problem(self, q: dict, provider) -> dict | None:
        if q.get("response_type") != "code":
            return provider.authorize_error("unsupported_response_type", 70005,
                                            "response_type must be 'code'.")
        if not q.get("scope"):
            return provider.authorize_error("invalid_request", 900144,
                                            "The request must contain the parameter 'scope'.")
        if not q.get("code_challenge"):
            return provider.authorize_error(
                "invalid_request", 900144,
                "The request must contain the parameter 'code_challenge'.")
        if q.get("code_challenge_method") != "S256":
            return provider.authorize_error(
                "invalid_request", 70011,
                "The provided value for the input parameter 'code_challenge_method' is not "
                "valid. Expected S256.")
        if not re.fullmatch(r"[A-Za-z0-9_-]{43}", q["code_challenge"]):
            return provider.authorize_error("invalid_request", 501491,
                                            "Invalid size of Code_Challenge parameter.")
        if provider.scope_problem(q["scope"].split(), device=False):
            return provider.authorize_error("invalid_scope", 28000,
                                            "The scope contains more than one resource.")
        return None

    # -- resource-server side

    def introspect(self, req: Request) -> Response:
        """RFC 7662 for Dovecot: token in a form, the query or a Bearer header."""
        try:
            form = req.form() if req.method == "POST" else {}
        except (ValueError, UnicodeDecodeError):
            return json_response({"error": "invalid_request"}, 400)
        token = (form.get("token") or req.query.get("token")
                 or req.query.get("access_token") or req.bearer_token())
        record = self.store.live_access_token(token)
        if record is None:
            return json_response({"active": False}, note="active=false")
        self.store.count("introspect_active")
        grant = record.grant
        body = {"active": True, "scope": " ".join(grant.resource_scopes),
                "client_id": grant.client_id, "exp": int(record.expires_at),
                "iat": int(record.issued_at)}
        if grant.user:
            body.update(email=grant.user, username=grant.user)
        return json_response(body, note="active=true")

    def graph_me(self, req: Request) -> Response:
        record = self.store.live_access_token(req.bearer_token())
        if record is None or record.grant.app_only or record.grant.provider != "microsoft" \
                or record.grant.resource != GRAPH:
            error = {"code": "InvalidAuthenticationToken",
                     "message": "Access token is empty, expired or not for this audience.",
                     "innerError": {"date": utc_stamp(), "request-id": str(uuid.uuid4())}}
            return json_response({"error": error}, 401)
        user = record.grant.user
        return json_response({
            "@odata.context": f"{GRAPH}/v1.0/$metadata#users/$entity",
            "id": stable_uuid("user", user.lower()), "displayName": user.split("@")[0],
            "mail": user, "userPrincipalName": user})

    def graph_send_mail(self, req: Request, user: str) -> Response:
        """sendMail in its MIME form: a base64 RFC 5322 message as text/plain.

        The token must be live and for Graph; Graph takes the recipients from
        To, Cc and Bcc and strips Bcc from what they see.  What would have
        been sent is recorded for /_test/graph/sent."""
        def graph_error(status: int, code: str, message: str) -> Response:
            return json_response({"error": {"code": code, "message": message, "innerError": {
                "date": utc_stamp(), "request-id": str(uuid.uuid4())}}}, status)
        record = self.store.live_access_token(req.bearer_token())
        if record is None or record.grant.provider != "microsoft" \
                or record.grant.resource != GRAPH:
            return graph_error(401, "InvalidAuthenticationToken",
                               "Access token is empty, expired or not for this audience.")
        if len(req.body) > GRAPH_MAX_REQUEST:
            return graph_error(413, "ErrorRequestEntityTooLarge",
                               "The request is larger than 4 MB.")
        if req.content_type != "text/plain":
            return graph_error(400, "ErrorMimeContentInvalid",
                               "Send the MIME content base64-encoded as text/plain.")
        try:
            mime = base64.b64decode(req.body.strip(), validate=True)
        except ValueError:
            return graph_error(400, "ErrorMimeContentInvalidBase64String",
                               "Invalid base64 string for MIME content.")
        msg = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(mime)
        rcpts = {}
        for name in ("To", "Cc", "Bcc"):
            rcpts[name.lower()] = [a for _, a in email.utils.getaddresses(
                msg.get_all(name, [])) if a]
        everyone = rcpts["to"] + rcpts["cc"] + rcpts["bcc"]
        if not everyone:
            return graph_error(400, "ErrorInvalidRecipients",
                               "At least one recipient is not valid.")
        header, _, body = mime.partition(b"\r\n\r\n")
        sent = {"mailbox": user, "client_id": record.grant.client_id,
                "app_only": record.grant.app_only, "from": msg.get("From"),
                "subject": msg.get("Subject"), "message_id": msg.get("Message-ID"),
                **rcpts, "recipients": everyone, "size": len(mime),
                "crlf_only": b"\n" not in mime.replace(b"\r\n", b""),
                "header": header.decode("utf-8", "replace"),
                "body": body.decode("utf-8", "replace")}
        with self.store.lock:
            self.store.graph_sent.append(sent)
        return Response(202, b"", note=f"mailbox={user} recipients={len(everyone)}")

    # -- control API

    def control_graph_sent(self, req: Request) -> dict:
        with self.store.lock:
            return {"messages": list(self.store.graph_sent)}

    def control_graph_clear(self, req: Request) -> dict:
        with self.store.lock:
            self.store.graph_sent.clear()
        return {"messages": 0}

    def control_mint(self, req: Request) -> dict:
        body = req.json_object()
        provider = PROVIDERS.get(body.get("provider", "microsoft"))
        if provider is None:
            raise ControlError("provider must be microsoft or google")
        default_scope = ("https://mail.google.com/" if provider.name == "google"
                         else "https://outlook.office.com/SMTP.Send")
        lifetime = body.get("expires_in", self.store.config["token_lifetime"])
        if not isinstance(lifetime, (int, float)) or isinstance(lifetime, bool):
            raise ControlError("expires_in must be a number")
        grant = Grant(provider.name, str(body.get("tenant", "common")),
                      str(body.get("client_id", "mailoauth-test-client")),
                      str(body.get("user", self.store.config["default_user"])),
                      tuple(str(body.get("scope", default_scope)).split()))
        return self.issue(provider, grant, bool(body.get("refresh", False)), lifetime)

    def control_revoke(self, req: Request) -> dict:
        body = req.json_object()
        user, token = body.get("user"), body.get("token")
        if not isinstance(user, str) and not isinstance(token, str):
            raise ControlError("give user or token")
        with self.store.lock:
            if token is not None:
                targets = [self.store.tokens[token]] if token in self.store.tokens else []
            else:
                targets = [r for r in self.store.tokens.values()
                           if (r.grant.user or "").lower() == user.lower()]
            for record in targets:
                record.revoked = True
        return {"revoked": len(targets)}

    def config_view(self) -> dict:
        with self.store.lock:
            clients = {cid: {"has_secret": c.secret is not None,
                             "certificates": sorted(c.certificates), "user": c.user}
                       for cid, c in self.store.clients.items()}
            return {**self.store.config, "clients": clients}

    def control_config(self, req: Request) -> dict:
        changes = req.json_object()
        settings = {k: v for k, v in changes.items() if k != "clients"}
        for key, value in settings.items():
            check_setting(key, value)
        clients = parse_clients(changes.get("clients", {}), self.store.state_dir / "certs")
        with self.store.lock:
            self.store.config.update(settings)
            for client_id, client in clients.items():
                if client is None:
                    self.store.clients.pop(client_id, None)
                else:
                    self.store.clients[client_id] = client
        return self.config_view()

    def control_fault(self, req: Request) -> dict:
        fault = parse_fault(req.json_object())
        with self.store.lock:
            self.store.faults.append(fault)
            return {"faults": len(self.store.faults)}

    def control_fault_clear(self, req: Request) -> dict:
        """All faults, or with {"path_prefix": P} those added with exactly P."""
        prefix = req.json_object().get("path_prefix")
        if prefix is not None and not isinstance(prefix, str):
            raise ControlError("path_prefix must be a string")
        with self.store.lock:
            if prefix is None:
                self.store.faults.clear()
            else:
                self.store.faults[:] = [f for f in self.store.faults if f.path_prefix != prefix]
            return {"faults": len(self.store.faults)}

    def control_counters(self, req: Request) -> dict:
        with self.store.lock:
            counters = self.store.counters
            return {**counters, "token_by_grant": dict(counters["token_by_grant"]),
                    "token_by_tenant": dict(counters["token_by_tenant"])}

    def control_counters_reset(self, req: Request) -> dict:
        with self.store.lock:
            self.store.counters = fresh_counters()
            return self.store.counters

    def control_tokens(self, req: Request) -> dict:
        return {"tokens": self.store.token_list(req.query.get("user"))}

    def control_device_approve(self, req: Request) -> dict:
        body = req.json_object()
        wanted = str(body.get("user_code", "")).upper().replace("-", "").replace(" ", "")
        with self.store.lock:
            pending = [d for d in self.store.devices.values() if d.status == "pending"
                       and (not wanted or d.user_code.replace("-", "") == wanted)]
            if not pending:
                raise ControlError("no pending device request with that user_code")
            device = pending[-1]            # the newest one
            if body.get("decline"):
                device.status = "declined"
            else:
                user = str(body.get("user", self.store.config["default_user"]))
                device.grant = replace(device.grant, user=user)
                device.status = "approved"
            return {"user_code": device.user_code, "status": device.status}

    def control_reset(self, req: Request) -> dict:
        self.store.reset()
        return {"ok": True}


def check_setting(key: str, value) -> None:
    kind = SETTING_TYPES.get(key)
    if kind is None:
        raise ControlError(f"unknown setting {key!r}")
    ok = {
        "number": isinstance(value, (int, float)) and not isinstance(value, bool),
        "bool": isinstance(value, bool),
        "string": isinstance(value, str),
        "optional_string": value is None or isinstance(value, str),
    }[kind]
    if not ok:
        raise ControlError(f"{key} must be a {kind.replace('_', ' ')}")


def parse_clients(spec, cert_dir: Path) -> dict[str, Client | None]:
    """{"id": {"secret", "cert_pem" (string or list), "user"} or null} -> Clients."""
    if not isinstance(spec, dict):
        raise ControlError("clients must be an object")
    clients: dict[str, Client | None] = {}
    for client_id, fields in spec.items():
        if fields is None:
            clients[client_id] = None
            continue
        if not isinstance(fields, dict) or set(fields) - {"secret", "cert_pem", "user"}:
            raise ControlError(f"client {client_id}: allowed fields are secret, cert_pem, user")
        pems = fields.get("cert_pem") or []
        texts = [fields.get("secret") or "", fields.get("user") or "",
                 *([pems] if isinstance(pems, str) else pems)]
        if not all(isinstance(t, str) for t in texts):
            raise ControlError(f"client {client_id}: fields must be strings")
        certificates = dict(load_certificate(pem, cert_dir)
                            for pem in ([pems] if isinstance(pems, str) else pems))
        clients[client_id] = Client(fields.get("secret"), certificates, fields.get("user"))
        remember_secret(fields.get("secret"))
    return clients


# ---------------------------------------------------------------- HTTP

class RequestLog:
    """One line per request: time, client, method, path, status, notes."""

    def __init__(self, path: str | None):
        self.lock = threading.Lock()
        self.stream = open(path, "a", encoding="utf-8") if path else sys.stderr

    def write(self, text: str) -> None:
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        with self.lock:
            self.stream.write(f"{stamp} {text}\n")
            self.stream.flush()

    def request(self, req: Request, response: Response) -> None:
        path = re.sub(r"[^\x21-\x7e]", "?", req.path)[:120]
        status = "reset" if response.reset else response.status
        self.write(f"{req.client_ip} {req.method} {path} {status} {response.note}".rstrip())

    def close(self) -> None:
        if self.stream is not sys.stderr:
            self.stream.close()


def closing(response: Response) -> Response:
    response.headers["Connection"] = "close"
    return response


class Handler(BaseHTTPRequestHandler):
    """Reads a request, lets the IdentityProvider answer it, logs one line."""
    protocol_version = "HTTP/1.1"
    server_version = "mailoauth-test-idp/1.0"
    sys_version = ""
    timeout = 60            # drop idle keep-alive connections

    def handle(self) -> None:
        """With --tls-cert, the TLS handshake first, in this thread."""
        if isinstance(self.connection, ssl.SSLSocket):
            try:
                self.connection.do_handshake()
            except (ssl.SSLError, OSError) as exc:
                reason = getattr(exc, "reason", None) or type(exc).__name__
                reason = re.sub(r"[^\x21-\x7e]", "?", str(reason))[:80]
                self.server.request_log.write(
                    f"{self.client_address[0]} TLS handshake failed: {reason}")
                self.close_connection = True
                return
        super().handle()

    def do_GET(self) -> None:
        self.serve()

    def do_POST(self) -> None:
        self.serve()

    def log_message(self, format, *args) -> None:
        """Silence http.server's own log: it would print query strings."""

    def declared_length(self) -> int | None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return None
        return length if length >= 0 else None

    def body_limit(self) -> int:
        """Graph's sendMail takes more than the IdP's endpoints."""
        path = urlsplit(self.path).path
        return GRAPH_MAX_REQUEST + 65536 if GRAPH_SEND_PATH.fullmatch(path) else MAX_BODY

    def handle_expect_100(self) -> bool:
        length = self.declared_length()
        if length is None or length > self.body_limit():
            return True     # no "100 Continue": serve() refuses without reading the body
        return super().handle_expect_100()

    def serve(self) -> None:
        url = urlsplit(self.path)
        refusal, body = self.read_body()
        req = Request(self.command, url.path, dict(parse_qsl(url.query, keep_blank_values=True)),
                      self.headers, body, self.client_address[0])
        response = refusal or self.answer(req)
        self.send(response)
        self.server.request_log.request(req, response)
        if not (req.method == "GET" and req.path.startswith("/_test/")):
            self.server.idp.store.save()

    def answer(self, req: Request) -> Response:
        try:
            return self.server.idp.handle(req)
        except Exception as exc:    # a bug here must not look like a network fault
            where = traceback.extract_tb(exc.__traceback__)[-1]
            self.server.request_log.write(f"internal error: {type(exc).__name__} "
                                          f"at line {where.lineno} in {where.name}")
            return json_response({"error": "server_error"}, 500)

    def read_body(self) -> tuple[Response | None, bytes]:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return closing(json_response({"error": "length_required"}, 411)), b""
        length = self.declared_length()
        if length is None:
            return closing(json_response({"error": "invalid_request"}, 400)), b""
        if length > self.body_limit():
            expecting = (self.headers.get("Expect") or "").lower() == "100-continue"
            if not expecting and length <= MAX_DRAIN:
                self.discard(length)
            return closing(json_response({"error": "invalid_request", "error_description":
                                          "Request body larger than 1 MB."}, 413)), b""
        return None, self.rfile.read(length)

    def discard(self, length: int) -> None:
        while length > 0:
            chunk = self.rfile.read(min(length, 65536))
            if not chunk:
                break
            length -= len(chunk)

    def send(self, response: Response) -> None:
        if response.reset:
            self.reset_connection()
            return
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            self.send_header("Cache-Control", "no-store, no-cache")
            self.send_header("Pragma", "no-cache")
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(response.body)
        except OSError:     # the client went away, e.g. in the middle of a huge body
            self.close_connection = True

    def reset_connection(self) -> None:
        """Abort with a TCP RST: SO_LINGER 0, then close the socket."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                   struct.pack("ii", 1, 0))
        self.rfile.close()
        self.connection.close()


class Server(ThreadingHTTPServer):
    """ThreadingHTTPServer on an IPv4 or IPv6 loopback address; with TLS,
    each connection's handshake runs in its own thread (Handler.handle), so
    a client that never completes one holds up nobody else."""

    def __init__(self, host: str, port: int, tls: ssl.SSLContext | None = None):
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.tls = tls
        super().__init__((host, port), Handler)

    def get_request(self):
        sock, address = super().get_request()
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_side=True,
                                        do_handshake_on_connect=False)
        return sock, address

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)     # skips HTTPServer's reverse DNS lookup
        self.server_name, self.server_port = self.server_address[:2]


# ---------------------------------------------------------------- main

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Local OAuth identity provider (Entra ID and Google look-alike) "
                    "for the mailoauth tests.")
    parser.add_argument("--state-dir", required=True, help="directory for JSON state files")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    parser.add_argument("--port", type=int, default=0, help="port; 0 picks a free one")
    parser.add_argument("--port-file", help="write the port number here once listening")
    parser.add_argument("--log", help="request log file (default: standard error)")
    parser.add_argument("--tls-cert", help="serve HTTPS with this PEM certificate (chain)")
    parser.add_argument("--tls-key", help="the PEM private key of --tls-cert")
    args = parser.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    if args.host == "localhost":
        args.host = "127.0.0.1"
    if not is_loopback_address(args.host):
        parser.error(f"--host {args.host} is not a loopback address")
    return args


def write_port_file(path: Path, port: int) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(f"{port}\n")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    state_dir = Path(args.state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    tls = None
    if args.tls_cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            tls.load_cert_chain(args.tls_cert, args.tls_key)
        except (OSError, ssl.SSLError) as exc:
            print(f"idp: cannot load --tls-cert/--tls-key: {exc}", file=sys.stderr)
            return 1
    try:
        server = Server(args.host, args.port, tls)
    except OSError as exc:
        print(f"idp: cannot listen on {args.host} port {args.port}: {exc}", file=sys.stderr)
        return 1
    port = server.server_address[1]
    url_host = f"[{args.host}]" if ":" in args.host else args.host
    scheme = "https" if tls else "http"
    store = Store(state_dir)
    store.save()
    server.idp = IdentityProvider(store, f"{scheme}://{url_host}:{port}")
    server.request_log = RequestLog(args.log)

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.port_file:
        write_port_file(Path(args.port_file), port)
    server.request_log.write(f"listening on {scheme}://{url_host}:{port}")
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        store.save()
        server.request_log.write("stopped")
        server.request_log.close()
        if args.port_file:
            Path(args.port_file).unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
