"""make install puts every file at Debian's multiarch paths, with the modes
an administrator expects, and only under DESTDIR."""
import os
import shutil
import stat
import subprocess
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Install(unittest.TestCase):
    def test_install_into_destdir(self):
        dest = tempfile.mkdtemp(prefix="mkio-install-")
        self.addCleanup(shutil.rmtree, dest, True)
        triplet = subprocess.run(["dpkg-architecture", "-qDEB_HOST_MULTIARCH"], capture_output=True,
                                 text=True).stdout.strip() or subprocess.run(
            ["cc", "-dumpmachine"], capture_output=True, text=True).stdout.strip()
        p = subprocess.run(["make", "-s", "-C", ROOT, "install", "DESTDIR=" + dest, "PREFIX=/usr"],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        want = {
            f"lib/{triplet}/security/pam_mkio.so": 0o644,
            f"lib/{triplet}/libnss_mkio.so.2": 0o644,
            "usr/bin/mkio-orgs": 0o755,
            "usr/libexec/mkio/mkio-login-helper": 0o755,
            "etc/mkio/mkio.conf": 0o644,
            "etc/mkio/tokens": 0o700,
            "lib/systemd/system/mkio-sync.service": 0o644,
            "lib/systemd/system/mkio-sync.timer": 0o644,
            "usr/share/pam-configs/mkio": 0o644,
        }
        for path, mode in want.items():
            with self.subTest(path=path):
                st = os.stat(os.path.join(dest, path))
                self.assertEqual(stat.S_IMODE(st.st_mode), mode)
        # The module starts the helper where it was installed.
        with open(os.path.join(dest, f"lib/{triplet}/security/pam_mkio.so"), "rb") as f:
            self.assertIn(b"/usr/libexec/mkio/mkio-login-helper\0", f.read())
        # An administrator's configuration is never overwritten.
        conf = os.path.join(dest, "etc/mkio/mkio.conf")
        with open(conf, "w") as f:
            f.write("time_budget = 2\n")
        p = subprocess.run(["make", "-s", "-C", ROOT, "install", "DESTDIR=" + dest, "PREFIX=/usr"],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(conf) as f:
            self.assertEqual(f.read(), "time_budget = 2\n")

    def test_timer_spreads_the_fleet(self):
        with open(os.path.join(ROOT, "conf", "mkio-sync.timer")) as f:
            self.assertIn("RandomizedDelaySec=", f.read())
