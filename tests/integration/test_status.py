#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""`mkio-orgs status` and the users' refresh records (issue 10, item 4).

For each user the store or a refresh record knows: how many organizations
the store holds, the last successful refresh, the last attempt and its
error, when the memberships last changed, and a mark for users whose last
success is older than max_stale (their groups leave groups.db). Records are
state_dir/users/USER, written by every refresh (common/store/userstate.h); these
tests write some by hand to set times a test cannot wait for, and make
others by real refreshes (`sync`) against the fake MK.IO server.

Run from tests/integration with B=build-dir and PYTHONPATH naming this
directory and tests/fake; the tool runs as root (as the store requires of
its files when they are root's), in temporary directories only.
"""
import calendar
import json
import os
import re
import time
import unittest

from tooltest import ALICE_TOKEN, BOB_TOKEN, ORG, ORG2, ToolTest

DAY = 86400
USER_KEYS = {"user", "organizations", "last_success", "last_attempt", "last_changed",
             "last_error", "known_good", "stale", "state"}
HEADER = ("USER                  ORGS  LAST SUCCESS          LAST ATTEMPT          "
          "LAST CHANGED          STATE")
# What must never reach a terminal: C0 but newline, DEL, C1, bidi controls.
UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f\u0080-\u009f\u202a-\u202e\u2066-\u2069"
                    "\u200e\u200f\u061c]")


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def from_iso(text):
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


class Status(ToolTest):

    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("needs root (store set-user, sync)")
        super().setUp()

    # -- helpers --

    def set_orgs(self, user, orgs):
        f = os.path.join(self.tmp, "orgs-%s.json" % user)
        with open(f, "w") as fh:
            json.dump(orgs, fh)
        self.assert_exit(self.run_tool("store", "set-user", user, "--from", f, token=None), 0)

    def write_record(self, user, attempt, success, error=b""):
        """A record as the refresh writes it (error: raw bytes, as a file may hold)."""
        users = os.path.join(self.state_dir, "users")
        os.makedirs(users, mode=0o755, exist_ok=True)
        os.chmod(self.state_dir, 0o755)
        os.chmod(users, 0o755)
        path = os.path.join(users, user)
        with open(path, "wb") as f:
            f.write(b"mkio-user-state 1\nattempt %d\nsuccess %d\nerror%s\n"
                    % (attempt, success, (b" " + error) if error else b""))
        os.chmod(path, 0o644)
        return path

    def status(self, *args):
        p = self.run_tool("status", *args, token=None)
        self.assert_exit(p, 0)
        return p

    def status_json(self):
        return json.loads(self.status("--json").stdout)

    def users_section(self, stdout):
        lines = stdout.split("\n")
        start = lines.index(HEADER)
        end = lines.index("", start)
        return lines[start:end], lines[end:]

    @staticmethod
    def user_line(user, orgs, success, attempt, changed, state):
        return "%-20s %5d  %-20s  %-20s  %-20s  %s" % (user, orgs, success, attempt, changed, state)

    # -- tests --

    def test_each_user_with_their_refreshes_exact_lines(self):
        now = int(time.time())
        self.set_orgs("alice", [{"id": ORG, "name": "Acme Media"}, {"id": ORG2, "name": "Delphi"}])
        self.write_record("alice", now - 60, now - 60)
        # bob has a record but no memberships: shown too, failing, with why.
        self.write_record("bob", now - 30, now - 3 * DAY,
                          b"listing the organizations of bob: MK.IO refused the token (401)")
        # carol has memberships but no record (a store from before records).
        self.set_orgs("carol", [{"id": ORG, "name": "Acme Media"}])
        st = self.status_json()
        changed = {u["user"]: u["last_changed"] for u in st["users"]}
        p = self.status()
        section, rest = self.users_section(p.stdout)
        self.assertEqual(section, [
            HEADER,
            self.user_line("alice", 2, iso(now - 60), iso(now - 60), changed["alice"], "ok"),
            self.user_line("bob", 0, iso(now - 3 * DAY), iso(now - 30), "never", "failing"),
            "    last error: listing the organizations of bob: MK.IO refused the token (401)",
            self.user_line("carol", 1, "never", "never", changed["carol"], "ok"),
        ])
        self.assertEqual(rest, [""])  # no stale note: nobody is stale
        self.assertEqual(p.stderr, "")

    def test_json_keys_and_values(self):
        now = int(time.time())
        self.set_orgs("alice", [{"id": ORG, "name": "Acme Media"}])
        self.write_record("alice", now - 10, now - 10)
        self.write_record("bob", now - 5, 0, b"no route to host")
        st = self.status_json()
        # "history": the renames and gid moves (issue 19; test_explain.py).
        self.assertEqual(list(st), ["schema", "groups", "users", "history", "max_stale_seconds"])
        self.assertEqual(st["schema"], 1)
        self.assertEqual(st["max_stale_seconds"], 30 * DAY)
        alice, bob = st["users"]
        for u in (alice, bob):
            self.assertEqual(set(u), USER_KEYS)
        self.assertEqual(alice["user"], "alice")
        self.assertEqual(alice["organizations"], [{"id": ORG, "name": "Acme Media"}])
        self.assertEqual(alice["last_success"], iso(now - 10))
        self.assertEqual(alice["last_attempt"], iso(now - 10))
        self.assertIsNone(alice["last_error"])
        # known good: the later of the last success and the store's change.
        self.assertEqual(alice["known_good"],
                         max(alice["last_success"], alice["last_changed"], key=from_iso))
        self.assertIs(alice["stale"], False)
        self.assertEqual(alice["state"], "ok")
        # A time never known is null (was "never" for the store's change).
        self.assertEqual(bob, {"user": "bob", "last_changed": None, "organizations": [],
                               "last_success": None, "last_attempt": iso(now - 5),
                               "last_error": "no route to host", "known_good": None,
                               "stale": False, "state": "failing"})

    def test_a_stale_user_is_marked(self):
        now = int(time.time())
        # dave's last success is 40 days old, the default bound 30 days; his
        # last attempt, yesterday, failed.
        self.write_record("dave", now - DAY, now - 40 * DAY, b"token revoked")
        self.write_record("erin", now - DAY, now - 29 * DAY, b"token revoked")
        p = self.status()
        section, rest = self.users_section(p.stdout)
        self.assertEqual(section, [
            HEADER,
            self.user_line("dave", 0, iso(now - 40 * DAY), iso(now - DAY), "never", "STALE"),
            "    last error: token revoked",
            self.user_line("erin", 0, iso(now - 29 * DAY), iso(now - DAY), "never", "failing"),
            "    last error: token revoked",
        ])
        self.assertEqual(rest, ["", "1 stale user: no successful refresh for longer than max_stale "
                                    "(30d); their organization groups are left out of groups.db "
                                    "until a refresh succeeds.", ""])
        st = self.status_json()
        self.assertEqual([(u["user"], u["stale"]) for u in st["users"]],
                         [("dave", True), ("erin", False)])
        self.assertEqual(st["users"][0]["known_good"], iso(now - 40 * DAY))
        # max_stale = 0: no bound, nobody stale.
        self.conf = self.write_conf("max_stale = 0\n")
        st = self.status_json()
        self.assertEqual([u["stale"] for u in st["users"]], [False, False])
        self.assertEqual(st["max_stale_seconds"], 0)

    def test_a_member_turns_stale_after_max_stale(self):
        """The store's own time counts too: a member whose memberships were
        written (by a success) 2 s ago is stale under max_stale = 2 s once
        they pass, and marked; the group leaves groups.db's members."""
        self.conf = self.write_conf("max_stale = 2\n")
        self.set_orgs("alice", [{"id": ORG, "name": "Acme Media"}])
        self.write_record("alice", int(time.time()), int(time.time()))
        st = self.status_json()
        self.assertIs(st["users"][0]["stale"], False)
        self.assertEqual(st["groups"][0]["members"], ["alice"])
        time.sleep(3.2)
        st = self.status_json()
        self.assertIs(st["users"][0]["stale"], True)
        self.assertEqual(st["users"][0]["organizations"][0]["id"], ORG)  # kept in the store
        p = self.status()
        section, rest = self.users_section(p.stdout)
        self.assertTrue(section[1].startswith("alice "), section)
        self.assertTrue(section[1].endswith("  STALE"), section)
        self.assertIn("1 stale user: no successful refresh for longer than max_stale (2s)", rest[1])

    def test_refreshes_are_recorded_by_sync(self):
        """A real refresh of each kind, by sync for two local accounts every
        host has: `nobody` with alice's token succeeds, `daemon` with a token
        MK.IO refuses (401) fails; status shows both as they went."""
        self.write_token("nobody", ALICE_TOKEN)
        self.write_token("daemon", "tok-daemon-revoked-0000")
        before = int(time.time())
        p = self.run_tool("sync", "--user", "nobody", "--user", "daemon", token=None)
        after = int(time.time())
        self.assertNotEqual(p.returncode, 0, p.stderr)   # one user failed
        st = {u["user"]: u for u in self.status_json()["users"]}
        self.assertEqual(sorted(st), ["daemon", "nobody"])
        good, bad = st["nobody"], st["daemon"]
        self.assertIsNone(good["last_error"])
        self.assertEqual(good["last_success"], good["last_attempt"])
        self.assertTrue(before <= from_iso(good["last_success"]) <= after)
        self.assertIsNone(bad["last_success"])
        self.assertTrue(before <= from_iso(bad["last_attempt"]) <= after)
        self.assertIn("listing the organizations of daemon", bad["last_error"])
        self.assertNotIn("tok-daemon", bad["last_error"])
        p = self.status()
        section, _ = self.users_section(p.stdout)
        self.assertEqual(len(section), 4, section)
        self.assertTrue(section[1].startswith("daemon ") and section[1].endswith("  failing"), section)
        self.assertTrue(section[2].startswith("    last error: listing the organizations of daemon"),
                        section)
        self.assertTrue(section[3].startswith("nobody ") and section[3].endswith("  ok"), section)
        # daemon succeeds later: the error goes.
        self.write_token("daemon", BOB_TOKEN)
        self.assert_exit(self.run_tool("sync", "--user", "daemon", token=None), 0)
        bad = {u["user"]: u for u in self.status_json()["users"]}["daemon"]
        self.assertIsNone(bad["last_error"])
        self.assertEqual(bad["last_success"], bad["last_attempt"])

    def test_a_hostile_error_text_is_shown_sanitized(self):
        now = int(time.time())
        hostile = (b"A\x1b[31mB\x07C\rD\x7fE\xc2\x9bF\x9bG\xe2\x80\xaeH\xe2\x81\xa6I\xffJ"
                   b"\xed\xa0\x80K\xc3\xa9")
        self.write_record("mallory", now - 5, 0, hostile)
        p = self.run_tool("status", token=None, raw=True)
        self.assert_exit(p, 0)
        text = p.stdout.decode("utf-8")   # valid UTF-8 throughout
        self.assertIsNone(UNSAFE.search(text), repr(text))
        [line] = [l for l in text.split("\n") if l.startswith("    last error: ")]
        self.assertTrue(line.startswith("    last error: A?[31mB?C?D?E?F?G?H?I?J"), repr(line))
        self.assertTrue(line.endswith("K\u00e9"), repr(line))
        p = self.run_tool("status", "--json", token=None, raw=True)
        self.assert_exit(p, 0)
        self.assertIsNone(UNSAFE.search(p.stdout.decode("utf-8")))
        [u] = json.loads(p.stdout)["users"]
        self.assertEqual(u["last_error"], line[len("    last error: "):])

    def test_a_user_name_that_is_not_one_and_temporary_files_are_left_out(self):
        now = int(time.time())
        self.write_record("alice", now, now)
        self.write_record("alice.tmp.Ab12Cd", now, now)   # a replacement a killed writer left
        self.write_record("zed", now, 0, b"x")
        with open(os.path.join(self.state_dir, "users", "broken"), "w") as f:
            f.write("not a record\n")
        self.assertEqual([u["user"] for u in self.status_json()["users"]], ["alice", "zed"])

    def test_untrusted_records_are_refused_and_nothing_changes(self):
        now = int(time.time())
        self.set_orgs("alice", [{"id": ORG, "name": "Acme Media"}])
        path = self.write_record("alice", now, now)
        users = os.path.dirname(path)
        for what, target, mode in (("directory", users, 0o777), ("directory", users, 0o775),
                                   ("record", path, 0o666)):
            with self.subTest(what=what, mode=oct(mode)):
                os.chmod(target, mode)
                before = self.state_snapshot()
                for args in ((), ("--json",)):
                    p = self.run_tool("status", *args, token=None)
                    self.assert_exit(p, 4)
                    if args:   # under --json the error is an object (issue 19)
                        self.assertEqual(json.loads(p.stdout)["error"]["exit"], 4)
                    else:
                        self.assertEqual(p.stdout, "")
                    self.assertIn(users if what == "directory" else path, p.stderr)
                    self.assertIn("writable by group", p.stderr)
                    self.assertEqual(self.state_snapshot(), before)
                os.chmod(target, 0o755 if what == "directory" else 0o644)
        self.assertEqual(self.status_json()["users"][0]["last_success"], iso(now))

    def test_no_users_no_section(self):
        p = self.status()
        self.assertEqual(p.stdout, "No groups: no user of this machine has joined an organization yet.\n")
        self.assertEqual(self.status_json(), {"schema": 1, "groups": [], "users": [], "history": [],
                                              "max_stale_seconds": 30 * DAY})

    def test_help(self):
        p = self.run_tool("status", "--help", token=None)
        self.assert_exit(p, 0)
        for words in ("LAST SUCCESS", "LAST ATTEMPT", "LAST CHANGED", "STALE", "max_stale",
                      "failing", "--json", "--verify", "known_good", "Exit status 4"):
            self.assertIn(words, p.stdout)


if __name__ == "__main__":
    unittest.main()
