# SPDX-License-Identifier: LGPL-2.1-or-later
"""mkio-orgs login, whoami and logout against the fake server (issue 9)."""
import base64
import json
import os
import stat
import subprocess
import time
import unittest

from tooltest import ALICE_TOKEN, ORG, TOOL, ToolTest
import sandbox  # tests/lib, on the path through tooltest

PROFILE = "/api/v1/user/profile"


def b64url(obj):
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def jwt(claims):
    return "%s.%s.c2lnbmF0dXJl" % (b64url({"alg": "RS256", "kid": "k1"}), b64url(claims))


def setUpModule():
    # Root's login saves to root's home as the password database gives it,
    # never $HOME: the tests show the tool a private /etc/passwd (bind
    # mounted per test in this process's own mount namespace, so the host's
    # is never touched) whose root entry names a home inside the test.
    sandbox.enter()


def tree(path):
    """Every entry under path with its type, mode, owner and bytes."""
    snap = {}
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            full = os.path.join(root, name)
            st = os.lstat(full)
            data = None
            if stat.S_ISREG(st.st_mode):
                with open(full, "rb") as f:
                    data = f.read()
            snap[os.path.relpath(full, path)] = (st.st_mode, st.st_uid, st.st_mtime_ns, data)
    return snap


class RootHome:
    """A ToolTest mixin: root's passwd home, for the tools run, is home."""

    def use_root_home(self, home):
        with open("/etc/passwd") as f:
            lines = f.read().splitlines()
        lines = [("root:x:0:0:root:%s:/bin/sh" % home) if l.startswith("root:") else l
                 for l in lines]
        path = os.path.join(self.tmp, "passwd")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.chmod(path, 0o644)
        ctx = sandbox.bound(path, "/etc/passwd")
        ctx.__enter__()
        self.addCleanup(ctx.__exit__, None, None, None)


class TestLogin(RootHome, ToolTest):
    def setUp(self):
        super().setUp()
        self.use_root_home(self.tmp)

    def token_path(self):
        return os.path.join(self.tmp, ".config", "mkio", "token")

    def test_login_good_token_writes_0600_file_in_0700_dir(self):
        p = self.run_tool("login", token=None, stdin=ALICE_TOKEN + "\n")
        self.assert_exit(p, 0)
        st = os.lstat(self.token_path())
        self.assertTrue(stat.S_ISREG(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.dirname(self.token_path())).st_mode), 0o700)
        with open(self.token_path()) as f:
            self.assertEqual(f.read(), ALICE_TOKEN + "\n")
        self.assertIn("Alice", p.stdout)
        self.assertIn("alice@example.com", p.stdout)
        self.assertIn(ORG, p.stdout)
        self.assertIn("unknown", p.stdout)  # not a JWT: expiry unknown
        self.assertEqual([r["path"] for r in self.api_requests()], [PROFILE])
        # The tool now uses it without MKIO_TOKEN.
        p = self.run_tool("whoami", token=None)
        self.assert_exit(p, 0)
        self.assertIn(self.token_path() + " (file)", p.stdout)

    def test_login_bad_token_writes_nothing_exit_2(self):
        p = self.run_tool("login", token=None, stdin="tok-nobody-knows\n")
        self.assert_exit(p, 2)
        self.assertIn("nothing was saved", p.stderr)
        self.assertIn("mkio-orgs login", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, ".config")))

    def test_login_network_failure_exit_3_writes_nothing(self):
        conf = os.path.join(self.tmp, "down.conf")
        with open(conf, "w") as f:
            f.write("base_url = https://127.0.0.1:9\ntime_budget = 1\nconnect_timeout = 1\n"
                    "retries = 0\n")
        p = self.run_tool("--config", conf, "login", token=None, stdin=ALICE_TOKEN)
        self.assert_exit(p, 3)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, ".config")))

    def test_login_refuses_symlink_at_token_path(self):
        os.makedirs(os.path.dirname(self.token_path()), 0o700)
        target = os.path.join(self.tmp, "elsewhere")
        os.symlink(target, self.token_path())
        p = self.run_tool("login", token=None, stdin=ALICE_TOKEN + "\n")
        self.assert_exit(p, 2)
        self.assertIn("symbolic link", p.stderr)
        self.assertFalse(os.path.exists(target))
        self.assertTrue(os.path.islink(self.token_path()))

    def test_login_refuses_symlinked_directory(self):
        real = os.path.join(self.tmp, "realconfig")
        os.mkdir(real, 0o700)
        os.symlink(real, os.path.join(self.tmp, ".config"))
        p = self.run_tool("login", token=None, stdin=ALICE_TOKEN + "\n")
        self.assert_exit(p, 2)
        self.assertIn("symbolic link", p.stderr)
        self.assertEqual(os.listdir(real), [])

    def test_login_token_as_argument_is_refused(self):
        p = self.run_tool("login", ALICE_TOKEN, token=None, stdin="")
        self.assert_exit(p, 2)
        self.assertIn("never taken as an argument", p.stderr)
        self.assertEqual(self.api_requests(), [])
        p = self.run_tool("login", token=None, stdin="\n")
        self.assert_exit(p, 2)
        self.assertIn("no token on standard input", p.stderr)

    def test_login_on_a_terminal_does_not_echo(self):
        master, slave = os.openpty()
        try:
            e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": self.tmp}
            p = subprocess.Popen([TOOL, "--config", self.conf, "login"], env=e, stdin=slave, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
            os.close(slave)
            slave = -1
            prompt = b""
            while b"MK.IO token" not in prompt:
                chunk = p.stderr.read1(256)
                self.assertTrue(chunk, "no prompt")
                prompt += chunk
            os.write(master, ALICE_TOKEN.encode() + b"\n")
            out, err = p.communicate(timeout=30)
            self.assertEqual(p.returncode, 0, err)
            echoed = b""
            os.set_blocking(master, False)
            try:
                echoed = os.read(master, 4096)
            except (BlockingIOError, OSError):
                pass
            self.assertNotIn(ALICE_TOKEN.encode(), echoed)
            self.outputs += [out.decode(), err.decode(), echoed.decode("utf-8", "replace")]
            self.assertTrue(os.path.exists(self.token_path()))
        finally:
            os.close(master)
            if slave >= 0:
                os.close(slave)

    def prompt_then(self, act):
        """Runs `login` on a pty that is its controlling terminal (as a
        shell would), waits for the hidden prompt, calls act(pid, master),
        and returns the child's wait status and the terminal's lflag after."""
        import pty
        import termios
        pid, master = pty.fork()
        if pid == 0:
            os.execve(TOOL, [TOOL, "--config", self.conf, "login"],
                      {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": self.tmp})
        try:
            seen = b""
            while b"MK.IO token" not in seen:
                chunk = os.read(master, 256)
                self.assertTrue(chunk, "no prompt")
                seen += chunk
            self.assertFalse(termios.tcgetattr(master)[3] & termios.ECHO, "echo on at the prompt")
            act(pid, master)
            _, status = os.waitpid(pid, 0)
            return status, termios.tcgetattr(master)[3]
        finally:
            os.close(master)

    def test_interrupt_at_the_hidden_prompt_restores_echo(self):
        """Issue 19: Ctrl-C (the terminal's interrupt character) at the
        prompt ends login and leaves the terminal echoing; so do SIGTERM,
        SIGHUP and SIGQUIT. Nothing is saved."""
        import signal
        import termios

        def ctrl_c(pid, master):
            os.write(master, termios.tcgetattr(master)[6][termios.VINTR])
        cases = [("ctrl-c", ctrl_c, signal.SIGINT)]
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
            cases.append((sig.name, lambda pid, master, sig=sig: os.kill(pid, sig), sig))
        for name, act, sig in cases:
            with self.subTest(signal=name):
                status, lflag = self.prompt_then(act)
                self.assertTrue(os.WIFSIGNALED(status), status)
                self.assertEqual(os.WTERMSIG(status), sig)
                self.assertTrue(lflag & termios.ECHO, "echo left off")
                self.assertFalse(os.path.exists(self.token_path()))

    def test_bearer_prefix_is_left_out_with_a_note(self):
        p = self.run_tool("login", token=None, stdin="Bearer " + ALICE_TOKEN + "\n")
        self.assert_exit(p, 0)
        self.assertIn('left out the word "Bearer"', p.stderr)
        with open(self.token_path()) as f:
            self.assertEqual(f.read(), ALICE_TOKEN + "\n")
        # The word alone is no token.
        p = self.run_tool("login", token=None, stdin="Bearer\n")
        self.assert_exit(p, 2)

    def test_login_user_with_a_refused_token_says_so(self):
        """Issue 19: not "reading your profile": the token given was refused,
        and the command to run again names the user."""
        p = self.run_tool("login", "--user", "nobody", token=None, stdin="tok-nobody-knows\n")
        self.assert_exit(p, 2)
        self.assertIn("MK.IO refused the token given on standard input", p.stderr)
        self.assertIn("run `mkio-orgs login --user nobody` again", p.stderr)
        self.assertNotIn("your profile", p.stderr)
        self.assertIn("nothing was saved", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.token_dir, "nobody")))

    def test_login_user_warns_of_an_ignored_user_and_a_shared_account(self):
        conf = self.write_conf(min_uid=1000)
        self.write_token("daemon", ALICE_TOKEN)
        p = self.run_tool("--config", conf, "login", "--user", "nobody", token=None,
                          stdin=ALICE_TOKEN + "\n", conf=False)
        self.assert_exit(p, 0)
        # nobody is 65534, above min_uid: not ignored; but daemon holds the
        # same account.
        self.assertNotIn("leave nobody alone", p.stderr)
        self.assertIn("%s holds a token of the same MK.IO account (alice@example.com)"
                      % os.path.join(self.token_dir, "daemon"), p.stderr)
        with open(conf, "a") as f:
            f.write("ignore_users = nobody\n")
        p = self.run_tool("--config", conf, "login", "--user", "nobody", token=None,
                          stdin=ALICE_TOKEN + "\n", conf=False)
        self.assert_exit(p, 0)
        self.assertIn("logins and sync leave nobody alone", p.stderr)
        self.assertIn("this token is never used", p.stderr)

    def test_login_replaces_existing_token(self):
        os.makedirs(os.path.dirname(self.token_path()), 0o700)
        with open(self.token_path(), "w") as f:
            f.write("old\n")
        os.chmod(self.token_path(), 0o644)
        p = self.run_tool("login", token=None, stdin=ALICE_TOKEN)
        self.assert_exit(p, 0)
        self.assertEqual(stat.S_IMODE(os.lstat(self.token_path()).st_mode), 0o600)
        with open(self.token_path()) as f:
            self.assertEqual(f.read(), ALICE_TOKEN + "\n")
        self.assertEqual([n for n in os.listdir(os.path.dirname(self.token_path()))], ["token"])

    def test_root_login_user_writes_token_dir(self):
        p = self.run_tool("login", "--user", "nobody", token=None, stdin=ALICE_TOKEN + "\n")
        self.assert_exit(p, 0)
        path = os.path.join(self.token_dir, "nobody")
        st = os.lstat(path)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        self.assertEqual(st.st_uid, 0)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, ".config")))
        p = self.run_tool("logout", "--user", "nobody", token=None)
        self.assert_exit(p, 0)
        self.assertFalse(os.path.exists(path))

    def test_help_and_main_help(self):
        for cmd in ("login", "whoami", "logout"):
            p = self.run_tool(cmd, "--help", token=None)
            self.assert_exit(p, 0)
            self.assertIn("Usage: mkio-orgs " + cmd, p.stdout)
            self.assertIn("Exit status", p.stdout)
        p = self.run_tool("--help", token=None)
        for cmd in ("login [--user USER]", "whoami [--json]", "logout [--user USER]"):
            self.assertIn(cmd, p.stdout)


class TestLoginPlace(RootHome, ToolTest):
    """Where root's login saves (issue 20, item 5), and what is checked
    before the token is sent."""

    def setUp(self):
        super().setUp()
        # Another user's home, as $HOME under `sudo -E`, and root's own.
        self.victim = os.path.join(self.tmp, "victim")
        os.mkdir(self.victim, 0o755)
        os.chown(self.victim, 65534, 65534)
        self.root_home = os.path.join(self.tmp, "roothome")
        os.mkdir(self.root_home, 0o700)
        self.use_root_home(self.root_home)

    def root_token(self):
        return os.path.join(self.root_home, ".config", "mkio", "token")

    def test_root_login_saves_to_passwd_home_never_home(self):
        before = tree(self.victim)
        p = self.run_tool("login", token=None, stdin=ALICE_TOKEN + "\n",
                          env={"HOME": self.victim})
        self.assert_exit(p, 0)
        self.assertEqual(tree(self.victim), before)
        self.assertIn("Saved to:       " + self.root_token(), p.stdout)
        with open(self.root_token()) as f:
            self.assertEqual(f.read(), ALICE_TOKEN + "\n")
        for path in (os.path.dirname(self.root_token()), os.path.dirname(os.path.dirname(
                self.root_token()))):
            st = os.lstat(path)
            self.assertEqual((st.st_uid, stat.S_IMODE(st.st_mode)), (0, 0o700), path)
        st = os.lstat(self.root_token())
        self.assertEqual((st.st_uid, stat.S_IMODE(st.st_mode)), (0, 0o600))
        # logout removes what login saved, never a file under $HOME.
        os.makedirs(os.path.join(self.victim, ".config", "mkio"))
        theirs = os.path.join(self.victim, ".config", "mkio", "token")
        with open(theirs, "w") as f:
            f.write("theirs\n")
        before = tree(self.victim)
        p = self.run_tool("logout", token=None, env={"HOME": self.victim})
        self.assert_exit(p, 0)
        self.assertFalse(os.path.exists(self.root_token()))
        self.assertEqual(tree(self.victim), before)

    def test_refused_user_sends_no_request(self):
        for user in ("no-such-user-xyz", "../etc", ".hidden"):
            self.fake.clear_requests()
            p = self.run_tool("login", "--user", user, token=None, stdin=ALICE_TOKEN + "\n")
            self.assert_exit(p, 2)
            self.assertEqual(self.api_requests(), [], user)
        self.assertEqual(os.listdir(self.token_dir), [])

    def test_unusable_token_dir_sends_no_request(self):
        os.chmod(self.token_dir, 0o777)
        p = self.run_tool("login", "--user", "nobody", token=None, stdin=ALICE_TOKEN + "\n")
        self.assert_exit(p, 2)
        self.assertIn("root only", p.stderr)
        self.assertEqual(self.api_requests(), [])
        os.rmdir(self.token_dir)
        os.symlink(self.tmp, self.token_dir)
        p = self.run_tool("login", "--user", "nobody", token=None, stdin=ALICE_TOKEN + "\n")
        self.assert_exit(p, 2)
        self.assertEqual(self.api_requests(), [])
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "nobody")))

    def test_unusable_save_path_sends_no_request(self):
        config = os.path.join(self.root_home, ".config")
        real = os.path.join(self.tmp, "realconfig")
        os.mkdir(real, 0o700)
        cases = []
        # A symbolic link on the way.
        os.symlink(real, config)
        cases.append("symbolic link")
        for expect in cases:
            p = self.run_tool("login", token=None, stdin=ALICE_TOKEN + "\n")
            self.assert_exit(p, 2)
            self.assertIn(expect, p.stderr)
            self.assertEqual(self.api_requests(), [])
        self.assertEqual(os.listdir(real), [])
        os.unlink(config)
        # A file where the directory should be.
        with open(config, "w") as f:
            f.write("")
        p = self.run_tool("login", token=None, stdin=ALICE_TOKEN + "\n")
        self.assert_exit(p, 2)
        self.assertEqual(self.api_requests(), [])
        os.unlink(config)
        # A directory on the way owned by another user.
        os.makedirs(os.path.join(config, "mkio"), 0o700)
        os.chown(os.path.join(config, "mkio"), 65534, 65534)
        p = self.run_tool("login", token=None, stdin=ALICE_TOKEN + "\n")
        self.assert_exit(p, 2)
        self.assertIn("owned by uid 65534", p.stderr)
        self.assertEqual(self.api_requests(), [])
        self.assertEqual(os.listdir(os.path.join(config, "mkio")), [])
        # A symbolic link at the token file itself.
        os.chown(os.path.join(config, "mkio"), 0, 0)
        os.symlink(os.path.join(self.tmp, "elsewhere"), self.root_token())
        p = self.run_tool("login", token=None, stdin=ALICE_TOKEN + "\n")
        self.assert_exit(p, 2)
        self.assertIn("symbolic link", p.stderr)
        self.assertEqual(self.api_requests(), [])

    def test_root_without_passwd_home_is_refused(self):
        self.use_root_home("relative/home")
        p = self.run_tool("login", token=None, stdin=ALICE_TOKEN + "\n",
                          env={"HOME": self.victim})
        self.assert_exit(p, 2)
        self.assertIn("home", p.stderr)
        self.assertEqual(self.api_requests(), [])
        self.assertEqual(tree(self.victim), {})


class TestWhoamiLogout(RootHome, ToolTest):
    def setUp(self):
        super().setUp()
        self.use_root_home(self.tmp)

    def test_whoami_text_non_jwt(self):
        p = self.run_tool("whoami")
        self.assert_exit(p, 0)
        self.assertIn("Alice", p.stdout)
        self.assertIn("alice@example.com", p.stdout)
        self.assertIn(ORG, p.stdout)
        self.assertIn("MKIO_TOKEN (environment)", p.stdout)
        self.assertIn("unknown (the token is not a JWT)", p.stdout)

    def test_whoami_json_with_jwt_expiry(self):
        exp = int(time.time()) + 10 * 86400 + 3600
        token = jwt({"sub": "u-alice", "exp": exp, "iat": exp - 86400 * 300, "jti": "j1",
                     "kind": "full-access", "organizationId": ORG})
        self.fake.seed({"tokens": [{"token": token, "user": "u-alice", "organization": ORG,
                                    "expires": None}]})
        p = self.run_tool("whoami", "--json", token=token)
        self.assert_exit(p, 0)
        self.assertNotIn(token, p.stdout + p.stderr)
        obj = json.loads(p.stdout)
        # snake_case, the profile and the token apart (issue 19: was camelCase).
        profile, tok = obj["profile"], obj["token"]
        self.assertEqual(obj["schema"], 1)
        self.assertEqual(profile["name"], "Alice")
        self.assertEqual(profile["login_email"], "alice@example.com")
        self.assertEqual(profile["contact_email"], "alice@example.com")
        self.assertEqual(profile["active_organization_id"], ORG)
        self.assertEqual((tok["source"], tok["variable"], tok["path"]),
                         ("environment", "MKIO_TOKEN", None))
        self.assertEqual(tok["kind"], "full-access")
        self.assertEqual(tok["expires"], time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(exp)))
        self.assertEqual(tok["days_left"], 10)
        p = self.run_tool("whoami", token=token)
        self.assert_exit(p, 0)
        self.assertIn("(10 days left)", p.stdout)
        self.assertIn("full-access", p.stdout)

    def test_whoami_malformed_expiry_does_not_wrap(self):
        # exp - now wrapped for INT64_MIN: "106751991146506 days left".
        for exp in (-2**63, 2**63 - 1, 2**64 - 1, -1, 253402300800):
            token = jwt({"sub": "u-alice", "exp": exp, "kind": "full-access"})
            self.fake.seed({"tokens": [{"token": token, "user": "u-alice", "organization": ORG,
                                        "expires": None}]})
            p = self.run_tool("whoami", token=token)
            self.assert_exit(p, 0)
            self.assertIn("Expires:        malformed (the token's exp claim is no date from "
                          "1970 to 9999; taken as expired)", p.stdout, exp)
            self.assertNotIn("days left", p.stdout)
            p = self.run_tool("whoami", "--json", token=token)
            self.assert_exit(p, 0)
            obj = json.loads(p.stdout)["token"]
            self.assertIsNone(obj["expires"])
            self.assertIsNone(obj["days_left"])
            self.assertIs(obj["expiry_malformed"], True)
        # The last second of 9999 is still a date.
        token = jwt({"sub": "u-alice", "exp": 253402300799})
        self.fake.seed({"tokens": [{"token": token, "user": "u-alice", "organization": ORG,
                                    "expires": None}]})
        p = self.run_tool("whoami", "--json", token=token)
        obj = json.loads(p.stdout)["token"]
        self.assertEqual(obj["expires"], "9999-12-31T23:59:59Z")
        self.assertIs(obj["expiry_malformed"], False)
        self.assertGreater(obj["days_left"], 2900000)

    def test_whoami_refused_token_exit_2(self):
        p = self.run_tool("whoami", token="tok-revoked")
        self.assert_exit(p, 2)
        self.assertIn("mkio-orgs login", p.stderr)

    def test_logout_removes_file_and_never_revokes(self):
        p = self.run_tool("login", token=None, stdin=ALICE_TOKEN)
        self.assert_exit(p, 0)
        path = os.path.join(self.tmp, ".config", "mkio", "token")
        self.assertTrue(os.path.exists(path))
        p = self.run_tool("logout", token=None)
        self.assert_exit(p, 0)
        self.assertFalse(os.path.exists(path))
        self.assertIn("stays valid until it expires or is revoked in the MK.IO web app", p.stdout)
        p = self.run_tool("logout", token=None)
        self.assert_exit(p, 0)
        self.assertIn("nothing to remove", p.stdout)
        for r in self.fake.requests():
            self.assertNotEqual(r["method"], "DELETE")
            self.assertFalse(r["path"].startswith("/api/v1/user/tokens"))

    def test_logout_unexpected_argument(self):
        p = self.run_tool("logout", "extra", token=None)
        self.assert_exit(p, 2)


if __name__ == "__main__":
    unittest.main()
