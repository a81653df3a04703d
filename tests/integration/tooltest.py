# SPDX-License-Identifier: LGPL-2.1-or-later
"""Shared set-up for the integration tests: a fake MK.IO server, a world in
it, a private configuration, and a way to run build/mkio-orgs."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
for _p in (os.path.join(ROOT, "tests", "fake"), os.path.join(ROOT, "tests", "lib")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from fake_driver import FakeMkio  # noqa: E402
BUILD = os.path.join(ROOT, os.environ.get("B", "build"))
TOOL = os.path.join(BUILD, "mkio-orgs")

ORG = "0c6f2a8e-1a2b-4c3d-9e8f-a1b2c3d4e5f6"
ORG2 = "7d1e5b3a-2b3c-4d5e-8f9a-b2c3d4e5f6a7"
ADMIN_TOKEN = "tok-admin-8f3c2a1b9d"
ALICE_TOKEN = "tok-alice-5e7d9c1a3b"
BOB_TOKEN = "tok-bob-2a4c6e8f0b"
ALL_TOKENS = (ADMIN_TOKEN, ALICE_TOKEN, BOB_TOKEN)
NOBODY = 65534


def world(extra_invites=()):
    """An organization Acme Media with an admin, bob as a plain member, and
    alice with a pending invite; a second organization Delphi Studio."""
    return {
        "users": [
            {"id": "u-admin", "email": "admin@example.com", "name": "Ada Admin"},
            {"id": "u-alice", "email": "alice@example.com", "name": "Alice"},
            {"id": "u-bob", "email": "bob@example.com", "name": "Bob"},
        ],
        "organizations": [
            {"id": ORG, "name": "Acme Media", "admins": ["u-admin"],
             "members": ["u-admin", "u-bob"], "teams": {"encoding-team": []}},
            {"id": ORG2, "name": "Delphi Studio", "admins": ["u-admin"],
             "members": ["u-admin"], "teams": {}},
        ],
        "tokens": [
            {"token": ADMIN_TOKEN, "user": "u-admin", "organization": ORG, "expires": None},
            {"token": ALICE_TOKEN, "user": "u-alice", "organization": ORG, "expires": None},
            {"token": BOB_TOKEN, "user": "u-bob", "organization": ORG, "expires": None},
        ],
        "invites": [
            {"organization": ORG, "email": "alice@example.com",
             "comment": "Video encoding specialist for the Delphi project",
             "teams": ["encoding-team"], "invited_by": "u-admin"},
        ] + list(extra_invites),
    }


class ToolTest(unittest.TestCase):
    budget = "3"

    @classmethod
    def setUpClass(cls):
        cls.fake = FakeMkio()
        cls.fake.__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.fake.stop()

    def setUp(self):
        self.fake.reset()
        self.seeded = self.fake.seed(world())
        self.tmp = tempfile.mkdtemp(prefix="mkio-it-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.state_dir = os.path.join(self.tmp, "state")
        self.token_dir = os.path.join(self.tmp, "tokens")
        os.mkdir(self.token_dir, 0o700)
        self.conf = self.write_conf()
        self.outputs = []

    def tearDown(self):
        # Whatever a test ran, no token may show in anything the tool printed.
        for text in self.outputs:
            for token in ALL_TOKENS:
                self.assertNotIn(token, text)

    def write_conf(self, extra="", min_uid=0):
        path = os.path.join(self.tmp, "mkio.conf")
        with open(path, "w") as f:
            f.write(f"base_url = {self.fake.api_url}\n"
                    f"ca_file = {getattr(self, 'shared_ca', None) or self.fake.ca_file}\n"
                    f"time_budget = {self.budget}\n"
                    "connect_timeout = 1\n"
                    f"state_dir = {self.state_dir}\n"
                    f"token_dir = {self.token_dir}\n"
                    f"min_uid = {min_uid}\n" + extra)
        os.chmod(path, 0o644)
        return path

    def share_with_users(self):
        """Lets a user (run_tool(user=NOBODY)) read the configuration and the
        CA: the test's directory 0755, the CA copied into it."""
        os.chmod(self.tmp, 0o755)
        self.shared_ca = os.path.join(self.tmp, "ca.pem")
        shutil.copyfile(self.fake.ca_file, self.shared_ca)
        os.chmod(self.shared_ca, 0o644)
        self.conf = self.write_conf()

    def run_tool(self, *args, token=ALICE_TOKEN, env=None, stdin=None, timeout=30, conf=True,
                 raw=False, user=None):
        """Runs the tool (arguments may be str or bytes); stdout and stderr
        are text, or the bytes exactly as written when raw is true. With
        user (a uid), as that user (setpriv; see share_with_users). Root is
        given the configuration with --config: it refuses MKIO_CONFIG."""
        e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": self.tmp}
        cmd = [TOOL]
        if user is not None:
            cmd = ["setpriv", "--reuid=%d" % user, "--regid=%d" % user, "--clear-groups", TOOL]
        if conf and user is None and os.geteuid() == 0:
            cmd += ["--config", self.conf]
        elif conf:
            e["MKIO_CONFIG"] = self.conf
        if token is not None:
            e["MKIO_TOKEN"] = token
        if env:
            e.update(env)
        start = time.monotonic()
        p = subprocess.run([*cmd, *args], env=e, input=stdin, capture_output=True, text=not raw,
                           timeout=timeout)
        p.elapsed = time.monotonic() - start
        if raw:
            self.outputs += [p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")]
        else:
            self.outputs += [p.stdout, p.stderr]
        return p

    def write_token(self, user, token):
        """A token file for user in the token directory (user may be bytes)."""
        path = os.path.join(os.fsencode(self.token_dir), os.fsencode(user))
        with open(path, "wb") as f:
            f.write(token.encode() + b"\n")
        os.chmod(path, 0o600)

    def state_snapshot(self):
        """Every file under the state directory with its bytes, mtime and inode,
        or None when the directory does not exist."""
        if not os.path.isdir(self.state_dir):
            return None
        snap = {}
        for root, _, files in os.walk(self.state_dir):
            for name in files:
                path = os.path.join(root, name)
                st = os.stat(path)
                with open(path, "rb") as f:
                    snap[os.path.relpath(path, self.state_dir)] = (f.read(), st.st_mtime_ns, st.st_ino)
        return snap

    def assert_exit(self, p, code):
        self.assertEqual(p.returncode, code, f"exit {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}")

    def api_requests(self, method=None):
        return [r for r in self.fake.requests() if method is None or r["method"] == method]

    def org_state(self, org_id):
        for o in self.fake.state()["organizations"]:
            if o["id"] == org_id:
                return o
        raise KeyError(org_id)

    def invites(self, email=None):
        return [i for i in self.fake.state()["invites"] if email is None or i["email"] == email]
