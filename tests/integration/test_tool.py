# SPDX-License-Identifier: LGPL-2.1-or-later
"""mkio-orgs against the fake MK.IO server: what the user sees, the exit
code, and the server's state afterwards, for every command and fault
(sync: test_sync.py)."""
import json
import os
import pty
import re
import select
import subprocess
import time

from tooltest import (ADMIN_TOKEN, ALICE_TOKEN, BOB_TOKEN, NOBODY, ORG, ORG2, TOOL, ToolTest)
import timing  # tests/lib, on the path through tooltest

COMMENT = "Video encoding specialist for the Delphi project"


class Help(ToolTest):
    def test_help_documents_commands_and_exit_codes(self):
        p = self.run_tool("--help", token=None)
        self.assert_exit(p, 0)
        for word in ("invite create", "invite list", "invite cancel", "orgs list", "orgs accept",
                     "orgs decline", "orgs leave", "status", "sync", "MKIO_TOKEN",
                     "MKIO_BASE_URL", "Exit status", "--token-file"):
            self.assertIn(word, p.stdout)
        for code in ("0  success", "1  refused by the API", "2  usage", "3  network"):
            self.assertIn(code, p.stdout)

    def test_every_command_has_help(self):
        for args in (["invite", "--help"], ["invite", "create", "--help"], ["orgs", "--help"],
                     ["orgs", "leave", "--help"], ["status", "--help"], ["sync", "--help"],
                     ["store", "--help"]):
            p = self.run_tool(*args, token=None)
            self.assert_exit(p, 0)
            self.assertIn("Usage: mkio-orgs", p.stdout)

    def test_usage_errors_exit_2_and_send_nothing(self):
        for args in ([], ["frobnicate"], ["invite"], ["invite", "create"],
                     ["invite", "create", "--email", "not-an-address"], ["invite", "cancel"],
                     ["orgs", "accept"], ["orgs", "accept", "a", "b"], ["orgs", "list", "--bogus"],
                     ["--token", "x", "orgs", "list"], ["--token=x", "orgs", "list"]):
            p = self.run_tool(*args)
            self.assert_exit(p, 2)
            self.assertIn("mkio-orgs:", p.stderr)
            self.assertIn("--help", p.stderr)
        self.assertEqual(self.api_requests(), [])


class AdminInvites(ToolTest):
    def test_create_sends_the_documented_request_and_creates_a_pending_invite(self):
        p = self.run_tool("invite", "create", "--email", "jane.smith@example.com",
                          "--comment", COMMENT, "--team", "encoding-team", token=ADMIN_TOKEN)
        self.assert_exit(p, 0)
        self.assertIn("Invited jane.smith@example.com", p.stdout)
        [req] = self.api_requests()
        self.assertEqual(req["method"], "POST")
        self.assertEqual(req["path"], "/api/v1/organization/invites")
        self.assertEqual(req["headers"]["authorization"], "Bearer " + ADMIN_TOKEN)
        self.assertEqual(req["headers"]["content-type"], "application/json")
        self.assertEqual(req["headers"]["accept"], "application/json")
        self.assertEqual(json.loads(req["body"]), {"spec": {
            "email": "jane.smith@example.com", "comment": COMMENT, "teams": ["encoding-team"]}})
        [inv] = self.invites("jane.smith@example.com")
        self.assertEqual(inv["state"], "pending")
        self.assertIn(inv["id"], p.stdout)

    def test_create_without_comment_or_teams_sends_the_email_and_an_empty_comment(self):
        # The published API requires comment in every POST.
        p = self.run_tool("invite", "create", "--email", "x@example.com", "--json", token=ADMIN_TOKEN)
        self.assert_exit(p, 0)
        self.assertEqual(json.loads(self.api_requests()[0]["body"]),
                         {"spec": {"email": "x@example.com", "comment": ""}})
        out = json.loads(p.stdout)["invite"]
        self.assertEqual(out["email"], "x@example.com")
        # Published invite records carry no state: JSON says what the text
        # says, pending (issue 19: it was null).
        self.assertEqual(out["state"], "pending")

    def test_create_by_a_non_admin_is_refused_with_detail_and_ref(self):
        p = self.run_tool("invite", "create", "--email", "x@example.com", token=BOB_TOKEN)
        self.assert_exit(p, 1)
        self.assertIn("403", p.stderr)
        self.assertIn("ref", p.stderr)
        # The second edition: a 403 on an admin call is a missing capability.
        self.assertIn("the token lacks the RBAC capability core.invite.create", p.stderr)
        self.assertEqual(self.invites("x@example.com"), [])
        p = self.run_tool("invite", "list", token=BOB_TOKEN)
        self.assert_exit(p, 1)
        self.assertIn("core.invite.get", p.stderr)

    def test_create_for_an_unknown_team_is_refused(self):
        p = self.run_tool("invite", "create", "--email", "x@example.com", "--team", "nope",
                          token=ADMIN_TOKEN)
        self.assert_exit(p, 1)
        self.assertIn("400", p.stderr)
        self.assertEqual(self.invites("x@example.com"), [])

    def test_list_shows_pending_invites(self):
        p = self.run_tool("invite", "list", token=ADMIN_TOKEN)
        self.assert_exit(p, 0)
        self.assertIn("alice@example.com", p.stdout)
        self.assertIn(COMMENT, p.stdout)
        p = self.run_tool("invite", "list", "--json", token=ADMIN_TOKEN)
        self.assert_exit(p, 0)
        [inv] = json.loads(p.stdout)["invites"]
        self.assertEqual(inv["email"], "alice@example.com")
        # The teams the text shows, Everyone first (issue 19).
        self.assertEqual(inv["teams"], ["Everyone", "encoding-team"])
        self.assertEqual(inv["id"], self.seeded["invites"][0])

    def test_list_follows_every_page_over_one_connection(self):
        self.fake.configure("offset")   # the published lists come whole; this one is paged
        self.fake.seed({"invites": [{"organization": ORG, "email": f"user{i}@example.com",
                                     "invited_by": "u-admin"} for i in range(250)]})
        before = self.fake.stats()["tls_connections"]
        p = self.run_tool("invite", "list", "--json", token=ADMIN_TOKEN)
        self.assert_exit(p, 0)
        self.assertEqual(len(json.loads(p.stdout)["invites"]), 251)
        reqs = self.api_requests("GET")
        self.assertEqual(len(reqs), 3)
        # The first request names no paging parameter: none is documented
        # (docs/mkio-api.md, second edition); the server's pages are followed.
        self.assertEqual(reqs[0]["query"], {})
        self.assertEqual(reqs[1]["query"].get("$skiptoken"), "100")
        self.assertEqual(reqs[2]["query"].get("$skiptoken"), "200")
        self.assertEqual(self.fake.stats()["tls_connections"] - before, 1)

    def test_cancel(self):
        inv = self.seeded["invites"][0]
        p = self.run_tool("invite", "cancel", inv, token=ADMIN_TOKEN)
        self.assert_exit(p, 0)
        self.assertEqual(self.invites("alice@example.com")[0]["state"], "cancelled")
        req = self.api_requests("DELETE")[0]
        self.assertEqual(req["path"], "/api/v1/organization/invites/" + inv)
        p = self.run_tool("invite", "cancel", inv, token=ADMIN_TOKEN)
        self.assert_exit(p, 1)
        self.assertIn("404", p.stderr)

    def test_cancel_of_a_path_instead_of_an_id_sends_nothing(self):
        # Was: the id escaped in the path. An id is a UUID (issue 19,
        # item 7): anything else is refused before a request is sent.
        p = self.run_tool("invite", "cancel", "../../user/organizations", token=ADMIN_TOKEN)
        self.assert_exit(p, 2)
        self.assertIn("is not an invite id", p.stderr)
        self.assertEqual(self.api_requests(), [])
        self.assertEqual(self.invites("alice@example.com")[0]["state"], "pending")


class UserOrgsEditionTests:
    """A user's organizations, under either edition of MK.IO's API that the
    client reads (the fake speaks the one named by EDITION): a mixin, run
    by one subclass per edition (UserOrgs here: "legacy", the first
    edition's shapes, spec.name, invitedBy {email, name}, an invite's
    expires and states; PublishedShapes in test_tool_published.py:
    "published", the second edition's). What differs between the two is
    said by the class attributes below; every other assertion holds for
    both."""

    EDITION = None
    INVITER_TEXT = None        # how the sender of alice's invite is shown
    INVITE_HAS_EXPIRY = None   # whether the edition's records carry one

    def setUp(self):
        super().setUp()
        self.fake.configure(self.EDITION)

    def test_list_shows_joined_and_pending_with_sender_and_comment(self):
        p = self.run_tool("orgs", "list", token=ALICE_TOKEN)
        self.assert_exit(p, 0)
        self.assertIn("Acme Media", p.stdout)
        self.assertIn("pending", p.stdout)
        self.assertIn(self.INVITER_TEXT, p.stdout)
        self.assertIn(COMMENT, p.stdout)
        if self.INVITE_HAS_EXPIRY:
            self.assertIn("expires:", p.stdout)
        else:
            # The record says neither when it was sent nor when it expires: no guess.
            self.assertNotIn("expires", p.stdout)
        p = self.run_tool("orgs", "list", token=BOB_TOKEN)
        self.assert_exit(p, 0)
        self.assertIn("Acme Media", p.stdout)
        self.assertIn("joined", p.stdout)

    def test_list_json(self):
        p = self.run_tool("orgs", "list", "--json", token=ALICE_TOKEN)
        self.assert_exit(p, 0)
        [entry] = json.loads(p.stdout)["organizations"]
        org, inv = entry["organization"], entry["invite"]
        self.assertEqual(org["id"], ORG)
        self.assertEqual(org["name"], "Acme Media")
        self.assertEqual(entry["state"], "pending")
        self.assertEqual(inv["inviter"]["email"], "admin@example.com")
        self.assertEqual(inv["comment"], COMMENT)
        if self.INVITE_HAS_EXPIRY:
            self.assertTrue(inv["expires"])
        else:
            # Published records carry no expiry, and none is made up for a decision.
            self.assertFalse(inv.get("expires") and not inv.get("expires_computed"))

    def test_list_reads_every_tolerated_variant(self):
        for style in ("top_level", "display_name", "sent_by_string", "inviter_object",
                      "no_expires", "null_invite"):
            with self.subTest(style=style):
                self.fake.clear_faults()
                self.fake.fault("user_orgs_list", "variant", style=style)
                token = BOB_TOKEN if style == "null_invite" else ALICE_TOKEN
                p = self.run_tool("orgs", "list", "--json", token=token)
                self.assert_exit(p, 0)
                [entry] = json.loads(p.stdout)["organizations"]
                org, inv = entry["organization"], entry["invite"]
                self.assertEqual(org["id"], ORG)
                self.assertEqual(org["name"], "Acme Media")
                if style == "null_invite":
                    self.assertEqual(entry["state"], "joined")
                    self.assertIsNone(inv)
                else:
                    self.assertEqual(entry["state"], "pending")
                    self.assertEqual(inv["inviter"]["email"], "admin@example.com")
                if style == "no_expires":
                    # Never computed from the organization's created: it says
                    # nothing of when the invite was sent.
                    self.assertIsNone(inv["expires"])
                    self.assertFalse(inv["expires_computed"])

    def test_accept_joins_with_the_documented_patch(self):
        p = self.run_tool("orgs", "accept", ORG, token=ALICE_TOKEN)
        self.assert_exit(p, 0)
        self.assertIn("Joined Acme Media", p.stdout)
        [req] = self.api_requests()
        self.assertEqual(req["method"], "PATCH")
        self.assertEqual(req["path"], "/api/v1/user/organizations/" + ORG)
        self.assertEqual(json.loads(req["body"]), {"spec": {"invite": {"state": "accepted"}}})
        org = self.org_state(ORG)
        self.assertIn("u-alice", org["members"])
        self.assertIn("u-alice", org["teams"]["Everyone"])
        self.assertIn("u-alice", org["teams"]["encoding-team"])
        self.assertEqual(self.invites("alice@example.com")[0]["state"], "accepted")

    def test_accepting_an_expired_invite_is_refused_once_and_not_retried(self):
        self.fake.clock_advance(15 * 24 * 3600)
        p = self.run_tool("orgs", "accept", ORG, token=ALICE_TOKEN)
        self.assert_exit(p, 1)
        self.assertIn("409", p.stderr)
        self.assertIn("ref", p.stderr)
        self.assertEqual(len(self.api_requests("PATCH")), 1)
        self.assertNotIn("u-alice", self.org_state(ORG)["members"])
        if self.INVITE_HAS_EXPIRY:
            # Only an edition whose records carry the expiry can say so.
            p = self.run_tool("orgs", "list", token=ALICE_TOKEN)
            self.assertIn("expired", p.stdout)

    def test_accept_unknown_org(self):
        p = self.run_tool("orgs", "accept", ORG2, token=ALICE_TOKEN)
        self.assert_exit(p, 1)
        self.assertIn("404", p.stderr)

    def test_decline_pending(self):
        p = self.run_tool("orgs", "decline", ORG, token=ALICE_TOKEN)
        self.assert_exit(p, 0)
        self.assertEqual(self.invites("alice@example.com")[0]["state"], "declined")
        self.assertNotIn("u-alice", self.org_state(ORG)["members"])

    def test_decline_of_a_joined_org_is_refused_with_the_leave_command(self):
        p = self.run_tool("orgs", "decline", ORG, token=BOB_TOKEN)
        self.assert_exit(p, 2)
        self.assertIn("mkio-orgs orgs leave " + ORG, p.stderr)
        self.assertEqual(self.api_requests("DELETE"), [])
        self.assertIn("u-bob", self.org_state(ORG)["members"])

    def test_leave_of_a_pending_org_is_refused_with_the_decline_command(self):
        p = self.run_tool("orgs", "leave", ORG, "--yes", token=ALICE_TOKEN)
        self.assert_exit(p, 2)
        self.assertIn("mkio-orgs orgs decline " + ORG, p.stderr)
        self.assertEqual(self.api_requests("DELETE"), [])
        self.assertEqual(self.invites("alice@example.com")[0]["state"], "pending")

    def test_leave_without_a_terminal_needs_yes(self):
        p = self.run_tool("orgs", "leave", ORG, token=BOB_TOKEN, stdin="yes\n")
        self.assert_exit(p, 2)
        self.assertIn("--yes", p.stderr)
        self.assertIn("fresh invitation", p.stderr)
        self.assertIn("u-bob", self.org_state(ORG)["members"])
        p = self.run_tool("orgs", "leave", ORG, "--yes", token=BOB_TOKEN)
        self.assert_exit(p, 0)
        self.assertIn("fresh invitation", p.stdout)
        self.assertNotIn("u-bob", self.org_state(ORG)["members"])
        self.assertEqual(self.api_requests("DELETE")[0]["path"], "/api/v1/user/organizations/" + ORG)

    def run_on_terminal(self, answer, *args):
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": self.tmp,
               "MKIO_TOKEN": BOB_TOKEN}
        pid, fd = pty.fork()
        if pid == 0:
            os.execve(TOOL, [TOOL, "--config", self.conf, *args], env)
        out = b""
        deadline = time.monotonic() + 20
        answered = False
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.2)
            if r:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
                if not answered and b"Type 'yes'" in out:
                    os.write(fd, answer)
                    answered = True
        _, status = os.waitpid(pid, 0)
        os.close(fd)
        text = out.decode(errors="replace")
        self.outputs.append(text)
        return os.waitstatus_to_exitcode(status), text

    def test_leave_on_a_terminal_asks_and_no_keeps_membership(self):
        code, text = self.run_on_terminal(b"no\n", "orgs", "leave", ORG)
        self.assertEqual(code, 2, text)
        self.assertIn("Only a fresh invitation can undo this", text)
        self.assertIn("u-bob", self.org_state(ORG)["members"])
        code, text = self.run_on_terminal(b"yes\n", "orgs", "leave", ORG)
        self.assertEqual(code, 0, text)
        self.assertNotIn("u-bob", self.org_state(ORG)["members"])

    def test_remote_names_cannot_drive_the_terminal(self):
        self.fake.seed({"organizations": [{"id": "1e2d3c4b-0000-4000-8000-000000000001",
                                           "name": "Evil\x1b[2J\x07Org", "admins": ["u-admin"],
                                           "members": ["u-alice"]}]})
        p = self.run_tool("orgs", "list", token=ALICE_TOKEN)
        self.assert_exit(p, 0)
        self.assertNotIn("\x1b", p.stdout)
        self.assertIn("Evil?[2J?Org", p.stdout)



class UserOrgs(UserOrgsEditionTests, ToolTest):
    EDITION = "legacy"
    INVITER_TEXT = "Ada Admin <admin@example.com>"
    INVITE_HAS_EXPIRY = True


class Tokens(ToolTest):
    def test_no_token_is_a_clear_usage_error_and_nothing_is_sent(self):
        p = self.run_tool("orgs", "list", token=None)
        self.assert_exit(p, 2)
        self.assertIn("no token", p.stderr)
        self.assertIn("MKIO_TOKEN", p.stderr)
        self.assertEqual(self.api_requests(), [])

    def test_token_file(self):
        path = os.path.join(self.tmp, "token")
        with open(path, "w") as f:
            f.write(ALICE_TOKEN + "\n")
        os.chmod(path, 0o600)
        p = self.run_tool("--token-file", path, "orgs", "list", token=None)
        self.assert_exit(p, 0)
        self.assertEqual(self.api_requests()[0]["headers"]["authorization"], "Bearer " + ALICE_TOKEN)
        # --token-file wins over MKIO_TOKEN.
        p = self.run_tool("--token-file", path, "orgs", "list", token=BOB_TOKEN)
        self.assert_exit(p, 0)
        self.assertEqual(self.api_requests()[-1]["headers"]["authorization"], "Bearer " + ALICE_TOKEN)
        os.chmod(path, 0o644)
        p = self.run_tool("--token-file", path, "orgs", "list", token=None)
        self.assert_exit(p, 2)
        self.assertIn("0600", p.stderr)
        self.assertEqual(len(self.api_requests()), 2)

    def test_token_from_the_users_own_file(self):
        os.makedirs(os.path.join(self.tmp, ".config", "mkio"))
        path = os.path.join(self.tmp, ".config", "mkio", "token")
        with open(path, "w") as f:
            f.write(BOB_TOKEN)
        os.chmod(path, 0o600)
        p = self.run_tool("orgs", "list", token=None)  # HOME is self.tmp
        self.assert_exit(p, 0)
        self.assertEqual(self.api_requests()[0]["headers"]["authorization"], "Bearer " + BOB_TOKEN)

    def test_a_refused_token_exits_2_with_the_remedy(self):
        # The README: token errors exit 2. A 401 is one, whatever the call.
        # Issue 19: the remedy fits where the token came from: MKIO_TOKEN is
        # to be fixed or unset (`mkio-orgs login` would not help).
        for args in (["orgs", "list"], ["orgs", "accept", ORG], ["invite", "list"]):
            p = self.run_tool(*args, token="tok-unknown-123")
            self.assert_exit(p, 2)
            self.assertIn("401", p.stderr)
            self.assertIn("the token in MKIO_TOKEN was refused", p.stderr)
            self.assertIn("set MKIO_TOKEN to a valid token, or unset it", p.stderr)
            self.assertEqual(p.stderr.count("mkio-orgs login"), 1)
        # The user's own file: named, and `mkio-orgs login` replaces it.
        path = os.path.join(self.tmp, ".config", "mkio", "token")
        os.makedirs(os.path.dirname(path), 0o700, exist_ok=True)
        with open(path, "w") as f:
            f.write("tok-unknown-123\n")
        os.chmod(path, 0o600)
        p = self.run_tool("orgs", "list", token=None)
        self.assert_exit(p, 2)
        self.assertIn("the token in %s was refused" % path, p.stderr)
        self.assertIn("run `mkio-orgs login`", p.stderr)
        self.assertNotIn("MKIO_TOKEN", p.stderr)

    def test_a_token_with_control_characters_is_refused_locally(self):
        p = self.run_tool("orgs", "list", token="abc\ndef")
        self.assert_exit(p, 2)
        self.assertEqual(self.api_requests(), [])


class Config(ToolTest):
    def test_bad_configuration_names_file_and_line(self):
        self.conf = self.write_conf("no_such_key = 1\n")
        p = self.run_tool("orgs", "list")
        self.assert_exit(p, 2)
        self.assertIn(self.conf + ":8:", p.stderr)
        self.assertEqual(self.api_requests(), [])

    def test_plain_http_to_a_remote_host_is_refused(self):
        # A user's MKIO_BASE_URL is judged like base_url (root refuses any:
        # test_root_env.py).
        self.share_with_users()
        p = self.run_tool("orgs", "list", env={"MKIO_BASE_URL": "http://api.example.com"},
                          user=NOBODY)
        self.assert_exit(p, 2)
        self.assertIn("MKIO_BASE_URL", p.stderr)

    def test_config_option_and_missing_file(self):
        p = self.run_tool("--config", os.path.join(self.tmp, "missing.conf"), "orgs", "list")
        self.assert_exit(p, 2)
        self.assertIn("missing.conf", p.stderr)

    def test_world_writable_config_is_refused(self):
        os.chmod(self.conf, 0o666)
        p = self.run_tool("orgs", "list")
        self.assert_exit(p, 2)
        self.assertEqual(self.api_requests(), [])

    def test_wrong_ca_fails_tls_verification(self):
        other = os.path.join(self.tmp, "other-ca.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=other", "-days", "1",
                        "-keyout", os.path.join(self.tmp, "k.pem"), "-out", other],
                       check=True, capture_output=True)
        with open(self.conf) as f:
            text = f.read()
        # Issue 9: a configuration matter, exit 2, naming ca_file; never retried.
        for ca_line, want in ((f"ca_file = {other}\n", f"ca_file = {other} in {self.conf}"),
                              ("ca_file =\n", f"set ca_file in {self.conf}")):
            with self.subTest(ca_line=ca_line):
                with open(self.conf, "w") as f:
                    f.write(text.replace(f"ca_file = {self.fake.ca_file}\n", ca_line))
                p = self.run_tool("orgs", "list")
                self.assert_exit(p, 2)
                self.assertIn("did not verify", p.stderr)
                self.assertIn(want, p.stderr)
                self.assertEqual(self.api_requests(), [])


class GlobalOptions(ToolTest):
    """--quiet and --verbose (issue 19, item 8)."""

    def test_help_documents_quiet_and_verbose(self):
        p = self.run_tool("--help", token=None)
        self.assert_exit(p, 0)
        self.assertIn("-q, --quiet", p.stdout)
        self.assertIn("-v, --verbose", p.stdout)

    def test_quiet_prints_only_the_data_and_the_errors(self):
        p = self.run_tool("--quiet", "orgs", "accept", ORG)
        self.assert_exit(p, 0)
        self.assertEqual((p.stdout, p.stderr), ("", ""))
        self.assertIn("u-alice", self.org_state(ORG)["members"])
        # The data asked for is still printed.
        p = self.run_tool("-q", "orgs", "list")
        self.assert_exit(p, 0)
        self.assertIn("Acme Media", p.stdout)
        # A failure still says why.
        p = self.run_tool("--quiet", "orgs", "accept", ORG2)
        self.assert_exit(p, 1)
        self.assertIn("404", p.stderr)
        self.assertEqual(p.stdout, "")
        # Without it, the informational lines are there.
        p = self.run_tool("logout", token=None)
        self.assert_exit(p, 0)
        self.assertIn("nothing to remove", p.stdout)
        p = self.run_tool("--quiet", "logout", token=None)
        self.assert_exit(p, 0)
        self.assertEqual((p.stdout, p.stderr), ("", ""))

    def test_verbose_shows_each_request_and_never_the_token(self):
        p = self.run_tool("--verbose", "orgs", "list")
        self.assert_exit(p, 0)
        self.assertRegex(p.stderr, r"^mkio-orgs: GET /api/v1/user/organizations\S*: 200, "
                                   r"\d+ ms\n$")
        self.assertIn("Acme Media", p.stdout)
        # A retried request: one line per attempt; the API's ref of a
        # refusal, the same the error names.
        self.fake.fault("user_org_patch", "status", count=1, status=503)
        p = self.run_tool("-v", "orgs", "accept", ORG)
        self.assert_exit(p, 0)
        lines = p.stderr.splitlines()
        self.assertEqual(len(lines), 2, p.stderr)
        path = "/api/v1/user/organizations/" + ORG
        self.assertRegex(lines[0], r"^mkio-orgs: PATCH " + path + r": 503, ref \S+, \d+ ms$")
        self.assertRegex(lines[1], r"^mkio-orgs: PATCH " + path + r" \(attempt 2\): 200, \d+ ms$")
        self.fake.fault("user_orgs_list", "status", status=500, detail="database on fire")
        p = self.run_tool("--verbose", "orgs", "list")
        self.assert_exit(p, 3)
        trace, error = p.stderr.splitlines()
        ref = re.search(r", ref (\S+), \d+ ms$", trace).group(1)
        self.assertIn(ref, error)
        # No answer at all (a drop-in points base_url at a closed port):
        # said so, with libcurl's reason, on each attempt.
        os.mkdir(os.path.join(self.tmp, "mkio.conf.d"), 0o755)
        down = os.path.join(self.tmp, "mkio.conf.d", "50-down.conf")
        with open(down, "w") as f:
            f.write("base_url = http://127.0.0.1:9\n")
        p = self.run_tool("--verbose", "orgs", "list")
        self.assert_exit(p, 3)
        self.assertRegex(p.stderr, r"^mkio-orgs: GET /api/v1/user/organizations\S*: no answer "
                                   r"\(.*\), \d+ ms\n")
        # Never a header, never the token, in anything printed.
        for text in self.outputs:
            for secret in ("Bearer", "uthorization", "x-mkio-token", ALICE_TOKEN):
                self.assertNotIn(secret, text)

    def test_quiet_and_verbose_together_is_a_usage_error(self):
        p = self.run_tool("--quiet", "--verbose", "orgs", "list")
        self.assert_exit(p, 2)
        self.assertIn("--quiet and --verbose", p.stderr)
        self.assertEqual(self.api_requests(), [])


class Remedies(ToolTest):
    """Each failure names its fix (issue 19, item 7)."""

    def test_accepting_an_organization_you_belong_to_says_so(self):
        p = self.run_tool("orgs", "accept", ORG, token=BOB_TOKEN)
        self.assert_exit(p, 0)
        self.assertIn("You are already a member of organization " + ORG, p.stdout)
        self.assertNotIn("new invite", p.stdout + p.stderr)
        self.assertEqual(len(self.api_requests("PATCH")), 1)

    def test_an_upper_case_id_is_sent_canonical(self):
        p = self.run_tool("orgs", "accept", ORG.upper(), token=ALICE_TOKEN)
        self.assert_exit(p, 0)
        [req] = self.api_requests()
        self.assertEqual(req["path"], "/api/v1/user/organizations/" + ORG)
        self.assertIn("u-alice", self.org_state(ORG)["members"])
        p = self.run_tool("orgs", "leave", "--yes", ORG.upper(), token=ALICE_TOKEN)
        self.assert_exit(p, 0)
        self.assertEqual(self.api_requests("DELETE")[0]["path"],
                         "/api/v1/user/organizations/" + ORG)

    def test_a_name_instead_of_an_id_says_how_to_find_the_id(self):
        for args, lister in ((("orgs", "accept", "Acme Media"), "mkio-orgs orgs list"),
                             (("orgs", "decline", "acme"), "mkio-orgs orgs list"),
                             (("orgs", "leave", "--yes", "Acme Media"), "mkio-orgs orgs list"),
                             (("invite", "cancel", "alice@example.com"), "mkio-orgs invite list")):
            with self.subTest(args=args):
                p = self.run_tool(*args, token=ADMIN_TOKEN)
                self.assert_exit(p, 2)
                self.assertIn(f'"{args[-1]}" is not an', p.stderr)
                self.assertIn("pass the", p.stderr)
                self.assertIn("`" + lister + "` shows", p.stderr)
                self.assertNotIn("new invite", p.stderr)
        self.assertEqual(self.api_requests(), [])

    def test_http_to_a_tls_port_says_the_scheme_is_probably_wrong(self):
        # base_url from a drop-in, http:// to the fake's TLS port.
        os.mkdir(os.path.join(self.tmp, "mkio.conf.d"), 0o755)
        dropin = os.path.join(self.tmp, "mkio.conf.d", "10-url.conf")
        plain = self.fake.api_url.replace("https://", "http://")
        with open(dropin, "w") as f:
            f.write(f"base_url = {plain}\n")
        p = self.run_tool("orgs", "list")
        self.assert_exit(p, 3)
        self.assertIn("the server seems to speak TLS: base_url's scheme is probably wrong (" +
                      self.fake.api_url + ", not http://; base_url is set in " + dropin +
                      " line 1)", p.stderr)
        self.assertEqual(p.stderr.count("\n"), 1, p.stderr)


class Faults(ToolTest):
    budget = "3"

    def test_delay_is_tolerated(self):
        self.fake.fault("user_orgs_list", "delay", ms=300)
        p = self.run_tool("orgs", "list", "--json")
        self.assert_exit(p, 0)

    def test_429_with_retry_after_is_retried_then_succeeds(self):
        self.fake.fault("user_orgs_list", "status", count=1, status=429, retry_after="1")
        p = self.run_tool("orgs", "list", "--json")
        self.assert_exit(p, 0)
        self.assertEqual(json.loads(p.stdout)["organizations"][0]["organization"]["id"], ORG)
        self.assertEqual(len(self.api_requests("GET")), 2)
        timing.at_least(self, "waited for Retry-After: 1", p.elapsed, 1.0)

    def test_503_then_success(self):
        self.fake.fault("user_org_patch", "status", count=2, status=503)
        p = self.run_tool("orgs", "accept", ORG)
        self.assert_exit(p, 0)
        self.assertEqual(len(self.api_requests("PATCH")), 3)
        self.assertIn("u-alice", self.org_state(ORG)["members"])

    def test_500_is_not_retried_and_reports_ref(self):
        self.fake.fault("user_orgs_list", "status", status=500, detail="database on fire")
        p = self.run_tool("orgs", "list")
        self.assert_exit(p, 3)
        self.assertIn("database on fire", p.stderr)
        self.assertIn("ref", p.stderr)
        self.assertEqual(len(self.api_requests("GET")), 1)

    def test_503_forever_gives_up_within_the_budget(self):
        self.fake.fault("user_orgs_list", "status", status=503)
        p = self.run_tool("orgs", "list")
        self.assert_exit(p, 3)
        # Given up at the 3 s budget: 3 + 20 s only a hang reaches.
        timing.at_most(self, "503 for ever, 3 s budget", p.elapsed, 3 + 1, hang=3 + 20)
        self.assertGreater(len(self.api_requests("GET")), 1)

    def test_400_is_not_retried(self):
        self.fake.fault("invite_create", "status", status=400, detail="bad email")
        p = self.run_tool("invite", "create", "--email", "x@example.com", token=ADMIN_TOKEN)
        self.assert_exit(p, 1)
        self.assertIn("bad email", p.stderr)
        self.assertEqual(len(self.api_requests("POST")), 1)

    def test_a_server_that_never_answers_costs_at_most_the_budget_plus_one_second(self):
        self.fake.fault("user_orgs_list", "hang")
        p = self.run_tool("orgs", "list")
        self.assert_exit(p, 3)
        # Cut at the 3 s budget (the fake never answers): 3 + 20 s only a
        # hang reaches.
        timing.at_most(self, "server never answers, 3 s budget", p.elapsed, 3 + 1, hang=3 + 20)
        self.assertIn("3.0 s", p.stderr)

    def test_broken_answers_exit_3_with_a_clear_message(self):
        cases = {
            "close_mid_body": {},
            "malformed_json": {},
            "truncated_json": {},
            "oversized": {"bytes": 8 * 1024 * 1024},
            "wrong_content_type": {},
            "stuck_pagination": {},
        }
        for kind, params in cases.items():
            with self.subTest(kind=kind):
                self.fake.clear_faults()
                self.fake.fault("user_orgs_list", kind, **params)
                p = self.run_tool("orgs", "list")
                self.assert_exit(p, 3)
                self.assertTrue(p.stderr.startswith("mkio-orgs: "), p.stderr)
                # An error, never a wait past the 3 s budget: 3 + 20 s only
                # a hang (or an endless loop) reaches.
                timing.at_most(self, "broken answer (%s)" % kind, p.elapsed, 3 + 1, hang=3 + 20)

    def test_endless_pages_are_an_error_not_a_loop(self):
        self.fake.fault("invites_list", "endless_pages")
        p = self.run_tool("invite", "list", token=ADMIN_TOKEN, timeout=60)
        self.assert_exit(p, 3)

    def test_an_unreachable_server(self):
        self.share_with_users()
        p = self.run_tool("orgs", "list", env={"MKIO_BASE_URL": "https://127.0.0.1:1"},
                          user=NOBODY)
        self.assert_exit(p, 3)
        self.assertIn("127.0.0.1", p.stderr)


class Store(ToolTest):
    def test_set_user_then_status(self):
        f = os.path.join(self.tmp, "orgs.json")
        with open(f, "w") as fh:
            json.dump([{"id": ORG, "name": "Acme Media"}], fh)
        p = self.run_tool("store", "set-user", "alice", "--from", f, token=None)
        self.assert_exit(p, 0)
        p = self.run_tool("status", "--json", token=None)
        self.assert_exit(p, 0)
        st = json.loads(p.stdout)
        [g] = st["groups"]
        self.assertEqual(g["group"]["organization"], {"id": ORG, "name": "Acme Media"})
        self.assertEqual(g["members"], ["alice"])
        self.assertTrue(g["group"]["name"].startswith("mk-acme-media-"))
        self.assertEqual([u["user"] for u in st["users"]], ["alice"])
        p = self.run_tool("status", token=None)
        self.assert_exit(p, 0)
        self.assertIn(g["group"]["name"], p.stdout)
        self.assertIn(str(g["group"]["gid"]), p.stdout)
        self.assertIn("alice", p.stdout)

    def set_orgs(self, user, orgs):
        f = os.path.join(self.tmp, "orgs-%s.json" % user)
        with open(f, "w") as fh:
            json.dump(orgs, fh)
        self.assert_exit(self.run_tool("store", "set-user", user, "--from", f, token=None), 0)

    def test_status_verify(self):
        db = os.path.join(self.state_dir, "groups.db")
        p = self.run_tool("status", "--verify", token=None)
        self.assert_exit(p, 0)
        self.assertIn("nothing to verify", p.stdout)

        self.set_orgs("alice", [{"id": ORG, "name": "Acme Media"}])
        p = self.run_tool("status", "--verify", token=None)
        self.assert_exit(p, 0)
        self.assertIn(db + ": verified: 1 groups", p.stdout)
        p = self.run_tool("status", "--json", "--verify", token=None)
        self.assert_exit(p, 0)
        self.assertEqual(len(json.loads(p.stdout)["groups"]), 1)

        # A byte changed past the header: lookups would not notice it unless
        # they read that record; --verify does, and changes nothing.
        with open(db, "r+b") as fh:
            fh.seek(-3, os.SEEK_END)
            b = fh.read(1)
            fh.seek(-3, os.SEEK_END)
            fh.write(bytes([b[0] ^ 0x20]))
        before = self.state_snapshot()
        p = self.run_tool("status", "--verify", token=None)
        self.assert_exit(p, 4)
        self.assertIn("is damaged", p.stderr)
        self.assertIn("mkio-orgs sync --all", p.stderr)
        p = self.run_tool("status", "--json", "--verify", token=None)
        self.assert_exit(p, 4)
        json.loads(p.stdout)
        self.assertEqual(self.state_snapshot(), before)

        # Any write of the store rewrites a file whose bytes differ, even when
        # the memberships are the same.
        self.set_orgs("alice", [{"id": ORG, "name": "Acme Media"}])
        self.assert_exit(self.run_tool("status", "--verify", token=None), 0)

        # A good file that is not what the store says (an old copy put back).
        with open(db, "rb") as fh:
            old = fh.read()
        self.set_orgs("bob", [{"id": ORG, "name": "Acme Media"}])
        st = os.stat(db)
        with open(db + ".new", "wb") as fh:
            fh.write(old)
        os.chmod(db + ".new", st.st_mode & 0o7777)
        os.rename(db + ".new", db)
        p = self.run_tool("status", "--verify", token=None)
        self.assert_exit(p, 4)
        self.assertIn("has other members in the file", p.stderr)
        self.assertIn("does not hold what the store says", p.stderr)

    def test_status_options(self):
        p = self.run_tool("status", "--frobnicate", token=None)
        self.assert_exit(p, 2)
        self.assertIn("status: unknown option '--frobnicate'", p.stderr)
        p = self.run_tool("status", "extra", token=None)
        self.assert_exit(p, 2)
        p = self.run_tool("status", "--help", token=None)
        self.assert_exit(p, 0)
        self.assertIn("--verify", p.stdout)

    def test_set_user_bad_input_changes_nothing(self):
        bad = {"not json": "{", "not a list": '{"id": "x"}', "no id": '[{"name": "x"}]',
               "bad name type": '[{"id": "abc", "name": 5}]'}
        for what, text in bad.items():
            with self.subTest(what=what):
                f = os.path.join(self.tmp, "bad.json")
                with open(f, "w") as fh:
                    fh.write(text)
                p = self.run_tool("store", "set-user", "alice", "--from", f, token=None)
                self.assert_exit(p, 2)
        self.assertFalse(os.path.exists(os.path.join(self.state_dir, "groups.db")))

    def test_status_of_an_empty_store(self):
        p = self.run_tool("status", token=None)
        self.assert_exit(p, 0)
        self.assertIn("No groups", p.stdout)

    def test_root_only_commands_refuse_other_users(self):
        p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", TOOL,
                            "--config", self.conf, "sync", "--all"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("root", p.stderr)


# ---- hostile text ---------------------------------------------------------
#
# Markers the fake replaces with raw bytes in every answer (tests/fake/README.md):
# a raw C1 CSI and invalid UTF-8 of each kind.
RAW = {"%9B%": "9b", "%OVERLONG%": "c080", "%SURROGATE%": "eda080", "%TRUNC%": "e697",
       "%FF%": "ff", "%CONT%": "80"}
# Every kind of hostile text at once: C0 (CSI, BEL, newline, CR), DEL, C1 raw and
# UTF-8 encoded (U+009B, U+0085 NEXT LINE), invalid UTF-8, bidi controls (U+202E,
# U+2066), and an accented letter, which stays.
HOSTILE = ("A\x1b[31mB\x07C\nFAKE-LINE\rD\x7fE%9B%F\u009bG\u0085H%OVERLONG%I%SURROGATE%J"
           "%TRUNC%K%FF%L%CONT%M\u202eN\u2066O\u00e9")
# As much of it as an e-mail address can hold (no white space, one '@').
HOSTILE_LOCAL = "\x1b[31m\x07\x7f%9B%\u009b\u202e\u2066%FF%"
EVE_EMAIL = "eve" + HOSTILE_LOCAL + "@evil.example.com"
MALLORY_EMAIL = "mallory" + HOSTILE_LOCAL + "@evil.example.com"
EVE_TOKEN = "tok-eve-3b9e1d7c55"
EVIL_ORG = "org-" + HOSTILE                          # an id the store cannot take
EVIL_ORG2 = "1e2d3c4b-0000-4000-8000-00000000e911"   # a good id with a hostile name
EVIL_INVITE = "inv-" + HOSTILE
TEAM = "Team " + HOSTILE

# What must never reach a terminal or a log: C0 but newline, DEL, C1, bidi controls.
UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f\u0080-\u009f\u202a-\u202e\u2066-\u2069"
                    "\u200e\u200f\u061c]")


def wire(s):
    """s as the fake sends it: UTF-8 with each marker replaced by its raw bytes."""
    data = s.encode()
    for marker, hexbytes in RAW.items():
        data = data.replace(marker.encode(), bytes.fromhex(hexbytes))
    return data


def _walk(s, keep_unsafe, invalid):
    data, out, i = wire(s), [], 0
    while i < len(data):
        for n in (1, 2, 3, 4):
            try:
                ch = data[i:i + n].decode("utf-8")
                break
            except UnicodeDecodeError:
                pass
        else:
            out.append(invalid)  # one per byte that starts no character
            i += 1
            continue
        out.append(ch if keep_unsafe or not UNSAFE.match(ch) and ch != "\n" else "?")
        i += n
    return "".join(out)


def shown(s):
    """What the tool shows of s (common/base/text.h): each unsafe character and each
    byte that starts no UTF-8 character as one '?'."""
    return _walk(s, False, "?")


def in_json(s):
    """What a JSON reader of the tool's --json output gets for s: every
    character exact, each byte that is not UTF-8 as U+FFFD."""
    return _walk(s, True, "\ufffd")


class HostileWorld(ToolTest):
    """A world whose names, ids, comments, e-mails and team names are hostile
    (test_sync.py uses it too), and checks that outputs stay clean."""

    def setUp(self):
        super().setUp()
        # The first edition's shapes carry the most text (an inviter's name
        # and address, an expiry): the most to keep clean.
        self.fake.configure("legacy")
        self.fake.seed({
            "raw_bytes": RAW,
            "users": [{"id": "u-eve", "email": EVE_EMAIL, "name": "Eve " + HOSTILE}],
            "organizations": [
                {"id": EVIL_ORG, "name": "Org " + HOSTILE, "admins": ["u-eve"],
                 "teams": {TEAM: []}},
                {"id": EVIL_ORG2, "name": "Org2 " + HOSTILE, "admins": ["u-eve"]}],
            "tokens": [{"token": EVE_TOKEN, "user": "u-eve", "organization": EVIL_ORG,
                        "expires": None}],
            "invites": [
                {"id": EVIL_INVITE, "organization": EVIL_ORG, "email": "alice@example.com",
                 "comment": "Comment " + HOSTILE, "teams": [TEAM], "invited_by": "u-eve"},
                {"organization": EVIL_ORG, "email": MALLORY_EMAIL, "invited_by": "u-eve"},
                {"organization": EVIL_ORG2, "email": "alice@example.com",
                 "comment": "Second " + HOSTILE, "invited_by": "u-eve"}]})

    def assert_clean(self, data, where):
        """data (bytes) is UTF-8 with no character a terminal acts on, and its
        newlines are the tool's own; returns it as text."""
        for byte in (b"\x1b", b"\x07", b"\x7f", b"\r", b"\x00"):
            self.assertNotIn(byte, data, f"{where}: {data!r}")
        try:
            text = data.decode("utf-8")  # strict: a raw 0x9b or invalid UTF-8 fails here
        except UnicodeDecodeError as e:
            self.fail(f"{where}: not UTF-8 ({e}): {data!r}")
        m = UNSAFE.search(text)
        self.assertIsNone(m, f"{where}: U+{ord(m.group()):04X} reached the output: {data!r}"
                          if m else "")
        for line in text.split("\n"):
            self.assertFalse(line.startswith("FAKE-LINE"), f"{where}: a line was injected: {data!r}")
        return text

    def assert_exact_where_valid(self, name):
        """A name read back from --json holds, escaped but not filtered, every
        valid character of HOSTILE (what the store makes of invalid UTF-8 is
        the store's business)."""
        for part in ("\x1b[31mB\x07C\nFAKE-LINE\rD\x7fE", "\u009bG\u0085H",
                     "\u202eN\u2066O\u00e9"):
            self.assertIn(part, name)

    def run_clean(self, *args, code=0, token=ALICE_TOKEN):
        p = self.run_tool(*args, token=token, raw=True)
        where = " ".join(a if isinstance(a, str) else repr(a) for a in args)
        self.assertEqual(p.returncode, code, f"{where}: exit {p.returncode}\n"
                         f"stdout: {p.stdout!r}\nstderr: {p.stderr!r}")
        return self.assert_clean(p.stdout, where + " (stdout)"), \
            self.assert_clean(p.stderr, where + " (stderr)")



class HostileText(HostileWorld):
    """Names, ids, comments, e-mails, team names, error details and refs a
    remote party chose, and arguments and file names a local user chose,
    never reach the terminal raw. Outputs are checked as bytes."""

    def test_the_reference_replacement(self):
        self.assertEqual(shown(HOSTILE),
                         "A?[31mB?C?FAKE-LINE?D?E?F?G?H??I???J??K?L?M?N?O\u00e9")
        self.assertEqual(shown(EVE_EMAIL), "eve?[31m???????@evil.example.com")

    def test_orgs_list(self):
        out, _ = self.run_clean("orgs", "list")
        self.assertIn(shown("Org " + HOSTILE) + "\n  id:         " + shown(EVIL_ORG) + "\n", out)
        self.assertIn("accept with: mkio-orgs orgs accept " + shown(EVIL_ORG) + ")", out)
        self.assertIn("invited by: " + shown("Eve " + HOSTILE) + " <" + shown(EVE_EMAIL) + ">", out)
        self.assertIn("comment:    " + shown("Comment " + HOSTILE) + "\n", out)
        self.assertIn(shown("Org2 " + HOSTILE) + "\n  id:         " + EVIL_ORG2 + "\n", out)
        self.assertIn("comment:    " + shown("Second " + HOSTILE) + "\n", out)
        self.assertIn("Acme Media", out)  # the harmless neighbour is intact

    def test_orgs_list_json_escapes_what_json_c_leaves_raw(self):
        out, _ = self.run_clean("orgs", "list", "--json")
        orgs = {o["organization"]["id"]: o for o in json.loads(out)["organizations"]}
        evil = orgs[in_json(EVIL_ORG)]
        self.assertEqual(evil["organization"]["name"], in_json("Org " + HOSTILE))
        self.assertEqual(evil["invite"]["comment"], in_json("Comment " + HOSTILE))
        self.assertEqual(evil["invite"]["inviter"], {"name": in_json("Eve " + HOSTILE),
                                                     "email": in_json(EVE_EMAIL)})
        self.assertEqual(orgs[EVIL_ORG2]["organization"]["name"], in_json("Org2 " + HOSTILE))
        self.assert_exact_where_valid(evil["organization"]["name"])
        self.assertIn("\\u009b", out)
        self.assertIn("\\u202e", out)
        self.assertIn("\\u007f", out)
        self.assertIn("\\u001b", out)

    def test_invite_list(self):
        out, _ = self.run_clean("invite", "list", token=EVE_TOKEN)
        self.assertIn("invite " + shown(EVIL_INVITE) + "\n", out)
        self.assertIn("email:   alice@example.com", out)
        self.assertIn("teams:   Everyone, " + shown(TEAM) + "\n", out)
        self.assertIn("comment: " + shown("Comment " + HOSTILE) + "\n", out)
        self.assertIn("email:   " + shown(MALLORY_EMAIL) + "\n", out)

    def test_invite_list_json(self):
        out, _ = self.run_clean("invite", "list", "--json", token=EVE_TOKEN)
        invites = {i["id"]: i for i in json.loads(out)["invites"]}
        self.assertEqual(invites[in_json(EVIL_INVITE)]["teams"], ["Everyone", in_json(TEAM)])
        self.assertEqual(invites[in_json(EVIL_INVITE)]["comment"], in_json("Comment " + HOSTILE))
        self.assertIn(in_json(MALLORY_EMAIL), [i["email"] for i in invites.values()])

    def test_invite_create_with_hostile_arguments(self):
        email = "dan" + HOSTILE_LOCAL + "@evil.example.com"
        out, _ = self.run_clean("invite", "create", "--email", email, "--comment", HOSTILE,
                                "--team", TEAM, token=EVE_TOKEN)
        self.assertIn("Invited " + shown(email) + ". ", out)
        self.assertIn("comment: " + shown(HOSTILE) + "\n", out)
        self.assertIn("teams:   Everyone, " + shown(TEAM) + "\n", out)
        # What was sent is what the user typed.
        [inv] = [i for i in self.invites() if i["email"] == email]
        self.assertEqual(inv["comment"], HOSTILE)
        self.assertEqual(inv["teams"], [TEAM])

    def test_api_error_detail_code_and_ref(self):
        detail, ref, code = "Detail " + HOSTILE, "ref-" + HOSTILE, "c\x1b[31m%9B%\u202e"
        self.write_token("nobody", ALICE_TOKEN)
        runs = [(("orgs", "list"), ALICE_TOKEN), (("orgs", "accept", EVIL_ORG2), ALICE_TOKEN),
                (("orgs", "decline", EVIL_ORG2), ALICE_TOKEN), (("invite", "list"), EVE_TOKEN),
                (("invite", "create", "--email", "x@example.com"), EVE_TOKEN),
                (("invite", "cancel", "477e3950-2ae8-404b-941d-d0eda61c18b9"), EVE_TOKEN),
                (("sync", "--user", "nobody"), None)]
        for status, exit_code in ((400, 1), (500, 3)):
            self.fake.clear_faults()
            self.fake.fault("*", "status", status=status, detail=detail, code=code, ref=ref)
            for args, token in runs:
                with self.subTest(status=status, args=args):
                    _, err = self.run_clean(*args, code=exit_code, token=token)
                    self.assertIn(shown(detail), err)
                    self.assertIn(shown(ref), err)
                    if status == 400:
                        self.assertIn("code " + shown(code), err)
                    self.assertEqual(err.count("\n"), 1, err)

    def test_status_of_names_set_by_hand(self):
        f = os.path.join(self.tmp, "orgs.json")
        with open(f, "wb") as fh:
            fh.write(wire(json.dumps([{"id": EVIL_ORG2, "name": "Org2 " + HOSTILE}])))
        self.run_clean("store", "set-user", "nobody", "--from", f, token=None)
        out, _ = self.run_clean("status", token=None)
        self.assertIn(shown("Org2 " + HOSTILE), out)
        out, _ = self.run_clean("status", "--json", token=None)
        [group] = json.loads(out)["groups"]
        self.assert_exact_where_valid(group["group"]["organization"]["name"])

    def test_arguments_and_file_names_a_user_chose(self):
        evil = b"ev\x1b[31mil\x9b\xe2\x80\xae\n"
        evil_shown = "ev?[31mil???"
        _, err = self.run_clean("orgs", "list", b"--" + evil, code=2)
        self.assertIn(evil_shown, err)
        _, err = self.run_clean(b"no-such-command" + evil, code=2)
        self.assertIn(evil_shown, err)
        _, err = self.run_clean("orgs", "decline", evil, code=2)
        self.assertIn('"' + evil_shown + '" is not an organization id', err)
        _, err = self.run_clean("store", "set-user", "nobody", "--from", b"/nonexistent/" + evil,
                                token=None, code=2)
        self.assertIn(evil_shown, err)
        # sync's user names and token files: test_sync.py.
