#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""`mkio-orgs explain USER`, the history of renames and gid moves in
`status`, and what sync says changed (issue 19, items 3 and 5).

A rename and a gid move are made as they happen on a host: a local group
added to /etc/group (a private one, bind-mounted in a mount namespace,
tests/lib/sandbox.py, so that the store and NSS both see it) takes the gid,
then the name, of a group the store gave; the next write of the user moves
and renames it and keeps both in store.json. A refused token is a token the
fake MK.IO server does not know (401). Runs as root, in temporary
directories only; users are the host's nobody and daemon.
"""
import json
import os
import re
import shutil
import unittest

from tooltest import BOB_TOKEN, NOBODY, ORG, TOOL, ToolTest, world
import sandbox  # tests/lib, on the path through tooltest

EVENT_KEYS = {"time", "old_group", "old_gid", "new_group", "new_gid", "reason"}
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


class Explain(ToolTest):

    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("needs root (store set-user, sync)")
        super().setUp()

    def explain(self, *args, code=0, user=None):
        p = self.run_tool("explain", *args, token=None, user=user)
        self.assert_exit(p, code)
        return p

    def explain_json(self, who, user=None):
        out = json.loads(self.explain(who, "--json", user=user).stdout)
        self.assertEqual(list(out)[0], "schema")
        self.assertEqual(out["schema"], 1)
        return out

    def sync(self, *args, code=0):
        p = self.run_tool("sync", "--user", "nobody", *args, token=None)
        self.assert_exit(p, code)
        return p

    # -- who is left alone --

    def test_min_uid_skip_shown(self):
        self.conf = self.write_conf(min_uid=1000)
        p = self.explain("daemon")
        self.assertIn("user daemon (uid 1)\n", p.stdout)
        self.assertIn("  left alone: uid 1 is below min_uid 1000; logins and sync never "
                      "refresh this user\n", p.stdout)
        out = self.explain_json("daemon")
        self.assertEqual((out["user"], out["uid"], out["ignored"], out["ignored_reason"]),
                         ("daemon", 1, True, "uid 1 is below min_uid 1000"))

    def test_ignore_users_skip_shown(self):
        self.conf = self.write_conf("ignore_users = root nobody\n")
        p = self.explain("nobody")
        self.assertIn("  left alone: named in ignore_users;", p.stdout)
        out = self.explain_json("nobody")
        self.assertEqual((out["ignored"], out["ignored_reason"]), (True, "named in ignore_users"))
        # A user not named is refreshed.
        out = self.explain_json("daemon")
        self.assertEqual((out["ignored"], out["ignored_reason"]), (False, None))
        self.assertIn("refreshed by logins and sync", self.explain("daemon").stdout)

    # -- a refused token --

    def test_refused_token_the_last_error_and_the_file(self):
        self.write_token("nobody", "tok-nobody-revoked-0000")
        p = self.run_tool("sync", "--user", "nobody", token=None)
        self.assertNotEqual(p.returncode, 0, p.stdout + p.stderr)
        path = os.path.join(self.token_dir, "nobody")
        p = self.explain("nobody")
        self.assertIn("  token (found): logins read %s\n" % path, p.stdout)
        m = re.search(r"^  last error: (.*)$", p.stdout, re.M)
        self.assertTrue(m, p.stdout)
        self.assertIn("401", m.group(1) + p.stdout)
        self.assertIn("  state: failing", p.stdout)
        out = self.explain_json("nobody")
        self.assertEqual(out["token"]["state"], "found")
        self.assertEqual(out["token"]["path"], path)
        self.assertEqual(out["last_error"], m.group(1))
        self.assertIsNone(out["last_success"])
        self.assertRegex(out["last_attempt"], TIME)
        self.assertIs(out["stale"], False)

    def test_no_token_said(self):
        out = self.explain_json("nobody")
        self.assertEqual((out["token"]["state"], out["token"]["path"]), ("missing", None))
        self.assertIn("no token for nobody", out["token"]["detail"])

    # -- what sync says changed --

    def reseed(self, w):
        self.fake.reset()
        self.fake.seed(w)

    def test_sync_names_groups_added_and_removed(self):
        self.write_token("nobody", BOB_TOKEN)
        p = self.sync()
        m = re.search(r"^nobody: 1 joined \(0 accepted now\), 0 skipped, 0 expired, 0 failed; "
                      r"groups \+(mk-acme-media-\S+)$", p.stdout, re.M)
        self.assertTrue(m, p.stdout)
        group = m.group(1)
        # Nothing changed: no groups word.
        p = self.sync()
        self.assertRegex(p.stdout, r"(?m)^nobody: 1 joined \(0 accepted now\), 0 skipped, "
                                   r"0 expired, 0 failed$")
        # bob leaves Acme Media on the server: the next sync says the group went.
        w = world()
        w["organizations"][0]["members"] = ["u-admin"]
        self.reseed(w)
        p = self.sync()
        self.assertRegex(p.stdout, r"(?m)^nobody: 0 joined \(0 accepted now\), 0 skipped, "
                                   r"0 expired, 0 failed; groups -%s$" % re.escape(group))
        # And in JSON: back in, then out again.
        self.reseed(world())
        line = json.loads(self.sync("--json").stdout.split("\n")[0])
        self.assertEqual((line["added"], line["removed"]), ([group], []))
        self.reseed(w)
        line = json.loads(self.sync("--json").stdout.split("\n")[0])
        self.assertEqual((line["added"], line["removed"]), ([], [group]))
        out = self.explain_json("nobody")
        self.assertEqual(out["organizations"], [])

    # -- usage --

    def test_usage_errors_and_unknown_user(self):
        for args in ((), ("nobody", "daemon"), ("--frob", "nobody"),
                     ("no-such-user-x19",), ("bad:name",)):
            p = self.explain(*args, code=2)
            self.assertTrue(p.stderr.startswith("mkio-orgs: explain: "), p.stderr)
            self.assertEqual(p.stdout, "")
        self.assertIn("no such user 'no-such-user-x19'",
                      self.explain("no-such-user-x19", code=2).stderr)
        self.assertIn("Usage: mkio-orgs explain USER", self.explain("--help").stdout)

    def test_a_user_sees_another_user_without_the_token(self):
        self.share_with_users()
        self.write_token("daemon", BOB_TOKEN)
        self.assert_exit(self.run_tool("sync", "--user", "daemon", token=None), 0)
        os.chmod(self.state_dir, 0o755)
        out = self.explain_json("daemon", user=NOBODY)
        self.assertEqual(out["hidden"], ["token"])
        self.assertEqual((out["token"]["state"], out["token"]["path"]), ("hidden", None))
        self.assertEqual(len(out["organizations"]), 1)
        self.assertEqual(out["organizations"][0]["organization"]["id"], ORG)
        self.assertIn("  token (hidden): hidden: only root or daemon may see",
                      self.explain("daemon", user=NOBODY).stdout)
        # About themself: not hidden (token_dir is root's: it cannot tell
        # whether root filed one, and says so).
        out = self.explain_json("nobody", user=NOBODY)
        self.assertEqual(out["hidden"], [])
        self.assertIn(out["token"]["state"], ("unknown", "missing"))


@unittest.skipUnless(sandbox.available(), "needs root and unshare (private /etc/group)")
class ExplainHistory(ToolTest):
    """A gid move, then a rename, of nobody's group, kept and shown."""

    def setUp(self):
        super().setUp()
        self.group_file = os.path.join(self.tmp, "group")
        shutil.copyfile("/etc/group", self.group_file)
        os.chmod(self.group_file, 0o644)

    def tool(self, *args, code=0):
        sb = sandbox.Sandbox().bind(self.group_file, "/etc/group")
        p = sb.run([TOOL, "--config", self.conf, *args], capture_output=True, text=True,
                   timeout=60, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                                    "HOME": self.tmp})
        self.outputs += [p.stdout, p.stderr]
        self.assertEqual(p.returncode, code, "%s: %s%s" % (args, p.stdout, p.stderr))
        return p

    def join(self):
        f = os.path.join(self.tmp, "orgs.json")
        with open(f, "w") as fh:
            json.dump([{"id": ORG, "name": "Acme Media"}], fh)
        return self.tool("store", "set-user", "nobody", "--from", f).stderr

    def group(self):
        st = json.loads(self.tool("status", "--json").stdout)
        (g,) = [g for g in st["groups"] if g["group"]["organization"]["id"] == ORG]
        return g["group"]["name"], g["group"]["gid"]

    def add_local_group(self, name, gid):
        with open(self.group_file, "a") as f:
            f.write("%s:x:%d:\n" % (name, gid))

    def test_gid_move_and_rename_in_explain_and_status(self):
        self.join()
        name0, gid0 = self.group()
        self.add_local_group("xclash", gid0)
        warned = self.join()
        self.assertIn("moves to gid", warned)      # the warning printed once stays
        name1, gid1 = self.group()
        self.assertEqual(name1, name0)
        self.assertNotEqual(gid1, gid0)
        self.add_local_group(name1, 1999)
        self.assertIn("renamed", self.join())
        name2, gid2 = self.group()
        self.assertNotEqual(name2, name1)
        self.assertEqual(gid2, gid1)

        out = json.loads(self.tool("explain", "nobody", "--json").stdout)
        (org,) = out["organizations"]
        self.assertEqual(org["organization"], {"id": ORG, "name": "Acme Media"})
        self.assertEqual(org["group"], {"name": name2, "gid": gid2,
                                        "organization": {"id": ORG, "name": "Acme Media"}})
        self.assertIs(org["given"], True)
        move, rename = org["history"]
        for e in (move, rename):
            self.assertEqual(set(e), EVENT_KEYS)
            self.assertRegex(e["time"], TIME)
        self.assertEqual((move["old_group"], move["old_gid"], move["new_group"], move["new_gid"]),
                         (name0, gid0, name0, gid1))
        self.assertIn("a local group in /etc/group", move["reason"])
        self.assertEqual((rename["old_group"], rename["old_gid"], rename["new_group"],
                          rename["new_gid"]), (name1, gid1, name2, gid1))
        self.assertIn("another group source", rename["reason"])

        text = self.tool("explain", "nobody").stdout
        self.assertIn("  %s (gid %d) of %s Acme Media" % (name2, gid2, ORG), text)
        self.assertRegex(text, r"(?m)^    \S+Z  %s \(gid %d\) -> %s \(gid %d\): .*local group"
                         % (re.escape(name0), gid0, re.escape(name0), gid1))
        self.assertRegex(text, r"(?m)^    \S+Z  %s \(gid %d\) -> %s \(gid %d\): .*another group "
                         r"source" % (re.escape(name1), gid1, re.escape(name2), gid1))

        status = self.tool("status").stdout
        self.assertIn("\nRenames and gid moves (the last 5 of each organization, oldest first):\n"
                      "  %s  Acme Media\n" % ORG, status)
        self.assertIn("%s (gid %d) -> %s (gid %d): " % (name1, gid1, name2, gid1), status)
        st = json.loads(self.tool("status", "--json").stdout)
        self.assertEqual(st["history"], [{"organization": {"id": ORG, "name": "Acme Media"},
                                          "events": [move, rename]}])

        # A later write that changes nothing keeps the history.
        self.join()
        st = json.loads(self.tool("status", "--json").stdout)
        self.assertEqual(st["history"][0]["events"], [move, rename])
        with open(os.path.join(self.state_dir, "store.json")) as f:
            self.assertEqual(len(json.load(f)["organizations"][ORG]["history"]), 2)


if __name__ == "__main__":
    unittest.main()
