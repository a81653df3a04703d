# SPDX-License-Identifier: LGPL-2.1-or-later
"""Self-test of the fake MK.IO server. Run from the repository root:

    python3 -m unittest tests/fake/test_fake.py -v
"""

import http.client
import json
import os
import socket
import ssl
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
from fake_driver import FakeMkio, FakeMkioError, make_fixture  # noqa: E402
import timing  # noqa: E402

USER_ORGS = "/api/v1/user/organizations"
INVITES = "/api/v1/organization/invites"
ACCEPT = {"spec": {"invite": {"state": "accepted"}}}
DAY = 86400


SHARED = {}


def setUpModule():
    # One server for the module; every test starts from reset() and the fixture.
    SHARED["fake"] = FakeMkio()


def tearDownModule():
    SHARED.pop("fake").stop()


class FakeTestCase(unittest.TestCase):
    # Classes that test the first edition's shapes (spec.name, expires,
    # offset paging) ask for them; the fake's default is the published shapes.
    LEGACY = False

    def setUp(self):
        self.fake = SHARED["fake"]
        self.fake.reset()
        if self.LEGACY:
            self.fake.configure("legacy")
        self.fx = make_fixture(self.fake)

    def call(self, method, path, token=None, body=None, **kw):
        status, headers, data = self.fake.api(method, path, token=token, body=body, **kw)
        obj = json.loads(data) if data else None
        return status, headers, obj

    def assertApiError(self, status, method, path, token=None, body=None, **kw):
        got, headers, obj = self.call(method, path, token, body, **kw)
        self.assertEqual(got, status, obj)
        self.assertEqual(obj["status"], status)
        self.assertIsInstance(obj["error"]["code"], str)
        self.assertIsInstance(obj["error"]["detail"], str)
        self.assertEqual(obj["error"]["extraDetail"], {})
        self.assertEqual(len(obj["ref"]), 36)
        return obj

    def org_state(self, org_id):
        return [o for o in self.fake.state()["organizations"] if o["id"] == org_id][0]

    def invite_state(self, invite_id):
        return [i for i in self.fake.state()["invites"] if i["id"] == invite_id][0]


class TestStartAndTls(FakeTestCase):
    def test_ready_file_and_attributes(self):
        with open(os.path.join(self.fake.dir, "ready.json")) as f:
            info = json.load(f)
        self.assertEqual(info["api_url"], self.fake.api_url)
        self.assertTrue(self.fake.api_url.startswith("https://127.0.0.1:"))
        self.assertTrue(self.fake.control_url.startswith("http://127.0.0.1:"))
        self.assertEqual(info["pid"], self.fake.pid)
        self.assertTrue(os.path.exists(self.fake.ca_file))

    def test_tls_verifies_with_test_ca_for_ip_and_localhost(self):
        port = int(self.fake.api_url.rsplit(":", 1)[1])
        for name in ("127.0.0.1", "localhost"):
            ctx = self.fake.ssl_context()
            with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
                with ctx.wrap_socket(raw, server_hostname=name) as tls:
                    self.assertIsNotNone(tls.getpeercert())

    def test_tls_fails_without_test_ca(self):
        port = int(self.fake.api_url.rsplit(":", 1)[1])
        ctx = ssl.create_default_context()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with self.assertRaises(ssl.SSLCertVerificationError):
                ctx.wrap_socket(raw, server_hostname="127.0.0.1")

    def test_wrong_hostname_fails(self):
        port = int(self.fake.api_url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with self.assertRaises(ssl.SSLCertVerificationError):
                self.fake.ssl_context().wrap_socket(raw, server_hostname="app.mk.io")

    def test_keep_alive_reuses_one_tls_connection(self):
        before = self.fake.stats()
        host, port = self.fake.api_url[8:].rsplit(":", 1)
        conn = http.client.HTTPSConnection(host, int(port), timeout=5,
                                           context=self.fake.ssl_context())
        try:
            for _ in range(3):
                conn.request("GET", USER_ORGS, headers={"Authorization": "Bearer tok-alice"})
                resp = conn.getresponse()
                self.assertEqual(resp.status, 200)
                self.assertEqual(int(resp.getheader("Content-Length")), len(resp.read()))
            # A 204 on the same connection must not break it.
            conn.request("DELETE", USER_ORGS + "/" + self.fx["org_id"],
                         headers={"Authorization": "Bearer tok-alice"})
            resp = conn.getresponse()
            resp.read()
            self.assertEqual(resp.status, 204)
            conn.request("GET", USER_ORGS, headers={"Authorization": "Bearer tok-alice"})
            resp = conn.getresponse()
            resp.read()
            self.assertEqual(resp.status, 200)
        finally:
            conn.close()
        after = self.fake.stats()
        self.assertEqual(after["tls_connections"] - before["tls_connections"], 1)
        self.assertEqual(after["api_requests"] - before["api_requests"], 5)


class TestAuth(FakeTestCase):
    def test_missing_malformed_unknown_tokens_are_401(self):
        self.assertApiError(401, "GET", USER_ORGS)
        for value in ("Bearer", "Bearer ", "bearer tok-alice", "Basic dG9rLWFsaWNl",
                      "Bearer  tok-alice", "Bearer tok-alice extra", "tok-alice"):
            self.assertApiError(401, "GET", USER_ORGS, headers={"Authorization": value})
        self.assertApiError(401, "GET", USER_ORGS, token="tok-nobody")
        self.assertApiError(401, "GET", INVITES, token="tok-nobody")

    def test_token_expires_by_the_fake_clock(self):
        now = self.fake.now()
        self.fake.seed({"tokens": [{"token": "tok-short", "user": "u-alice",
                                    "organization": None, "expires": now + 3600}]})
        self.assertEqual(self.call("GET", USER_ORGS, "tok-short")[0], 200)
        self.fake.clock_advance(3601)
        self.assertApiError(401, "GET", USER_ORGS, token="tok-short")
        self.assertEqual(self.call("GET", USER_ORGS, "tok-alice")[0], 200)

    def test_non_admin_is_403_on_admin_calls(self):
        self.assertApiError(403, "GET", INVITES, token="tok-bob")
        self.assertApiError(403, "POST", INVITES, token="tok-bob", body={"spec": {"email": "x@example.com"}})
        self.assertApiError(403, "DELETE", INVITES + "/" + self.fx["invite_id"], token="tok-bob")
        self.assertApiError(403, "GET", INVITES, token="tok-carol")
        self.assertEqual(self.invite_state(self.fx["invite_id"])["state"], "pending")


class TestProfile(FakeTestCase):
    def test_profile_names_the_token_user_and_organization(self):
        status, _, obj = self.call("GET", "/api/v1/user/profile", self.fx["alice_token"])
        self.assertEqual(status, 200, obj)
        self.assertEqual(obj["metadata"]["id"], self.fx["alice_id"])
        spec = obj["spec"]
        self.assertEqual(spec["loginEmail"], "alice@example.com")
        self.assertEqual(spec["contactEmail"], "alice@example.com")
        self.assertEqual(spec["name"], "Alice")
        self.assertIs(spec["isActive"], True)
        self.assertEqual(spec["activeOrganizationId"], self.fx["org2_id"])
        self.assertIn("avatar", spec)
        self.assertIsInstance(spec["features"], list)

    def test_profile_unknown_or_missing_token_is_401(self):
        self.assertApiError(401, "GET", "/api/v1/user/profile", "tok-nobody")
        self.assertApiError(401, "GET", "/api/v1/user/profile")
        self.assertApiError(405, "DELETE", "/api/v1/user/profile", self.fx["alice_token"])


class TestRouting(FakeTestCase):
    def test_unknown_path_404_wrong_method_405(self):
        self.assertApiError(404, "GET", "/api/v1/nothing", token="tok-alice")
        self.assertApiError(404, "GET", "/api/v2/user/organizations", token="tok-alice")
        obj_status, headers, _ = self.call("PUT", USER_ORGS, "tok-alice")
        self.assertEqual(obj_status, 405)
        self.assertIn("GET", headers["allow"])
        self.assertApiError(405, "GET", USER_ORGS + "/x", token="tok-alice")
        self.assertApiError(405, "PATCH", INVITES, token="tok-admin")
        self.assertApiError(405, "GET", INVITES + "/x", token="tok-admin")


class TestUserSide(FakeTestCase):
    LEGACY = True

    def test_list_shows_member_and_pending_invite(self):
        status, _, obj = self.call("GET", USER_ORGS, "tok-alice")
        self.assertEqual(status, 200)
        names = [r["spec"]["name"] for r in obj["value"]]
        self.assertEqual(names, ["Acme Media", "Beta Broadcast"])
        acme, beta = obj["value"]
        self.assertEqual(acme["metadata"]["id"], self.fx["org_id"])
        self.assertRegex(acme["metadata"]["created"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        inv = acme["spec"]["invite"]
        self.assertEqual(inv["state"], "pending")
        self.assertEqual(inv["invitedBy"], {"email": "admin@example.com", "name": "Ada Admin"})
        self.assertEqual(inv["comment"], "Video encoding specialist for the Delphi project")
        self.assertRegex(inv["expires"], r"Z$")
        self.assertNotIn("invite", beta["spec"])
        self.assertEqual(obj["supplemental"]["pagination"],
                         {"start": 0, "end": 2, "records": 2, "total": 2})

    def test_accept_joins_everyone_and_teams(self):
        status, _, obj = self.call("PATCH", USER_ORGS + "/" + self.fx["org_id"], "tok-alice", ACCEPT)
        self.assertEqual(status, 200)
        self.assertEqual(obj["metadata"]["id"], self.fx["org_id"])
        self.assertEqual(obj["spec"], {"name": "Acme Media"})
        org = self.org_state(self.fx["org_id"])
        self.assertIn("u-alice", org["members"])
        self.assertIn("u-alice", org["teams"]["Everyone"])
        self.assertEqual(org["teams"]["encoding-team"], ["u-alice"])
        self.assertEqual(self.invite_state(self.fx["invite_id"])["state"], "accepted")
        # Now a member with no pending invite.
        self.assertApiError(409, "PATCH", USER_ORGS + "/" + self.fx["org_id"], "tok-alice", ACCEPT)
        status, _, obj = self.call("GET", USER_ORGS, "tok-alice")
        self.assertNotIn("invite", obj["value"][0]["spec"])

    def test_bad_patch_bodies_are_400_and_change_nothing(self):
        path = USER_ORGS + "/" + self.fx["org_id"]
        bad = [
            {"spec": {"invite": {"state": "declined"}}},
            {"spec": {"invite": {"state": "accepted", "comment": "x"}}},
            {"spec": {"invite": {"state": "accepted"}, "name": "Evil"}},
            {"spec": {"invite": {"state": "accepted"}}, "metadata": {}},
            {"spec": {}}, {}, [], "accepted",
        ]
        for body in bad:
            self.assertApiError(400, "PATCH", path, "tok-alice", body)
        self.assertApiError(400, "PATCH", path, "tok-alice", raw_body=b'{"spec": ',
                            headers={"Content-Type": "application/json"})
        self.assertApiError(400, "PATCH", path, "tok-alice",
                            raw_body=json.dumps(ACCEPT).encode(), headers={"Content-Type": "text/plain"})
        self.assertApiError(400, "PATCH", path, "tok-alice", raw_body=json.dumps(ACCEPT).encode())
        self.assertEqual(self.invite_state(self.fx["invite_id"])["state"], "pending")
        self.assertNotIn("u-alice", self.org_state(self.fx["org_id"])["members"])
        # charset parameter is fine
        status, _, _ = self.call("PATCH", path, "tok-alice", raw_body=json.dumps(ACCEPT).encode(),
                                 headers={"Content-Type": "application/json; charset=utf-8"})
        self.assertEqual(status, 200)

    def test_patch_unknown_or_uninvited_is_404(self):
        self.assertApiError(404, "PATCH", USER_ORGS + "/no-such-org", "tok-alice", ACCEPT)
        self.assertApiError(404, "PATCH", USER_ORGS + "/" + self.fx["org_id"], "tok-carol", ACCEPT)

    def test_decline_then_accept_is_409(self):
        path = USER_ORGS + "/" + self.fx["org_id"]
        status, headers, _ = self.call("DELETE", path, "tok-alice")
        self.assertEqual(status, 204)
        self.assertNotIn("content-length", headers)
        self.assertEqual(self.invite_state(self.fx["invite_id"])["state"], "declined")
        self.assertApiError(409, "PATCH", path, "tok-alice", ACCEPT)
        self.assertApiError(404, "DELETE", path, "tok-alice")
        _, _, obj = self.call("GET", USER_ORGS, "tok-alice")
        self.assertEqual([r["spec"]["name"] for r in obj["value"]], ["Beta Broadcast"])

    def test_leave_removes_from_organization_and_teams(self):
        self.call("PATCH", USER_ORGS + "/" + self.fx["org_id"], "tok-alice", ACCEPT)
        status, _, _ = self.call("DELETE", USER_ORGS + "/" + self.fx["org_id"], "tok-alice")
        self.assertEqual(status, 204)
        org = self.org_state(self.fx["org_id"])
        self.assertNotIn("u-alice", org["members"])
        for members in org["teams"].values():
            self.assertNotIn("u-alice", members)
        self.assertApiError(409, "PATCH", USER_ORGS + "/" + self.fx["org_id"], "tok-alice", ACCEPT)
        self.assertApiError(404, "DELETE", USER_ORGS + "/" + self.fx["org_id"], "tok-alice")
        self.assertApiError(404, "DELETE", USER_ORGS + "/no-such-org", "tok-alice")

    def test_invite_expires_by_the_clock(self):
        self.fake.clock_advance(14 * DAY + 1)
        _, _, obj = self.call("GET", USER_ORGS, "tok-alice")
        self.assertEqual(obj["value"][0]["spec"]["invite"]["state"], "expired")
        self.assertEqual(self.invite_state(self.fx["invite_id"])["state"], "expired")
        self.assertApiError(409, "PATCH", USER_ORGS + "/" + self.fx["org_id"], "tok-alice", ACCEPT)
        _, _, obj = self.call("GET", INVITES, "tok-admin")
        self.assertEqual(obj["value"], [])
        self.assertApiError(404, "DELETE", INVITES + "/" + self.fx["invite_id"], "tok-admin")
        # the clock can be set back
        self.fake.clock_set(time.time())
        self.assertEqual(self.invite_state(self.fx["invite_id"])["state"], "pending")

    def test_clock_set_and_now(self):
        self.fake.clock_set(2000000000)
        self.assertAlmostEqual(self.fake.now(), 2000000000, delta=2)
        self.assertAlmostEqual(self.fake.clock_advance(60), 2000000060, delta=2)


class TestAdminSide(FakeTestCase):
    LEGACY = True

    def test_create_list_cancel(self):
        status, _, obj = self.call("POST", INVITES, "tok-admin",
                                   {"spec": {"email": "jane.smith@example.com", "comment": "Delphi",
                                             "teams": ["encoding-team"]}})
        self.assertEqual(status, 201, obj)
        self.assertEqual(obj["status"], {"state": "pending"})
        self.assertEqual(obj["spec"], {"email": "jane.smith@example.com", "comment": "Delphi",
                                       "teams": ["encoding-team"]})
        new_id = obj["metadata"]["id"]
        st = self.invite_state(new_id)
        self.assertEqual(st["expires"] - st["created"], 14 * DAY)
        self.assertEqual(st["invited_by"], "u-admin")
        _, _, obj = self.call("GET", INVITES, "tok-admin")
        self.assertEqual([r["metadata"]["id"] for r in obj["value"]], [self.fx["invite_id"], new_id])
        status, _, _ = self.call("DELETE", INVITES + "/" + new_id, "tok-admin")
        self.assertEqual(status, 204)
        self.assertEqual(self.invite_state(new_id)["state"], "cancelled")
        self.assertApiError(404, "DELETE", INVITES + "/" + new_id, "tok-admin")
        # the cancelled invite can no longer be accepted
        self.fake.seed({"users": [{"id": "u-jane", "email": "jane.smith@example.com"}],
                        "tokens": [{"token": "tok-jane", "user": "u-jane"}]})
        self.assertApiError(409, "PATCH", USER_ORGS + "/" + self.fx["org_id"], "tok-jane", ACCEPT)

    def test_create_conflicts_and_bad_input(self):
        self.assertApiError(409, "POST", INVITES, "tok-admin", {"spec": {"email": "alice@example.com"}})
        self.assertApiError(409, "POST", INVITES, "tok-admin", {"spec": {"email": "BOB@example.com"}})
        for body in ({"spec": {}}, {"spec": {"email": "not-an-email"}}, {"spec": {"email": 7}},
                     {"email": "x@example.com"}, {"spec": {"email": "x@example.com", "teams": ["nope"]}},
                     {"spec": {"email": "x@example.com", "teams": "encoding-team"}},
                     {"spec": {"email": "x@example.com", "comment": 5}}, [], None):
            self.assertApiError(400, "POST", INVITES, "tok-admin", body,
                                **({"raw_body": b"null", "headers": {"Content-Type": "application/json"}}
                                   if body is None else {}))
        self.assertApiError(400, "POST", INVITES, "tok-admin",
                            raw_body=b'{"spec": {"email": "x@example.com"}}',
                            headers={"Content-Type": "text/plain"})
        self.assertEqual(len(self.fake.state()["invites"]), 1)

    def test_other_organization_invite_is_404(self):
        self.assertApiError(404, "DELETE", INVITES + "/" + self.fx["invite_id"], "tok-admin2")
        self.assertApiError(404, "DELETE", INVITES + "/no-such-invite", "tok-admin")
        self.assertEqual(self.invite_state(self.fx["invite_id"])["state"], "pending")


class TestPagination(FakeTestCase):
    LEGACY = True

    def setUp(self):
        super().setUp()
        orgs = [{"id": "org-%02d" % i, "name": "Org %02d" % i, "members": ["u-carol"]}
                for i in range(7)]
        self.fake.seed({"organizations": orgs})

    def test_pages_with_top_and_skiptoken(self):
        seen, skip = [], 0
        while True:
            status, _, obj = self.call("GET", USER_ORGS + "?%%24top=3&%%24skiptoken=%d" % skip, "tok-carol")
            self.assertEqual(status, 200)
            p = obj["supplemental"]["pagination"]
            self.assertEqual(p["start"], skip)
            self.assertEqual(p["end"], p["start"] + p["records"])
            self.assertEqual(p["total"], 7)
            seen += [r["metadata"]["id"] for r in obj["value"]]
            if p["records"] < 3:
                break
            skip = p["end"]
        self.assertEqual(seen, ["org-%02d" % i for i in range(7)])

    def test_bad_top_and_skiptoken_are_400(self):
        for q in ("$top=0", "$top=1001", "$top=abc", "$top=-1", "$top=", "$skiptoken=-1",
                  "$skiptoken=x", "$skiptoken=1.5", "$top=2&$top=3"):
            self.assertApiError(400, "GET", USER_ORGS + "?" + q, "tok-carol")
        _, _, obj = self.call("GET", USER_ORGS + "?$top=1000&$skiptoken=100", "tok-carol")
        self.assertEqual(obj["value"], [])
        self.assertEqual(obj["supplemental"]["pagination"]["records"], 0)


class TestFaults(FakeTestCase):
    LEGACY = True

    def tearDown(self):
        self.fake.clear_faults()

    def raw_exchange(self, method, path, token="tok-alice", body=None, timeout=5):
        """Sends one request and reads the raw answer until the server closes or times out."""
        port = int(self.fake.api_url.rsplit(":", 1)[1])
        data = b"" if body is None else json.dumps(body).encode()
        head = ("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                "Content-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                % (method, path, token, len(data))).encode()
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
            with self.fake.ssl_context().wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                tls.sendall(head + data)
                chunks = []
                while True:
                    try:
                        c = tls.recv(65536)
                    except ssl.SSLError:
                        break
                    if not c:
                        break
                    chunks.append(c)
        raw_answer = b"".join(chunks)
        header, _, payload = raw_answer.partition(b"\r\n\r\n")
        return header.decode(), payload

    def test_fault_validation(self):
        with self.assertRaises(FakeMkioError):
            self.fake.fault("nope", "delay", ms=1)
        with self.assertRaises(FakeMkioError):
            self.fake.fault("invites_list", "nope")
        with self.assertRaises(FakeMkioError):
            self.fake.fault("invites_list", "status")
        with self.assertRaises(FakeMkioError):
            self.fake.fault("invites_list", "variant", style="nope")
        with self.assertRaises(FakeMkioError):
            self.fake.fault("invites_list", "delay", count=0, ms=1)

    def test_delay(self):
        self.fake.fault("user_orgs_list", "delay", count=1, ms=400)
        t0 = time.monotonic()
        self.assertEqual(self.call("GET", USER_ORGS, "tok-alice")[0], 200)
        timing.at_least(self, "delayed answer", time.monotonic() - t0, 0.4)
        t0 = time.monotonic()
        self.assertEqual(self.call("GET", USER_ORGS, "tok-alice")[0], 200)
        timing.at_most(self, "answer after the one delay", time.monotonic() - t0, 0.4)

    def test_status_with_retry_after_consumed_in_order(self):
        self.fake.fault("invites_list", "status", count=2, status=503, retry_after="2")
        self.fake.fault("invites_list", "status", count=1, status=429, code="tooMany", detail="slow down")
        for _ in range(2):
            status, headers, obj = self.call("GET", INVITES, "tok-admin")
            self.assertEqual(status, 503)
            self.assertEqual(headers["retry-after"], "2")
            self.assertEqual(obj["status"], 503)
        status, headers, obj = self.call("GET", INVITES, "tok-admin")
        self.assertEqual((status, obj["error"]["code"], obj["error"]["detail"]),
                         (429, "tooMany", "slow down"))
        self.assertNotIn("retry-after", headers)
        self.assertEqual(self.call("GET", INVITES, "tok-admin")[0], 200)

    def test_barrier_holds_until_n_wait_together(self):
        self.fake.fault("user_orgs_list", "barrier", count=3, n=3, timeout_ms=10000)
        results = []
        threads = [threading.Thread(target=lambda: results.append(
            self.call("GET", USER_ORGS, "tok-alice")[0])) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(results, [200, 200, 200])
        self.assertEqual(self.call("GET", USER_ORGS, "tok-alice")[0], 200)  # used up

    def test_barrier_broken_answers_409_without_effect(self):
        with self.assertRaises(FakeMkioError):
            self.fake.fault("user_org_patch", "barrier", n=0)
        self.fake.fault("user_org_patch", "barrier", count=2, n=2, timeout_ms=200)
        obj = self.assertApiError(409, "PATCH", USER_ORGS + "/" + self.fx["org_id"], "tok-alice",
                                  ACCEPT)
        self.assertIn("barrier: fewer than 2 requests", obj["error"]["detail"])
        self.assertEqual(self.invite_state(self.fx["invite_id"])["state"], "pending")

    def test_status_fault_has_no_effect(self):
        self.fake.fault("user_org_patch", "status", count=1, status=500)
        self.assertApiError(500, "PATCH", USER_ORGS + "/" + self.fx["org_id"], "tok-alice", ACCEPT)
        self.assertEqual(self.invite_state(self.fx["invite_id"])["state"], "pending")

    def test_star_fault_first_and_forever(self):
        self.fake.fault("user_orgs_list", "status", count=1, status=500)
        self.fake.fault("*", "status", status=502)
        for path, token in ((USER_ORGS, "tok-alice"), (INVITES, "tok-admin"), ("/nope", None)):
            self.assertEqual(self.call("GET", path, token)[0], 502)
        self.fake.clear_faults()
        self.assertEqual(self.call("GET", USER_ORGS, "tok-alice")[0], 200)

    def test_star_delay_then_endpoint_fault(self):
        self.fake.fault("*", "delay", count=1, ms=200)
        self.fake.fault("user_orgs_list", "status", count=1, status=503)
        t0 = time.monotonic()
        self.assertEqual(self.call("GET", USER_ORGS, "tok-alice")[0], 503)
        timing.at_least(self, "star delay", time.monotonic() - t0, 0.2)

    def test_close_mid_body(self):
        self.fake.fault("user_orgs_list", "close_mid_body", count=1)
        with self.assertRaises(http.client.IncompleteRead):
            self.call("GET", USER_ORGS, "tok-alice")
        self.fake.fault("user_orgs_list", "close_mid_body", count=1)
        header, payload = self.raw_exchange("GET", USER_ORGS)
        length = int([ln for ln in header.split("\r\n") if ln.lower().startswith("content-length")][0]
                     .split(":")[1])
        self.assertLess(len(payload), length)
        self.assertGreater(len(payload), 0)

    def test_malformed_json(self):
        self.fake.fault("user_orgs_list", "malformed_json", count=1)
        status, headers, data = self.fake.api("GET", USER_ORGS, "tok-alice")
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "application/json")
        self.assertTrue(data.startswith(b'{"value": ['))
        with self.assertRaises(ValueError):
            json.loads(data)

    def test_truncated_json(self):
        self.fake.fault("user_orgs_list", "truncated_json", count=1)
        status, headers, data = self.fake.api("GET", USER_ORGS, "tok-alice")
        self.assertEqual(status, 200)
        self.assertEqual(int(headers["content-length"]), len(data))
        with self.assertRaises(ValueError):
            json.loads(data)

    def test_oversized(self):
        self.fake.fault("user_orgs_list", "oversized", count=1, bytes=3 << 20)
        status, _, data = self.fake.api("GET", USER_ORGS, "tok-alice")
        self.assertEqual(len(data), 3 << 20)
        self.assertEqual(len(json.loads(data)["value"]), 2)

    def test_wrong_content_type(self):
        self.fake.fault("user_orgs_list", "wrong_content_type", count=1)
        status, headers, data = self.fake.api("GET", USER_ORGS, "tok-alice")
        self.assertEqual(headers["content-type"], "text/html")
        self.assertEqual(len(json.loads(data)["value"]), 2)

    def test_hang_until_client_timeout(self):
        self.fake.fault("user_orgs_list", "hang", count=1)
        t0 = time.monotonic()
        with self.assertRaises((socket.timeout, TimeoutError)):
            self.fake.api("GET", USER_ORGS, "tok-alice", timeout=0.5)
        timing.at_most(self, "client timeout 0.5 s on a hang", time.monotonic() - t0, 3)
        self.assertEqual(self.call("GET", USER_ORGS, "tok-alice")[0], 200)

    def test_stuck_pagination(self):
        self.fake.fault("invites_list", "stuck_pagination")
        for skip in (0, 0):
            _, _, obj = self.call("GET", INVITES + "?$top=5&$skiptoken=%d" % skip, "tok-admin")
            p = obj["supplemental"]["pagination"]
            self.assertEqual((p["start"], p["end"], p["records"]), (skip, skip, 5))
            self.assertGreater(p["total"], p["end"] + 5)
            self.assertEqual(len(obj["value"]), 5)
            self.assertEqual(obj["value"][0]["metadata"]["id"], self.fx["invite_id"])

    def test_endless_pages(self):
        self.fake.fault("user_orgs_list", "endless_pages")
        ids, skip = set(), 0
        for _ in range(5):
            _, _, obj = self.call("GET", USER_ORGS + "?$top=10&$skiptoken=%d" % skip, "tok-alice")
            p = obj["supplemental"]["pagination"]
            self.assertEqual((p["start"], p["end"], p["records"]), (skip, skip + 10, 10))
            self.assertGreater(p["total"], 10 ** 6)
            ids |= {r["metadata"]["id"] for r in obj["value"]}
            skip = p["end"]
        self.assertEqual(len(ids), 50)

    def variant(self, style):
        self.fake.fault("user_orgs_list", "variant", count=1, style=style)
        status, _, obj = self.call("GET", USER_ORGS, "tok-alice")
        self.assertEqual(status, 200)
        return obj["value"]

    def test_variants(self):
        acme, beta = self.variant("top_level")
        self.assertEqual(set(acme), {"id", "name", "invite"})
        self.assertEqual(set(beta), {"id", "name"})
        self.assertEqual(acme["invite"]["state"], "pending")
        acme, beta = self.variant("display_name")
        self.assertEqual(acme["metadata"]["displayName"], "Acme Media")
        self.assertNotIn("name", acme["spec"])
        acme, _ = self.variant("sent_by_string")
        self.assertEqual(acme["spec"]["invite"]["sentBy"], "admin@example.com")
        self.assertNotIn("invitedBy", acme["spec"]["invite"])
        acme, _ = self.variant("inviter_object")
        self.assertEqual(acme["spec"]["invite"]["inviter"], {"email": "admin@example.com", "name": "Ada Admin"})
        acme, _ = self.variant("no_expires")
        self.assertNotIn("expires", acme["spec"]["invite"])
        acme, beta = self.variant("null_invite")
        self.assertIsNone(beta["spec"]["invite"])
        self.assertEqual(acme["spec"]["invite"]["state"], "pending")
        # the variant also shapes the PATCH answer
        self.fake.fault("user_org_patch", "variant", count=1, style="top_level")
        _, _, obj = self.call("PATCH", USER_ORGS + "/" + self.fx["org_id"], "tok-alice", ACCEPT)
        self.assertEqual(obj, {"id": self.fx["org_id"], "name": "Acme Media"})


class TestControl(FakeTestCase):
    LEGACY = True

    def test_request_log(self):
        self.fake.clear_requests()
        self.call("PATCH", USER_ORGS + "/" + self.fx["org_id"] + "?$top=3", "tok-alice", ACCEPT)
        self.fake.fault("invites_list", "status", count=1, status=503)
        self.call("GET", INVITES, "tok-admin")
        log = self.fake.requests()
        self.assertEqual(len(log), 2)
        self.assertEqual(log[0]["method"], "PATCH")
        self.assertEqual(log[0]["path"], USER_ORGS + "/" + self.fx["org_id"])
        self.assertEqual(log[0]["query"], {"$top": "3"})
        self.assertEqual(log[0]["headers"]["authorization"], "Bearer tok-alice")
        self.assertEqual(log[0]["headers"]["content-type"], "application/json")
        self.assertEqual(json.loads(log[0]["body"]), ACCEPT)
        self.assertEqual((log[1]["method"], log[1]["path"], log[1]["body"]), ("GET", INVITES, ""))
        self.fake.clear_requests()
        self.assertEqual(self.fake.requests(), [])

    def test_reset(self):
        self.fake.clock_advance(100 * DAY)
        self.fake.fault("*", "status", status=500)
        self.call("GET", USER_ORGS, "tok-alice")
        self.fake.reset()
        st = self.fake.state()
        self.assertEqual((st["organizations"], st["invites"]), ([], []))
        self.assertEqual(self.fake.requests(), [])
        self.assertAlmostEqual(self.fake.now(), time.time(), delta=5)
        self.assertEqual(self.fake.stats(), {"tls_connections": 0, "api_requests": 0})
        self.assertApiError(401, "GET", USER_ORGS, "tok-alice")

    def test_bad_seed_changes_nothing(self):
        before = self.fake.state()
        for seed in ({"organizations": [{"id": "x"}]},
                     {"invites": [{"organization": "nope", "email": "a@example.com"}]},
                     {"invites": [{"organization": self.fx["org_id"], "email": "a@example.com",
                                   "teams": ["nope"]}]},
                     {"users": [{"id": "u-new", "email": "new@example.com"}],
                      "tokens": [{"token": "bad token", "user": "u-new"}]},
                     {"bogus": []}):
            with self.assertRaises(FakeMkioError):
                self.fake.seed(seed)
        after = self.fake.state()
        del before["now"], after["now"]
        self.assertEqual(before, after)

    def test_seed_invites_returns_ids_and_states(self):
        now = self.fake.now()
        ids = self.fake.seed({"invites": [
            {"organization": self.fx["org2_id"], "email": "carol@example.com", "state": "expired"},
            {"id": "inv-x", "organization": self.fx["org2_id"], "email": "dan@example.com",
             "created": now - 15 * DAY},
        ]})["invites"]
        self.assertEqual(len(ids), 2)
        self.assertEqual(ids[1], "inv-x")
        self.assertEqual(self.invite_state(ids[0])["state"], "expired")
        self.assertEqual(self.invite_state("inv-x")["state"], "expired")
        _, _, obj = self.call("GET", USER_ORGS, "tok-carol")
        self.assertEqual(obj["value"][0]["spec"]["invite"]["state"], "expired")
        self.assertEqual(obj["value"][0]["spec"]["invite"]["invitedBy"]["email"], "admin2@example.com")

    def test_raw_bytes_are_spliced_into_every_answer(self):
        org = self.fx["org_id"]
        self.fake.seed({"raw_bytes": {"@9B@": "9b", "@BAD@": "c080"},
                        "organizations": [{"id": org, "name": "Acme @9B@ Media@BAD@"}]})
        self.fake.seed({"raw_bytes": {"@FF@": "ff"}})  # markers add up over seeds
        status, headers, data = self.fake.api("GET", USER_ORGS, token="tok-bob")
        self.assertEqual(status, 200)
        self.assertIn(b'"Acme \x9b Media\xc0\x80"', data)
        self.assertNotIn(b"@9B@", data)
        self.assertEqual(int(headers["content-length"]), len(data))
        # Error answers too, with a status fault's own detail and ref.
        self.fake.fault("invites_list", "status", count=1, status=400, detail="bad @9B@",
                        ref="ref-@FF@")
        status, _, data = self.fake.api("GET", INVITES, token="tok-admin")
        self.assertEqual(status, 400)
        self.assertIn(b'"detail": "bad \x9b"', data)
        self.assertIn(b'"ref": "ref-\xff"', data)
        # The control side shows the markers.
        names = [o["name"] for o in self.fake.state()["organizations"]]
        self.assertIn("Acme @9B@ Media@BAD@", names)
        # reset forgets them.
        self.fake.reset()
        self.fake.seed({"organizations": [{"id": "o-1", "name": "x@9B@", "admins": ["u-1"]}],
                        "tokens": [{"token": "t-1", "user": "u-1", "organization": "o-1"}]})
        _, _, data = self.fake.api("GET", USER_ORGS, token="t-1")
        self.assertIn(b'"x@9B@"', data)

    def test_bad_raw_bytes_seed_changes_nothing(self):
        before = self.fake.state()
        for raw in ({"ab": "9b"}, {"a b c": "9b"}, {'a"bc': "9b"}, {"a\\bc": "9b"},
                    {"@X@": ""}, {"@X@": "zz"}, {"@X@": 155}, {"@X@": "00" * 257}, ["@X@"]):
            with self.subTest(raw=raw), self.assertRaises(FakeMkioError):
                self.fake.seed({"raw_bytes": raw, "organizations": [{"name": "new @X@"}]})
        after = self.fake.state()
        del before["now"], after["now"]
        self.assertEqual(before, after)
        with self.assertRaises(FakeMkioError):
            self.fake.fault("invites_list", "status", status=500, ref=5)


class TestShutdown(unittest.TestCase):
    def test_sigterm_exits_fast_with_a_hung_client(self):
        fake = FakeMkio()
        try:
            fake.seed(make_fixture()["seed"])
            fake.fault("*", "hang")
            errors = []

            def client():
                try:
                    fake.api("GET", USER_ORGS, "tok-alice", timeout=10)
                except Exception as e:  # the server going away is the expected end
                    errors.append(e)

            t = threading.Thread(target=client)
            t.start()
            deadline = time.monotonic() + 5
            while fake.stats()["api_requests"] < 1 and time.monotonic() < deadline:
                time.sleep(0.02)
            state_dir = fake.dir
            t0 = time.monotonic()
            fake.stop()
            # stop() does not wait for the hanging request: 20 s only a
            # hang reaches.
            timing.at_most(self, "stop() with a request hanging", time.monotonic() - t0, 2, hang=20)
            self.assertFalse(os.path.exists(state_dir))
            t.join(5)
            self.assertFalse(t.is_alive())
            self.assertEqual(len(errors), 1)
        finally:
            fake.stop()


class TestSecondEditionSwitches(FakeTestCase):
    """POST /control/configure: the published shapes and the variants a client must handle."""

    def test_defaults_are_published_and_reset_restores_them(self):
        cfg = self.fake.config()
        self.assertEqual(cfg, {"shape": "published", "paging": None, "page_size": 100,
                               "error_string": False, "accept_expired_status": 409,
                               "empty_200": False})
        self.fake.configure("legacy", "nextlink", "error_string", "accept_expired_400",
                            "empty_200", page_size=7)
        self.fake.reset()
        self.assertEqual(self.fake.config(), cfg)

    def test_bad_configuration_is_refused_and_changes_nothing(self):
        for bad in ({"variants": ["nope"]}, {"shape": "odd"}, {"paging": "pages"},
                    {"page_size": 0}, {"accept_expired_status": 410}, {"empty_200": "yes"},
                    {"bogus": 1}, {"variants": "published"}):
            with self.subTest(bad=bad):
                with self.assertRaises(FakeMkioError):
                    self.fake._call("POST", "/control/configure", bad)
        self.assertEqual(self.fake.config()["shape"], "published")

    def test_published_user_organizations(self):
        self.fake.configure("published")
        st, _, obj = self.call("GET", USER_ORGS, "tok-alice")
        self.assertEqual(st, 200)
        self.assertEqual(set(obj), {"kind", "value"})
        recs = {r["metadata"]["name"]: r for r in obj["value"]}
        self.assertEqual(recs["Acme Media"], {
            "kind": "UserOrganization",
            "metadata": {"id": self.fx["org_id"], "name": "Acme Media"},
            "spec": {"invite": {"state": "pending", "invitedBy": "admin@example.com",
                                "comment": "Video encoding specialist for the Delphi project"}}})
        self.assertEqual(recs["Beta Broadcast"]["spec"], {})
        # Accepting answers the record, now accepted; the list shows it accepted too.
        st, _, rec = self.call("PATCH", USER_ORGS + "/" + self.fx["org_id"], "tok-alice", ACCEPT)
        self.assertEqual(st, 200)
        self.assertEqual(rec["spec"]["invite"]["state"], "accepted")
        self.assertEqual(rec["metadata"]["name"], "Acme Media")
        _, _, obj = self.call("GET", USER_ORGS, "tok-alice")
        recs = {r["metadata"]["name"]: r for r in obj["value"]}
        self.assertEqual(recs["Acme Media"]["spec"]["invite"]["state"], "accepted")

    def test_published_invited_by_null_and_expired_still_pending(self):
        self.fake.configure("published")
        self.fake.seed({"organizations": [{"id": "o-noadmin", "name": "No Admin"}],
                        "invites": [{"organization": "o-noadmin", "email": "alice@example.com",
                                     "created": 0, "expires": 1}]})
        _, _, obj = self.call("GET", USER_ORGS, "tok-alice")
        [rec] = [r for r in obj["value"] if r["metadata"]["id"] == "o-noadmin"]
        self.assertEqual(rec["spec"]["invite"], {"state": "pending", "invitedBy": None,
                                                 "comment": ""})
        self.assertNotIn("expires", json.dumps(obj))

    def test_published_admin_invites(self):
        self.fake.configure("published")
        st, _, obj = self.call("GET", INVITES, "tok-admin")
        self.assertEqual(st, 200)
        self.assertEqual(set(obj), {"kind", "value"})
        [inv] = obj["value"]
        self.assertEqual(set(inv["metadata"]), {"id", "created"})
        self.assertNotIn("status", inv)
        self.assertEqual(inv["spec"]["invitedByEmail"], "admin@example.com")
        self.assertEqual(inv["spec"]["invitedByName"], "Ada Admin")
        self.assertEqual(inv["spec"]["organizationName"], "Acme Media")
        self.assertEqual(inv["spec"]["teams"], ["encoding-team"])
        st, _, made = self.call("POST", INVITES, "tok-admin",
                                {"spec": {"email": "x@example.com", "comment": ""}})
        self.assertEqual(st, 201)
        self.assertEqual(made["spec"]["organizationName"], "Acme Media")
        self.assertNotIn("expires", made["metadata"])

    def test_published_lists_ignore_top_and_are_unpaged(self):
        self.fake.configure("published")
        self.fake.seed({"invites": [{"organization": self.fx["org_id"],
                                     "email": "u%d@example.com" % i} for i in range(150)]})
        _, _, obj = self.call("GET", INVITES + "?$top=100", "tok-admin")
        self.assertEqual(len(obj["value"]), 151)
        self.assertNotIn("supplemental", obj)

    def test_nextlink_pages_end_with_an_empty_page_that_still_has_a_link(self):
        self.fake.configure("published", "nextlink", page_size=100)
        self.fake.seed({"invites": [{"organization": self.fx["org_id"],
                                     "email": "u%d@example.com" % i} for i in range(249)]})
        path, seen, pages = INVITES, [], 0
        while True:
            st, _, obj = self.call("GET", path, "tok-admin")
            self.assertEqual(st, 200)
            pages += 1
            link = obj["@odata.nextLink"]
            self.assertTrue(link.startswith(INVITES + "?$skiptoken="), link)
            if not obj["value"]:
                break
            seen += [i["spec"]["email"] for i in obj["value"]]
            path = link
        self.assertEqual(pages, 4)
        self.assertEqual(len(seen), 250)
        self.assertEqual(len(set(seen)), 250)
        self.fake.configure(page_size=2)
        _, _, obj = self.call("GET", USER_ORGS, "tok-alice")
        self.assertEqual(len(obj["value"]), 2)
        self.assertEqual(obj["@odata.nextLink"], USER_ORGS + "?$skiptoken=2")

    def test_offset_pages_with_supplemental(self):
        self.fake.configure("published", "offset", page_size=100)
        self.fake.seed({"invites": [{"organization": self.fx["org_id"],
                                     "email": "u%d@example.com" % i} for i in range(249)]})
        seen, skip = [], None
        while True:
            path = INVITES if skip is None else INVITES + "?$skiptoken=%d" % skip
            st, _, obj = self.call("GET", path, "tok-admin")
            self.assertEqual(st, 200)
            self.assertIn("kind", obj)
            self.assertNotIn("@odata.nextLink", obj)
            pag = obj["supplemental"]["pagination"]
            self.assertEqual((pag["start"], pag["records"], pag["total"]),
                             (len(seen), len(obj["value"]), 250))
            seen += [i["spec"]["email"] for i in obj["value"]]
            if pag["end"] >= pag["total"]:
                break
            skip = pag["end"]
        self.assertEqual(len(seen), 250)
        self.assertEqual(len(set(seen)), 250)

    def test_nextlink_with_legacy_shapes(self):
        self.fake.configure("legacy", "nextlink", page_size=1)
        _, _, obj = self.call("GET", USER_ORGS, "tok-alice")
        self.assertEqual(obj["value"][0]["spec"]["name"], "Acme Media")
        self.assertEqual(obj["@odata.nextLink"], USER_ORGS + "?$skiptoken=1")

    def test_error_string(self):
        self.fake.configure("error_string")
        st, _, obj = self.call("GET", USER_ORGS, "tok-nobody")
        self.assertEqual(st, 401)
        self.assertEqual(obj["error"], "unknown token")
        self.assertEqual(obj["status"], 401)
        self.assertEqual(len(obj["ref"]), 36)
        self.fake.fault("user_orgs_list", "status", count=1, status=503, ref="r-1")
        st, _, obj = self.call("GET", USER_ORGS, "tok-alice")
        self.assertEqual((st, obj["error"], obj["ref"]), (503, "injected failure", "r-1"))

    def test_accept_expired_status(self):
        for variant, status in (("accept_expired_400", 400), ("accept_expired_404", 404)):
            with self.subTest(variant=variant):
                self.fake.reset()
                self.fx = make_fixture(self.fake)
                self.fake.configure(variant)
                self.fake.clock_advance(15 * DAY)
                obj = self.assertApiError(status, "PATCH", USER_ORGS + "/" + self.fx["org_id"],
                                          "tok-alice", ACCEPT)
                self.assertEqual(obj["error"]["code"], "inviteExpired")
                self.assertNotIn("u-alice", self.org_state(self.fx["org_id"])["members"])
        # Other refusals keep their codes: a declined invite is still 409.
        self.fake.reset()
        self.fx = make_fixture(self.fake)
        self.fake.configure("accept_expired_400")
        self.call("DELETE", USER_ORGS + "/" + self.fx["org_id"], "tok-alice")
        self.assertApiError(409, "PATCH", USER_ORGS + "/" + self.fx["org_id"], "tok-alice", ACCEPT)

    def test_empty_200(self):
        self.fake.configure("empty_200")
        for method, path, token in (("DELETE", INVITES + "/" + self.fx["invite_id"], "tok-admin"),
                                    ("DELETE", USER_ORGS + "/" + self.fx["org2_id"], "tok-alice")):
            st, headers, data = self.fake.api(method, path, token=token)
            self.assertEqual((st, data), (200, b""))
            self.assertEqual(headers["content-length"], "0")
        self.assertEqual(self.invite_state(self.fx["invite_id"])["state"], "cancelled")
        self.assertNotIn("u-alice", self.org_state(self.fx["org2_id"])["members"])


if __name__ == "__main__":
    unittest.main()
