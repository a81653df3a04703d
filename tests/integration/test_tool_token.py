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

PROFILE = "/api/v1/user/profile"


def b64url(obj):
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def jwt(claims):
    return "%s.%s.c2lnbmF0dXJl" % (b64url({"alg": "RS256", "kid": "k1"}), b64url(claims))


class TestLogin(ToolTest):
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


class TestWhoamiLogout(ToolTest):
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
        self.assertEqual(obj["name"], "Alice")
        self.assertEqual(obj["loginEmail"], "alice@example.com")
        self.assertEqual(obj["contactEmail"], "alice@example.com")
        self.assertEqual(obj["activeOrganizationId"], ORG)
        self.assertEqual(obj["tokenSource"], {"type": "environment", "variable": "MKIO_TOKEN"})
        self.assertEqual(obj["tokenKind"], "full-access")
        self.assertEqual(obj["expires"], exp)
        self.assertEqual(obj["daysLeft"], 10)
        p = self.run_tool("whoami", token=token)
        self.assert_exit(p, 0)
        self.assertIn("(10 days left)", p.stdout)
        self.assertIn("full-access", p.stdout)

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
