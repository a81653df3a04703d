# SPDX-License-Identifier: LGPL-2.1-or-later
"""mkio-orgs under a comma-decimal locale (issue 8, item 12)."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from tooltest import ORG, ToolTest
import timing  # tests/lib, on the path through tooltest


class CommaLocale(ToolTest):
    """mkio-orgs under a locale whose decimal point is a comma (de_DE, made
    with localedef into a private LOCPATH). The tool does not call
    setlocale: it needs nothing from the locale (names are UTF-8 bytes it
    passes through the sanitizer, numbers are read and written with '.').
    So LC_ALL changes nothing, and these tests keep it so: seconds with
    decimals in mkio.conf work, and the budget in a message reads "2.5 s"
    (a setlocale(LC_ALL, "") would make it "2,5 s")."""
    budget = "2.5"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.locpath = tempfile.mkdtemp(prefix="mkio-it-locale-")
        subprocess.run(["localedef", "-i", "de_DE", "-f", "UTF-8",
                        os.path.join(cls.locpath, "de_DE.UTF-8")],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # On the sanitizer build: glibc keeps the LOCPATH list it splits
        # (__argz_add_sep) for the life of the process, which LeakSanitizer
        # reports at exit. Only that allocation is let through.
        supp = os.path.join(cls.locpath, "lsan.supp")
        with open(supp, "w") as f:
            f.write("leak:__argz_add_sep\n")
        cls.comma = {"LOCPATH": cls.locpath, "LC_ALL": "de_DE.UTF-8",
                     "LSAN_OPTIONS": "suppressions=" + supp + ":print_suppressions=0"}
        # The locale is real: a program that does call setlocale writes 2,5.
        p = subprocess.run(["locale", "decimal_point"], env=dict(os.environ, **cls.comma),
                           capture_output=True, text=True, check=True)
        assert p.stdout.strip() == ",", p.stdout

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.locpath, ignore_errors=True)
        super().tearDownClass()

    def write_decimal_conf(self):
        with open(self.conf, "w") as f:
            f.write(f"base_url = {self.fake.api_url}\n"
                    f"ca_file = {self.fake.ca_file}\n"
                    "time_budget = 2.5\n"
                    "connect_timeout = 2.5\n"
                    f"state_dir = {self.state_dir}\n"
                    f"token_dir = {self.token_dir}\n")

    def test_seconds_with_decimals_in_the_configuration(self):
        self.write_decimal_conf()
        p = self.run_tool("orgs", "list", "--json", env=self.comma)
        self.assert_exit(p, 0)
        self.assertEqual(json.loads(p.stdout)["organizations"][0]["organization"]["id"], ORG)
        p = self.run_tool("orgs", "list", env=self.comma)
        self.assert_exit(p, 0)
        self.assertIn("Acme Media", p.stdout)

    def test_the_budget_is_honoured_and_written_with_a_point(self):
        self.write_decimal_conf()
        self.fake.fault("user_orgs_list", "hang")
        p = self.run_tool("orgs", "list", env=self.comma)
        self.assert_exit(p, 3)
        # Cut at 2.5 s (not 2 s, not 25): 20 s only a hang reaches.
        timing.at_least(self, "cut by time_budget = 2.5", p.elapsed, 2.3, strict=True)
        timing.at_most(self, "cut by time_budget = 2.5", p.elapsed, 2.5 + 1, hang=20)
        self.assertIn("2.5 s", p.stderr)
        self.assertNotIn("2,5", p.stderr)

    def test_a_comma_in_the_configuration_is_refused(self):
        with open(self.conf, "a") as f:
            f.write("retries = 1\n")
        with open(self.conf) as f:
            text = f.read().replace("time_budget = 2.5", "time_budget = 2,5")
        with open(self.conf, "w") as f:
            f.write(text)
        p = self.run_tool("orgs", "list", env=self.comma)
        self.assert_exit(p, 2)
        self.assertIn("time_budget", p.stderr)
        self.assertEqual(self.api_requests(), [])


if __name__ == "__main__":
    unittest.main()
