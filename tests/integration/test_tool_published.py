# SPDX-License-Identifier: LGPL-2.1-or-later
"""mkio-orgs against the fake server speaking the second edition's published
shapes and the variants a client must handle (docs/mkio-api.md, second edition;
issue 9, item 2): what a user sees, the exit code, and what was sent."""
import json
import re
import uuid

from test_tool import UserOrgsEditionTests
from tooltest import ADMIN_TOKEN, ALICE_TOKEN, BOB_TOKEN, ORG, ORG2, ToolTest

COMMENT = "Video encoding specialist for the Delphi project"
DAY = 86400
EVERY_VARIANT = (("published",), ("published", "nextlink"), ("published", "error_string"),
                 ("published", "empty_200"), ("published", "accept_expired_400"),
                 ("published", "accept_expired_404"))


class PublishedShapes(UserOrgsEditionTests, ToolTest):
    """The second edition's published shapes (names from metadata, the
    inviter's email as a string, no expiry): the tests shared with the
    first edition (test_tool.py's UserOrgsEditionTests), then these."""
    EDITION = "published"
    INVITER_TEXT = "  invited by: admin@example.com\n"
    INVITE_HAS_EXPIRY = False

    def test_an_invite_with_no_sender_is_listed(self):
        # An organization with no admin: the fake sends "invitedBy": null.
        org3 = str(uuid.uuid4())
        self.fake.seed({"organizations": [{"id": org3, "name": "Orphan Films"}],
                        "invites": [{"organization": org3, "email": "alice@example.com"}]})
        p = self.run_tool("orgs", "list", "--json", token=ALICE_TOKEN)
        self.assert_exit(p, 0)
        orgs = {o["organization"]["id"]: o for o in json.loads(p.stdout)["organizations"]}
        self.assertEqual(orgs[org3]["organization"]["name"], "Orphan Films")
        self.assertEqual(orgs[org3]["state"], "pending")
        self.assertIsNone(orgs[org3]["invite"]["inviter"])
        p = self.run_tool("orgs", "list", token=ALICE_TOKEN)
        self.assertIn("Orphan Films\n", p.stdout)
        self.assertIn("  invited by: unknown\n", p.stdout)

    def test_an_accepted_record_is_listed_as_joined(self):
        p = self.run_tool("orgs", "accept", ORG, token=ALICE_TOKEN)
        self.assert_exit(p, 0)
        self.assertIn("Acme Media", p.stdout)
        self.assertIn("u-alice", self.org_state(ORG)["members"])
        # The list now carries spec.invite.state "accepted" for Acme Media.
        st, _, body = self.fake.api("GET", "/api/v1/user/organizations", token=ALICE_TOKEN)
        [rec] = json.loads(body)["value"]
        self.assertEqual(rec["spec"]["invite"]["state"], "accepted")
        p = self.run_tool("orgs", "list", "--json", token=ALICE_TOKEN)
        self.assert_exit(p, 0)
        [org] = json.loads(p.stdout)["organizations"]
        self.assertEqual(org["organization"]["name"], "Acme Media")
        self.assertEqual(org["state"], "joined")
        p = self.run_tool("orgs", "list", token=ALICE_TOKEN)
        self.assert_exit(p, 0)
        self.assertIn("joined", p.stdout)
        self.assertNotIn("pending", p.stdout)

    def test_an_invite_three_days_old_is_accepted(self):
        # The record has no expiry: the client tries and the server decides.
        self.fake.clock_advance(3 * DAY)
        p = self.run_tool("orgs", "accept", ORG, token=ALICE_TOKEN)
        self.assert_exit(p, 0)
        self.assertIn("u-alice", self.org_state(ORG)["members"])

    def test_sync_accept(self):
        self.write_token("nobody", ALICE_TOKEN)
        self.fake.clock_advance(3 * DAY)
        p = self.run_tool("sync", "--user", "nobody", "--accept", token=None)
        self.assert_exit(p, 0)
        self.assertIn("u-alice", self.org_state(ORG)["members"])
        self.assertEqual(len(self.api_requests("PATCH")), 1)

    def test_invite_list(self):
        p = self.run_tool("invite", "list", token=ADMIN_TOKEN)
        self.assert_exit(p, 0)
        self.assertIn("alice@example.com", p.stdout)
        self.assertIn(COMMENT, p.stdout)
        p = self.run_tool("invite", "list", "--json", token=ADMIN_TOKEN)
        self.assert_exit(p, 0)
        [inv] = json.loads(p.stdout)["invites"]
        self.assertEqual(inv["email"], "alice@example.com")
        self.assertEqual(inv["teams"], ["Everyone", "encoding-team"])  # as the text shows
        self.assertEqual(inv["id"], self.seeded["invites"][0])

    def test_invite_list_labels_a_computed_expiry(self):
        # Published invite records carry no expiry: the one shown is computed
        # from when it was sent, and says so.
        p = self.run_tool("invite", "list", token=ADMIN_TOKEN)
        self.assert_exit(p, 0)
        self.assertRegex(p.stdout, r"expires: \S+ \(computed: sent \+ 14 days; MK\.IO decides\)")

    def test_lists_are_asked_for_whole(self):
        # The published lists are unpaged: no $top, no $skiptoken on the first GET.
        for args, token in ((("orgs", "list"), ALICE_TOKEN), (("invite", "list"), ADMIN_TOKEN)):
            self.assert_exit(self.run_tool(*args, token=token), 0)
        gets = self.api_requests("GET")
        self.assertEqual(len(gets), 2)
        self.assertEqual([g["query"] for g in gets], [{}, {}])

    def test_a_base_url_with_a_wrong_path_is_a_configuration_error(self):
        with open(self.conf) as f:
            text = f.read()
        with open(self.conf, "w") as f:
            f.write(text.replace("base_url = %s\n" % self.fake.api_url,
                                 "base_url = %s/mkio\n" % self.fake.api_url))
        for args, token in ((("orgs", "list"), ALICE_TOKEN), (("invite", "list"), ADMIN_TOKEN),
                            (("whoami",), ALICE_TOKEN)):
            with self.subTest(args=args):
                p = self.run_tool(*args, token=token)
                self.assert_exit(p, 2)
                self.assertIn("base_url = %s/mkio in %s is probably wrong" %
                              (self.fake.api_url, self.conf), p.stderr)
                self.assertIn("HTTP 404", p.stderr)

    def test_invite_create_and_cancel(self):
        p = self.run_tool("invite", "create", "--email", "x@example.com", token=ADMIN_TOKEN)
        self.assert_exit(p, 0)
        [inv] = self.invites("x@example.com")
        self.assertEqual(inv["state"], "pending")
        p = self.run_tool("invite", "cancel", inv["id"], token=ADMIN_TOKEN)
        self.assert_exit(p, 0)
        self.assertEqual(self.invites("x@example.com")[0]["state"], "cancelled")


class NextLinkPaging(ToolTest):
    def setUp(self):
        super().setUp()
        self.fake.configure("published", "nextlink", page_size=100)

    def seed_orgs(self, n):
        orgs = [{"id": str(uuid.uuid5(uuid.NAMESPACE_URL, "org-%d" % i)),
                 "name": "Org %03d" % i, "members": ["u-bob"]} for i in range(n)]
        self.fake.seed({"organizations": orgs})
        return orgs

    def assert_pages(self, path, pages):
        gets = [r for r in self.api_requests("GET") if r["path"] == path]
        self.assertEqual(len(gets), pages, [r["query"] for r in gets])
        skips = [r["query"].get("$skiptoken") for r in gets]
        self.assertEqual(skips, [None] + [str(100 * i) for i in range(1, pages)])

    def test_orgs_list_follows_every_page_and_stops_on_the_empty_page(self):
        orgs = self.seed_orgs(249)  # with Acme Media: 250 organizations for bob
        before = self.fake.stats()["tls_connections"]
        p = self.run_tool("orgs", "list", "--json", token=BOB_TOKEN)
        self.assert_exit(p, 0)
        got = [o["organization"] for o in json.loads(p.stdout)["organizations"]]
        self.assertEqual(len(got), 250)
        self.assertEqual({o["name"] for o in got},
                         {o["name"] for o in orgs} | {"Acme Media"})
        # Pages 0, 100, 200 with records, then the empty page at 300 ends it
        # although it still carries a link.
        self.assert_pages("/api/v1/user/organizations", 4)
        self.assertEqual(self.fake.stats()["tls_connections"] - before, 1)

    def test_orgs_list_text(self):
        self.seed_orgs(249)
        p = self.run_tool("orgs", "list", token=BOB_TOKEN)
        self.assert_exit(p, 0)
        for name in ("Acme Media", "Org 000", "Org 137", "Org 248"):
            self.assertIn(name, p.stdout)

    def test_invite_list_follows_every_page(self):
        self.fake.seed({"invites": [{"organization": ORG, "email": f"user{i}@example.com",
                                     "invited_by": "u-admin"} for i in range(249)]})
        p = self.run_tool("invite", "list", "--json", token=ADMIN_TOKEN)
        self.assert_exit(p, 0)
        emails = [i["email"] for i in json.loads(p.stdout)["invites"]]
        self.assertEqual(len(emails), 250)
        self.assertEqual(len(set(emails)), 250)
        self.assert_pages("/api/v1/organization/invites", 4)


class AuthHeader(ToolTest):
    """auth_header = x-mkio-token: the legacy header, for old tokens (issue 9, item 5)."""

    def test_x_mkio_token_replaces_authorization(self):
        with open(self.conf, "a") as f:
            f.write("auth_header = x-mkio-token\n")
        p = self.run_tool("orgs", "list", token=ALICE_TOKEN)
        self.assert_exit(p, 0)
        self.assertIn("Acme Media", p.stdout)
        [req] = self.api_requests("GET")
        self.assertEqual(req["headers"].get("x-mkio-token"), ALICE_TOKEN)
        self.assertNotIn("authorization", req["headers"])

    def test_by_default_authorization_bearer(self):
        self.assert_exit(self.run_tool("orgs", "list", token=ALICE_TOKEN), 0)
        [req] = self.api_requests("GET")
        self.assertEqual(req["headers"].get("authorization"), "Bearer " + ALICE_TOKEN)
        self.assertNotIn("x-mkio-token", req["headers"])

    def test_a_bad_value_is_a_configuration_error(self):
        with open(self.conf, "a") as f:
            f.write("auth_header = bearer\n")
        p = self.run_tool("orgs", "list", token=ALICE_TOKEN)
        self.assert_exit(p, 2)
        self.assertIn("auth_header", p.stderr)
        self.assertIn(self.conf, p.stderr)
        self.assertEqual(self.api_requests(), [])


class OffsetPaging(ToolTest):
    """supplemental.pagination paging: continued with $skiptoken = end until total."""

    def setUp(self):
        super().setUp()
        self.fake.configure("published", "offset", page_size=100)

    def test_orgs_list_follows_offsets_to_the_total(self):
        self.fake.seed({"organizations": [
            {"id": str(uuid.uuid4()), "name": "Org %03d" % i, "members": ["u-bob"]}
            for i in range(249)]})
        p = self.run_tool("orgs", "list", "--json", token=BOB_TOKEN)
        self.assert_exit(p, 0)
        got = [o["organization"] for o in json.loads(p.stdout)["organizations"]]
        self.assertEqual(len(got), 250)
        self.assertEqual(len({o["id"] for o in got}), 250)
        gets = [r for r in self.api_requests("GET") if r["path"] == "/api/v1/user/organizations"]
        self.assertEqual([r["query"] for r in gets],
                         [{}, {"$skiptoken": "100"}, {"$skiptoken": "200"}])

    def test_sync_accepts_across_offset_pages(self):
        # alice: 149 organizations joined and the invite to Acme Media, on two pages.
        self.fake.seed({"organizations": [
            {"id": str(uuid.uuid4()), "name": "Org %03d" % i, "members": ["u-alice"]}
            for i in range(149)]})
        self.write_token("nobody", ALICE_TOKEN)
        p = self.run_tool("sync", "--user", "nobody", "--accept", token=None)
        self.assertIn("nobody: 150 joined (1 accepted now)", p.stdout)
        self.assertEqual(len([r for r in self.api_requests("GET")
                              if r["path"] == "/api/v1/user/organizations"]), 2)
        self.assertIn("u-alice", self.org_state(ORG)["members"])


class ErrorString(ToolTest):
    def setUp(self):
        super().setUp()
        self.fake.configure("published", "error_string")

    # "error" a plain string (second edition): its text is the detail.
    def test_a_refusal_with_a_string_error_shows_its_detail_and_ref(self):
        self.fake.fault("user_orgs_list", "status", count=1, status=500,
                        detail="the database is on fire", ref="ref-fire-1")
        p = self.run_tool("orgs", "list", token=ALICE_TOKEN)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("the database is on fire", p.stderr)
        self.assertNotIn("no error detail", p.stderr)
        self.assertIn("HTTP 500", p.stderr)
        self.assertIn("ref-fire-1", p.stderr)
        self.assertEqual(len(self.api_requests("GET")), 1)

    def test_a_non_admin_invite_list_names_the_capability(self):
        p = self.run_tool("invite", "list", token=BOB_TOKEN)
        self.assert_exit(p, 1)
        self.assertIn("403", p.stderr)
        self.assertIn("core.invite.get", p.stderr)

    def test_cancel_of_an_unknown_invite(self):
        p = self.run_tool("invite", "cancel", str(uuid.uuid4()), token=ADMIN_TOKEN)
        self.assert_exit(p, 1)
        self.assertIn("HTTP 404", p.stderr)
        self.assertIn("ref", p.stderr)
        self.assertIn("no pending invite with this id", p.stderr)


class AcceptExpired(ToolTest):
    def check(self, variant, status):
        self.fake.configure("published", variant)
        self.fake.clock_advance(15 * DAY)
        p = self.run_tool("orgs", "accept", ORG, token=ALICE_TOKEN)
        self.assert_exit(p, 1)
        self.assertIn(str(status), p.stderr)
        self.assertIn("the invite has expired", p.stderr)
        self.assertIn("ref", p.stderr)
        self.assertIn("new invite", p.stderr)
        # Reported once, never retried.
        self.assertEqual(p.stderr.count("the invite has expired"), 1)
        self.assertEqual(len(self.api_requests("PATCH")), 1)
        self.assertNotIn("u-alice", self.org_state(ORG)["members"])

    def test_400(self):
        self.check("accept_expired_400", 400)

    def test_404(self):
        self.check("accept_expired_404", 404)

    def test_409_by_default(self):
        self.fake.configure("published")
        self.fake.clock_advance(15 * DAY)
        p = self.run_tool("orgs", "accept", ORG, token=ALICE_TOKEN)
        self.assert_exit(p, 1)
        self.assertIn("409", p.stderr)
        self.assertIn("new invite", p.stderr)
        self.assertEqual(len(self.api_requests("PATCH")), 1)

    def test_sync_accept_400_is_tried_once(self):
        self.fake.configure("published", "accept_expired_400")
        self.fake.clock_advance(15 * DAY)
        self.write_token("nobody", ALICE_TOKEN)
        p = self.run_tool("sync", "--user", "nobody", "--accept", token=None)
        self.assertEqual(len(self.api_requests("PATCH")), 1)
        self.assertIn("ask the organization's admin for a new invite", p.stdout)
        self.assertIn("HTTP 400", p.stdout)
        self.assertIn("1 failed", p.stdout)
        ref = re.search(r"ref ([0-9a-f-]{36})", p.stdout).group(1)
        self.assertEqual(p.stdout.count(ref), 1, p.stdout)   # the ref, once
        self.assertNotIn("u-alice", self.org_state(ORG)["members"])


class Empty200(ToolTest):
    def setUp(self):
        super().setUp()
        self.fake.configure("published", "empty_200")

    def test_cancel_answered_200_with_no_body_is_success(self):
        inv = self.seeded["invites"][0]
        p = self.run_tool("invite", "cancel", inv, token=ADMIN_TOKEN)
        self.assert_exit(p, 0)
        self.assertEqual(self.invites("alice@example.com")[0]["state"], "cancelled")
        [req] = self.api_requests("DELETE")
        self.assertEqual(req["path"], "/api/v1/organization/invites/" + inv)

    def test_decline_answered_200_with_no_body_is_success(self):
        p = self.run_tool("orgs", "decline", ORG, token=ALICE_TOKEN)
        self.assert_exit(p, 0)
        self.assertEqual(self.invites("alice@example.com")[0]["state"], "declined")

    def test_leave_answered_200_with_no_body_is_success(self):
        p = self.run_tool("orgs", "leave", ORG, "--yes", token=BOB_TOKEN)
        self.assert_exit(p, 0)
        self.assertNotIn("u-bob", self.org_state(ORG)["members"])


class EveryVariant(ToolTest):
    def test_list_accept_and_cancel_under_every_variant(self):
        for variants in EVERY_VARIANT:
            with self.subTest(variants=variants):
                self.fake.reset()
                self.seeded = self.fake.seed(world_again())
                self.fake.configure(*variants)
                p = self.run_tool("orgs", "list", "--json", token=ALICE_TOKEN)
                self.assert_exit(p, 0)
                [org] = json.loads(p.stdout)["organizations"]
                self.assertEqual((org["organization"]["name"], org["state"]),
                                 ("Acme Media", "pending"))
                p = self.run_tool("orgs", "accept", ORG, token=ALICE_TOKEN)
                self.assert_exit(p, 0)
                p = self.run_tool("invite", "create", "--email", "y@example.com",
                                  token=ADMIN_TOKEN)
                self.assert_exit(p, 0)
                [inv] = self.invites("y@example.com")
                p = self.run_tool("invite", "cancel", inv["id"], token=ADMIN_TOKEN)
                self.assert_exit(p, 0)
                self.assertEqual(self.invites("y@example.com")[0]["state"], "cancelled")


def world_again():
    from tooltest import world
    return world()
