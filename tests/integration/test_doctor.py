#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""`mkio-orgs doctor` (issue 10, item 7) against the fake MK.IO server.

doctor reads fixed system paths (a root tool takes none from the
environment), so each run happens inside `unshare --mount`, as root, with
bind mounts from this test's temporary directory over /etc/nsswitch.conf,
/etc/pam.d, /etc/passwd (alice and bob added), /var/lib (holding the state
directory mkio/) and /run/nscd. The host is not touched. A good set-up gives
all ok and exit 0; each broken one gives its fail (or warn) line and hint.

Run as root: cd tests/integration && B=build PYTHONPATH=.:../fake python3 -m unittest test_doctor
"""
import base64
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

from fake_driver import FakeMkio
from tooltest import ADMIN_TOKEN, ALICE_TOKEN, ALL_TOKENS, BOB_TOKEN, ORG, ORG2, TOOL, world
import sandbox  # tests/lib, on the path through tooltest
import timing

IS_ROOT = os.geteuid() == 0
NOBODY = 65534
CHECKS = ["config", "ca_file", "tls", "token", "token", "list-budget", "nsswitch", "pam-account",
          "pam-session", "groups.db", "nscd", "stale"]


def ns_sandbox(t):
    """The private view of a doctor run; t is the test's directory."""
    sb = sandbox.Sandbox()
    sb.bind(t + "/etc/nsswitch.conf", "/etc/nsswitch.conf")
    sb.bind(t + "/etc/pam.d", "/etc/pam.d")
    sb.bind(t + "/etc/passwd", "/etc/passwd")
    sb.bind(t + "/varlib", "/var/lib")
    sb.ensure_dir("/run/nscd", "/run")
    sb.bind(t + "/nscd", "/run/nscd")
    return sb

GOOD_NSSWITCH = ("# /etc/nsswitch.conf\n"
                 "passwd:         files\n"
                 "group:          files mkio\n"
                 "shadow:         files\n"
                 "hosts:          files dns\n")

GOOD_ACCOUNT = ("# here are the per-package modules (the \"Primary\" block)\n"
                "account\t[success=1 new_authtok_reqd=done default=ignore]\tpam_unix.so\n"
                "account\trequisite\t\t\tpam_deny.so\n"
                "account\trequired\t\t\tpam_permit.so\n"
                "account\toptional\t\t\tpam_mkio.so\n")

GOOD_SESSION = ("session\t[default=1]\t\t\tpam_permit.so\n"
                "session\trequisite\t\t\tpam_deny.so\n"
                "session\trequired\t\t\tpam_permit.so\n"
                "session\trequired\tpam_unix.so\n"
                "session\toptional\t\t\tpam_mkio.so\n")


def write(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def lines_of(p):
    """The check lines of a text run: (result, name, detail), and the hint
    that follows each (None when there is none)."""
    checks = []
    for line in p.stdout.splitlines():
        if line.startswith("     hint: "):
            checks[-1][3] = line[len("     hint: "):]
            continue
        if line.startswith("     ") and checks and checks[-1][3] is None:
            # A detail's further lines (the config check's keys), as the
            # JSON detail has them after a newline.
            checks[-1][2] += "\n" + line[5:]
            continue
        word, _, rest = line.partition(" ")
        if word in ("ok", "warn", "fail"):
            name, _, detail = rest.strip().partition(": ")
            checks.append([word, name, detail, None])
    return checks


@unittest.skipUnless(IS_ROOT and shutil.which("unshare") and shutil.which("setpriv")
                     and shutil.which("openssl"), "needs root, unshare, setpriv and openssl")
class Doctor(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fake = FakeMkio()

    @classmethod
    def tearDownClass(cls):
        cls.fake.stop()

    def setUp(self):
        self.fake.reset()
        self.fake.seed(world())
        self.tmp = tempfile.mkdtemp(prefix="mkio-doctor-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        os.chmod(self.tmp, 0o755)  # nobody reads the configuration and the CA
        self.outputs = []
        t = self.tmp
        for d in ("etc", "etc/pam.d", "varlib", "varlib/mkio", "nscd"):
            os.mkdir(os.path.join(t, d), 0o755)
        self.state = os.path.join(t, "varlib", "mkio")
        self.groups_db = os.path.join(self.state, "groups.db")
        write(os.path.join(t, "etc", "nsswitch.conf"), GOOD_NSSWITCH)
        write(os.path.join(t, "etc", "pam.d", "common-account"), GOOD_ACCOUNT)
        write(os.path.join(t, "etc", "pam.d", "common-session"), GOOD_SESSION)
        with open("/etc/passwd") as f:
            passwd = [l for l in f.read().splitlines()
                      if not l.startswith(("alice:", "bob:"))]
        self.alice_home = os.path.join(t, "home-alice")
        passwd += [f"alice:x:2001:2001::{self.alice_home}:/bin/sh",
                   "bob:x:2002:2002::/home/bob:/bin/sh"]
        write(os.path.join(t, "etc", "passwd"), "\n".join(passwd) + "\n")
        self.token_dir = os.path.join(t, "tokens")
        os.mkdir(self.token_dir, 0o700)
        self.write_token("alice", ALICE_TOKEN)
        self.write_token("bob", BOB_TOKEN)
        self.ca = os.path.join(t, "ca.pem")
        shutil.copyfile(self.fake.ca_file, self.ca)
        os.chmod(self.ca, 0o644)
        self.conf = os.path.join(t, "mkio.conf")
        self.write_conf()
        # bob has joined two organizations: groups.db holds two groups.
        orgs = os.path.join(t, "orgs.json")
        write(orgs, json.dumps([{"id": ORG, "name": "Acme Media"},
                                {"id": ORG2, "name": "Delphi Studio"}]))
        p = self.ns_run(TOOL, "store", "set-user", "bob", "--from", orgs)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(os.path.exists(self.groups_db))

    def tearDown(self):
        for text in self.outputs:
            for token in ALL_TOKENS + ("tok-revoked-0000",):
                self.assertNotIn(token, text)

    # ---- helpers ----

    def write_conf(self, extra="", ca_file=None):
        write(self.conf, f"base_url = {self.fake.api_url}\n"
                         f"ca_file = {ca_file if ca_file is not None else self.ca}\n"
                         "time_budget = 3\n"
                         "connect_timeout = 1\n"
                         "state_dir = /var/lib/mkio\n"
                         f"token_dir = {self.token_dir}\n"
                         "min_uid = 0\n" + extra)

    def write_token(self, user, token):
        path = os.path.join(self.token_dir, user)
        write(path, token + "\n", 0o600)

    def ns_run(self, *cmd, env=None, config=True):
        """Runs cmd in the sandbox; the tool run as root is given the
        configuration with --config (root refuses MKIO_CONFIG), through
        setpriv as a user with MKIO_CONFIG. config=False: neither."""
        e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": self.tmp}
        if config and cmd[0] == TOOL:
            cmd = (TOOL, "--config", self.conf) + cmd[1:]
        elif config:
            e["MKIO_CONFIG"] = self.conf
        for name in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if name in os.environ:
                e[name] = os.environ[name]
        e.update(env or {})
        p = ns_sandbox(self.tmp).run(list(cmd), env=e, capture_output=True, text=True, timeout=60)
        self.outputs += [p.stdout, p.stderr]
        return p

    def doctor(self, *args, env=None, config=True):
        return self.ns_run(TOOL, "doctor", *args, env=env, config=config)

    def assert_exit(self, p, code):
        self.assertEqual(p.returncode, code,
                         f"exit {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}")

    def check(self, p, name, result=None, contains=()):
        """The one check line named name (with its hint), asserting its result
        and that its detail holds each text of contains."""
        found = [c for c in lines_of(p) if c[1] == name]
        self.assertEqual(len(found), 1, f"{name}: {found}\n{p.stdout}")
        c = found[0]
        if result:
            self.assertEqual(c[0], result, p.stdout)
        for text in contains:
            self.assertIn(text, c[2], p.stdout)
        if c[0] == "ok":
            self.assertIsNone(c[3], p.stdout)
        else:
            self.assertTrue(c[3], f"{name} has no hint\n{p.stdout}")
        return c

    def token_lines(self, p):
        return {c[2].split(":")[0]: c for c in lines_of(p) if c[1] == "token"}

    def snapshot(self):
        snap = {}
        for root, _, files in os.walk(self.tmp):
            for name in files:
                path = os.path.join(root, name)
                st = os.lstat(path)
                if not os.path.isfile(path) or os.path.islink(path):
                    continue
                with open(path, "rb") as f:
                    snap[path] = (f.read(), st.st_mtime_ns, st.st_ino, st.st_mode)
        return snap

    # ---- a good set-up ----

    def test_good_setup_is_all_ok(self):
        before = self.snapshot()
        self.fake.clear_requests()
        p = self.doctor()
        self.assert_exit(p, 0)
        self.assertEqual(p.stdout.splitlines()[0], "mkio-orgs doctor, as root: every check")
        checks = lines_of(p)
        self.assertEqual([c[1] for c in checks], CHECKS, p.stdout)
        self.assertEqual([c for c in checks if c[0] != "ok"], [], p.stdout)
        self.assertEqual(p.stdout.splitlines()[-1], f"doctor: {len(CHECKS)} ok, 0 warn, 0 fail")
        self.check(p, "config", "ok", [self.conf + " is valid (path from --config; base_url " +
                                       self.fake.api_url + ", from " + self.conf + " line 1)"])
        self.check(p, "ca_file", "ok", [self.ca + " holds 1 PEM certificate"])
        self.check(p, "tls", "ok", [self.fake.api_url + " answered (HTTP 401 to a request "
                                    "without a real token): its certificate verified against " +
                                    self.ca])
        tokens = self.token_lines(p)
        self.assertEqual(sorted(tokens), ["alice", "bob"])
        self.assertIn("accepted by MK.IO (alice@example.com, from " +
                      os.path.join(self.token_dir, "alice"), tokens["alice"][2])
        self.assertIn("accepted by MK.IO (bob@example.com", tokens["bob"][2])
        self.check(p, "nsswitch", "ok", ["the group: line of /etc/nsswitch.conf (line 3) names mkio"])
        self.check(p, "pam-account", "ok", ["in /etc/pam.d/common-account",
                                            "looked at: /etc/pam.d/common-account"])
        self.check(p, "pam-session", "ok", ["in /etc/pam.d/common-session"])
        self.check(p, "groups.db", "ok", ["/var/lib/mkio/groups.db is root's, mode 0644, and verifies"])
        self.check(p, "nscd", "ok", ["nscd is not running"])
        self.check(p, "stale", "ok", ["no stale user (1 user known; max_stale 30d)"])
        self.check(p, "list-budget", "ok", ["the server sent the organization list unpaged",
                                            "max_list_records (10000) takes no more requests"])
        # One request for TLS, one per token; each token went to MK.IO as
        # itself; one list request (list-budget) with the first token accepted.
        reqs = self.fake.requests()
        profile = [r for r in reqs if r["path"] == "/api/v1/user/profile"]
        self.assertEqual([r["path"] for r in reqs if r not in profile],
                         ["/api/v1/user/organizations"])
        auths = [r["headers"].get("authorization") for r in profile]
        self.assertIn("Bearer " + ALICE_TOKEN, auths)
        self.assertIn("Bearer " + BOB_TOKEN, auths)
        self.assertEqual(len(profile), 3)
        self.assertEqual([r["headers"].get("authorization") for r in reqs if r not in profile],
                         ["Bearer " + ALICE_TOKEN])
        # doctor changes nothing.
        self.assertEqual(self.snapshot(), before)
        self.assertEqual(p.stderr, "")

    def test_quiet_prints_the_checks_only(self):
        p = self.ns_run(TOOL, "--quiet", "doctor")
        self.assert_exit(p, 0)
        self.assertEqual([c[1] for c in lines_of(p)], CHECKS, p.stdout)
        self.assertNotIn("mkio-orgs doctor, as root", p.stdout)
        self.assertNotIn("doctor: ", p.stdout)

    def test_json_parses_and_agrees(self):
        text = self.doctor()
        self.write_token("bob", "tok-revoked-0000")
        self.assert_exit(text, 0)
        p = self.doctor("--json")
        self.assert_exit(p, 4)
        doc = json.loads(p.stdout)
        self.assertEqual(list(doc), ["schema", "checks", "ok"])
        self.assertIs(doc["ok"], False)
        self.assertEqual([c["name"] for c in doc["checks"]], CHECKS)
        for c in doc["checks"]:
            self.assertEqual(sorted(c), ["detail", "hint", "name", "result"])
            if c["result"] == "ok":
                self.assertIsNone(c["hint"])
            else:
                self.assertIsInstance(c["hint"], str)
        bad = [c for c in doc["checks"] if c["result"] != "ok"]
        self.assertEqual(len(bad), 1, p.stdout)
        self.assertEqual(bad[0]["name"], "token")
        self.assertEqual(bad[0]["result"], "fail")
        self.assertTrue(bad[0]["detail"].startswith("bob: MK.IO refused the token"))
        self.assertIn("mkio-orgs login --user bob", bad[0]["hint"])
        # The text run's lines say the same as the JSON of a good set-up.
        self.write_token("bob", BOB_TOKEN)
        good = json.loads(self.doctor("--json").stdout)
        self.assertIs(good["ok"], True)
        self.assertEqual([[c["result"], c["name"], c["detail"], c["hint"]] for c in good["checks"]],
                         lines_of(text))

    def test_pam_includes_are_followed(self):
        pam = os.path.join(self.tmp, "etc", "pam.d")
        write(os.path.join(pam, "common-session"),
              "session required pam_unix.so\n@include common-session-extra\n")
        write(os.path.join(pam, "common-session-extra"),
              "session  [success=ok default=ignore]   pam_permit.so\n"
              "session include mkio-session\n")
        write(os.path.join(pam, "mkio-session"),
              "# pam_mkio, by its full path\n"
              "-session  optional \\\n   /lib/x86_64-linux-gnu/security/pam_mkio.so quiet\n")
        p = self.doctor()
        self.assert_exit(p, 0)
        self.check(p, "pam-session", "ok", [
            "in /etc/pam.d/mkio-session (looked at: /etc/pam.d/common-session, "
            "/etc/pam.d/common-session-extra, /etc/pam.d/mkio-session)"])

    def test_pam_login_services_reach_it(self):
        pam = os.path.join(self.tmp, "etc", "pam.d")
        write(os.path.join(pam, "sshd"), "@include common-account\n@include common-session\n")
        write(os.path.join(pam, "su"), "account include common-account\n"
                                       "session  include  common-session\n")
        write(os.path.join(pam, "su-l"), "account include su\nsession optional pam_keyinit.so\n"
                                         "session include su\n")
        p = self.doctor()
        self.assert_exit(p, 0)
        self.check(p, "pam-session", "ok", ["reached from su-l, sshd"])
        # A login service whose session stack does not include common-session.
        write(os.path.join(pam, "login"), "@include common-account\n"
                                          "session required pam_unix.so\n")
        p = self.doctor()
        self.assert_exit(p, 0)
        self.check(p, "pam-account", "ok", ["reached from login, su-l, sshd"])
        c = self.check(p, "pam-session", "warn", [
            "pam_mkio.so is in /etc/pam.d/common-session, but the session stack of these login "
            "services does not reach it: login"])
        self.assertEqual(c[3], "add `@include common-session` (or the line `session optional "
                               "pam_mkio.so`) to the file in /etc/pam.d of each of: login")

    def test_nsswitch_parsing(self):
        cases = [
            ("group:files\t [SUCCESS=return]   mkio  # comment\n", "ok", "names mkio"),
            ("#group: files mkio\ngroup: files [ UNAVAIL=continue ] mkio\n", "ok", "(line 3) names mkio"),
            ("group: files [NOTFOUND=return] mkio\n", "warn",
             "a [NOTFOUND=return] before it ends lookups first"),
            ("group: files [!UNAVAIL=return] mkio\n", "warn", "[NOTFOUND=return]"),
            ("group: files mkio\ninitgroups: files\n", "warn",
             "its initgroups: line (line 3) does not"),
        ]
        for text, result, detail in cases:
            with self.subTest(text=text):
                write(os.path.join(self.tmp, "etc", "nsswitch.conf"), "passwd: files\n" + text)
                p = self.doctor()
                self.assert_exit(p, 0)
                self.check(p, "nsswitch", result, [detail])

    def test_nsswitch_with_userdb_export(self):
        # With userdb_export the groups reach NSS through nss-systemd: both
        # it and mkio on the group: line would answer every group twice.
        self.write_conf("userdb_export = yes\n")
        cases = [
            ("group: files mkio systemd\n", "warn", "enumeration lists every group twice"),
            ("group: files systemd\n", "ok", "names systemd, which serves userdb_export"),
            ("group: files mkio\n", "warn", "names mkio, not systemd"),
        ]
        for text, result, detail in cases:
            with self.subTest(text=text):
                write(os.path.join(self.tmp, "etc", "nsswitch.conf"), "passwd: files\n" + text)
                p = self.doctor()
                self.assert_exit(p, 0)
                self.check(p, "nsswitch", result, [detail])
        write(os.path.join(self.tmp, "etc", "nsswitch.conf"), "passwd: files\ngroup: files\n")
        p = self.doctor()
        self.assert_exit(p, 4)
        self.check(p, "nsswitch", "fail", ["names neither systemd nor mkio"])
        # Without userdb_export, mkio and systemd together are as before.
        self.write_conf()
        write(os.path.join(self.tmp, "etc", "nsswitch.conf"),
              "passwd: files\ngroup: files mkio systemd\n")
        p = self.doctor()
        self.assert_exit(p, 0)
        self.check(p, "nsswitch", "ok", ["names mkio"])

    # ---- each broken set-up ----

    def test_missing_ca_file(self):
        missing = os.path.join(self.tmp, "no-such-ca.pem")
        self.write_conf(ca_file=missing)
        p = self.doctor()
        self.assert_exit(p, 4)
        c = self.check(p, "ca_file", "fail", [missing + " does not exist"])
        self.assertIn("set ca_file in " + self.conf, c[3])
        c = self.check(p, "tls", "fail", ["ca_file = " + missing])
        self.assertIn("set ca_file in " + self.conf, c[3])
        for t in self.token_lines(p).values():
            self.assertEqual(t[0], "warn")
            self.assertIn("not checked", t[2])

    def test_ca_file_without_certificates(self):
        for text, detail in (("", "is empty"), ("just text\n", "holds no PEM certificate"),
                             ("-----BEGIN CERTIFICATE-----\nno!base64\n-----END CERTIFICATE-----\n",
                              "damaged PEM certificate block")):
            with self.subTest(text=text):
                write(self.ca, text)
                p = self.doctor()
                self.assert_exit(p, 4)
                self.check(p, "ca_file", "fail", [detail])
                self.check(p, "tls", "fail", ["did not verify"])

    def test_wrong_ca(self):
        other = os.path.join(self.tmp, "other-ca.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                        os.path.join(self.tmp, "other-ca.key"), "-out", other, "-days", "2",
                        "-subj", "/CN=Another test CA"], check=True, capture_output=True)
        os.chmod(other, 0o644)
        self.write_conf(ca_file=other)
        p = self.doctor()
        self.assert_exit(p, 4)
        self.check(p, "ca_file", "ok", [other + " holds 1 PEM certificate"])
        c = self.check(p, "tls", "fail", ["did not verify", "ca_file = " + other])
        self.assertIn("set ca_file in " + self.conf, c[3])
        self.assertIn("(now " + other + ")", c[3])
        self.assertEqual(self.fake.stats()["api_requests"], 0)

    def test_base_url_unreachable(self):
        # A port nothing listens on: refused at once, inside the time budget.
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        with open(self.conf) as f:
            text = f.read().replace(self.fake.api_url, f"https://127.0.0.1:{port}")
        write(self.conf, text)
        start = time.monotonic()
        p = self.doctor()
        # Refused at once: 20 s only a hang reaches (the claim: 10 s).
        timing.at_most(self, "doctor, base_url refused", time.monotonic() - start, 10, hang=20)
        self.assert_exit(p, 4)
        c = self.check(p, "tls", "fail", [f"could not reach https://127.0.0.1:{port}"])
        self.assertIn("check base_url in " + self.conf, c[3])
        self.assertIn("connect_timeout (1000 ms) and time_budget (3000 ms)", c[3])
        for t in self.token_lines(p).values():
            self.assertEqual(t[0], "warn")
            self.assertIn("not checked: https://127.0.0.1:%d did not answer" % port, t[2])

    def test_no_mkio_in_nsswitch(self):
        write(os.path.join(self.tmp, "etc", "nsswitch.conf"),
              "passwd: files\n# group: files mkio\ngroup:   files  systemd   # mkio later\n")
        p = self.doctor()
        self.assert_exit(p, 4)
        c = self.check(p, "nsswitch", "fail",
                       ["the group: line of /etc/nsswitch.conf (line 3) does not name mkio"])
        self.assertEqual(c[3], "add mkio to the group: line of /etc/nsswitch.conf (line 3), "
                               "for example `group: files mkio`")
        write(os.path.join(self.tmp, "etc", "nsswitch.conf"), "passwd: files\n")
        p = self.doctor()
        self.assert_exit(p, 4)
        self.check(p, "nsswitch", "fail", ["has no group: line"])

    def test_no_pam_mkio_in_common_session(self):
        write(os.path.join(self.tmp, "etc", "pam.d", "common-session"),
              "session required pam_unix.so\n# session optional pam_mkio.so\n"
              "account optional pam_mkio.so\n")
        p = self.doctor()
        self.assert_exit(p, 4)
        self.check(p, "pam-account", "ok")
        c = self.check(p, "pam-session", "fail", [
            "no pam_mkio.so line in the session stack (looked at: /etc/pam.d/common-session)"])
        self.assertIn("pam-auth-update --enable mkio", c[3])
        self.assertIn("`session optional pam_mkio.so` to /etc/pam.d/common-session", c[3])
        # The hint names an installed document, never a source-tree path.
        self.assertIn("man 8 pam_mkio", c[3])
        self.assertNotIn("conf/", c[3])
        os.unlink(os.path.join(self.tmp, "etc", "pam.d", "common-account"))
        p = self.doctor()
        self.assert_exit(p, 4)
        self.check(p, "pam-account", "fail", ["/etc/pam.d/common-account cannot be read"])

    def test_token_refused_401(self):
        self.write_token("bob", "tok-revoked-0000")
        p = self.doctor()
        self.assert_exit(p, 4)
        tokens = self.token_lines(p)
        self.assertEqual(tokens["alice"][0], "ok")
        bob = tokens["bob"]
        self.assertEqual(bob[0], "fail", p.stdout)
        self.assertIn("bob: MK.IO refused the token from " + os.path.join(self.token_dir, "bob") +
                      " (HTTP 401: expired, revoked or mistyped; ref ", bob[2])
        self.assertIn("run `mkio-orgs login --user bob`", bob[3])

    def test_token_of_a_user_logins_leave_alone(self):
        """Issue 19: a token for a user min_uid or ignore_users leaves alone
        is accepted by MK.IO but never used: a warn, saying why."""
        self.write_conf("ignore_users = bob\n")
        p = self.doctor()
        self.assert_exit(p, 0)
        bob = self.token_lines(p)["bob"]
        self.assertEqual(bob[0], "warn", p.stdout)
        self.assertIn("but logins and sync leave bob alone (uid 2002", bob[2])
        self.assertIn("never used", bob[2])
        self.assertIn("ignore_users", bob[3])
        self.assertEqual(self.token_lines(p)["alice"][0], "ok")

    def test_one_account_filed_for_several_users(self):
        """Issue 19: the same MK.IO account in several token_dir files makes
        those local users one MK.IO user: one warn line naming them."""
        self.write_token("daemon", ALICE_TOKEN)
        p = self.doctor()
        self.assert_exit(p, 0)
        shared = [c for c in lines_of(p) if c[1] == "token" and "one MK.IO account" in c[2]]
        self.assertEqual(len(shared), 1, p.stdout)
        self.assertEqual(shared[0][0], "warn")
        self.assertIn("one MK.IO account (u-alice) is filed for 2 local users in token_dir: "
                      "alice, daemon", shared[0][2])
        self.assertIn("mkio-orgs login --user", shared[0][3])

    def test_store_user_without_token_file(self):
        # alice is in the store (she logged in) but has no file in token_dir:
        # her own token file is what PAM reads, and it is checked.
        os.unlink(os.path.join(self.token_dir, "alice"))
        orgs = os.path.join(self.tmp, "alice.json")
        write(orgs, json.dumps([{"id": ORG, "name": "Acme Media"}]))
        self.assert_exit(self.ns_run(TOOL, "store", "set-user", "alice", "--from", orgs), 0)
        p = self.doctor()
        self.assert_exit(p, 0)
        alice = self.token_lines(p)["alice"]
        self.assertEqual(alice[0], "warn", p.stdout)
        self.assertIn("no token", alice[2])
        self.assertIn("mkio-orgs login --user alice", alice[3])
        own = os.path.join(self.alice_home, ".config", "mkio")
        os.makedirs(own, 0o700)
        write(os.path.join(own, "token"), ALICE_TOKEN + "\n", 0o600)
        for path in (self.alice_home, os.path.dirname(own), own, os.path.join(own, "token")):
            os.chown(path, 2001, 2001)
        p = self.doctor()
        self.assert_exit(p, 0)
        alice = self.token_lines(p)["alice"]
        self.assertEqual(alice[0], "ok", p.stdout)
        self.assertIn("alice: accepted by MK.IO (alice@example.com, from " +
                      os.path.join(own, "token") + ")", alice[2])

    def test_token_file_refused(self):
        os.chmod(os.path.join(self.token_dir, "bob"), 0o644)
        p = self.doctor()
        self.assert_exit(p, 4)
        bob = self.token_lines(p)["bob"]
        self.assertEqual(bob[0], "fail", p.stdout)
        self.assertIn("chmod 0600 " + os.path.join(self.token_dir, "bob"), bob[3])

    def test_groups_db_owned_by_another_user(self):
        os.chown(self.groups_db, NOBODY, NOBODY)
        p = self.doctor()
        self.assert_exit(p, 4)
        c = self.check(p, "groups.db", "fail", [
            "/var/lib/mkio/groups.db is owned by nobody (uid 65534), not root"])
        self.assertIn("chown root:root /var/lib/mkio/groups.db", c[3])
        os.chown(self.groups_db, 0, 0)
        os.chmod(self.groups_db, 0o666)
        p = self.doctor()
        self.assert_exit(p, 4)
        c = self.check(p, "groups.db", "fail", ["writable by group or others (mode 0666)"])
        self.assertEqual(c[3], "chmod 0644 /var/lib/mkio/groups.db")

    def test_groups_db_corrupt(self):
        with open(self.groups_db, "r+b") as f:
            data = bytearray(f.read())
            data[-3] ^= 0xff
            f.seek(0)
            f.write(data)
        p = self.doctor()
        self.assert_exit(p, 4)
        c = self.check(p, "groups.db", "fail", ["does not verify: it is damaged"])
        self.assertIn("mkio-orgs sync --all", c[3])
        os.unlink(self.groups_db)
        p = self.doctor()
        self.assert_exit(p, 0)
        self.check(p, "groups.db", "warn", ["/var/lib/mkio/groups.db does not exist yet"])

    def test_stale_user_from_record(self):
        # A refresh record (common/store/userstate.c's format) whose last success
        # is 40 days old, and a refused token since.
        users = os.path.join(self.state, "users")
        os.mkdir(users, 0o755)
        now = int(time.time())
        write(os.path.join(users, "alice"),
              f"mkio-user-state 1\nattempt {now - 3600}\nsuccess {now - 40 * 86400}\n"
              "error MK.IO refused the token (401)\n")
        p = self.doctor()
        self.assert_exit(p, 0)  # a warning is not a failure
        stale = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 40 * 86400))
        c = self.check(p, "stale", "warn", ["alice: last success " + stale + " (40 days ago",
                                            "last error: MK.IO refused the token (401)"])
        self.assertIn("mkio-orgs login --user alice", c[3])
        self.assertIn("mkio-orgs sync --user alice", c[3])

    def test_refresh_record_not_believed(self):
        users = os.path.join(self.state, "users")
        os.mkdir(users, 0o755)
        now = int(time.time())
        record = os.path.join(users, "alice")
        write(record, f"mkio-user-state 1\nattempt {now}\nsuccess {now}\nerror\n")
        os.chown(record, NOBODY, NOBODY)
        p = self.doctor()
        self.assert_exit(p, 0)
        c = self.check(p, "stale", "warn", ["alice: the refresh record is not believed",
                                            "/var/lib/mkio/users/alice"])
        self.assertIn("remove it", c[3])

    def test_stale_user_from_store(self):
        # bob's store entry is his last known good data: 1 s is the bound.
        self.write_conf("max_stale = 1s\n")
        time.sleep(2.2)
        p = self.doctor()
        self.assert_exit(p, 0)
        self.check(p, "stale", "warn", ["bob: last success ", "last error: none recorded"])

    def test_bad_configuration(self):
        with open(self.conf, "a") as f:
            f.write("no_such_key = 1\n")
        p = self.doctor()
        self.assert_exit(p, 4)
        c = self.check(p, "config", "fail", [self.conf + ":8"])
        self.assertIn(self.conf, c[3])
        for name in ("ca_file", "tls", "token", "list-budget", "stale"):
            self.check(p, name, "warn", ["not checked: the configuration did not load"])
        # The system checks still run.
        self.check(p, "nsswitch", "ok")
        self.check(p, "pam-session", "ok")
        self.check(p, "nscd", "ok")
        self.assertEqual(self.fake.stats()["api_requests"], 0)

    # ---- drop-ins and where each key came from (issue 19, item 8) ----

    def test_dropin_key_named_with_its_file_and_line(self):
        dropins = os.path.join(self.tmp, "mkio.conf.d")
        os.mkdir(dropins, 0o755)
        first = os.path.join(dropins, "10-budget.conf")
        second = os.path.join(dropins, "20-budget.conf")
        write(first, "# the fleet's budget\ntime_budget = 4\n")
        write(second, "\ntime_budget = 2.5\nretries = 1\n")
        p = self.doctor()
        self.assert_exit(p, 0)
        c = self.check(p, "config", "ok", [self.conf + " is valid",
                                           "drop-in " + first + ", drop-in " + second])
        keys = c[2].split("\n")[1:]
        # The later drop-in wins; every key a file sets is named with the
        # file and line that set it; a default is not listed.
        self.assertIn(f"time_budget = 2.5  ({second}:2)", keys)
        self.assertIn(f"retries = 1  ({second}:3)", keys)
        self.assertIn(f"base_url = {self.fake.api_url}  ({self.conf}:1)", keys)
        self.assertIn(f"min_uid = 0  ({self.conf}:7)", keys)
        self.assertFalse([k for k in keys if k.startswith("group_prefix")], keys)
        # The JSON detail holds the same lines.
        doc = json.loads(self.doctor("--json").stdout)
        config = [x for x in doc["checks"] if x["name"] == "config"][0]
        self.assertEqual(config["detail"], c[2])
        # A drop-in others can write is refused, naming it and the fix;
        # the checks that need the configuration are not made.
        os.chmod(first, 0o666)
        p = self.doctor()
        self.assert_exit(p, 4)
        c = self.check(p, "config", "fail", [first + " is writable by group and others",
                                             "chmod go-w " + first])
        self.assertIn("man 5 mkio.conf", c[3])
        self.assertIn("fix the place named above in the drop-in", c[3])
        self.assertNotIn("conf/mkio.conf", c[3])
        self.check(p, "tls", "warn", ["not checked: the configuration did not load"])
        # A bad line in a drop-in: its FILE:LINE.
        os.chmod(first, 0o644)
        write(second, "retries = lots\n")
        p = self.doctor()
        self.assert_exit(p, 4)
        self.check(p, "config", "fail", [second + ":1: retries"])

    # ---- root's environment (issue 20, item 1) ----

    def hostile_server(self):
        """A second fake, trusted through ca_file (a bundle of both CAs),
        seeded like the first; and a configuration naming it."""
        hostile = FakeMkio()
        self.addCleanup(hostile.stop)
        hostile.seed(world())
        with open(self.ca, "w") as out:
            for ca in (self.fake.ca_file, hostile.ca_file):
                with open(ca) as f:
                    out.write(f.read())
        conf = os.path.join(self.tmp, "hostile.conf")
        write(conf, f"base_url = {hostile.api_url}\nca_file = {self.ca}\n"
                    f"token_dir = {self.token_dir}\nmin_uid = 0\n")
        return hostile, conf

    def test_root_refuses_a_base_url_from_its_environment(self):
        hostile, _ = self.hostile_server()
        p = self.doctor(env={"MKIO_BASE_URL": hostile.api_url})
        self.assert_exit(p, 4)
        c = self.check(p, "config", "fail", ["MKIO_BASE_URL is set, and root takes its server "
                                             "only from its configuration file"])
        self.assertIn("unset MKIO_BASE_URL, and set base_url in " + self.conf, c[3])
        for name in ("tls", "token"):
            self.check(p, name, "warn", ["not checked: the configuration did not load"])
        self.assertEqual(hostile.requests(), [])
        self.assertEqual(self.fake.stats()["api_requests"], 0)

    def test_root_refuses_a_configuration_from_its_environment(self):
        hostile, conf = self.hostile_server()
        p = self.doctor(env={"MKIO_CONFIG": conf}, config=False)
        self.assert_exit(p, 4)
        c = self.check(p, "config", "fail", ["MKIO_CONFIG is set, and root takes its "
                                             "configuration only from the command line"])
        self.assertIn("pass --config FILE", c[3])
        for name in ("tls", "token"):
            self.check(p, name, "warn", ["not checked: the configuration did not load"])
        self.assertEqual(hostile.requests(), [])
        self.assertEqual(self.fake.stats()["api_requests"], 0)

    def test_nscd_running(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(sock.close)
        sock.bind(os.path.join(self.tmp, "nscd", "socket"))
        sock.listen(4)
        p = self.doctor()
        self.assert_exit(p, 0)
        self.check(p, "nscd", "ok", ["nscd (or unscd) is running (/var/run/nscd/socket)",
                                     "invalidated after each change"])

    # ---- not root ----

    def run_as_nobody(self, home_token=None, env=None):
        home = os.path.join(self.tmp, "home")
        os.makedirs(os.path.join(home, ".config", "mkio"), 0o700, exist_ok=True)
        for d in (home, os.path.join(home, ".config"), os.path.join(home, ".config", "mkio")):
            os.chown(d, NOBODY, NOBODY)
        if home_token:
            path = os.path.join(home, ".config", "mkio", "token")
            write(path, home_token + "\n", 0o600)
            os.chown(path, NOBODY, NOBODY)
        return self.ns_run("setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY,
                           "--clear-groups", TOOL, "doctor", env={"HOME": home, **(env or {})})

    def test_not_root_takes_base_url_from_its_environment(self):
        # A user's MKIO_BASE_URL is theirs, and the config line says so.
        p = self.run_as_nobody(ALICE_TOKEN, env={"MKIO_BASE_URL": self.fake.api_url + "/"})
        self.assert_exit(p, 0)
        self.check(p, "config", "ok", ["path from MKIO_CONFIG; base_url " + self.fake.api_url +
                                       ", from MKIO_BASE_URL"])

    def test_not_root_says_what_it_could_not_check(self):
        p = self.run_as_nobody(ALICE_TOKEN)
        self.assert_exit(p, 0)
        self.assertEqual(p.stdout.splitlines()[0], "mkio-orgs doctor, as a user (not root): "
                         "what a user can check; run it as root for the rest")
        self.assertEqual([c[1] for c in lines_of(p)], ["config", "ca_file", "tls", "token",
                         "list-budget", "nsswitch", "pam-account", "pam-session", "groups.db", "nscd", "stale"])
        self.check(p, "token", "ok", [
            "accepted by MK.IO (alice@example.com, from " + self.tmp + "/home/.config/mkio/token)",
            "not checked: the tokens under token_dir (not root: the token directory cannot be read)"])
        self.check(p, "groups.db", "ok")
        self.check(p, "config", "ok", ["path from MKIO_CONFIG; base_url " + self.fake.api_url +
                                       ", from " + self.conf + " line 1"])
        # Only alice's own token went to MK.IO: token_dir was not read.
        auths = [r["headers"].get("authorization") for r in self.fake.requests()]
        self.assertNotIn("Bearer " + BOB_TOKEN, auths)

    def test_not_root_without_a_token(self):
        p = self.run_as_nobody()
        self.assert_exit(p, 0)
        c = self.check(p, "token", "warn", ["no token", "not checked: the tokens under token_dir"])
        self.assertIn("mkio-orgs login", c[3])
        self.check(p, "tls", "ok", ["verified against " + self.ca])

    def test_not_root_refused_token(self):
        p = self.run_as_nobody("tok-revoked-0000")
        self.assert_exit(p, 4)
        c = self.check(p, "token", "fail", ["MK.IO refused the token from " + self.tmp +
                                            "/home/.config/mkio/token"])
        self.assertIn("run `mkio-orgs login`", c[3])

    def test_not_root_cannot_read_ca_file(self):
        os.chmod(self.ca, 0o600)
        p = self.run_as_nobody(ALICE_TOKEN)
        c = self.check(p, "ca_file", "warn", [
            "not checked: " + self.ca + " cannot be read as uid 65534 (not root)"])
        self.assertIn("as root", c[3])

    # ---- a token's expiry, and the list budget (issue 20, item 5) ----

    def jwt(self, claims):
        part = lambda o: base64.urlsafe_b64encode(json.dumps(o).encode()).rstrip(b"=").decode()
        return "%s.%s.c2lnbmF0dXJl" % (part({"alg": "RS256"}), part(claims))

    def test_malformed_token_expiry_warns(self):
        # exp - now wrapped for INT64_MIN: doctor said nothing.
        for exp in (-2**63, 2**63 - 1):
            token = self.jwt({"sub": "u-alice", "exp": exp})
            self.fake.seed({"tokens": [{"token": token, "user": "u-alice", "organization": ORG,
                                        "expires": None}]})
            self.write_token("alice", token)
            p = self.doctor()
            self.assert_exit(p, 0)
            c = self.token_lines(p)["alice"]
            self.assertEqual(c[0], "warn", p.stdout)
            self.assertIn("accepted by MK.IO", c[2])
            self.assertIn("its exp claim is malformed (no date from 1970 to 9999): taken as "
                          "expired", c[2])
            self.assertIn("mkio-orgs login --user alice", c[3])
            self.assertEqual(self.token_lines(p)["bob"][0], "ok", p.stdout)
        # A past and a near expiry warn too; a far one does not.
        now = int(time.time())
        for exp, result, text in ((now - 3 * 86400, "warn", "expired 3 days ago"),
                                  (now + 2 * 86400 + 60, "warn", "expires in 3 days"),
                                  (now + 90 * 86400, "ok", "accepted by MK.IO")):
            token = self.jwt({"sub": "u-alice", "exp": exp})
            self.fake.seed({"tokens": [{"token": token, "user": "u-alice", "organization": ORG,
                                        "expires": None}]})
            self.write_token("alice", token)
            p = self.doctor()
            c = self.token_lines(p)["alice"]
            self.assertEqual(c[0], result, p.stdout)
            self.assertIn(text, c[2])

    def test_list_budget_warns_when_max_list_records_cannot_be_listed(self):
        # The admin's token lists two organizations; the server pages one a
        # page, each answer delayed: 100000 records cannot come in 3 s.
        self.write_token("alice", ADMIN_TOKEN)
        self.fake.configure("offset", page_size=1)
        self.fake.fault("user_orgs_list", "delay", ms=100)
        self.write_conf("max_list_records = 100000\n")
        self.fake.clear_requests()
        p = self.doctor()
        self.assert_exit(p, 0)
        c = self.check(p, "list-budget", "warn", ["max_list_records (100000) takes 100000 pages "
                                                  "of 1 records", "more than time_budget (3000 ms)"])
        self.assertIn("max_list_records and time_budget in " + self.conf + " disagree", c[3])
        self.assertIn("raise time_budget", c[3])
        lists = [r for r in self.fake.requests() if r["path"] == "/api/v1/user/organizations"]
        self.assertEqual(len(lists), 1)
        # A bound the budget holds at the same rate is ok.
        self.write_conf("max_list_records = 2\n")
        p = self.doctor()
        self.check(p, "list-budget", "ok", ["max_list_records (2) takes 2 pages of 1 records",
                                            "within time_budget (3000 ms)"])

    def test_list_budget_default_configuration_is_ok(self):
        p = self.doctor()
        self.assert_exit(p, 0)
        self.check(p, "list-budget", "ok", ["unpaged"])
        # Without any token MK.IO accepts, nothing is measured.
        self.write_token("alice", "tok-revoked-0000")
        self.write_token("bob", "tok-revoked-0000")
        self.fake.clear_requests()
        p = self.doctor()
        self.check(p, "list-budget", "ok", ["not measured: no token MK.IO accepted"])
        self.assertEqual([r for r in self.fake.requests()
                          if r["path"] == "/api/v1/user/organizations"], [])

    # ---- usage ----

    def test_usage_and_help(self):
        p = self.doctor("--bogus")
        self.assert_exit(p, 2)
        self.assertIn("doctor: unknown option '--bogus'", p.stderr)
        self.assertEqual(p.stdout, "")
        p = self.doctor("extra")
        self.assert_exit(p, 2)
        self.assertIn("doctor: unexpected argument 'extra'", p.stderr)
        p = self.doctor("--help")
        self.assert_exit(p, 0)
        self.assertTrue(p.stdout.startswith("Usage: mkio-orgs doctor [--json]\n"))
        for name in set(CHECKS):
            self.assertIn("\n  " + name + " ", p.stdout)
        self.assertIn("Exit status: 0 when no check fails", p.stdout)
        p = self.ns_run(TOOL, "--help")
        self.assertIn("  doctor [--json]", p.stdout)


if __name__ == "__main__":
    unittest.main()
