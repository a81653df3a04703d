# SPDX-License-Identifier: LGPL-2.1-or-later
"""Root takes its server and its configuration only from its own files
(issue 20, item 1): a hostile server named in root's environment, as
MKIO_BASE_URL or through a configuration MKIO_CONFIG names, receives no
request and no token; a user's environment is still theirs.

The hostile server is a second fake whose certificate the configuration's
ca_file trusts (a bundle of both CAs): what an attacker needs is only a
certificate the system trusts. doctor's side is in test_doctor.py.

Run as root: cd tests/integration && PYTHONPATH=../fake python3 -m unittest -v test_root_env
"""
import os
import shutil
import unittest

from fake_driver import FakeMkio
from tooltest import ALICE_TOKEN, BOB_TOKEN, NOBODY, ORG, ToolTest, world

IS_ROOT = os.geteuid() == 0


@unittest.skipUnless(IS_ROOT and shutil.which("setpriv"), "needs root and setpriv")
class RootEnvironment(ToolTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.hostile = FakeMkio()

    @classmethod
    def tearDownClass(cls):
        cls.hostile.stop()
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.hostile.reset()
        self.hostile.seed(world())
        # Users read the configuration and the CA bundle (the user tests).
        os.chmod(self.tmp, 0o755)
        self.shared_ca = os.path.join(self.tmp, "ca.pem")
        with open(self.shared_ca, "w") as out:
            for ca in (self.fake.ca_file, self.hostile.ca_file):
                with open(ca) as f:
                    out.write(f.read())
        os.chmod(self.shared_ca, 0o644)
        self.conf = self.write_conf()
        self.write_token("nobody", ALICE_TOKEN)
        self.write_token("daemon", BOB_TOKEN)
        self.hostile_conf = os.path.join(self.tmp, "hostile.conf")
        with open(self.hostile_conf, "w") as f:
            f.write(f"base_url = {self.hostile.api_url}\nca_file = {self.shared_ca}\n"
                    f"token_dir = {self.token_dir}\nstate_dir = {self.state_dir}\nmin_uid = 0\n")
        os.chmod(self.hostile_conf, 0o644)

    def assert_hostile_got_nothing(self):
        self.assertEqual(self.hostile.requests(), [])
        self.assertEqual(self.hostile.stats()["api_requests"], 0)

    def test_sync_all_refuses_a_base_url_from_roots_environment(self):
        p = self.run_tool("sync", "--all", token=None, env={"MKIO_BASE_URL": self.hostile.api_url})
        self.assert_exit(p, 2)
        self.assertIn("MKIO_BASE_URL", p.stderr)
        self.assertIn("set base_url in " + self.conf, p.stderr)
        self.assert_hostile_got_nothing()
        # Refused before anything: no request anywhere, nothing written.
        self.assertEqual(self.api_requests(), [])
        self.assertIsNone(self.state_snapshot())
        # The same run without it goes to the configured server only.
        p = self.run_tool("sync", "--all", token=None)
        self.assert_exit(p, 0)
        self.assert_hostile_got_nothing()
        auths = {r["headers"].get("authorization") for r in self.api_requests()}
        self.assertEqual(auths, {"Bearer " + ALICE_TOKEN, "Bearer " + BOB_TOKEN})
        self.assertIn("u-bob", self.org_state(ORG)["members"])
        st = self.run_tool("status", "--json", token=None)
        self.assert_exit(st, 0)
        self.assertIn('"daemon"', st.stdout)

    def test_an_empty_base_url_variable_is_no_server(self):
        p = self.run_tool("sync", "--all", token=None, env={"MKIO_BASE_URL": ""})
        self.assert_exit(p, 0)
        self.assert_hostile_got_nothing()
        self.assertNotEqual(self.api_requests(), [])

    def test_sync_all_refuses_a_configuration_from_roots_environment(self):
        p = self.run_tool("sync", "--all", token=None, conf=False,
                          env={"MKIO_CONFIG": self.hostile_conf})
        self.assert_exit(p, 2)
        self.assertIn("MKIO_CONFIG", p.stderr)
        self.assertIn("--config FILE", p.stderr)
        self.assert_hostile_got_nothing()
        self.assertEqual(self.api_requests(), [])
        self.assertIsNone(self.state_snapshot())
        # --config on the command line stays, and MKIO_CONFIG is then not read.
        p = self.run_tool("sync", "--all", token=None, env={"MKIO_CONFIG": self.hostile_conf})
        self.assert_exit(p, 0)
        self.assert_hostile_got_nothing()
        self.assertNotEqual(self.api_requests(), [])

    def test_other_commands_refuse_too(self):
        for args, token in ((("orgs", "list"), ALICE_TOKEN), (("sync", "--user", "nobody"), None)):
            p = self.run_tool(*args, token=token, env={"MKIO_BASE_URL": self.hostile.api_url})
            self.assert_exit(p, 2)
            self.assertIn("MKIO_BASE_URL", p.stderr)
            p = self.run_tool(*args, token=token, conf=False, env={"MKIO_CONFIG": self.hostile_conf})
            self.assert_exit(p, 2)
            self.assertIn("MKIO_CONFIG", p.stderr)
        self.assert_hostile_got_nothing()
        self.assertEqual(self.api_requests(), [])

    def test_a_users_environment_is_still_theirs(self):
        # A user picks their own server: both variables work as before.
        p = self.run_tool("orgs", "list", user=NOBODY, env={"MKIO_BASE_URL": self.hostile.api_url})
        self.assert_exit(p, 0)
        self.assertIn("Acme Media", p.stdout)
        self.assertEqual({r["headers"].get("authorization") for r in self.hostile.requests()},
                         {"Bearer " + ALICE_TOKEN})
        self.assertEqual(self.api_requests(), [])
        self.hostile.clear_requests()
        p = self.run_tool("orgs", "list", user=NOBODY, conf=False,
                          env={"MKIO_CONFIG": self.hostile_conf})
        self.assert_exit(p, 0)
        self.assertNotEqual(self.hostile.requests(), [])
        self.assertEqual(self.api_requests(), [])


if __name__ == "__main__":
    unittest.main()
