# SPDX-License-Identifier: LGPL-2.1-or-later
"""A login's accepts at once: `mkio-orgs sync --accept --user` (the refresh a
login runs) for a user with 60 pending invites.

Over HTTP/2, through nghttpx (package nghttp2-proxy, installed by
tests/install-deps) started here on loopback in front of the fake (which
speaks HTTP/1.1 over TLS), with the fake's own certificate: one client
connection, and all 60 accepts in flight at once. The proof of "at once" is
the fake's `barrier` fault, which holds each accept until 60 of them wait
together and answers 409 (an accept failed, and the test with it) if they
do not within its timeout; nghttpx's access log shows the client's
connections (one remote port) and the protocol (h2).

Over HTTP/1.1, straight to the fake: never more than 24 connections
(HTTP_MAX_IN_FLIGHT in common/net/http_easy.h), 24 accepts in flight at
once (a barrier of 24), and every invite accepted. On the user's first
refresh the accepts' connections were made while the list was in flight
(the pre-connected pool, common/net/http_preconnect.c): the fake's request
log names each request's connection and when it was accepted; a refresh
after the first, or one through a proxy, makes no connection it does not
need.

No timing assertion: the timeouts below only turn a hang into a failure.
Runs as root (sync is root only)."""
import json
import os
import shutil
import socket
import subprocess
import time
import unittest
import uuid

from tooltest import ALICE_TOKEN, ToolTest, world

NGHTTPX = shutil.which("nghttpx") or shutil.which("nghttpx", path="/usr/sbin:/sbin")
INVITES = 60
H1_CONNECTIONS = 24  # HTTP_MAX_IN_FLIGHT
H1_INVITES = 20      # the case: one wave over HTTP/1.1


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Nghttpx:
    """nghttpx on 127.0.0.1 in front of the fake's API, in the fake's directory,
    logging each request's client port, ALPN, method, path and status."""

    def __init__(self, fake):
        self.port = free_port()
        self.log = os.path.join(fake.dir, "nghttpx-access.log")
        backend_port = fake.api_url.rsplit(":", 1)[1]
        cmd = [NGHTTPX, "--conf=/dev/null", "--workers=1", "--no-ocsp",
               "-f127.0.0.1,%d" % self.port, "-b127.0.0.1,%s;;tls" % backend_port,
               # The backend is the fake's test certificate; loopback only.
               "--insecure",
               # The fake answers one request per connection at a time: let
               # nghttpx open one per accept so the barrier can fill.
               "--backend-connections-per-host=%d" % (INVITES + 10),
               "--frontend-http2-max-concurrent-streams=100",
               "--accesslog-file=" + self.log,
               "--accesslog-format=$remote_port $alpn $method $path $status",
               "--errorlog-file=" + os.path.join(fake.dir, "nghttpx-error.log"),
               os.path.join(fake.dir, "server.key"), os.path.join(fake.dir, "server.pem")]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, close_fds=True)
        deadline = time.monotonic() + 10  # only a broken nghttpx takes this long
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("nghttpx exited with %d" % self.proc.returncode)
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("nghttpx not listening after 10 s")
                time.sleep(0.05)
        self.url = "https://127.0.0.1:%d" % self.port

    def log_lines(self):
        try:
            with open(self.log) as f:
                return [line.split() for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def many_invites(seed, n):
    """The world with alice invited to n organizations in all (ORG's invite
    and n - 1 more organizations, each with its own)."""
    for i in range(n - 1):
        org = str(uuid.UUID(int=0x5eed0000 + i))
        seed["organizations"].append({"id": org, "name": "Org %02d" % i, "admins": ["u-admin"],
                                      "members": ["u-admin"], "teams": {}})
        seed["invites"].append({"organization": org, "email": "alice@example.com",
                                "comment": "", "teams": [], "invited_by": "u-admin"})
    return seed


class ManyAccepts(ToolTest):
    budget = "20"  # generous: the barrier's timeout (10 s) must fire first

    def seed_many(self):
        self.fake.reset()
        self.fake.seed(many_invites(world(), INVITES))

    def sync_accept(self):
        self.write_token("nobody", ALICE_TOKEN)
        p = self.run_tool("sync", "--user", "nobody", "--accept", "--json", token=None, timeout=60)
        user = json.loads(p.stdout.split("\n")[0])
        # The first organization's line says why (all fail alike).
        why = (p.stderr, user["organizations"][0])
        self.assertEqual((p.returncode, user["accepted"], user["failed"]), (0, INVITES, 0), why)
        joined = [o for o in self.fake.state()["organizations"] if "u-alice" in o["members"]]
        self.assertEqual(len(joined), INVITES)
        return user


@unittest.skipUnless(NGHTTPX, "nghttpx (package nghttp2-proxy) is not installed: "
                              "tests/install-deps installs it")
class OverHttp2(ManyAccepts):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            cls.proxy = Nghttpx(cls.fake)
        except BaseException:
            cls.fake.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.proxy.stop()
        super().tearDownClass()

    def write_conf(self, extra="", min_uid=0):
        path = super().write_conf(extra, min_uid)
        with open(path) as f:
            text = f.read().replace(self.fake.api_url, self.proxy.url, 1)
        with open(path, "w") as f:
            f.write(text)
        return path

    def run_logged(self):
        """sync_accept, and nghttpx's log lines of that run (waiting for them:
        a stream's line is written as it closes)."""
        before = len(self.proxy.log_lines())
        user = self.sync_accept()
        deadline = time.monotonic() + 10
        while True:
            lines = self.proxy.log_lines()[before:]
            if len([ln for ln in lines if ln[2] == "PATCH"]) >= INVITES or time.monotonic() > deadline:
                return user, lines
            time.sleep(0.05)

    def test_sixty_accepts_at_once_on_one_connection(self):
        self.seed_many()
        # Each accept is held until all 60 wait together.
        self.fake.fault("user_org_patch", "barrier", count=INVITES, n=INVITES, timeout_ms=10000)
        _, lines = self.run_logged()
        patches = [ln for ln in lines if ln[2] == "PATCH"]
        self.assertEqual(len(patches), INVITES, lines)
        self.assertEqual({ln[4] for ln in patches}, {"200"})
        self.assertEqual({ln[1] for ln in lines}, {"h2"})
        # The list and the 60 accepts: one client connection (one port).
        self.assertEqual(len({ln[0] for ln in lines}), 1, lines)
        self.assertEqual([ln[2] for ln in lines].count("GET"), 1)

    def test_barrier_fails_when_accepts_do_not_arrive_together(self):
        # The proof above can fail: a barrier of 61 never fills, every accept
        # is answered 409 and the run says so (exit 1, 60 failed).
        self.seed_many()
        self.fake.fault("user_org_patch", "barrier", count=INVITES, n=INVITES + 1, timeout_ms=1000)
        self.write_token("nobody", ALICE_TOKEN)
        p = self.run_tool("sync", "--user", "nobody", "--accept", "--json", token=None, timeout=60)
        self.assert_exit(p, 1)
        user = json.loads(p.stdout.split("\n")[0])
        self.assertEqual((user["accepted"], user["failed"]), (0, INVITES))
        self.assertIn("barrier: fewer than 61 requests", user["organizations"][0]["detail"])
        self.assertEqual([o for o in self.fake.state()["organizations"] if "u-alice" in o["members"]], [])


class OverHttp1(ManyAccepts):
    def test_sixty_accepts_over_at_most_twenty_four_connections(self):
        self.seed_many()
        # The first 24 accepts are in flight together; then the rest.
        self.fake.fault("user_org_patch", "barrier", count=H1_CONNECTIONS, n=H1_CONNECTIONS,
                        timeout_ms=10000)
        before = self.fake.stats()["tls_connections"]
        self.sync_accept()
        used = self.fake.stats()["tls_connections"] - before
        self.assertLessEqual(used, H1_CONNECTIONS)
        self.assertEqual(len(self.api_requests("PATCH")), INVITES)

    def sync_twenty(self, expect_accepted=H1_INVITES):
        self.write_token("nobody", ALICE_TOKEN)
        p = self.run_tool("sync", "--user", "nobody", "--accept", "--json", token=None, timeout=60)
        user = json.loads(p.stdout.split("\n")[0])
        self.assertEqual((p.returncode, user["accepted"], user["failed"]), (0, expect_accepted, 0),
                         (p.stderr, user["organizations"][:1]))

    def test_first_refresh_accepts_on_connections_made_during_the_list(self):
        self.fake.reset()
        self.fake.seed(many_invites(world(), H1_INVITES))
        # The list is held a second: the pool's connections (opened as the
        # list's request goes) are accepted by the fake while it waits.
        self.fake.fault("user_orgs_list", "delay", count=1, ms=1000)
        self.sync_twenty()
        log = self.api_requests()
        (listed,) = [r for r in log if r["method"] == "GET"]
        patches = [r for r in log if r["method"] == "PATCH"]
        self.assertEqual(len(patches), H1_INVITES)
        answered = listed["received"] + 1.0
        # Every accept went on a connection made before the list answered:
        # none paid a TCP handshake after it.
        self.assertEqual([r for r in patches if r["connection_accepted"] >= answered], [], log)
        connections = {r["connection"] for r in log}
        self.assertLessEqual(len(connections), H1_CONNECTIONS)
        # Unused ones were closed: the fake counts TLS handshakes; the pool's
        # others never started one, and the run ended (no descriptor left,
        # the tool exited 0).
        self.assertGreaterEqual(self.fake.stats()["tls_connections"], len(connections))

    def test_later_refresh_makes_no_connection_it_does_not_use(self):
        self.fake.reset()
        seed = world()
        seed["invites"] = []
        self.fake.seed(seed)
        # The first refresh, without --accept (which pre-connects nothing:
        # no pool of its may reach the fake after the reset below).
        self.write_token("nobody", ALICE_TOKEN)
        p = self.run_tool("sync", "--user", "nobody", "--json", token=None, timeout=60)
        self.assert_exit(p, 0)
        self.assertTrue(os.path.exists(os.path.join(self.state_dir, "users", "nobody")),
                        os.listdir(self.state_dir))
        self.fake.reset()
        self.fake.seed(many_invites(world(), 2))  # two invites since
        self.sync_twenty(expect_accepted=2)
        log = self.api_requests()
        self.assertEqual(sorted(r["method"] for r in log), ["GET", "PATCH", "PATCH"])
        # The list's connection (reused by an accept) and, when the accepts
        # overlapped, the other accept's own, numbered one after the other:
        # no pooled connection left unused in between.
        used = sorted({r["connection"] for r in log})
        self.assertIn([n - used[0] for n in used], ([0], [0, 1]), log)

if __name__ == "__main__":
    unittest.main()
