# SPDX-License-Identifier: LGPL-2.1-or-later
"""One allocation for a fleet (issue 17, item 1): two simulated hosts, each
with its own state directory, mkio.conf and /etc/group (bind-mounted over
/etc/group in a private mount namespace, tests/lib/sandbox.py, so that both
the store's /etc/group and the NSS lookups see it), and different
histories: organizations arriving in other orders, a local group created on
one, an organization renamed between the two, a local group on the second
that has the gid the first gave an organization.

Without an ids file they agree on every organization no clash and no rename
touched, and on exactly those; with the first host's `mkio-orgs ids export`
as the second's ids_file they agree on all, the clash is refused on the host
that has it with a warning naming both groups (that organization gets no
group there, never another gid), `status` marks the groups of the file, and
`ids export --new` lists only what the second host derived since.

Runs as root (store set-user writes the store; the sandbox mounts)."""
import json
import os
import shutil
import unittest

from tooltest import TOOL, ToolTest
import sandbox  # tests/lib, on the path through tooltest

GID_MIN, GID_MAX = 2000200001, 2147483646

A = "0a000001-aaaa-4aaa-8aaa-00000000000a"
B = "0b000002-bbbb-4bbb-8bbb-00000000000b"
C = "0c000003-cccc-4ccc-8ccc-00000000000c"
D = "0d000004-dddd-4ddd-8ddd-00000000000d"
E = "0e000005-eeee-4eee-8eee-00000000000e"
R = "1a000006-aaaa-4aaa-8aaa-0000000000aa"  # renamed between the two hosts' arrivals
X = "1b000007-bbbb-4bbb-8bbb-0000000000bb"  # its gid is a local group's on host 2
F = "1c000008-cccc-4ccc-8ccc-0000000000cc"  # met by host 2 only, after the file
NAMES = {A: "Acme", B: "Beta", C: "Gamma", D: "Delta", E: "Epsilon", X: "Xeno", F: "Fresh"}


def hashed_gid(org_id):
    """The derived gid before probing (grouppolicy.h): gid_min + FNV-1a 64
    of the id, modulo the range's size."""
    h = 0xcbf29ce484222325
    for b in org_id.encode():
        h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
    return GID_MIN + h % (GID_MAX - GID_MIN + 1)


def pins_of(export):
    """{org_id: (group, gid)} of an export's pin lines; its retired gids."""
    pins, retired = {}, []
    for line in export.splitlines():
        if line.startswith("pin = "):
            org_id, name, gid = line[len("pin = "):].split()
            pins[org_id] = (name, int(gid))
        elif line.startswith("retired = "):
            retired += [int(g) for g in line[len("retired = "):].split()]
        else:
            assert not line or line.startswith("#"), line
    return pins, retired


@unittest.skipUnless(sandbox.available(), "needs root and unshare (private /etc/group)")
class Fleet(ToolTest):

    def setUp(self):
        super().setUp()
        with open("/etc/group") as f:
            self.system_groups = f.read()
        self.hosts = {}
        for host in ("one", "two"):
            self.add_host(host)

    # -- helpers --

    def add_host(self, host, extra_conf=""):
        """A host: its state directory, mkio.conf and /etc/group."""
        state = os.path.join(self.tmp, host + "-state")
        self.state_dir = state
        conf = os.path.join(self.tmp, host + ".conf")
        shutil.move(self.write_conf(extra_conf), conf)
        group = os.path.join(self.tmp, host + "-group")
        if not os.path.exists(group):
            with open(group, "w") as f:
                f.write(self.system_groups)
            os.chmod(group, 0o644)
        self.hosts[host] = {"state": state, "conf": conf, "group": group}

    def add_local_group(self, host, name, gid):
        with open(self.hosts[host]["group"], "a") as f:
            f.write("%s:x:%d:\n" % (name, gid))

    def tool(self, host, *args, code=0):
        h = self.hosts[host]
        sb = sandbox.Sandbox().bind(h["group"], "/etc/group")
        p = sb.run([TOOL, "--config", h["conf"], *args], capture_output=True, text=True,
                   timeout=60, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                                    "HOME": self.tmp})
        self.outputs += [p.stdout, p.stderr]
        self.assertEqual(p.returncode, code, "%s %s: %s%s" % (host, args, p.stdout, p.stderr))
        return p

    def join(self, host, user, *orgs):
        """user's organizations on host, as a login records them ((id,
        display name) pairs or ids); the run's stderr."""
        f = os.path.join(self.tmp, "orgs.json")
        with open(f, "w") as fh:
            json.dump([{"id": o[0], "name": o[1]} if isinstance(o, tuple)
                       else {"id": o, "name": NAMES[o]} for o in orgs], fh)
        return self.tool(host, "store", "set-user", user, "--from", f).stderr

    def groups(self, host):
        """{org_id: (group, gid)} of what host publishes (status --json)."""
        st = json.loads(self.tool(host, "status", "--json").stdout)
        return {g["group"]["organization"]["id"]: (g["group"]["name"], g["group"]["gid"])
                for g in st["groups"]}

    def histories(self):
        """The two hosts' different histories."""
        self.join("one", "u1", A, B)
        self.join("one", "u2", C, (R, "Old Name"))
        self.add_local_group("one", "devs", 1500)   # a local group, created midway
        self.join("one", "u3", X)
        self.join("one", "u4", D, E)
        # Host two: the reverse order, the rename, and a local group that
        # holds the gid host one gave X.
        self.add_local_group("two", "xclash", hashed_gid(X))
        self.join("two", "u4", E, D)
        self.join("two", "u3", X)
        self.join("two", "u2", (R, "New Name"), C)
        self.join("two", "u1", B, A)

    # -- the tests --

    def test_without_a_file_hosts_agree_where_nothing_touched(self):
        self.histories()
        one, two = self.groups("one"), self.groups("two")
        self.assertEqual(set(one), {A, B, C, D, E, R, X})
        self.assertEqual(set(two), {A, B, C, D, E, R, X})
        # Host one derived X's gid unprobed: the clash on host two is real.
        self.assertEqual(one[X][1], hashed_gid(X))
        agree = {o for o in one if one[o] == two[o]}
        self.assertEqual(agree, {A, B, C, D, E})
        self.assertEqual(one[R][1], two[R][1])          # the rename: same gid,
        self.assertNotEqual(one[R][0], two[R][0])       # another name
        self.assertIn("old-name", one[R][0])
        self.assertIn("new-name", two[R][0])
        self.assertEqual(one[X][0], two[X][0])          # the clash: same name,
        self.assertNotEqual(one[X][1], two[X][1])       # another gid
        for o in agree:
            self.assertEqual(one[o][1], hashed_gid(o))

    def test_with_one_hosts_export_they_agree_and_the_clash_is_refused(self):
        self.histories()
        one = self.groups("one")
        export = self.tool("one", "ids", "export").stdout
        self.assertTrue(export.startswith("# mkio ids"))
        pins, retired = pins_of(export)
        self.assertEqual(pins, one)
        self.assertEqual(retired, [])
        ids_file = os.path.join(self.tmp, "fleet-ids.conf")
        with open(ids_file, "w") as f:
            f.write(export)
        os.chmod(ids_file, 0o644)

        self.add_host("two", "ids_file = %s\n" % ids_file)
        stderr = self.join("two", "u1", B, A)
        two = self.groups("two")
        # Every organization but the clashing one as host one has it ...
        self.assertEqual({o: two[o] for o in two}, {o: one[o] for o in one if o != X})
        # ... and that one gets no group on host two, with a warning naming
        # both groups: never another gid.
        self.assertNotIn(X, two)
        warning = [line for line in stderr.splitlines() if X in line]
        self.assertEqual(len(warning), 1, stderr)
        self.assertIn("warning", warning[0])
        self.assertIn("pinned group %s (gid %d) of ids_file not applied" % one[X], warning[0])
        self.assertIn("xclash", warning[0])
        # status marks the file's groups, text and JSON.
        st = json.loads(self.tool("two", "status", "--json").stdout)
        self.assertTrue(all(g["pinned"] and g["ids_file"] for g in st["groups"]))
        text = self.tool("two", "status").stdout
        self.assertEqual(text.count("(pinned, ids_file)"), len(two))
        # What host two publishes is what its groups.db and status say.
        self.tool("two", "status", "--verify")

        # Host one, given its own export, changes nothing and warns of nothing.
        self.add_host("one", "ids_file = %s\n" % ids_file)
        self.assertEqual(self.join("one", "u1", A, B), "")
        self.assertEqual(self.groups("one"), one)

        # Host two meets an organization the file lacks: derived as ever,
        # and --new lists exactly that one, as a line the file can take.
        self.join("two", "u5", F)
        new = self.tool("two", "ids", "export", "--new").stdout
        new_pins, new_retired = pins_of(new)
        self.assertEqual(list(new_pins), [F])
        self.assertEqual(new_pins[F][1], hashed_gid(F))
        self.assertEqual(new_retired, [])
        self.assertEqual(self.groups("two")[F], new_pins[F])
        with open(ids_file, "a") as f:
            f.write(new)
        self.assertEqual(pins_of(self.tool("two", "ids", "export", "--new").stdout)[0], {})
        # The merged file is valid configuration for host one too.
        self.join("one", "u5", F)
        self.assertEqual(self.groups("one")[F], new_pins[F])

    def test_a_bad_ids_file_is_refused(self):
        ids_file = os.path.join(self.tmp, "fleet-ids.conf")
        with open(ids_file, "w") as f:
            f.write("pin = %s media-ops %d\n" % (A, GID_MIN + 5))
        os.chmod(ids_file, 0o666)
        self.add_host("two", "ids_file = %s\n" % ids_file)
        p = self.tool("two", "ids", "export", code=2)
        self.assertIn("writable by group or others", p.stderr)
        os.chmod(ids_file, 0o644)
        with open(ids_file, "a") as f:
            f.write("min_uid = 5\n")
        p = self.tool("two", "ids", "export", code=2)
        self.assertIn("fleet-ids.conf:2: min_uid does not belong in an ids file", p.stderr)
        p = self.tool("two", "ids", "export", "--bogus", code=2)
        self.assertIn("unknown option", p.stderr)


if __name__ == "__main__":
    unittest.main()
