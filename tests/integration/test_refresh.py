# SPDX-License-Identifier: LGPL-2.1-or-later
"""mkio-orgs refresh through the refresh service (issue 19, item 6), and
the token trap (item 1) end to end.

The service runs as mkio-refresh.socket (Accept=yes) would run it: an
accept loop on a Unix socket in the test's directory, each connection given
as standard input to `mkio-orgs refresh --serve` started as root with an
empty environment; or systemd-socket-activate --accept --inetd itself. The
users are a private /etc/passwd's (tests/lib/sandbox.py, in this process's
own mount namespace), with homes in the test's directory; they run the tool
with setpriv.
"""
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import unittest

from tooltest import ALICE_TOKEN, BOB_TOKEN, ORG, ORG2, TOOL, ToolTest
import sandbox  # tests/lib, on the path through tooltest

ROOT_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
B = os.path.join(ROOT_DIR, os.environ.get("B", "build"))
REFRESH = os.path.join(B, "mkio-login-refresh")
ALICE, BOB, LOWUID = 2101, 2102, 500


def setUpModule():
    if os.geteuid() != 0:
        raise unittest.SkipTest("needs root (the service runs as root; users via setpriv)")
    sandbox.enter()


class AcceptLoop:
    """What systemd does for a socket with Accept=yes: for each connection,
    the service's ExecStart with the connection as standard input (and
    nothing of the peer's environment)."""

    def __init__(self, path, argv, log):
        self.path, self.argv, self.log = path, argv, log
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        os.chmod(path, 0o666)     # SocketMode=0666
        self.sock.listen(8)
        self.procs = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                p = subprocess.Popen(self.argv, stdin=conn.fileno(), stdout=subprocess.DEVNULL,
                                     stderr=self.log, env={}, close_fds=True)
            self.procs.append(p)
            p.wait()

    def close(self):
        # shutdown wakes the accept() of the thread (close alone would not,
        # and the thread could take a later test's socket of the same
        # descriptor number); then the thread is gone before the socket is.
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.thread.join(30)
        self.sock.close()
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()


class RefreshCase(ToolTest):
    def setUp(self):
        super().setUp()
        self.share_with_users()
        self.homes = {}
        for name, uid in (("alice", ALICE), ("bob", BOB), ("lowuid", LOWUID)):
            home = os.path.join(self.tmp, "home-" + name)
            os.mkdir(home, 0o700)
            os.chown(home, uid, uid)
            self.homes[name] = home
        self.use_passwd()
        self.conf = self.write_conf(min_uid=1000)
        self.sock_path = os.path.join(self.tmp, "refresh.sock")
        self.serve_log = open(os.path.join(self.tmp, "serve.log"), "w+")
        self.addCleanup(self.serve_log.close)

    def use_passwd(self):
        with open("/etc/passwd") as f:
            lines = [l for l in f.read().splitlines() if not l.startswith(("alice:", "bob:", "lowuid:"))]
        for name, uid in (("alice", ALICE), ("bob", BOB), ("lowuid", LOWUID)):
            lines.append("%s:x:%d:%d:%s:%s:/bin/sh" % (name, uid, uid, name, self.homes[name]))
        path = os.path.join(self.tmp, "passwd")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.chmod(path, 0o644)
        ctx = sandbox.bound(path, "/etc/passwd")
        ctx.__enter__()
        self.addCleanup(ctx.__exit__, None, None, None)

    def start_service(self):
        loop = AcceptLoop(self.sock_path, [TOOL, "--config", self.conf, "refresh", "--serve"],
                          self.serve_log)
        self.addCleanup(loop.close)
        return loop

    def as_user(self, uid, *args, stdin=None, sock=True):
        env = {"MKIO_REFRESH_SOCKET": self.sock_path} if sock else {}
        return self.run_tool(*args, token=None, user=uid, env=env, stdin=stdin)

    def ask_raw(self, uid, line):
        """Connects as uid (a child process that takes the uid) and sends line."""
        code = ("import socket,sys;s=socket.socket(socket.AF_UNIX);s.connect(sys.argv[1]);"
                "s.sendall(sys.argv[2].encode());print(s.makefile().readline(),end='')")
        p = subprocess.run(["setpriv", "--reuid=%d" % uid, "--regid=%d" % uid, "--clear-groups",
                            "python3", "-c", code, self.sock_path, line],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)

    def store(self):
        with open(os.path.join(self.state_dir, "store.json")) as f:
            return json.load(f)

    def user_orgs(self, user):
        return sorted(self.store().get("users", {}).get(user, {}).get("orgs", []))

    def set_user(self, user, orgs):
        path = os.path.join(self.tmp, "set-%s.json" % user)
        with open(path, "w") as f:
            json.dump([{"id": o, "name": n} for o, n in orgs], f)
        p = self.run_tool("store", "set-user", user, "--from", path)
        self.assert_exit(p, 0)


class TestRefreshService(RefreshCase):
    def test_user_refreshes_only_their_own_groups(self):
        self.write_token("alice", ALICE_TOKEN)
        self.write_token("bob", BOB_TOKEN)
        self.set_user("bob", [(ORG2, "Delphi Studio")])
        bob_before = self.store()["users"]["bob"]
        self.start_service()
        p = self.as_user(ALICE, "refresh")
        self.assert_exit(p, 0)
        self.assertIn("Refreshed the groups of alice", p.stdout)
        group = self.store()["organizations"][ORG]["group"]
        self.assertIn("Added:   %s (gid " % group, p.stdout)
        self.assertIn("New sessions get the change", p.stdout)
        # alice's invite was accepted as at a login; bob's record untouched.
        self.assertEqual(self.user_orgs("alice"), [ORG])
        self.assertEqual(self.store()["users"]["bob"], bob_before)
        self.assertEqual(self.org_state(ORG2)["members"], ["u-admin"])
        # Only alice's token was used.
        auth = {r["headers"].get("authorization") for r in self.api_requests()
                if r.get("headers")}
        self.assertEqual(auth - {None}, {"Bearer " + ALICE_TOKEN})

    def test_second_request_within_the_window_is_rate_limited(self):
        self.write_token("alice", ALICE_TOKEN)
        self.start_service()
        self.assert_exit(self.as_user(ALICE, "refresh"), 0)
        requests = len(self.api_requests())
        p = self.as_user(ALICE, "refresh")
        self.assert_exit(p, 3)
        self.assertRegex(p.stderr, r"refreshed less than 30 s ago; try again in \d+ s")
        self.assertEqual(len(self.api_requests()), requests)
        # The record is root's, in a directory of root's.
        rec = os.stat(os.path.join(self.state_dir, "refresh-requests", "alice"))
        self.assertEqual((rec.st_uid, rec.st_mode & 0o777), (0, 0o600))
        # Another user is not held up by alice's window.
        self.write_token("bob", BOB_TOKEN)
        self.assert_exit(self.as_user(BOB, "refresh"), 0)

    def test_request_for_another_user_is_refused(self):
        self.write_token("alice", ALICE_TOKEN)
        self.write_token("bob", BOB_TOKEN)
        loop = self.start_service()
        answer = self.ask_raw(ALICE, "refresh bob\n")
        self.assertEqual(answer["result"], "error")
        self.assertEqual(answer["exit"], 2)
        self.assertIn("only your own groups", answer["message"])
        self.assertIn("from alice", answer["message"])
        self.assertEqual(self.api_requests(), [])
        self.assertFalse(os.path.exists(os.path.join(self.state_dir, "store.json")))
        # Junk and a silent peer get an answer, not a refresh.
        for line in ("frobnicate\n", "refresh alice extra\n"):
            with self.subTest(line=line):
                self.assertEqual(self.ask_raw(ALICE, line)["result"], "error")
        self.assertEqual(self.api_requests(), [])
        # Each service answered, so each exited 0: a user's refused request
        # leaves no failed unit behind.
        for _ in range(100):   # until the loop has reaped the last one
            if len(loop.procs) == 3 and all(p.poll() is not None for p in loop.procs):
                break
            time.sleep(0.05)
        self.assertEqual([p.returncode for p in loop.procs], [0, 0, 0])

    def test_ignored_user_and_missing_token(self):
        self.start_service()
        self.write_token("lowuid", BOB_TOKEN)
        p = self.as_user(LOWUID, "refresh")
        self.assert_exit(p, 2)
        self.assertIn("logins leave lowuid alone", p.stderr)
        p = self.as_user(ALICE, "refresh")
        self.assert_exit(p, 2)
        self.assertIn("run `mkio-orgs login`", p.stderr)
        self.assertEqual(self.api_requests(), [])

    def test_json_output(self):
        self.write_token("alice", ALICE_TOKEN)
        self.start_service()
        p = self.as_user(ALICE, "refresh", "--json")
        self.assert_exit(p, 0)
        out = json.loads(p.stdout)
        self.assertEqual(list(out), ["schema", "user", "joined", "accepted", "added", "removed"])
        self.assertEqual(out["schema"], 1)
        self.assertEqual(out["user"], "alice")
        self.assertEqual((out["joined"], out["accepted"]), (1, 1))
        group = self.store()["organizations"][ORG]
        self.assertEqual(out["added"], [{"name": group["group"], "gid": group["gid"],
                                         "organization": {"id": ORG, "name": "Acme Media"}}])
        self.assertEqual(out["removed"], [])

    def test_refused_token_names_the_file_and_the_admin(self):
        self.write_token("alice", "tok-revoked-0000")
        self.start_service()
        p = self.as_user(ALICE, "refresh")
        self.assert_exit(p, 2)
        path = os.path.join(self.token_dir, "alice")
        self.assertIn("MK.IO refused the token in %s" % path, p.stderr)
        self.assertIn("your administrator must run `mkio-orgs login --user alice`", p.stderr)

    def test_without_the_socket_refused_cleanly(self):
        p = self.as_user(ALICE, "refresh")
        self.assert_exit(p, 3)
        self.assertIn("no refresh service on this host", p.stderr)
        self.assertIn("your groups follow at your next login", p.stderr)
        self.assertEqual(p.stderr.count("\n"), 1)
        self.assertEqual(p.stdout, "")

    def test_serve_refuses_what_is_not_a_socket(self):
        p = self.run_tool("refresh", "--serve", stdin="refresh alice\n")
        self.assert_exit(p, 2)
        self.assertIn("not a connected Unix socket", p.stderr)
        self.assertEqual(self.api_requests(), [])

    @unittest.skipUnless(shutil.which("systemd-socket-activate"), "no systemd-socket-activate")
    def test_under_systemd_socket_activate(self):
        """The service as systemd itself starts it: systemd-socket-activate
        --accept --inetd passes each connection as standard input and output."""
        self.write_token("alice", ALICE_TOKEN)
        p = subprocess.Popen(["systemd-socket-activate", "--accept", "--inetd", "-l",
                              self.sock_path, TOOL, "--config", self.conf, "refresh", "--serve"],
                             stdout=subprocess.DEVNULL, stderr=self.serve_log, env={})
        self.addCleanup(lambda: (p.kill(), p.wait()))
        for _ in range(200):   # until it listens (a loose bound only a hang reaches)
            if os.path.exists(self.sock_path):
                break
            time.sleep(0.05)
        os.chmod(self.sock_path, 0o666)
        r = self.as_user(ALICE, "refresh")
        self.assert_exit(r, 0)
        self.assertEqual(self.user_orgs("alice"), [ORG])


def unit_values(key):
    """Every value of key= in conf/mkio-refresh@.service, in order."""
    with open(os.path.join(ROOT_DIR, "conf", "mkio-refresh@.service")) as f:
        return [l.split("=", 1)[1].strip() for l in f if l.startswith(key + "=")]


def syscall_set(name):
    """The system calls of a systemd set (@system-service), sets expanded."""
    p = subprocess.run(["systemd-analyze", "syscall-filter", name], capture_output=True,
                       text=True, check=True)
    calls = set()
    for line in p.stdout.splitlines()[1:]:
        word = line.strip()
        if word and not word.startswith("#"):
            calls |= syscall_set(word) if word.startswith("@") else {word}
    return calls


@unittest.skipUnless(shutil.which("strace") and shutil.which("systemd-analyze"),
                     "needs strace and systemd-analyze")
class TestServiceSandbox(RefreshCase):
    """The service with only the capabilities its unit leaves it
    (CapabilityBoundingSet=CAP_SETUID CAP_SETGID, NoNewPrivileges=yes),
    traced: every system call it makes is one its SystemCallFilter= lets
    through, and it reads a user's own token file (setfsuid) and writes the
    store without CAP_DAC_OVERRIDE."""

    def test_refresh_within_the_units_capabilities_and_filter(self):
        own = os.path.join(self.homes["alice"], ".config", "mkio")
        os.makedirs(own, 0o700)
        with open(os.path.join(own, "token"), "w") as f:
            f.write(ALICE_TOKEN + "\n")
        os.chmod(os.path.join(own, "token"), 0o600)
        for d in (os.path.dirname(own), own, os.path.join(own, "token")):
            os.chown(d, ALICE, ALICE)
        caps = unit_values("CapabilityBoundingSet")
        self.assertEqual(caps, ["CAP_SETUID CAP_SETGID"])
        trace = os.path.join(self.tmp, "trace")
        loop = AcceptLoop(self.sock_path, [
            "setpriv", "--bounding-set=-all,+setuid,+setgid", "--inh-caps=-all",
            "--no-new-privs", "--", "strace", "-f", "-qq", "-o", trace,
            TOOL, "--config", self.conf, "refresh", "--serve"], self.serve_log)
        self.addCleanup(loop.close)
        p = self.as_user(ALICE, "refresh")
        self.assert_exit(p, 0)
        self.assertEqual(self.user_orgs("alice"), [ORG])
        with open(trace) as f:
            text = f.read()
        used = set()
        for line in text.splitlines():
            words = line.split(None, 1)
            if len(words) == 2:
                name = words[1].lstrip("<. ").split("(", 1)[0].split(" ", 1)[0]
                if name.replace("_", "").isalnum():
                    used.add(name)
        self.assertIn("setfsuid", used)
        self.assertIn("connect", used)
        self.assertGreater(len(used), 20, sorted(used))
        filters = unit_values("SystemCallFilter")
        self.assertEqual(filters, ["@system-service", "~@privileged @resources",
                                   "setfsuid setfsgid"])
        allowed = (syscall_set("@system-service") - syscall_set("@privileged")
                   - syscall_set("@resources")) | {"setfsuid", "setfsgid"}
        # execve is strace's own start of the tool (systemd allows it).
        self.assertEqual(sorted(used - allowed - {"execve", "resumed"}), [])


class TestTokenTrap(RefreshCase):
    """Issue 19's worst case: root saved a token for alice in token_dir;
    MK.IO later refuses it; alice saves a good one of her own."""

    def login_refresh(self, user="alice"):
        """mkio-login-refresh as pam_mkio's gate starts it: as root, an empty
        environment, the report on descriptor 3. Its `info` lines."""
        r, w = os.pipe()
        # The pipe as descriptor 3 (a shell's redirection takes only 0-9).
        dup3 = "import os,sys;os.dup2(int(sys.argv[1]),3);os.execv(sys.argv[2],sys.argv[2:])"
        p = subprocess.Popen(["python3", "-c", dup3, str(w), REFRESH,
                              "--conf=" + self.conf, "--user=" + user, "--service=login",
                              "--timeout-ms=5000"], pass_fds=(w,), env={},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        os.close(w)
        with os.fdopen(r) as f:
            report = f.read()
        out, err = p.communicate(timeout=60)
        self.outputs.append(report)
        self.last_report = "exit %s; report %r; stderr %r" % (p.returncode, report, err)
        return [l[5:] for l in report.splitlines() if l.startswith("info ")]

    def as_alice(self, *args, stdin=None):
        return self.run_tool(*args, token=None, user=ALICE, stdin=stdin,
                             env={"MKIO_REFRESH_SOCKET": self.sock_path,
                                  "HOME": self.homes["alice"]})

    def test_the_trap_end_to_end(self):
        root_file = os.path.join(self.token_dir, "alice")
        own_file = os.path.join(self.homes["alice"], ".config", "mkio", "token")
        self.write_token("alice", "tok-revoked-0000")
        self.start_service()
        told = self.login_refresh()
        refused = ("MK.IO refused the token in %s (expired or revoked): your administrator must "
                   "run `mkio-orgs login --user alice` with a new token (logins read %s before "
                   "your own token file)." % (root_file, root_file))
        self.assertEqual(told, [refused], self.last_report)

        # alice does what she can: saves a good token of her own. login
        # says that her logins will not use it.
        p = self.as_alice("login", stdin=ALICE_TOKEN + "\n")
        self.assert_exit(p, 0)
        self.assertTrue(os.path.exists(own_file))
        self.assertIn("your logins do not use the token just saved: they read %s first"
                      % root_file, p.stderr)
        self.assertIn("your administrator must run `mkio-orgs login --user alice`", p.stderr)

        # The next login still meets the root file: the same message, which
        # names it and the administrator's command.
        self.assertEqual(self.login_refresh(), [refused])

        # whoami and doctor, run by alice, name the file logins use.
        p = self.as_alice("whoami")
        self.assert_exit(p, 0)
        self.assertIn("Token source:   %s (file)" % own_file, p.stdout)
        self.assertIn("Logins use:     %s (root's, in token_dir: only your administrator can "
                      "replace it)" % root_file, p.stdout)
        self.assertIn("warning: your logins use %s, not the token shown here" % root_file,
                      p.stderr)
        p = self.as_alice("doctor")
        token = [l for l in p.stdout.splitlines() if l.split()[:2] in (["warn", "token:"],
                                                                      ["ok", "token:"])]
        self.assertEqual(len(token), 1, p.stdout)
        self.assertTrue(token[0].startswith("warn"), p.stdout)
        self.assertIn("your logins use %s (root's" % root_file, token[0])
        self.assertIn("mkio-orgs login --user alice", p.stdout)

        # Once the administrator saves her good token there, logins work;
        # whoami still says which file they use.
        self.write_token("alice", ALICE_TOKEN)
        self.assertEqual([l for l in self.login_refresh() if "refused" in l], [])
        self.assertEqual(self.user_orgs("alice"), [ORG])
        p = self.as_alice("whoami")
        self.assertIn("Logins use:     %s (root's" % root_file, p.stdout)

    def test_a_root_file_of_mode_0644_is_told_with_the_fix(self):
        root_file = os.path.join(self.token_dir, "alice")
        self.write_token("alice", ALICE_TOKEN)
        os.chmod(root_file, 0o644)
        self.start_service()
        told = self.login_refresh()
        self.assertEqual(len(told), 1, told)
        self.assertIn("%s has mode 0644; it must be 0600" % root_file, told[0])
        self.assertIn("Only your administrator can fix %s: `chmod 0600 %s`" % (root_file, root_file),
                      told[0])
        # alice learns it from whoami too (token_dir is root's: the service says).
        p = self.run_tool("whoami", token=ALICE_TOKEN, user=ALICE,
                          env={"MKIO_REFRESH_SOCKET": self.sock_path, "HOME": self.homes["alice"]})
        self.assert_exit(p, 0)
        self.assertIn("Logins use:     %s (root's" % root_file, p.stdout)
        self.assertIn("refused: %s has mode 0644" % root_file, p.stdout)

    def test_whoami_without_the_service_says_it_cannot_tell(self):
        p = self.run_tool("whoami", token=ALICE_TOKEN, user=ALICE,
                          env={"MKIO_REFRESH_SOCKET": self.sock_path, "HOME": self.homes["alice"]})
        self.assert_exit(p, 0)
        self.assertIn("Logins use:     unknown (only root can look into token_dir %s, and no "
                      "refresh service answers on this host)" % self.token_dir, p.stdout)


class TestAcceptLeave(RefreshCase):
    def test_accept_says_the_group_follows(self):
        self.write_token("alice", ALICE_TOKEN)
        self.start_service()
        p = self.run_tool("orgs", "accept", ORG, token=ALICE_TOKEN, user=ALICE,
                          env={"MKIO_REFRESH_SOCKET": self.sock_path})
        self.assert_exit(p, 0)
        group = self.store()["organizations"][ORG]["group"]
        self.assertIn("The group %s will be yours in new sessions" % group, p.stdout)

    def test_accept_without_the_socket_says_next_login(self):
        p = self.run_tool("orgs", "accept", ORG, token=ALICE_TOKEN, user=ALICE,
                          env={"MKIO_REFRESH_SOCKET": self.sock_path})
        self.assert_exit(p, 0)
        self.assertIn("The Unix group follows at your next login", p.stdout)

    def test_accept_by_a_user_logins_leave_alone_asks_nothing(self):
        self.start_service()
        p = self.run_tool("orgs", "accept", ORG, token=ALICE_TOKEN, user=LOWUID,
                          env={"MKIO_REFRESH_SOCKET": self.sock_path})
        self.assert_exit(p, 0)
        self.assertIn("No Unix group follows here: this host's logins leave you alone", p.stdout)
        self.assertFalse(os.path.exists(os.path.join(self.state_dir, "refresh-requests")))

    def test_no_refresh_asks_nothing(self):
        self.write_token("alice", ALICE_TOKEN)
        self.start_service()
        p = self.run_tool("orgs", "accept", "--no-refresh", ORG, token=ALICE_TOKEN, user=ALICE,
                          env={"MKIO_REFRESH_SOCKET": self.sock_path})
        self.assert_exit(p, 0)
        self.assertNotIn("group", p.stdout.lower().replace("joined", ""))
        self.assertFalse(os.path.exists(os.path.join(self.state_dir, "refresh-requests")))

    def test_leave_says_the_group_goes(self):
        self.write_token("bob", BOB_TOKEN)
        self.start_service()
        self.assert_exit(self.as_user(BOB, "refresh"), 0)
        group = self.store()["organizations"][ORG]["group"]
        # The next refresh is past the window: the record says 31 s ago.
        with open(os.path.join(self.state_dir, "refresh-requests", "bob"), "w") as f:
            f.write("%d\n" % (time.time() - 31))
        p = self.run_tool("orgs", "leave", ORG, "--yes", token=BOB_TOKEN, user=BOB,
                          env={"MKIO_REFRESH_SOCKET": self.sock_path})
        self.assert_exit(p, 0)
        self.assertIn("The group %s is no longer yours in new sessions" % group, p.stdout)
        self.assertEqual(self.user_orgs("bob"), [])


if __name__ == "__main__":
    unittest.main()
