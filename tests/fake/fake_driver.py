# SPDX-License-Identifier: LGPL-2.1-or-later
"""Start and drive the fake MK.IO server (fake_server.py) from Python tests.

    from fake_driver import FakeMkio, make_fixture
    with FakeMkio() as fake:
        fx = make_fixture(fake)
        ...  # point the client at fake.api_url with CA fake.ca_file, token fx["alice_token"]
        assert fake.state()["organizations"][0]["members"] == [...]

Standard library only. Every control method is one HTTP call and raises
FakeMkioError on a non-2xx answer.
"""

import http.client
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid

SERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake_server.py")


class FakeMkioError(Exception):
    pass


class FakeMkio:
    """The fake server as a subprocess in its own temporary directory."""

    def __init__(self, start_timeout=10.0, verbose=False):
        self.dir = tempfile.mkdtemp(prefix="mkio-fake-")
        self.api_url = self.control_url = self.ca_file = None
        self.pid = None
        self._proc = None
        self._log = None
        try:
            self._start(start_timeout, verbose)
        except BaseException:
            self.stop()
            raise

    def _start(self, start_timeout, verbose):
        self._log = open(os.path.join(self.dir, "server.log"), "wb")
        cmd = [sys.executable, SERVER, "--state-dir", self.dir]
        if verbose:
            cmd.append("--verbose")
        self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._log,
                                      stderr=subprocess.STDOUT, close_fds=True)
        ready = os.path.join(self.dir, "ready.json")
        deadline = time.monotonic() + start_timeout
        while not os.path.exists(ready):
            if self._proc.poll() is not None:
                raise FakeMkioError("fake server exited with %d: %s"
                                    % (self._proc.returncode, self.log_text()))
            if time.monotonic() > deadline:
                raise FakeMkioError("fake server not ready after %.0f s: %s"
                                    % (start_timeout, self.log_text()))
            time.sleep(0.02)
        with open(ready) as f:
            info = json.load(f)
        self.api_url = info["api_url"]
        self.control_url = info["control_url"]
        self.ca_file = info["ca_file"]
        self.pid = info["pid"]

    def log_text(self):
        """What the server wrote to stdout and stderr (tracebacks, --verbose lines)."""
        try:
            with open(os.path.join(self.dir, "server.log"), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        """Ends the server (by its pid) and removes the temporary directory. Idempotent."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.send_signal(signal.SIGTERM)
                try:
                    self._proc.wait(5)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
            self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def __del__(self):
        # A forgotten stop() must not leave a server running behind the tests.
        try:
            self.stop()
        except Exception:
            pass

    @property
    def running(self):
        return self._proc is not None and self._proc.poll() is None

    # ---- control interface ----------------------------------------------

    def _call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.control_url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                text = resp.read()
        except urllib.error.HTTPError as e:
            detail = e.read().decode("utf-8", "replace")
            raise FakeMkioError("%s %s: %d %s" % (method, path, e.code, detail)) from None
        return json.loads(text) if text.strip() else None

    def seed(self, data):
        """Adds users, organizations, tokens and invites; returns {"invites": [ids]}."""
        return self._call("POST", "/control/seed", data)

    def reset(self):
        self._call("POST", "/control/reset", {})

    def clock_advance(self, seconds):
        return self._call("POST", "/control/clock", {"advance": seconds})["now"]

    def clock_set(self, epoch):
        return self._call("POST", "/control/clock", {"set": epoch})["now"]

    def now(self):
        return self._call("GET", "/control/clock")["now"]

    def state(self):
        return self._call("GET", "/control/state")

    def requests(self):
        return self._call("GET", "/control/requests")

    def clear_requests(self):
        self._call("DELETE", "/control/requests")

    def fault(self, endpoint, kind, count=None, **params):
        body = dict(params, endpoint=endpoint, kind=kind, count=count)
        self._call("POST", "/control/faults", body)

    def clear_faults(self):
        self._call("DELETE", "/control/faults")

    def stats(self):
        return self._call("GET", "/control/stats")

    def configure(self, *variants, **switches):
        """Selects the API's shapes and variants (docs/mkio-api.md) until reset(): named
        variants ("legacy", "nextlink", "offset", "error_string",
        "accept_expired_400", "accept_expired_404", "empty_200"; "published" is
        the default shape) and/or switches (shape, paging, page_size,
        error_string, accept_expired_status, empty_200).
        Returns the whole configuration."""
        body = dict(switches)
        if variants:
            body["variants"] = list(variants)
        return self._call("POST", "/control/configure", body)

    def config(self):
        return self._call("GET", "/control/configure")

    # ---- conveniences for tests written in Python ---------------------------

    def ssl_context(self):
        """A client context that trusts only the fake's test CA."""
        return ssl.create_default_context(cafile=self.ca_file)

    def api(self, method, path, token=None, body=None, headers=None, timeout=10, raw_body=None):
        """One API request on a fresh connection: returns (status, headers, body bytes).
        path starts at /api/v1; body is sent as JSON, raw_body as given."""
        host, port = self.api_url[len("https://"):].rsplit(":", 1)
        conn = http.client.HTTPSConnection(host, int(port), timeout=timeout,
                                           context=self.ssl_context())
        hdrs = {"Accept": "application/json"}
        data = raw_body
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        if token is not None:
            hdrs["Authorization"] = "Bearer " + token
        hdrs.update(headers or {})
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def make_fixture(self):
        return make_fixture(self)


def make_fixture(fake=None):
    """A typical world: "Acme Media" (admin admin@example.com, member bob, team
    encoding-team) where alice has a pending invite; "Beta Broadcast" (admin
    admin2@example.com) where alice is a member. Tokens never expire. With a fake,
    seeds it; returns ids and tokens (and the seed under "seed")."""
    org_id = str(uuid.uuid4())
    org2_id = str(uuid.uuid4())
    invite_id = str(uuid.uuid4())
    users = {
        "admin": {"id": "u-admin", "email": "admin@example.com", "name": "Ada Admin"},
        "admin2": {"id": "u-admin2", "email": "admin2@example.com", "name": "Grace Admin"},
        "alice": {"id": "u-alice", "email": "alice@example.com", "name": "Alice"},
        "bob": {"id": "u-bob", "email": "bob@example.com", "name": "Bob"},
        "carol": {"id": "u-carol", "email": "carol@example.com", "name": "Carol"},
    }
    tokens = {"admin": "tok-admin", "admin2": "tok-admin2", "alice": "tok-alice",
              "bob": "tok-bob", "carol": "tok-carol"}
    seed = {
        "users": list(users.values()),
        "organizations": [
            {"id": org_id, "name": "Acme Media", "admins": ["u-admin"],
             "members": ["u-admin", "u-bob"], "teams": {"encoding-team": []}},
            {"id": org2_id, "name": "Beta Broadcast", "admins": ["u-admin2"],
             "members": ["u-admin2", "u-alice"], "teams": {}},
        ],
        "tokens": [
            {"token": tokens["admin"], "user": "u-admin", "organization": org_id, "expires": None},
            {"token": tokens["admin2"], "user": "u-admin2", "organization": org2_id, "expires": None},
            {"token": tokens["alice"], "user": "u-alice", "organization": org2_id, "expires": None},
            {"token": tokens["bob"], "user": "u-bob", "organization": org_id, "expires": None},
            # carol belongs to nothing and is invited nowhere.
            {"token": tokens["carol"], "user": "u-carol", "organization": None, "expires": None},
        ],
        "invites": [
            {"id": invite_id, "organization": org_id, "email": "alice@example.com",
             "comment": "Video encoding specialist for the Delphi project",
             "teams": ["encoding-team"], "invited_by": "u-admin"},
        ],
    }
    if fake is not None:
        fake.seed(seed)
    fx = {
        "org_id": org_id, "org_name": "Acme Media",
        "org2_id": org2_id, "org2_name": "Beta Broadcast",
        "invite_id": invite_id, "team": "encoding-team",
        "users": users, "tokens": tokens, "seed": seed,
    }
    for who in users:
        fx[who + "_id"] = users[who]["id"]
        fx[who + "_email"] = users[who]["email"]
        fx[who + "_token"] = tokens[who]
    return fx
