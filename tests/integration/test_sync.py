# SPDX-License-Identifier: LGPL-2.1-or-later
"""mkio-orgs sync against the fake MK.IO server: which users, in which order,
how many at once, within which time, what a 429 does, and what is printed
(text and --json), with the exit codes and the store afterwards.

Runs as root (sync is root only). The tests with many users give them local
accounts in a private /etc/passwd, bind-mounted inside `unshare --mount`:
the host's files are never touched."""
import json
import os
import re
import select
import shutil
import subprocess
import time
import unittest

from test_tool import EVIL_ORG, EVIL_ORG2, HOSTILE, HostileWorld, shown
from tooltest import ALICE_TOKEN, BOB_TOKEN, ORG, ORG2, TOOL, ToolTest
import sandbox  # tests/lib, on the path through tooltest
import timing

SUMMARY = re.compile(r"^sync: (\d+) of (\d+) user\(s\) refreshed, (\d+) failed, "
                     r"(\d+) left for the next run \(\d+\.\d s\)$")
IS_ROOT = os.geteuid() == 0


def summary(stdout):
    """The closing line's numbers: (refreshed, users, failed, left)."""
    last = stdout.rstrip("\n").split("\n")[-1]
    m = SUMMARY.match(last)
    if not m:
        raise AssertionError("no summary line at the end of: %r" % stdout)
    return tuple(int(g) for g in m.groups())


class Sync(ToolTest):
    def test_sync_accepts_only_with_accept(self):
        self.write_token("nobody", ALICE_TOKEN)
        p = self.run_tool("sync", "--user", "nobody", token=None)
        self.assert_exit(p, 0)
        self.assertEqual(self.api_requests("PATCH"), [])
        self.assertNotIn("u-alice", self.org_state(ORG)["members"])
        p = self.run_tool("sync", "--all", "--accept", token=None)
        self.assert_exit(p, 0)
        self.assertIn("u-alice", self.org_state(ORG)["members"])
        st = json.loads(self.run_tool("status", "--json", token=None).stdout)
        self.assertEqual(st["groups"][0]["members"], ["nobody"])
        with open(os.path.join(self.state_dir, "store.json")) as f:
            self.assertNotIn(ALICE_TOKEN, f.read())

    def test_output_lines_and_summary(self):
        self.write_token("nobody", ALICE_TOKEN)
        p = self.run_tool("sync", "--user", "nobody", token=None)
        self.assert_exit(p, 0)
        lines = p.stdout.split("\n")
        self.assertEqual(lines[0], "nobody: Acme Media (%s): not-accepting: pending; not "
                                   "accepted by this run" % ORG)
        self.assertEqual(lines[1], "nobody: 0 joined (0 accepted now), 0 skipped, 0 expired, "
                                   "0 failed")
        self.assertEqual(summary(p.stdout), (1, 1, 0, 0))
        self.assertEqual(len(lines), 4)  # and the final newline
        self.assertEqual(p.stderr, "")
        # --quiet: the user's lines, not the run's summary.
        p = self.run_tool("--quiet", "sync", "--user", "nobody", token=None)
        self.assert_exit(p, 0)
        self.assertEqual(p.stdout.split("\n")[:2], lines[:2])
        self.assertNotIn("sync: ", p.stdout)
        self.assertEqual(p.stderr, "")

    def test_sync_policy_applies(self):
        self.write_token("nobody", ALICE_TOKEN)
        self.conf = self.write_conf("accept_orgs = " + ORG2 + "\n")
        p = self.run_tool("sync", "--user", "nobody", "--accept", token=None)
        self.assert_exit(p, 0)
        self.assertIn("skipped", p.stdout)
        self.assertEqual(self.api_requests("PATCH"), [])

    def test_sync_with_429_and_retry_after_within_the_budget(self):
        # The client's own retry (Retry-After 1 s, within the 3 s budget)
        # absorbs it: the user is refreshed and the run is not held back.
        self.write_token("nobody", BOB_TOKEN)
        self.fake.fault("user_orgs_list", "status", count=1, status=429, retry_after="1")
        p = self.run_tool("sync", "--user", "nobody", token=None)
        self.assert_exit(p, 0)
        self.assertNotIn("rate limiting", p.stderr)
        st = json.loads(self.run_tool("status", "--json", token=None).stdout)
        self.assertEqual(st["groups"][0]["members"], ["nobody"])

    def test_sync_prints_store_warnings_on_stderr(self):
        # Another organization holds the gid ORG's id hashes to: the store
        # says "gid ... is taken; using ..." and an admin running sync sees
        # it on the terminal (common/ logs through the tool's sink, never to
        # syslog on its own).
        h = 0xcbf29ce484222325
        for b in ORG.lower().encode():
            h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
        # A gid_range of its own: the default's place is not this test's business.
        self.conf = self.write_conf("gid_range = 2100000000-2109999999\n")
        gid = 2100000000 + h % 10000000
        os.mkdir(self.state_dir, 0o755)
        with open(os.path.join(self.state_dir, "store.json"), "w") as f:
            json.dump({"version": 1, "retired_gids": [], "users": {},
                       "organizations": {"other-org-0001": {
                           "name": "Other", "group": "mk-other-other0001", "gid": gid,
                           "pinned": False, "first_seen": 1}}}, f)
        os.chmod(os.path.join(self.state_dir, "store.json"), 0o644)
        self.write_token("nobody", BOB_TOKEN)
        p = self.run_tool("sync", "--user", "nobody", token=None)
        self.assert_exit(p, 0)
        self.assertIn("mkio-orgs: warning: organization %s: gid %d is taken; using %d"
                      % (ORG, gid, gid + 1), p.stderr)
        st = json.loads(self.run_tool("status", "--json", token=None).stdout)
        self.assertEqual(st["groups"][0]["group"]["gid"], gid + 1)

    def test_sync_failure_keeps_last_good_data(self):
        self.write_token("nobody", BOB_TOKEN)
        self.assert_exit(self.run_tool("sync", "--user", "nobody", token=None), 0)
        self.fake.fault("user_orgs_list", "status", status=500)
        p = self.run_tool("sync", "--user", "nobody", token=None)
        self.assert_exit(p, 3)
        self.assertIn("mkio-orgs: sync: nobody (last good data kept): ", p.stderr)
        # One context, not the API layer's under the refresh's (issue 19).
        self.assertIn("kept): listing the organizations of nobody: MK.IO", p.stderr)
        self.assertNotIn("listing your organizations", p.stderr)
        self.assertEqual(summary(p.stdout), (0, 1, 1, 0))
        st = json.loads(self.run_tool("status", "--json", token=None).stdout)
        self.assertEqual(st["groups"][0]["members"], ["nobody"])

    def test_sync_stops_within_max_time(self):
        # One at a time, each user may take the whole 3 s budget: with
        # --max-time 3 only the first starts, and the rest is left for the
        # next run, said plainly.
        self.write_token("nobody", ALICE_TOKEN)
        self.write_token("daemon", BOB_TOKEN)
        self.fake.fault("user_orgs_list", "hang")
        p = self.run_tool("sync", "--all", "--jobs", "1", "--max-time", "3", token=None)
        self.assert_exit(p, 3)
        # Cut at --max-time: the fake never answers, so only a hang
        # reaches 3 + 20 s.
        timing.at_most(self, "sync cut by --max-time 3", p.elapsed, 3 + 1, hang=3 + 20)
        self.assertIn("mkio-orgs: sync: --max-time reached; 1 user(s) left for the next run\n",
                      p.stderr)
        self.assertEqual(len(self.api_requests("GET")), 1)
        self.assertEqual(summary(p.stdout), (0, 2, 1, 1))

    def test_a_user_started_late_gets_only_what_is_left(self):
        # Two at once would fit; the third starts when the first two end, at
        # about 1.5 s, with 1.5 s left of --max-time 3 rather than its 3 s
        # budget: the run still ends by --max-time.
        for user in ("bin", "daemon", "nobody"):
            self.write_token(user, BOB_TOKEN)
        self.fake.fault("*", "delay", ms=1500, count=2)
        self.fake.fault("*", "hang", count=1)
        p = self.run_tool("sync", "--all", "--jobs", "2", "--max-time", "3", token=None)
        self.assert_exit(p, 3)
        # Cut at --max-time (a user started late would otherwise take its
        # whole budget, the hanging one for ever): 3 + 20 s only a hang reaches.
        timing.at_most(self, "sync with a user started late, --max-time 3", p.elapsed, 3 + 1,
                       hang=3 + 20)
        self.assertEqual(len(self.api_requests("GET")), 3)
        self.assertEqual(summary(p.stdout), (2, 3, 1, 0))

    def test_sync_all_names_token_files_of_unknown_users(self):
        self.write_token("no-such-user-here", ALICE_TOKEN)
        p = self.run_tool("sync", "--all", token=None)
        self.assert_exit(p, 0)
        self.assertIn("no-such-user-here belongs to no local user; skipped", p.stderr)
        self.assertEqual(self.api_requests(), [])
        self.assertEqual(summary(p.stdout), (0, 0, 0, 0))

    def test_sync_usage(self):
        for args in (["sync"], ["sync", "--all", "--user", "nobody"], ["sync", "--all", "--max-time", "0"],
                     ["sync", "--all", "--max-time", "x"], ["sync", "--all", "extra"],
                     ["sync", "--all", "--max-time", "86401"], ["sync", "--all", "--max-time", "-5"],
                     ["sync", "--all", "--max-time", " 5"], ["sync", "--all", "--max-time", "5s"],
                     ["sync", "--all", "--max-time", "99999999999999999999"],
                     ["sync", "--all", "--bogus"], ["sync", "--all", "--jobs"]):
            with self.subTest(args=args):
                p = self.run_tool(*args, token=None)
                self.assert_exit(p, 2)
                self.assertIn("Try 'mkio-orgs sync --help'.", p.stderr)
                self.assertEqual(p.stdout, "")
                if "--max-time" in args:
                    self.assertIn("--max-time takes whole seconds, 1 to 86400", p.stderr)
        self.assertEqual(self.api_requests(), [])
        self.assertFalse(os.path.exists(self.state_dir))

    def test_bad_jobs_values_are_usage_errors(self):
        self.write_token("nobody", ALICE_TOKEN)
        for value in ("0", "17", "-1", "x", "", " 4", "4x", "4.5", "1e1", "99999999999999999999"):
            with self.subTest(value=value):
                p = self.run_tool("sync", "--all", "--jobs", value, token=None)
                self.assert_exit(p, 2)
                self.assertEqual(p.stderr, "mkio-orgs: sync: --jobs takes a whole number of "
                                 "users, 1 to 16\nTry 'mkio-orgs sync --help'.\n")
                self.assertEqual(p.stdout, "")
        self.assertEqual(self.api_requests(), [])
        self.assertFalse(os.path.exists(self.state_dir))
        for value in ("1", "16"):
            self.assert_exit(self.run_tool("sync", "--all", "--jobs", value, token=None), 0)

    def test_sync_of_a_user_without_token(self):
        p = self.run_tool("sync", "--user", "nobody", token=None)
        self.assert_exit(p, 2)
        self.assertIn("mkio-orgs: sync: nobody: ", p.stderr)
        self.assertEqual(summary(p.stdout), (0, 1, 1, 0))

    def test_an_unknown_user_does_not_stop_the_others(self):
        self.write_token("nobody", BOB_TOKEN)
        p = self.run_tool("sync", "--user", "no-such-user-here", "--user", "nobody", token=None)
        self.assert_exit(p, 2)
        self.assertEqual(p.stderr, "mkio-orgs: sync: no-such-user-here: no such local user\n")
        self.assertIn("nobody: 1 joined", p.stdout)
        self.assertEqual(summary(p.stdout), (1, 1, 0, 0))

    def test_a_user_named_twice_is_refreshed_once(self):
        self.write_token("nobody", BOB_TOKEN)
        p = self.run_tool("sync", "--user", "nobody", "--user", "nobody", token=None)
        self.assert_exit(p, 0)
        self.assertEqual(len(self.api_requests("GET")), 1)
        self.assertEqual(summary(p.stdout), (1, 1, 0, 0))

    def test_the_run_ends_by_recompiling_groups_db_for_stale_users(self):
        # daemon's memberships were last known good when set by hand; with
        # max_stale 2 s they are stale 3 s later. A run that refreshes
        # nobody (no token file at all) still recompiles groups.db once, and
        # daemon's membership leaves it (store.json keeps it).
        self.conf = self.write_conf("max_stale = 2\n")
        orgs = os.path.join(self.tmp, "orgs.json")
        with open(orgs, "w") as f:
            json.dump([{"id": ORG2, "name": "Delphi Studio"}], f)
        self.assert_exit(self.run_tool("store", "set-user", "daemon", "--from", orgs, token=None), 0)
        db = os.path.join(self.state_dir, "groups.db")
        with open(db, "rb") as f:
            self.assertIn(b"daemon", f.read())
        time.sleep(3)
        p = self.run_tool("sync", "--all", token=None)
        self.assert_exit(p, 0)
        self.assertEqual(summary(p.stdout), (0, 0, 0, 0))
        self.assertIn("daemon", p.stderr)   # the store's warning names the stale user
        with open(db, "rb") as f:
            self.assertNotIn(b"daemon", f.read())
        with open(os.path.join(self.state_dir, "store.json")) as f:
            self.assertIn("daemon", f.read())
        self.assertEqual(self.api_requests(), [])

    def test_help_documents_every_option_order_parallelism_429_and_exit_codes(self):
        p = self.run_tool("sync", "--help", token=None)
        self.assert_exit(p, 0)
        for word in ("--all", "--user USER", "--accept", "--jobs N", "1 to 16 (default 4)",
                     "--max-time SECONDS", "--json", "oldest attempt first", "HTTP 429",
                     "line-buffered", "Exit status", "0  every user", "1  MK.IO refused",
                     "2  usage", "3  MK.IO unavailable", "4  local failure"):
            self.assertIn(word, p.stdout)


class SyncOrder(ToolTest):
    """Users are taken oldest attempt first: never tried, then by the time of
    the last attempt, ties by name."""

    def tokens_in_order(self):
        names = {"Bearer " + ALICE_TOKEN: "nobody", "Bearer " + BOB_TOKEN: "daemon",
                 "Bearer tok-bin": "bin"}
        return [names.get(r["headers"].get("authorization")) for r in self.api_requests("GET")]

    def test_never_attempted_first_then_oldest(self):
        self.fake.seed({"tokens": [{"token": "tok-bin", "user": "u-bin", "organization": None,
                                    "expires": None}]})
        self.write_token("nobody", ALICE_TOKEN)
        self.write_token("daemon", BOB_TOKEN)
        self.write_token("bin", "tok-bin")
        # nobody is tried first, daemon a second later, bin never.
        self.assert_exit(self.run_tool("sync", "--user", "nobody", token=None), 0)
        time.sleep(1.1)
        self.assert_exit(self.run_tool("sync", "--user", "daemon", token=None), 0)
        self.fake.clear_requests()
        p = self.run_tool("sync", "--all", "--jobs", "1", token=None)
        self.assert_exit(p, 0)
        self.assertEqual(self.tokens_in_order(), ["bin", "nobody", "daemon"])
        self.assertEqual([line.split(":")[0] for line in p.stdout.split("\n")
                          if line.endswith("failed") and not line.startswith("sync:")],
                         ["bin", "nobody", "daemon"])
        # Now all three were tried within a second; then daemon alone, then
        # bin, which fails: a failed attempt counts as an attempt too.
        time.sleep(1.1)
        self.assert_exit(self.run_tool("sync", "--user", "daemon", token=None), 0)
        time.sleep(1.1)
        self.fake.fault("user_orgs_list", "status", status=500, count=1)
        self.assert_exit(self.run_tool("sync", "--user", "bin", token=None), 3)
        self.fake.clear_requests()
        self.assert_exit(self.run_tool("sync", "--all", "--jobs", "1", token=None), 0)
        self.assertEqual(self.tokens_in_order(), ["nobody", "daemon", "bin"])


class SyncParallel(ToolTest):
    """--jobs bounds how many users run at once; the fake logs each request
    when it arrives, before its delay, so the log counts the users running."""

    USERS = ("bin", "daemon", "games", "man", "nobody", "sys")

    def setUp(self):
        super().setUp()
        self.fake.seed({"tokens": [{"token": "tok-par-" + u, "user": "u-" + u,
                                    "organization": None, "expires": None} for u in self.USERS]})
        for u in self.USERS:
            self.write_token(u, "tok-par-" + u)
        self.fake.fault("*", "delay", ms=1500)

    def run_counting(self, *args):
        """Runs sync, counting the requests that arrived 1 s after the start
        (all users of the first round, none of the second)."""
        e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": self.tmp}
        start = time.monotonic()
        proc = subprocess.Popen([TOOL, "--config", self.conf, "sync", "--all", *args], env=e, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            time.sleep(max(0.0, 1.0 - (time.monotonic() - start)))
            at_one_second = len(self.api_requests("GET"))
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.outputs += [out, err]
        return at_one_second, proc.returncode, out, err, time.monotonic() - start

    def test_jobs_bounds_how_many_users_run_at_once(self):
        running, code, out, err, elapsed = self.run_counting("--jobs", "2")
        self.assertEqual(code, 0, err)
        self.assertEqual(running, 2)
        timing.at_least(self, "--jobs 2: three rounds of two", elapsed, 3 * 1.5)
        self.assertEqual(summary(out), (6, 6, 0, 0))
        self.assertEqual(len(self.api_requests("GET")), 6)

    def test_four_at_once_by_default(self):
        running, code, out, err, elapsed = self.run_counting()
        self.assertEqual(code, 0, err)
        self.assertEqual(running, 4)
        timing.at_least(self, "four at once: two rounds", elapsed, 2 * 1.5)
        timing.at_most(self, "four at once: two rounds", elapsed, 3 * 1.5)
        self.assertEqual(summary(out), (6, 6, 0, 0))


class SyncRateLimit(ToolTest):
    """A refresh that ends on a 429 holds back every user not yet started."""

    USERS = ("bin", "daemon", "games", "man", "nobody", "sys")

    def setUp(self):
        super().setUp()
        self.fake.seed({"tokens": [{"token": "tok-rl-" + u, "user": "u-" + u,
                                    "organization": None, "expires": None} for u in self.USERS]})

    def test_a_429_beyond_max_time_ends_the_run_and_says_so(self):
        for u in self.USERS:
            self.write_token(u, "tok-rl-" + u)
        # The first request is refused at once with a Retry-After beyond the
        # 3 s budget (so the client does not retry it); the second, started
        # with it, takes 1 s, and no third user starts.
        self.fake.fault("user_orgs_list", "status", status=429, retry_after="30", count=1)
        self.fake.fault("user_orgs_list", "delay", ms=1000, count=1)
        p = self.run_tool("sync", "--all", "--jobs", "2", "--max-time", "8", token=None)
        self.assert_exit(p, 3)
        # MK.IO's Retry-After (30 s) is the pause.
        self.assertRegex(p.stderr, r"mkio-orgs: sync: MK.IO is rate limiting \(HTTP 429\): a pause "
                         r"of 30 s would pass --max-time; 4 user\(s\) left for the next run\n")
        self.assertIn("MK.IO is rate limiting this organization", p.stderr)
        self.assertEqual(len(self.api_requests("GET")), 2)   # no user started after the 429
        self.assertEqual(summary(p.stdout), (1, 6, 1, 4))
        # The run does not wait out the 30 s pause: 20 s only a run that
        # waited (or hung) would reach.
        timing.at_most(self, "429 pause past --max-time: no wait", p.elapsed, 3, hang=20)

    def test_a_429_pauses_new_users_for_its_retry_after(self):
        for u in ("bin", "daemon", "nobody"):
            self.write_token(u, "tok-rl-" + u)
        # Retry-After 4 s: beyond the 3 s budget, so the client gives up on
        # that user, and the run waits those 4 s before the next user.
        self.fake.fault("user_orgs_list", "status", status=429, retry_after="4", count=1)
        start = time.monotonic()
        p = self.run_tool("sync", "--all", "--jobs", "1", "--max-time", "30", token=None)
        elapsed = time.monotonic() - start
        self.assert_exit(p, 3)
        self.assertIn("mkio-orgs: sync: MK.IO is rate limiting (HTTP 429): no further user "
                      "starts for 4 s\n", p.stderr)
        timing.at_least(self, "paused for Retry-After: 4", elapsed, 3.9)
        timing.at_most(self, "paused for Retry-After: 4", elapsed, 7.5)
        self.assertEqual(len(self.api_requests("GET")), 3)
        self.assertEqual(summary(p.stdout), (2, 3, 1, 0))

    def test_a_429_without_retry_after_pauses_new_users_then_the_run_goes_on(self):
        for u in ("bin", "daemon", "nobody"):
            self.write_token(u, "tok-rl-" + u)
        # No Retry-After: the client's own retries (3) meet the 429 too, and
        # the run then holds new users back for its own pause (10 s, less up
        # to a quarter).
        self.fake.fault("user_orgs_list", "status", status=429, count=4)
        e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": self.tmp}
        start = time.monotonic()
        p = subprocess.run([TOOL, "--config", self.conf, "sync", "--all", "--jobs", "1",
                            "--max-time", "30"], env=e,
                           capture_output=True, text=True, timeout=60)
        elapsed = time.monotonic() - start
        self.outputs += [p.stdout, p.stderr]
        self.assertEqual(p.returncode, 3, p.stderr)
        m = re.search(r"mkio-orgs: sync: MK.IO is rate limiting \(HTTP 429\): no further user "
                      r"starts for (\d+) s\n", p.stderr)
        self.assertTrue(m, p.stderr)
        self.assertIn(int(m.group(1)), range(8, 11))
        timing.at_least(self, "own 429 pause: 10 s less at most a quarter", elapsed, 7.5)
        self.assertEqual(len(self.api_requests("GET")), 6)
        self.assertEqual(summary(p.stdout), (2, 3, 1, 0))


class SyncJson(ToolTest):
    def test_one_object_per_user_and_a_summary(self):
        self.write_token("nobody", ALICE_TOKEN)
        self.write_token("daemon", BOB_TOKEN)
        # daemon goes first (never tried, then by name) and meets the 500.
        self.fake.fault("user_orgs_list", "status", status=500, count=1, ref="ref-json-500",
                        detail="boom")
        p = self.run_tool("sync", "--all", "--jobs", "1", "--json", token=None)
        self.assert_exit(p, 3)
        lines = p.stdout.rstrip("\n").split("\n")
        self.assertEqual(len(lines), 3, p.stdout)
        daemon, nobody, end = (json.loads(line) for line in lines)
        self.assertEqual(daemon["user"], "daemon")
        self.assertEqual(daemon["outcome"], "failed")
        self.assertEqual(daemon["error"]["status"], "unavailable")
        self.assertEqual(daemon["error"]["http_status"], 500)
        self.assertEqual(daemon["error"]["ref"], "ref-json-500")
        self.assertIn("boom", daemon["error"]["message"])
        # A failed user has no counts: null, never 0 beside "outcome": "failed".
        self.assertEqual((daemon["joined"], daemon["failed"], daemon["organizations"]), (None, None, []))
        self.assertEqual(nobody, {
            "schema": 1, "user": "nobody", "outcome": "refreshed", "joined": 0, "accepted": 0,
            "skipped": 0, "expired": 0, "failed": 0, "error": None, "added": [], "removed": [],
            "organizations": [{"organization": {"id": ORG, "name": "Acme Media"},
                               "outcome": "not-accepting",
                               "detail": "pending; not accepted by this run", "ref": None}]})
        s = end["summary"]
        self.assertEqual((s["users"], s["refreshed"], s["failed"], s["left"], s["rate_limited"],
                          s["exit_status"]), (2, 1, 1, 0, False, 3))
        self.assertIsInstance(s["seconds"], float)
        # People still read the error on stderr.
        self.assertIn("mkio-orgs: sync: daemon (last good data kept): ", p.stderr)

    def test_accepted_now(self):
        self.write_token("nobody", ALICE_TOKEN)
        p = self.run_tool("sync", "--user", "nobody", "--accept", "--json", token=None)
        self.assert_exit(p, 0)
        user, end = (json.loads(line) for line in p.stdout.rstrip("\n").split("\n"))
        self.assertEqual((user["joined"], user["accepted"], user["organizations"][0]["outcome"]),
                         (1, 1, "accepted"))
        self.assertEqual(end["summary"]["exit_status"], 0)


class SyncJournal(ToolTest):
    """Under journald (JOURNAL_STREAM names the stream: sd-daemon(3)) each
    line carries its priority: <6> info, <5> notice, <4> warning, <3> error;
    elsewhere none (issue 19, item 2)."""

    def run_sync(self, out, err, journal):
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": self.tmp}
        if journal is not None:
            st = os.fstat(journal.fileno())
            env["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino)
        p = subprocess.run([TOOL, "--config", self.conf, "sync", "--all", "--jobs", "1"],
                           env=env, stdout=out, stderr=err, timeout=60)
        return p.returncode

    def world_with_every_priority(self):
        self.write_token("nobody", ALICE_TOKEN)                # pending: notice, then info
        self.write_token("daemon", "tok-refused-0000000000")   # refused: errors
        self.write_token("no-such-user-q", BOB_TOKEN)          # nobody's file: a warning

    def lines(self, f):
        f.seek(0)
        return f.read().decode().splitlines()

    def priority_of(self, lines, text):
        [line] = [line for line in lines if text in line]
        return line[:3]

    @unittest.skipUnless(IS_ROOT, "sync is root only")
    def test_every_line_has_its_priority_on_the_journal_stream(self):
        self.world_with_every_priority()
        with open(os.path.join(self.tmp, "journal"), "w+b") as j:
            self.assertEqual(self.run_sync(j, j, j), 2)
            lines = self.lines(j)
        for line in lines:
            self.assertRegex(line, r"^<[3-6]>", line)
        self.assertEqual(self.priority_of(lines, ": not-accepting: "), "<5>")
        self.assertEqual(self.priority_of(lines, "nobody: 0 joined"), "<6>")
        self.assertEqual(self.priority_of(lines, "belongs to no local user"), "<4>")
        self.assertEqual(self.priority_of(lines, "sync: daemon"), "<3>")
        self.assertEqual(self.priority_of(lines, "the token was refused (expired"), "<3>")
        self.assertEqual(self.priority_of(lines, "user(s) refreshed"), "<4>")  # a user failed

    @unittest.skipUnless(IS_ROOT, "sync is root only")
    def test_only_the_stream_that_is_the_journal(self):
        self.world_with_every_priority()
        with open(os.path.join(self.tmp, "err"), "w+b") as e, \
                open(os.path.join(self.tmp, "out"), "w+b") as o:
            self.run_sync(o, e, e)
            out, err = self.lines(o), self.lines(e)
        self.assertTrue(err and all(re.match(r"^<[34]>mkio-orgs: ", line) for line in err), err)
        self.assertTrue(out and not any(line.startswith("<") for line in out), out)

    @unittest.skipUnless(IS_ROOT, "sync is root only")
    def test_no_prefix_elsewhere(self):
        self.world_with_every_priority()
        with open(os.path.join(self.tmp, "log"), "w+b") as f, \
                open(os.path.join(self.tmp, "other"), "w+b") as other:
            self.run_sync(f, f, None)
            plain = self.lines(f)
            f.seek(0)
            f.truncate()
            self.run_sync(f, f, other)        # JOURNAL_STREAM names another file
            other_stream = self.lines(f)
        for lines in (plain, other_stream):
            self.assertTrue(lines)
            self.assertFalse([line for line in lines if line.startswith("<")], lines)


class SyncHostileText(HostileWorld):
    def test_sync_prints_server_names_and_ids_replaced(self):
        self.write_token("nobody", ALICE_TOKEN)
        out, _ = self.run_clean("sync", "--user", "nobody")
        # The organization whose id the store cannot take, id shown replaced.
        self.assertIn("nobody: " + shown("Org " + HOSTILE) + " (" + shown(EVIL_ORG) + "): ", out)
        self.assertIn("its id cannot name a local group", out)
        self.assertIn("nobody: " + shown("Org2 " + HOSTILE) + " (" + EVIL_ORG2 + "): ", out)

        # A failed accept: the API's detail and ref.
        detail, ref = "Detail " + HOSTILE, "ref-" + HOSTILE
        self.fake.fault("user_org_patch", "status", status=409, detail=detail, ref=ref)
        out, _ = self.run_clean("sync", "--user", "nobody", "--accept", code=1)
        self.assertIn(shown(detail), out)
        self.assertIn("ref " + shown(ref) + ")", out)
        for line in out.splitlines():
            if ": failed: " in line:
                self.assertEqual(line.count(shown(ref)), 1, line)   # the ref, once

        # The same in --json: one line per object, every string replaced.
        out, _ = self.run_clean("sync", "--user", "nobody", "--accept", "--json", code=1)
        user, _ = (json.loads(line) for line in out.rstrip("\n").split("\n"))
        orgs = {o["organization"]["id"]: o["organization"] for o in user["organizations"]}
        self.assertEqual(orgs[shown(EVIL_ORG)]["name"], shown("Org " + HOSTILE))
        failed = [o for o in user["organizations"] if o["outcome"] == "failed"]
        self.assertTrue(failed)
        for o in failed:
            self.assertIn(shown(detail), o["detail"])
            self.assertEqual(o["ref"], shown(ref))

        # Accepted, stored, and shown by status.
        self.fake.clear_faults()
        out, _ = self.run_clean("sync", "--user", "nobody", "--accept")
        self.assertIn("u-alice", self.org_state(EVIL_ORG2)["members"])
        out, _ = self.run_clean("status")
        self.assertIn(EVIL_ORG2 + "  " + shown("Org2 " + HOSTILE) + "\n", out)
        out, _ = self.run_clean("status", "--json")
        [group] = [g for g in json.loads(out)["groups"]
                   if g["group"]["organization"]["id"] == EVIL_ORG2]
        self.assert_exact_where_valid(group["group"]["organization"]["name"])
        self.assertEqual(group["members"], ["nobody"])

    def test_user_names_and_token_files_a_user_chose(self):
        evil = b"ev\x1b[31mil\x9b\xe2\x80\xae\n"
        evil_shown = "ev?[31mil???"
        _, err = self.run_clean("sync", "--user", evil, token=None, code=2)
        self.assertIn("sync: " + evil_shown + ": no such local user", err)
        # A token file whose name no user has: sync --all names it, replaced.
        self.write_token(evil, ALICE_TOKEN)
        _, err = self.run_clean("sync", "--all", token=None)
        self.assertIn(evil_shown + " belongs to no local user; skipped", err)
        _, err = self.run_clean("sync", "--all", "--json", token=None)
        self.assertIn(evil_shown + " belongs to no local user; skipped", err)


class SyncIgnoredUsers(ToolTest):
    """sync leaves alone the users a login leaves alone (min_uid, ignore_users):
    --user refuses them, naming the rule, and changes nothing; --all skips them."""

    def setUp(self):
        super().setUp()
        self.write_token("nobody", BOB_TOKEN)
        self.write_token("root", ALICE_TOKEN)
        # A store from an earlier run, which a refusal must leave as it is.
        self.assert_exit(self.run_tool("sync", "--user", "nobody", token=None), 0)
        self.before = self.state_snapshot()
        self.assertTrue(self.before)
        self.fake.clear_requests()

    def assert_refused(self, args, message):
        p = self.run_tool("sync", *args, token=None)
        self.assert_exit(p, 2)
        self.assertEqual(p.stderr, "mkio-orgs: " + message + "\n")
        self.assertEqual(p.stdout, "")
        self.assertEqual(self.api_requests(), [])
        self.assertEqual(self.state_snapshot(), self.before)

    def test_root_is_in_ignore_users_by_default(self):
        self.assert_refused(["--user", "root"], f"sync: user root is in ignore_users in {self.conf}; "
                                                "not refreshed")
        self.assert_refused(["--user", "root", "--accept"],
                            f"sync: user root is in ignore_users in {self.conf}; not refreshed")

    def test_a_user_named_in_ignore_users(self):
        self.conf = self.write_conf("ignore_users = daemon nobody\n")
        self.assert_refused(["--user", "nobody"],
                            f"sync: user nobody is in ignore_users in {self.conf}; not refreshed")

    def test_a_user_under_min_uid(self):
        self.conf = self.write_conf(min_uid=65535)
        self.assert_refused(["--user", "nobody"],
                            f"sync: user nobody has uid 65534, below min_uid 65535 in {self.conf}; "
                            "not refreshed")

    def test_one_ignored_user_refuses_the_whole_run(self):
        self.assert_refused(["--user", "nobody", "--user", "root"],
                            f"sync: user root is in ignore_users in {self.conf}; not refreshed")

    def test_sync_all_skips_them(self):
        for extra, min_uid in (("", 65535), ("ignore_users = nobody\n", 0)):
            with self.subTest(extra=extra, min_uid=min_uid):
                self.conf = self.write_conf(extra, min_uid=min_uid)
                p = self.run_tool("sync", "--all", "--accept", token=None)
                self.assert_exit(p, 0)
                self.assertEqual(summary(p.stdout), (0, 0, 0, 0))
                self.assertEqual(len(p.stdout.split("\n")), 2)
                self.assertEqual(self.api_requests(), [])
                self.assertEqual(self.state_snapshot(), self.before)
        # Once allowed, nobody is synced: the token was there all along. Root
        # stays in ignore_users whatever the file says (the default adds it).
        self.conf = self.write_conf("ignore_users =\n")
        p = self.run_tool("sync", "--all", token=None)
        self.assert_exit(p, 0)
        self.assertIn("nobody: 1 joined", p.stdout)
        self.assertNotIn("root", p.stdout)
        self.assertEqual(len(self.api_requests("GET")), 1)


FLEET = 40


@unittest.skipUnless(IS_ROOT and shutil.which("unshare"), "needs root and unshare")
class SyncFairness(ToolTest):
    """Issue 10's report: 40 users, 1 s API latency, --max-time 8, three
    runs. The users have local accounts only in a private /etc/passwd,
    bind-mounted inside `unshare --mount`."""

    def setUp(self):
        super().setUp()
        self.users = ["fair%02d" % i for i in range(FLEET)]
        self.token_of = {u: "tok-fair-%02d-5c1d" % i for i, u in enumerate(self.users)}
        self.user_of = {"Bearer " + t: u for u, t in self.token_of.items()}
        self.fake.seed({
            "users": [{"id": "u-" + u, "email": u + "@example.com", "name": u} for u in self.users],
            "organizations": [{"id": ORG, "members": ["u-" + u for u in self.users]}],
            "tokens": [{"token": self.token_of[u], "user": "u-" + u, "organization": ORG,
                        "expires": None} for u in self.users]})
        for u in self.users:
            self.write_token(u, self.token_of[u])
        self.passwd = os.path.join(self.tmp, "passwd")
        with open("/etc/passwd") as src, open(self.passwd, "w") as dst:
            dst.write(src.read())
            for i, u in enumerate(self.users):
                dst.write("%s:x:%d:%d::/nonexistent:/usr/sbin/nologin\n" % (u, 30000 + i, 30000 + i))
        os.chmod(self.passwd, 0o644)
        self.fake.fault("*", "delay", ms=1000)

    def popen_in_namespace(self, *args):
        e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": self.tmp}
        sb = sandbox.Sandbox().bind(self.passwd, "/etc/passwd")
        return sb.popen([TOOL, "--config", self.conf, *args], env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def run_reading_lines(self, *args):
        """Runs sync, reading stdout as it comes: (exit, stdout, stderr, seconds
        until the first line, seconds in all, whether sync was still running
        when its first line arrived)."""
        start = time.monotonic()
        proc = self.popen_in_namespace(*args)
        out, first, first_while_running = b"", None, None
        try:
            while True:
                ready, _, _ = select.select([proc.stdout], [], [], 30)
                if not ready:
                    self.fail("sync wrote nothing for 30 s")
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                if first is None and b"\n" in chunk:
                    first = time.monotonic() - start
                    first_while_running = proc.poll() is None
                out += chunk
            err = proc.stderr.read()
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            proc.stderr.close()
        out, err = out.decode(), err.decode()
        self.outputs += [out, err]
        return proc.returncode, out, err, first, time.monotonic() - start, first_while_running

    def users_seen(self):
        return {self.user_of[r["headers"]["authorization"]] for r in self.api_requests("GET")}

    def test_three_short_runs_reach_at_least_30_users_and_lines_come_at_once(self):
        reached, runs = set(), []
        for run in range(3):
            self.fake.clear_requests()
            code, out, err, first, elapsed, streamed = self.run_reading_lines(
                "sync", "--all", "--max-time", "8")
            seen = self.users_seen()
            runs.append(seen)
            reached |= seen
            with self.subTest(run=run):
                self.assertIn(code, (0, 3), err)
                self.assertIsNotNone(first, out)
                # The order of events: the first line is out while sync
                # still runs (a line per user as it ends, not all at exit).
                self.assertTrue(streamed, "the first line came only when sync ended")
                timing.at_most(self, "sync: the first line", first, 2.0)
                # Cut at --max-time 8: 8 + 20 s only a hang reaches.
                timing.at_most(self, "sync cut by --max-time 8", elapsed, 8 + 1.5, hang=8 + 20)
                refreshed, users, _, left = summary(out)
                self.assertEqual(users, FLEET)
                self.assertGreaterEqual(refreshed, 20)
                if left:
                    self.assertIn("--max-time reached; %d user(s) left for the next run" % left,
                                  err)
                # Every user line is whole: "USER: N joined ..." or the summary.
                for line in out.rstrip("\n").split("\n")[:-1]:
                    # A user's first refresh gives them the group (issue 19).
                    self.assertRegex(line, r"^fair\d\d: 1 joined \(0 accepted now\), 0 skipped, "
                                           r"0 expired, 0 failed(; groups \+mk-acme-media-"
                                           r"0c6f2a8e)?$")
        self.assertGreaterEqual(len(reached), 30)
        # The second run began with those the first did not reach.
        self.assertLessEqual(set(self.users) - runs[0], runs[1])
        self.assertEqual(reached, set(self.users))


if __name__ == "__main__":
    unittest.main()
