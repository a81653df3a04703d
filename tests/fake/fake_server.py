#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A fake MK.IO organization API for tests (Python 3 standard library only).

Serves the six organization calls of docs/mkio-api.md over HTTPS on
127.0.0.1 with a test CA made at start-up, and a control interface over plain
HTTP on another 127.0.0.1 port (see README.md next to this file).

    python3 tests/fake/fake_server.py --state-dir DIR [--api-port 0] [--control-port 0]

When ready it writes DIR/ready.json atomically; it exits on SIGTERM or SIGINT.
"""

import argparse
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

DAY = 86400
INVITE_LIFETIME = 14 * DAY
API_PREFIX = "/api/v1"
MAX_BODY = 1 << 20
TOP_DEFAULT = 100
TOP_MAX = 1000
HUGE_TOTAL = 1000000000
FILLER_NAMESPACE = uuid.UUID("6f1c1d52-6c1e-4b0e-9a43-2f4a8f0c7d11")

ENDPOINTS = ("user_orgs_list", "user_org_patch", "user_org_delete",
             "invites_list", "invite_create", "invite_delete", "user_profile")
LIST_ENDPOINTS = ("user_orgs_list", "invites_list")
FAULT_KINDS = ("delay", "status", "close_mid_body", "malformed_json", "truncated_json",
               "oversized", "wrong_content_type", "hang", "stuck_pagination",
               "endless_pages", "variant", "barrier")
VARIANT_STYLES = ("top_level", "display_name", "sent_by_string", "inviter_object",
                  "no_expires", "null_invite")
INVITE_STATES = ("pending", "accepted", "declined", "cancelled", "expired")
# Switches for the published shapes and variants (POST /control/configure).
# The defaults are the shapes MediaKind publishes (docs/mkio-api.md):
# {kind, value} lists without paging, metadata.name, invitedBy a string or null.
CONFIG_DEFAULTS = {
    "shape": "published",         # "published" ({kind, value}, metadata.name, ...) | "legacy"
    "paging": None,               # None (published: unpaged; legacy: offset paging) |
                                  # "nextlink" (@odata.nextLink) | "offset" (supplemental)
    "page_size": 100,             # records per page with paging "nextlink" or "offset"
    "error_string": False,        # error bodies with "error" a plain string
    "accept_expired_status": 409,  # 409 | 400 | 404 on accepting an expired invite
    "empty_200": False,           # cancel, decline and leave answer 200 with an empty body
}
# Named variants (as docs/mkio-api.md names them) and the switches each sets.
CONFIG_VARIANTS = {
    "legacy": {"shape": "legacy"},
    "published": {"shape": "published"},
    "nextlink": {"paging": "nextlink"},
    "offset": {"paging": "offset"},
    "error_string": {"error_string": True},
    "accept_expired_400": {"accept_expired_status": 400},
    "accept_expired_404": {"accept_expired_status": 404},
    "empty_200": {"empty_200": True},
}
ERROR_CODES = {400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "notFound",
               405: "methodNotAllowed", 409: "conflict", 413: "payloadTooLarge",
               429: "tooManyRequests", 500: "internalServerError", 502: "badGateway",
               503: "serviceUnavailable", 504: "gatewayTimeout"}
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
BEARER_RE = re.compile(r"^Bearer ([!-~]+)$")
INT_RE = re.compile(r"^[0-9]{1,9}$")
# A raw_bytes marker: printable ASCII that json.dumps writes as it is (no
# space, quote or backslash), so it appears verbatim in an encoded answer.
RAW_MARKER_RE = re.compile(r'^[!#-\[\]-~]{3,64}$')

# Set on SIGTERM/SIGINT: hung and delayed requests wake up and give up.
STOP = threading.Event()
# The TCP connection the current thread serves (ApiServer.finish_request).
CONNECTION = threading.local()


class ApiError(Exception):
    """An API answer with the standard error body."""

    def __init__(self, status, detail, code=None, headers=None, ref=None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code or ERROR_CODES.get(status, "error")
        self.headers = headers or {}
        self.ref = ref


class ControlError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


def rfc3339(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(epoch)))


def error_body(status, code, detail, ref=None, plain=False):
    """The standard error body; with plain, "error" is the detail as a plain string."""
    error = detail if plain else {"code": code, "detail": detail, "extraDetail": {}}
    return {"error": error, "status": status,
            "ref": ref if ref is not None else str(uuid.uuid4())}


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _need(cond, message):
    if not cond:
        raise ControlError(400, message)


class World:
    """Everything the fake knows; every method that reads or changes it holds the lock."""

    def __init__(self):
        self.lock = threading.RLock()
        self.reset()

    def reset(self):
        with self.lock:
            self.offset = 0.0
            self.users = {}
            self.orgs = {}
            self.tokens = {}
            self.invites = {}
            self.raw_bytes = {}
            self.faults = {}
            self.requests = []
            self.tls_connections = 0
            self.tcp_connections = 0
            self.api_requests = 0
            self.config = dict(CONFIG_DEFAULTS)

    def now(self):
        return time.time() + self.offset

    # ---- control side -------------------------------------------------

    def clock(self, body):
        with self.lock:
            if "advance" in body:
                _need(is_number(body["advance"]), "clock: advance must be a number")
                self.offset += body["advance"]
            elif "set" in body:
                _need(is_number(body["set"]), "clock: set must be a number")
                self.offset = body["set"] - time.time()
            else:
                raise ControlError(400, "clock: give advance or set")
            return {"now": self.now()}

    def configure(self, body):
        """Sets switches: named "variants" (a list of CONFIG_VARIANTS names) and/or
        CONFIG_DEFAULTS keys. Validates everything first; reset() restores the defaults."""
        _need(isinstance(body, dict), "configure: body must be an object")
        new = {}
        variants = body.get("variants", [])
        _need(isinstance(variants, list), "configure: variants must be a list of names")
        for name in variants:
            _need(name in CONFIG_VARIANTS, "configure: unknown variant %r" % (name,))
            new.update(CONFIG_VARIANTS[name])
        for key, value in body.items():
            if key == "variants":
                continue
            _need(key in CONFIG_DEFAULTS, "configure: unknown key %r" % (key,))
            new[key] = value
        _need(new.get("shape", "published") in ("legacy", "published"),
              "configure: shape must be legacy or published")
        _need(new.get("paging") in (None, "nextlink", "offset"),
              "configure: paging must be null, nextlink or offset")
        ps = new.get("page_size", 100)
        _need(isinstance(ps, int) and not isinstance(ps, bool) and 1 <= ps <= TOP_MAX,
              "configure: page_size must be an integer from 1 to %d" % TOP_MAX)
        _need(new.get("accept_expired_status", 409) in (400, 404, 409),
              "configure: accept_expired_status must be 400, 404 or 409")
        for key in ("error_string", "empty_200"):
            _need(isinstance(new.get(key, False), bool), "configure: %s must be a boolean" % key)
        with self.lock:
            self.config.update(new)
            return dict(self.config)

    def get_config(self):
        with self.lock:
            return dict(self.config)

    def error_body(self, status, code, detail, ref=None):
        with self.lock:
            plain = self.config["error_string"]
        return error_body(status, code, detail, ref, plain)

    def _user_placeholder(self, users, uid):
        # Seeds may name users (admins, inviters) they do not list.
        if uid not in users:
            users[uid] = {"id": uid, "email": "%s@example.com" % uid, "name": uid}

    def seed(self, data):
        """Validates the whole seed first, then applies it: a bad seed changes nothing."""
        _need(isinstance(data, dict), "seed: body must be an object")
        for key in data:
            _need(key in ("users", "organizations", "tokens", "invites", "raw_bytes"),
                  "seed: unknown key %r" % key)
        with self.lock:
            now = self.now()
            users = {k: dict(v) for k, v in self.users.items()}
            orgs = {k: {"id": v["id"], "name": v["name"], "created": v["created"],
                        "admins": set(v["admins"]), "members": set(v["members"]),
                        "teams": {t: set(m) for t, m in v["teams"].items()}}
                    for k, v in self.orgs.items()}
            tokens = dict(self.tokens)
            invites = dict(self.invites)
            raw_bytes = dict(self.raw_bytes)
            new_invite_ids = []

            raw = data.get("raw_bytes", {})
            _need(isinstance(raw, dict), "seed: raw_bytes must be an object")
            for marker, hexbytes in raw.items():
                _need(RAW_MARKER_RE.match(marker),
                      "seed: raw_bytes marker %r must be 3 to 64 printable ASCII characters "
                      "without space, quote or backslash" % (marker,))
                try:
                    value = bytes.fromhex(hexbytes) if isinstance(hexbytes, str) else b""
                except ValueError:
                    value = b""
                _need(0 < len(value) <= 256, "seed: raw_bytes %r needs 1 to 256 bytes in hex" % marker)
                raw_bytes[marker] = value

            for u in data.get("users", []):
                _need(isinstance(u, dict) and isinstance(u.get("id"), str) and u["id"],
                      "seed: user needs a string id")
                _need(isinstance(u.get("email"), str) and EMAIL_RE.match(u["email"]),
                      "seed: user %s needs an email" % u["id"])
                _need(isinstance(u.get("name", ""), str), "seed: user name must be a string")
                users[u["id"]] = {"id": u["id"], "email": u["email"], "name": u.get("name", u["id"])}

            for o in data.get("organizations", []):
                _need(isinstance(o, dict), "seed: organization must be an object")
                oid = o.get("id") or str(uuid.uuid4())
                _need(isinstance(oid, str), "seed: organization id must be a string")
                org = orgs.get(oid)
                if org is None:
                    _need(isinstance(o.get("name"), str), "seed: organization %s needs a name" % oid)
                    org = {"id": oid, "name": o["name"], "created": now,
                           "admins": set(), "members": set(), "teams": {}}
                    orgs[oid] = org
                if "name" in o:
                    _need(isinstance(o["name"], str), "seed: organization name must be a string")
                    org["name"] = o["name"]
                if "created" in o:
                    _need(is_number(o["created"]), "seed: organization created must be a number")
                    org["created"] = o["created"]
                for field in ("admins", "members"):
                    ids = o.get(field, [])
                    _need(isinstance(ids, list) and all(isinstance(i, str) for i in ids),
                          "seed: organization %s must be a list of user ids" % field)
                    for uid in ids:
                        self._user_placeholder(users, uid)
                        org[field].add(uid)
                teams = o.get("teams", {})
                _need(isinstance(teams, dict), "seed: teams must be an object")
                for tname, tmembers in teams.items():
                    _need(tname != "Everyone", "seed: Everyone is implicit")
                    _need(isinstance(tmembers, list) and all(isinstance(i, str) for i in tmembers),
                          "seed: team %s must be a list of user ids" % tname)
                    team = org["teams"].setdefault(tname, set())
                    for uid in tmembers:
                        self._user_placeholder(users, uid)
                        team.add(uid)
                # Admins and team members are members: the API has no other way to be either.
                org["members"] |= org["admins"]
                for team in org["teams"].values():
                    org["members"] |= team

            for t in data.get("tokens", []):
                _need(isinstance(t, dict) and isinstance(t.get("token"), str)
                      and BEARER_RE.match("Bearer " + t["token"]),
                      "seed: token needs a printable string token")
                _need(isinstance(t.get("user"), str), "seed: token needs a user")
                oid = t.get("organization")
                _need(oid is None or oid in orgs, "seed: token organization %s unknown" % oid)
                exp = t.get("expires")
                _need(exp is None or is_number(exp), "seed: token expires must be a number or null")
                self._user_placeholder(users, t["user"])
                tokens[t["token"]] = {"user": t["user"], "organization": oid, "expires": exp}

            for i in data.get("invites", []):
                _need(isinstance(i, dict), "seed: invite must be an object")
                iid = i.get("id") or str(uuid.uuid4())
                _need(isinstance(iid, str) and iid not in invites, "seed: invite id %s reused" % iid)
                oid = i.get("organization")
                _need(oid in orgs, "seed: invite organization %s unknown" % oid)
                _need(isinstance(i.get("email"), str) and EMAIL_RE.match(i["email"]),
                      "seed: invite needs an email")
                comment = i.get("comment")
                _need(comment is None or isinstance(comment, str), "seed: comment must be a string")
                teams = i.get("teams", [])
                _need(isinstance(teams, list) and all(isinstance(x, str) for x in teams),
                      "seed: invite teams must be a list of names")
                for tname in teams:
                    _need(tname == "Everyone" or tname in orgs[oid]["teams"],
                          "seed: team %s not in organization %s" % (tname, oid))
                inviter = i.get("invited_by")
                if inviter is None and orgs[oid]["admins"]:
                    inviter = sorted(orgs[oid]["admins"])[0]
                _need(inviter is None or isinstance(inviter, str), "seed: invited_by must be a user id")
                if inviter is not None:
                    self._user_placeholder(users, inviter)
                created = i.get("created", now)
                _need(is_number(created), "seed: invite created must be a number")
                expires = i.get("expires", created + INVITE_LIFETIME)
                _need(is_number(expires), "seed: invite expires must be a number")
                state = i.get("state", "pending")
                _need(state in INVITE_STATES, "seed: invite state %r unknown" % (state,))
                if state == "expired":
                    # Expired is pending past its expiry; keep it that way under any clock.
                    state = "pending"
                    expires = min(expires, now - 1)
                invites[iid] = {"id": iid, "organization": oid, "email": i["email"],
                                "comment": comment, "teams": list(teams), "invited_by": inviter,
                                "created": created, "expires": expires, "state": state}
                new_invite_ids.append(iid)

            self.users, self.orgs, self.tokens, self.invites = users, orgs, tokens, invites
            self.raw_bytes = raw_bytes
            return {"invites": new_invite_ids}

    def invite_state(self, inv, now):
        if inv["state"] == "pending" and now >= inv["expires"]:
            return "expired"
        return inv["state"]

    def state(self):
        with self.lock:
            now = self.now()
            orgs = []
            for org in sorted(self.orgs.values(), key=lambda o: (o["name"], o["id"])):
                teams = {"Everyone": sorted(org["members"])}
                for tname, tmembers in sorted(org["teams"].items()):
                    teams[tname] = sorted(tmembers)
                orgs.append({"id": org["id"], "name": org["name"], "created": org["created"],
                             "members": sorted(org["members"]), "admins": sorted(org["admins"]),
                             "teams": teams})
            invites = []
            for inv in sorted(self.invites.values(), key=lambda i: (i["created"], i["id"])):
                rec = {k: inv[k] for k in ("id", "organization", "email", "comment", "teams",
                                           "invited_by", "created", "expires")}
                rec["state"] = self.invite_state(inv, now)
                invites.append(rec)
            return {"organizations": orgs, "invites": invites,
                    "users": [self.users[k] for k in sorted(self.users)], "now": now}

    def add_fault(self, body):
        _need(isinstance(body, dict), "faults: body must be an object")
        endpoint = body.get("endpoint")
        kind = body.get("kind")
        count = body.get("count")
        _need(endpoint == "*" or endpoint in ENDPOINTS, "faults: unknown endpoint %r" % (endpoint,))
        _need(kind in FAULT_KINDS, "faults: unknown kind %r" % (kind,))
        _need(count is None or (isinstance(count, int) and not isinstance(count, bool) and count >= 1),
              "faults: count must be a positive integer or null")
        params = {k: v for k, v in body.items() if k not in ("endpoint", "kind", "count")}
        if kind == "delay":
            _need(is_number(params.get("ms")) and 0 <= params["ms"] <= 3600000,
                  "faults: delay needs ms from 0 to 3600000")
        elif kind == "status":
            st = params.get("status")
            _need(isinstance(st, int) and 200 <= st <= 599, "faults: status needs a status 200..599")
            ra = params.get("retry_after")
            _need(ra is None or isinstance(ra, (str, int)), "faults: retry_after must be a string")
            _need(params.get("ref") is None or isinstance(params["ref"], str),
                  "faults: ref must be a string")
        elif kind == "oversized":
            params.setdefault("bytes", 2 << 20)
            _need(isinstance(params["bytes"], int) and 0 < params["bytes"] <= (256 << 20),
                  "faults: oversized bytes must be 1..256 MiB")
        elif kind == "variant":
            _need(params.get("style") in VARIANT_STYLES, "faults: unknown variant style %r"
                  % (params.get("style"),))
        elif kind == "barrier":
            n, ms = params.get("n"), params.setdefault("timeout_ms", 10000)
            _need(isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= 1000,
                  "faults: barrier needs n from 1 to 1000")
            _need(is_number(ms) and 0 < ms <= 600000, "faults: barrier timeout_ms must be 1..600000")
            # One barrier for every request this fault applies to (take_faults
            # copies params shallowly, so they share it).
            params["_barrier"] = threading.Barrier(n, timeout=ms / 1000.0)
        with self.lock:
            self.faults.setdefault(endpoint, []).append(
                {"kind": kind, "count": count, "params": params})
        return {}

    def take_faults(self, endpoint):
        """Consumes the faults for one request: a '*' fault first, then, if that was
        only a delay (or there was none), the endpoint's own."""
        chosen = []
        with self.lock:
            for key in ("*", endpoint):
                queue = self.faults.get(key) if key else None
                if not queue:
                    continue
                fault = queue[0]
                if fault["count"] is not None:
                    fault["count"] -= 1
                    if fault["count"] <= 0:
                        queue.pop(0)
                chosen.append({"kind": fault["kind"], "params": dict(fault["params"])})
                if fault["kind"] != "delay":
                    break
        return chosen

    def splice_raw_bytes(self, body):
        """Replaces each seeded raw_bytes marker in an encoded API answer with its bytes."""
        with self.lock:
            for marker, value in self.raw_bytes.items():
                body = body.replace(marker.encode("ascii"), value)
        return body

    def log_request(self, entry):
        with self.lock:
            self.requests.append(entry)
            self.api_requests += 1

    def count_tcp(self):
        with self.lock:
            self.tcp_connections += 1
            return self.tcp_connections

    def count_tls(self):
        with self.lock:
            self.tls_connections += 1

    # ---- API side -----------------------------------------------------

    def authenticate(self, values):
        """Returns (user, token record) for the Authorization header values, else 401."""
        if len(values) != 1:
            raise ApiError(401, "Authorization: Bearer <token> is required")
        m = BEARER_RE.match(values[0])
        if not m:
            raise ApiError(401, "malformed Authorization header")
        tok = self.tokens.get(m.group(1))
        if tok is None:
            raise ApiError(401, "unknown token")
        if tok["expires"] is not None and self.now() >= tok["expires"]:
            raise ApiError(401, "token expired")
        return self.users[tok["user"]], tok

    def admin_org(self, user, tok):
        org = self.orgs.get(tok["organization"]) if tok["organization"] else None
        if org is None or user["id"] not in org["admins"]:
            raise ApiError(403, "the token's user is not an admin of the token's organization")
        return org

    def invites_for(self, org, email, now, states):
        found = [i for i in self.invites.values()
                 if i["organization"] == org["id"] and i["email"].lower() == email.lower()
                 and self.invite_state(i, now) in states]
        # Latest first: the one a user would see in their mailbox.
        found.sort(key=lambda i: (i["created"], i["id"]), reverse=True)
        return found

    def visible_invite(self, org, email, now):
        pending = self.invites_for(org, email, now, ("pending",))
        if pending:
            return pending[0]
        expired = self.invites_for(org, email, now, ("expired",))
        return expired[0] if expired else None

    def published(self):
        return self.config["shape"] == "published"

    def render_published_user_org(self, org, inv, now):
        """A UserOrganization as MediaKind publishes it (docs/mkio-api.md): no expiry, and
        state pending (an expired invite still looks pending) or accepted."""
        rec = {"kind": "UserOrganization", "metadata": {"id": org["id"], "name": org["name"]},
               "spec": {}}
        if inv is not None:
            sender = self.users.get(inv["invited_by"]) if inv["invited_by"] else None
            rec["spec"]["invite"] = {
                "state": "accepted" if inv["state"] == "accepted" else "pending",
                "invitedBy": sender["email"] if sender is not None else None,
                "comment": inv["comment"] if inv["comment"] is not None else ""}
        return rec

    def render_user_org(self, org, inv, now, style):
        if self.published():
            return self.render_published_user_org(org, inv, now)
        invite = None
        if inv is not None:
            invite = {"state": self.invite_state(inv, now)}
            if inv["comment"] is not None:
                invite["comment"] = inv["comment"]
            sender = self.users.get(inv["invited_by"]) if inv["invited_by"] else None
            if sender is not None:
                if style == "sent_by_string":
                    invite["sentBy"] = sender["email"]
                elif style == "inviter_object":
                    invite["inviter"] = {"email": sender["email"], "name": sender["name"]}
                else:
                    invite["invitedBy"] = {"email": sender["email"], "name": sender["name"]}
            if style != "no_expires":
                invite["expires"] = rfc3339(inv["expires"])
        if style == "top_level":
            rec = {"id": org["id"], "name": org["name"]}
            if invite is not None:
                rec["invite"] = invite
            return rec
        rec = {"metadata": {"id": org["id"], "created": rfc3339(org["created"])}, "spec": {}}
        if style == "display_name":
            rec["metadata"]["displayName"] = org["name"]
        else:
            rec["spec"]["name"] = org["name"]
        if invite is not None:
            rec["spec"]["invite"] = invite
        elif style == "null_invite":
            rec["spec"]["invite"] = None
        return rec

    def render_invite(self, inv, now):
        if self.published():
            sender = self.users.get(inv.get("invited_by")) if inv.get("invited_by") else None
            org = self.orgs.get(inv.get("organization"))
            return {"kind": "OrganizationInvite",
                    "metadata": {"id": inv["id"], "created": rfc3339(inv["created"])},
                    "spec": {"email": inv["email"],
                             "comment": inv["comment"] if inv["comment"] is not None else "",
                             "teams": list(inv["teams"]),
                             "invitedByEmail": sender["email"] if sender else None,
                             "invitedByName": sender["name"] if sender else None,
                             "organizationName": org["name"] if org else None}}
        spec = {"email": inv["email"]}
        if inv["comment"] is not None:
            spec["comment"] = inv["comment"]
        spec["teams"] = list(inv["teams"])
        return {"metadata": {"id": inv["id"], "created": rfc3339(inv["created"]),
                             "expires": rfc3339(inv["expires"])},
                "spec": spec, "status": {"state": self.invite_state(inv, now)}}

    def list_answer(self, items, query, fault, filler, path, kind):
        """A list in the configured shape and paging."""
        if self.config["paging"] == "nextlink":
            return self.paginate_nextlink(items, query, path, kind)
        paged = self.config["paging"] == "offset" or (
            fault and fault["kind"] in ("stuck_pagination", "endless_pages"))
        if self.published() and not paged:
            return {"kind": kind, "value": items}
        ans = self.paginate(items, query, fault, filler,
                            self.config["page_size"] if self.config["paging"] == "offset"
                            else TOP_DEFAULT)
        if self.published():
            ans = {"kind": kind, **ans}
        return ans

    def paginate_nextlink(self, items, query, path, kind):
        """Server-driven pages of page_size with @odata.nextLink, a host-relative
        path. A page that is not empty always carries a link, so the last page of
        records is followed by an empty page, which still carries a link."""
        skip = 0
        for name, value in query:
            if name == "$skiptoken":
                if not INT_RE.match(value):
                    raise ApiError(400, "$skiptoken must be a non-negative integer")
                skip = int(value)
        size = self.config["page_size"]
        page = items[skip:skip + size]
        ans = {"kind": kind, "value": page}
        ans["@odata.nextLink"] = "%s?$skiptoken=%d" % (path, skip + size)
        return ans

    def paginate(self, items, query, fault, filler, top_default=TOP_DEFAULT):
        """supplemental.pagination offset paging: pages of $top records (the
        client may ask) or top_default, continued with $skiptoken = end."""
        top, skip = top_default, 0
        for name, value in query:
            if name == "$top":
                if not INT_RE.match(value) or not 1 <= int(value) <= TOP_MAX:
                    raise ApiError(400, "$top must be an integer from 1 to %d" % TOP_MAX)
                top = int(value)
            elif name == "$skiptoken":
                if not INT_RE.match(value):
                    raise ApiError(400, "$skiptoken must be a non-negative integer")
                skip = int(value)
        for name in ("$top", "$skiptoken"):
            if sum(1 for n, _ in query if n == name) > 1:
                raise ApiError(400, "%s given more than once" % name)
        page = items[skip:skip + top]
        total = len(items)
        kind = fault["kind"] if fault else None
        if kind in ("stuck_pagination", "endless_pages"):
            # Full pages, so a client cannot stop on a short page before noticing.
            pos = skip + len(page)
            while len(page) < top:
                page.append(filler(pos))
                pos += 1
        end = skip + len(page)
        if kind == "stuck_pagination":
            end = skip
            total = max(total, skip + 2 * top + 1)
        elif kind == "endless_pages":
            total = HUGE_TOTAL
        return {"value": page,
                "supplemental": {"pagination": {"start": skip, "end": end,
                                                "records": len(page), "total": total}}}

    def user_orgs_list(self, req, fault):
        with self.lock:
            user, _ = self.authenticate(req["auth"])
            now = self.now()
            style = fault["params"].get("style") if fault and fault["kind"] == "variant" else None
            rows = []
            for org in self.orgs.values():
                if user["id"] in org["members"]:
                    accepted = (self.invites_for(org, user["email"], now, ("accepted",))
                                if self.published() else [])
                    rows.append((org, accepted[0] if accepted else None))
                else:
                    inv = self.visible_invite(org, user["email"], now)
                    if inv is not None:
                        rows.append((org, inv))
            rows.sort(key=lambda r: (r[0]["name"], r[0]["id"]))
            items = [self.render_user_org(o, i, now, style) for o, i in rows]

            def filler(pos):
                org = {"id": str(uuid.uuid5(FILLER_NAMESPACE, "org-%d" % pos)),
                       "name": "Filler Organization %d" % pos, "created": now}
                return self.render_user_org(org, None, now, style)

            return 200, self.list_answer(items, req["query"], fault, filler,
                                         API_PREFIX + "/user/organizations",
                                         "UserOrganizationList")

    def user_org_patch(self, req, fault):
        with self.lock:
            user, _ = self.authenticate(req["auth"])
            check_json_type(req)
            try:
                body = json.loads(req["body"])
            except ValueError:
                raise ApiError(400, "body is not valid JSON")
            if body != {"spec": {"invite": {"state": "accepted"}}}:
                raise ApiError(400, "only spec.invite.state may change, and only to accepted")
            now = self.now()
            org = self.orgs.get(req["id"])
            if org is None:
                raise ApiError(404, "no such organization for this user")
            pending = self.invites_for(org, user["email"], now, ("pending",))
            if pending:
                inv = pending[0]
                inv["state"] = "accepted"
                org["members"].add(user["id"])
                for tname in inv["teams"]:
                    if tname in org["teams"]:
                        org["teams"][tname].add(user["id"])
            elif user["id"] in org["members"]:
                raise ApiError(409, "already a member of this organization", "alreadyMember")
            elif (self.config["accept_expired_status"] != 409
                  and self.invites_for(org, user["email"], now, ("expired",))):
                st = self.config["accept_expired_status"]
                raise ApiError(st, "the invite has expired", "inviteExpired")
            elif self.invites_for(org, user["email"], now, ("expired", "cancelled", "declined",
                                                            "accepted")):
                raise ApiError(409, "the invite is no longer pending", "inviteNotPending")
            else:
                raise ApiError(404, "no such organization for this user")
            style = fault["params"].get("style") if fault and fault["kind"] == "variant" else None
            accepted = self.invites_for(org, user["email"], now, ("accepted",))
            return 200, self.render_user_org(
                org, accepted[0] if accepted and self.published() else None, now, style)

    def user_org_delete(self, req, fault):
        with self.lock:
            user, _ = self.authenticate(req["auth"])
            now = self.now()
            org = self.orgs.get(req["id"])
            if org is None:
                raise ApiError(404, "no such organization for this user")
            pending = self.invites_for(org, user["email"], now, ("pending",))
            if pending:
                for inv in pending:
                    inv["state"] = "declined"
            elif user["id"] in org["members"]:
                org["members"].discard(user["id"])
                org["admins"].discard(user["id"])
                for team in org["teams"].values():
                    team.discard(user["id"])
            else:
                raise ApiError(404, "neither a member nor invited")
            return (200, None) if self.config["empty_200"] else (204, None)

    def invites_list(self, req, fault):
        with self.lock:
            user, tok = self.authenticate(req["auth"])
            org = self.admin_org(user, tok)
            now = self.now()
            invs = [i for i in self.invites.values()
                    if i["organization"] == org["id"] and self.invite_state(i, now) == "pending"]
            invs.sort(key=lambda i: (i["created"], i["id"]))
            items = [self.render_invite(i, now) for i in invs]

            def filler(pos):
                inv = {"id": str(uuid.uuid5(FILLER_NAMESPACE, "invite-%d" % pos)),
                       "email": "filler%d@example.com" % pos, "comment": None, "teams": [],
                       "created": now, "expires": now + INVITE_LIFETIME, "state": "pending"}
                return self.render_invite(inv, now)

            return 200, self.list_answer(items, req["query"], fault, filler,
                                         API_PREFIX + "/organization/invites",
                                         "OrganizationInviteList")

    def invite_create(self, req, fault):
        with self.lock:
            user, tok = self.authenticate(req["auth"])
            org = self.admin_org(user, tok)
            check_json_type(req)
            try:
                body = json.loads(req["body"])
            except ValueError:
                raise ApiError(400, "body is not valid JSON")
            spec = body.get("spec") if isinstance(body, dict) else None
            if not isinstance(spec, dict):
                raise ApiError(400, "spec is required")
            email = spec.get("email")
            if not isinstance(email, str) or not EMAIL_RE.match(email) or len(email) > 254:
                raise ApiError(400, "spec.email must be an email address")
            comment = spec.get("comment")
            if comment is not None and not isinstance(comment, str):
                raise ApiError(400, "spec.comment must be a string")
            teams = spec.get("teams", [])
            if teams is None:
                teams = []
            if not isinstance(teams, list) or not all(isinstance(t, str) for t in teams):
                raise ApiError(400, "spec.teams must be a list of team names")
            for tname in teams:
                if tname != "Everyone" and tname not in org["teams"]:
                    raise ApiError(400, "unknown team %s" % tname, "unknownTeam")
            now = self.now()
            if self.invites_for(org, email, now, ("pending",)):
                raise ApiError(409, "an invite is already pending for this email", "invitePending")
            for uid in org["members"]:
                if self.users[uid]["email"].lower() == email.lower():
                    raise ApiError(409, "this email is already a member", "alreadyMember")
            inv = {"id": str(uuid.uuid4()), "organization": org["id"], "email": email,
                   "comment": comment, "teams": list(teams), "invited_by": user["id"],
                   "created": now, "expires": now + INVITE_LIFETIME, "state": "pending"}
            self.invites[inv["id"]] = inv
            return 201, self.render_invite(inv, now)

    def invite_delete(self, req, fault):
        with self.lock:
            user, tok = self.authenticate(req["auth"])
            org = self.admin_org(user, tok)
            inv = self.invites.get(req["id"])
            if (inv is None or inv["organization"] != org["id"]
                    or self.invite_state(inv, self.now()) != "pending"):
                raise ApiError(404, "no pending invite with this id in this organization")
            inv["state"] = "cancelled"
            return (200, None) if self.config["empty_200"] else (204, None)


    def user_profile(self, req, fault):
        """GET /api/v1/user/profile: whose token this is (docs/mkio-api.md)."""
        with self.lock:
            user, tok = self.authenticate(req["auth"])
            return 200, {"kind": "UserProfile", "metadata": {"id": user["id"]},
                         "spec": {"loginEmail": user["email"], "contactEmail": user["email"],
                                  "name": user["name"], "isActive": True,
                                  "activeOrganizationId": tok["organization"],
                                  "avatar": "", "features": []}}


def check_json_type(req):
    ctype = req["content_type"].split(";")[0].strip().lower()
    if ctype != "application/json":
        raise ApiError(400, "Content-Type must be application/json")


ROUTES = [
    (re.compile(r"^/api/v1/user/organizations$"), {"GET": "user_orgs_list"}),
    (re.compile(r"^/api/v1/user/organizations/([^/]+)$"),
     {"PATCH": "user_org_patch", "DELETE": "user_org_delete"}),
    (re.compile(r"^/api/v1/user/profile$"), {"GET": "user_profile"}),
    (re.compile(r"^/api/v1/organization/invites$"), {"GET": "invites_list", "POST": "invite_create"}),
    (re.compile(r"^/api/v1/organization/invites/([^/]+)$"), {"DELETE": "invite_delete"}),
]


def route(method, path):
    """Returns (endpoint, resource id, error) for a request line."""
    for pattern, methods in ROUTES:
        m = pattern.match(path)
        if m:
            if method not in methods:
                return None, None, ApiError(405, "method not allowed",
                                            headers={"Allow": ", ".join(sorted(methods))})
            return methods[method], (m.group(1) if m.groups() else None), None
    return None, None, ApiError(404, "no such path")


class QuietHandlerMixin:
    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))

    def read_body(self):
        """Reads a Content-Length or chunked body; None (and the connection closes) if unreadable."""
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if te == "chunked":
            data = b""
            while True:
                line = self.rfile.readline(1024)
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    return None
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                if len(data) + size > MAX_BODY:
                    return None
                data += self.rfile.read(size)
                self.rfile.readline(1024)
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        if not INT_RE.match(length.strip()) or int(length) > MAX_BODY:
            return None
        return self.rfile.read(int(length))

    def send_raw(self, status, body, content_type="application/json", headers=None,
                 content_length=None):
        self.send_response(status)
        if status != 204:
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body) if content_length is None
                                                   else content_length))
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if body and self.command != "HEAD" and status != 204:
            self.wfile.write(body)
        self.wfile.flush()


class ApiHandler(QuietHandlerMixin, BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mkio-fake/1.0"
    timeout = 120  # idle keep-alive connections end eventually

    def do_GET(self):
        self.handle_api()

    do_POST = do_PATCH = do_DELETE = do_PUT = do_HEAD = do_OPTIONS = do_GET

    def handle_api(self):
        world = self.server.world
        raw = self.read_body()
        split = urlsplit(self.path)
        query = parse_qsl(split.query, keep_blank_values=True)
        world.log_request({
            "method": self.command, "path": split.path, "query": dict(query),
            # Which TCP connection carried it (1, 2, ... in accept order),
            # when that was accepted and when this request came, on the
            # fake's monotonic clock: whether a connection was made early.
            "connection": getattr(CONNECTION, "number", None),
            "connection_accepted": getattr(CONNECTION, "accepted", None),
            "received": time.monotonic(),
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": (raw or b"").decode("utf-8", "replace")})
        if raw is None:
            self.close_connection = True
            self.answer_error(ApiError(400, "unreadable request body"))
            return
        endpoint, rid, err = route(self.command, split.path)
        faults = world.take_faults(endpoint)
        fault = None
        for f in faults:
            if f["kind"] == "delay":
                if STOP.wait(f["params"]["ms"] / 1000.0):
                    self.close_connection = True
                    return
            else:
                fault = f
        kind = fault["kind"] if fault else None
        if kind == "barrier":
            barrier = fault["params"]["_barrier"]
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                # Stands in for the call: a 409, which no client retries.
                self.answer_error(ApiError(409, "barrier: fewer than %d requests were in flight "
                                           "together within %d ms" % (
                                               barrier.parties, fault["params"]["timeout_ms"])))
                return
        # These answer instead of the endpoint: the call has no effect.
        if kind == "hang":
            STOP.wait()
            self.close_connection = True
            return
        if kind == "status":
            p = fault["params"]
            st = p["status"]
            headers = {}
            if p.get("retry_after") is not None:
                headers["Retry-After"] = p["retry_after"]
            self.answer_error(ApiError(st, p.get("detail", "injected failure"),
                                       p.get("code"), headers, p.get("ref")))
            return
        if kind == "malformed_json":
            self.send_raw(200, b'{"value": [{"metadata": {"id": "x"}, @#!garbage\x01 ]]}}{{')
            return
        # The others answer the call as it was made (it takes effect), then bend the answer.
        if err is None:
            # The legacy x-mkio-token header stands for "Bearer TOKEN" when
            # no Authorization header is sent (docs/mkio-api.md).
            auth = self.headers.get_all("Authorization") or [
                "Bearer " + v for v in self.headers.get_all("x-mkio-token") or []]
            req = {"auth": auth, "query": query,
                   "id": rid, "body": raw.decode("utf-8", "replace"),
                   "content_type": self.headers.get("Content-Type") or ""}
            try:
                status, obj = getattr(world, endpoint)(req, fault)
                headers = {}
            except ApiError as e:
                err = e
        if err is not None:
            status, obj, headers = (err.status, world.error_body(err.status, err.code, err.detail),
                                    err.headers)
        body = b"" if obj is None else json.dumps(obj).encode()
        ctype = "application/json"
        if kind == "oversized" and isinstance(obj, dict):
            want = fault["params"]["bytes"]
            padded = dict(obj, padding="")
            pad = want - len(json.dumps(padded).encode())
            if pad > 0:
                padded["padding"] = "x" * pad
                body = json.dumps(padded).encode()
        elif kind == "truncated_json":
            body = body[:len(body) // 2]
        elif kind == "wrong_content_type":
            ctype = "text/html"
        elif kind == "close_mid_body":
            if status == 204:
                status = 200
            full = body or b'{"value": []}'
            self.close_connection = True
            self.send_raw(status, full[:len(full) // 2], ctype, headers, content_length=len(full) + 64)
            return
        self.send_raw(status, body, ctype, headers)

    def answer_error(self, err):
        body = json.dumps(self.server.world.error_body(err.status, err.code, err.detail,
                                                       err.ref)).encode()
        self.send_raw(err.status, body, "application/json", err.headers)

    def send_raw(self, status, body, *args, **kwargs):
        # Every API answer, faulted or not, gets the seeded raw_bytes spliced in.
        super().send_raw(status, self.server.world.splice_raw_bytes(body), *args, **kwargs)


class ControlHandler(QuietHandlerMixin, BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mkio-fake-control/1.0"
    timeout = 60

    def do_GET(self):
        self.handle_control()

    do_POST = do_DELETE = do_PUT = do_PATCH = do_GET

    def handle_control(self):
        world = self.server.world
        raw = self.read_body()
        path = urlsplit(self.path).path
        method = self.command
        try:
            if raw is None:
                self.close_connection = True
                raise ControlError(400, "unreadable body")
            body = {}
            if raw.strip():
                try:
                    body = json.loads(raw)
                except ValueError:
                    raise ControlError(400, "body is not valid JSON")
            result = self.dispatch(world, method, path, body)
            self.send_raw(200, json.dumps(result).encode())
        except ControlError as e:
            self.send_raw(e.status, json.dumps({"error": e.message}).encode())

    def dispatch(self, world, method, path, body):
        if path == "/control/reset" and method == "POST":
            world.reset()
            return {}
        if path == "/control/seed" and method == "POST":
            return world.seed(body)
        if path == "/control/clock" and method == "POST":
            _need(isinstance(body, dict), "clock: body must be an object")
            return world.clock(body)
        if path == "/control/clock" and method == "GET":
            return {"now": world.now()}
        if path == "/control/state" and method == "GET":
            return world.state()
        if path == "/control/requests" and method == "GET":
            with world.lock:
                return list(world.requests)
        if path == "/control/requests" and method == "DELETE":
            with world.lock:
                world.requests = []
            return {}
        if path == "/control/faults" and method == "POST":
            return world.add_fault(body)
        if path == "/control/faults" and method == "DELETE":
            with world.lock:
                world.faults = {}
            return {}
        if path == "/control/configure" and method == "POST":
            return world.configure(body)
        if path == "/control/configure" and method == "GET":
            return world.get_config()
        if path == "/control/stats" and method == "GET":
            with world.lock:
                return {"tls_connections": world.tls_connections, "api_requests": world.api_requests}
        known = ("/control/reset", "/control/seed", "/control/clock", "/control/state",
                 "/control/requests", "/control/faults", "/control/stats", "/control/configure")
        if path in known:
            raise ControlError(405, "method not allowed")
        raise ControlError(404, "no such control path")


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # never wait for a hung handler at shutdown
    request_queue_size = 128  # concurrent-login tests must not see dropped SYNs

    def __init__(self, addr, handler, world, verbose, ssl_context=None):
        self.world = world
        self.verbose = verbose
        self.ssl_context = ssl_context
        super().__init__(addr, handler)

    def finish_request(self, request, client_address):
        # Headers and body go out in separate writes: without this, Nagle and
        # delayed ACKs add 40 ms to every answer.
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # This thread serves this one connection: its requests' log entries
        # name it (handle_api). The control server's are not counted.
        if self.RequestHandlerClass is ApiHandler:
            CONNECTION.number = self.world.count_tcp()
            CONNECTION.accepted = time.monotonic()
        if self.ssl_context is None:
            return super().finish_request(request, client_address)
        # The handshake runs here, in the connection's own thread, not in accept().
        request.settimeout(10)
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return None
        self.world.count_tls()
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            try:
                tls.close()
            except OSError:
                pass
        return None

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (OSError, ssl.SSLError)):
            return  # clients hanging up mid-request are normal in fault tests
        super().handle_error(request, client_address)


CERT_CONFIG = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = MK.IO fake test CA
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[v3_server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer
"""


def make_certs(state_dir):
    """Makes ca.pem and server.pem/server.key (EC P-256) in state_dir with openssl."""
    p = lambda name: os.path.join(state_dir, name)
    with open(p("openssl.cnf"), "w") as f:
        f.write(CERT_CONFIG)

    def run(*args):
        res = subprocess.run(["openssl"] + list(args), stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if res.returncode != 0:
            raise RuntimeError("openssl %s failed: %s" % (args[0], res.stderr.decode(errors="replace")))

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    old = os.umask(0o077)
    try:
        run("req", "-x509", *ec, "-keyout", p("ca.key"), "-out", p("ca.pem"), "-days", "30",
            "-sha256", "-config", p("openssl.cnf"), "-extensions", "v3_ca",
            "-subj", "/CN=MK.IO fake test CA")
        run("req", "-new", *ec, "-keyout", p("server.key"), "-out", p("server.csr"),
            "-config", p("openssl.cnf"), "-subj", "/CN=localhost")
        run("x509", "-req", "-in", p("server.csr"), "-CA", p("ca.pem"), "-CAkey", p("ca.key"),
            "-set_serial", "0x%s" % uuid.uuid4().hex[:16], "-days", "30", "-sha256",
            "-extfile", p("openssl.cnf"), "-extensions", "v3_server", "-out", p("server.pem"))
    finally:
        os.umask(old)
    os.chmod(p("ca.pem"), 0o644)
    for name in ("server.csr", "openssl.cnf"):
        os.unlink(p(name))


def write_ready(state_dir, info):
    tmp = os.path.join(state_dir, "ready.json.tmp")
    with open(tmp, "w") as f:
        json.dump(info, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, os.path.join(state_dir, "ready.json"))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--api-port", type=int, default=0)
    ap.add_argument("--control-port", type=int, default=0)
    ap.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = ap.parse_args(argv)
    state_dir = os.path.abspath(args.state_dir)

    signal.signal(signal.SIGTERM, lambda *_: STOP.set())
    signal.signal(signal.SIGINT, lambda *_: STOP.set())

    make_certs(state_dir)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(os.path.join(state_dir, "server.pem"), os.path.join(state_dir, "server.key"))

    world = World()
    api = FakeServer(("127.0.0.1", args.api_port), ApiHandler, world, args.verbose, ctx)
    control = FakeServer(("127.0.0.1", args.control_port), ControlHandler, world, args.verbose)
    threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
               for s in (api, control)]
    for t in threads:
        t.start()
    write_ready(state_dir, {
        "api_url": "https://127.0.0.1:%d" % api.server_address[1],
        "control_url": "http://127.0.0.1:%d" % control.server_address[1],
        "ca_file": os.path.join(state_dir, "ca.pem"),
        "pid": os.getpid()})
    while not STOP.wait(0.2):
        pass
    for s in (api, control):
        s.shutdown()
        s.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
