# SPDX-License-Identifier: LGPL-2.1-or-later
"""The store writer killed at every step (issue 8, item 5; invariants 3 and 4).

tests/tools/store-write runs mk_store_set_user under strace, which kills it
with SIGKILL at the Nth call of one system call that changes or reads the
state directory, for every such call and every N until the writer finishes
unkilled; then the same with an I/O error instead of the kill for fsync.
After each interrupted write, and after a second writer gives a NEW
organization whose derived gid collides with the interrupted one's:

- store.json still loads (what `mkio-orgs status` does);
- every group of groups.db is recorded in store.json, same name and gid:
  the store records an assignment before groups.db publishes it;
- no gid and no group name ever seen, in either file, belongs to two
  organizations;
- a writer that could not record (its error names store.json) left
  groups.db as it was.
"""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, os.environ.get("B", "build"))
TOOL = os.path.join(BUILD, "tests", "tools", "store-write")
STRACE = shutil.which("strace")

GID_MIN, GID_MAX = 2000200001, 2000200100
ETC_GROUP = "root:x:0:\nadm:x:4:\nsudo:x:27:\nusers:x:100:\n"
# Every call by which the writer reads, creates, changes, syncs, renames or
# removes a file, or takes the lock.
SYSCALLS = ["openat", "read", "write", "fsync", "fdatasync", "fchmod", "flock", "rename",
            "renameat", "renameat2", "unlinkat", "ftruncate", "mkdir", "getdents64",
            "close", "pwrite64", "lseek"]
MAX_STEPS = 400


def fnv_gid(org_id):
    h = 0xcbf29ce484222325
    for b in org_id.encode():
        h ^= b
        h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return GID_MIN + h % (GID_MAX - GID_MIN + 1)


def colliding(org_id, avoid):
    """An id other than org_id whose derived gid is org_id's."""
    target = fnv_gid(org_id)
    for i in range(100000):
        cand = "org-new-%05d" % i
        if cand not in avoid and fnv_gid(cand) == target:
            return cand
    raise AssertionError("no colliding id")


BASE_ORG = "org-base-0001"
CRASH_ORG = next("org-crash-%04d" % i for i in range(1000)
                 if fnv_gid("org-crash-%04d" % i) != fnv_gid(BASE_ORG))
NEW_ORG = colliding(CRASH_ORG, {BASE_ORG, CRASH_ORG})


@unittest.skipUnless(STRACE, "strace is needed (tests/install-deps installs it)")
class StoreCrashTest(unittest.TestCase):
    def setUp(self):
        self.assertTrue(os.access(TOOL, os.X_OK), TOOL + " is not built (make unit)")
        self.tmp = tempfile.mkdtemp(prefix="test_store_crash.")
        self.etc = os.path.join(self.tmp, "group")
        with open(self.etc, "w") as f:
            f.write(ETC_GROUP)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def args(self, state, user, orgs):
        return [TOOL, "set", state, self.etc, str(GID_MIN), str(GID_MAX), user] + list(orgs)

    def set_user(self, state, user, orgs, inject=None):
        cmd = self.args(state, user, orgs)
        env = None
        if inject:
            cmd = [STRACE, "-f", "-qq", "-o", "/dev/null", "-e", "inject=" + inject] + cmd
            # On the sanitizer build: LeakSanitizer cannot run under ptrace
            # and would fail every traced run (ASan itself still checks).
            env = dict(os.environ)
            env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"), "detect_leaks=0"]))
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
        return p.returncode, p.stderr

    def state_of(self, state):
        """(orgs: id -> (group, gid), retired gids, groups.db: [(name, gid)], db bytes)"""
        p = subprocess.run([TOOL, "read", state, self.etc, str(GID_MIN), str(GID_MAX)],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, "the store no longer loads: " + p.stderr)
        orgs, retired = {}, set()
        path = os.path.join(state, "store.json")
        if os.path.exists(path):
            with open(path) as f:
                data = json.load(f)
            for oid, o in data["organizations"].items():
                if o.get("group") is not None:
                    orgs[oid] = (o["group"], o["gid"])
            retired = set(data["retired_gids"])
        db, raw = [], None
        dbpath = os.path.join(state, "groups.db")
        if os.path.exists(dbpath):
            with open(dbpath, "rb") as f:
                raw = f.read()
            p = subprocess.run([TOOL, "dump-db", dbpath], capture_output=True, text=True)
            self.assertEqual(p.returncode, 0, "groups.db is not valid: " + p.stderr)
            for line in p.stdout.splitlines():
                _, name, gid = line.split()
                db.append((name, int(gid)))
        return orgs, retired, db, raw

    def check(self, state, history, what):
        """Invariant 3 on what the state directory holds now; history maps each
        gid and each group name ever seen to the organization that had it."""
        orgs, retired, db, raw = self.state_of(state)
        by_pair = {pair: oid for oid, pair in orgs.items()}
        for name, gid in db:
            self.assertIn((name, gid), by_pair,
                          "%s: groups.db publishes %s (gid %d), which store.json does not "
                          "record" % (what, name, gid))
        for oid, (name, gid) in orgs.items():
            for key in (("gid", gid), ("name", name)):
                owner = history.setdefault(key, oid)
                self.assertEqual(owner, oid, "%s: %s %s of %s was given to %s"
                                 % (what, key[0], key[1], owner, oid))
            self.assertNotIn(gid, retired, "%s: %s holds a retired gid" % (what, oid))
        return raw

    def trial(self, inject):
        """One interrupted write of CRASH_ORG; returns True if the writer
        finished on its own (the injection came too late to matter)."""
        state = os.path.join(self.tmp, "state")
        shutil.rmtree(state, ignore_errors=True)
        history = {}
        rc, err = self.set_user(state, "alice", [BASE_ORG + "=Base"])
        self.assertEqual(rc, 0, err)
        before = self.check(state, history, "base")
        rc, err = self.set_user(state, "bob", [CRASH_ORG + "=Crash"], inject)
        what = "after %s (exit %d)" % (inject, rc)
        after = self.check(state, history, what)
        if rc == 1 and "store.json" in err:
            self.assertEqual(after, before, what + ": groups.db changed although the "
                             "assignment could not be recorded: " + err)
        rc2, err2 = self.set_user(state, "carol", [NEW_ORG + "=New"])
        self.assertEqual(rc2, 0, what + ": the next writer failed: " + err2)
        self.check(state, history, what + ", then a new organization")
        rc3, err3 = self.set_user(state, "bob", [CRASH_ORG + "=Crash"])
        self.assertEqual(rc3, 0, what + ": writing again failed: " + err3)
        self.check(state, history, what + ", then written again")
        return rc == 0

    def test_ids_collide(self):
        self.assertEqual(fnv_gid(NEW_ORG), fnv_gid(CRASH_ORG))
        self.assertNotEqual(fnv_gid(BASE_ORG), fnv_gid(CRASH_ORG))

    def test_killed_at_every_step(self):
        for sc in SYSCALLS:
            for n in range(1, MAX_STEPS + 1):
                with self.subTest(syscall=sc, when=n):
                    if self.trial("%s:signal=SIGKILL:when=%d" % (sc, n)):
                        break
            else:
                self.fail("%s: the writer never finished within %d calls" % (sc, MAX_STEPS))

    def test_failed_sync_at_every_step(self):
        for sc in ("fsync", "fdatasync", "renameat", "rename", "renameat2"):
            for n in range(1, MAX_STEPS + 1):
                with self.subTest(syscall=sc, when=n):
                    if self.trial("%s:error=EIO:when=%d" % (sc, n)):
                        break


if __name__ == "__main__":
    unittest.main()
