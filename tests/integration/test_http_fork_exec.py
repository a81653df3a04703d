# SPDX-License-Identifier: LGPL-2.1-or-later
"""A child forked and exec'd by another thread while MK.IO requests run gets
no socket, pipe or eventfd of ours (common/net/http.h, "Descriptors and exec").

B/tests/tools/http-fork-exec runs requests in one thread (to the fake MK.IO
server on loopback, then to a name whose DNS server never answers) while its
main thread forks and execs a child that lists its descriptors, over and
over. It runs inside `unshare --mount`, with a private resolv.conf naming a
UDP server on a loopback address that reads queries and never answers, so
that libcurl's resolver thread, and its socketpair, stay alive through the
forks. The control run does the same on bare libcurl 7.88 and must show the
leak, so that the test is known to see one.

Run as root from the repository root (B selects the build, default build/):

    B=build python3 -m unittest tests/integration/test_http_fork_exec.py -v
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
for _p in (HERE, os.path.join(os.path.dirname(HERE), "fake")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from fake_driver import FakeMkio  # noqa: E402
from tooltest import ALICE_TOKEN, BUILD, world  # noqa: E402
import sandbox  # noqa: E402  (tests/lib, on the path through tooltest)

FORK_EXEC = os.path.join(BUILD, "tests", "tools", "http-fork-exec")
# Loopback addresses for the name server that never answers; the first one
# free on port 53 is used (test_pam.py takes 127.0.0.78).
DNS_ADDRESSES = ("127.0.0.81", "127.0.0.82", "127.0.0.83", "127.0.0.84")
# What OpenSSL opens read-only without O_CLOEXEC for the time of one read
# (http.h): a child forked in that instant may hold it. Nothing else.
OPENSSL_CONF = "/usr/lib/ssl/openssl.cnf"


class SilentDns:
    """A UDP name server that counts the queries it gets and answers none."""

    def __init__(self):
        self.queries = 0
        self.sock = None
        for address in DNS_ADDRESSES:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                sock.bind((address, 53))
            except OSError:
                sock.close()
                continue
            self.sock, self.address = sock, address
            break
        if self.sock is None:
            raise unittest.SkipTest("no free loopback address for a name server on port 53")
        self.sock.settimeout(0.2)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping.is_set():
            try:
                self.sock.recv(4096)
                self.queries += 1
            except socket.timeout:
                continue
            except OSError:
                return

    def stop(self):
        self.stopping.set()
        self.thread.join(5)
        self.sock.close()


@unittest.skipUnless(os.geteuid() == 0 and shutil.which("unshare"), "needs root and unshare")
class ForkExecDuringRequests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fake = FakeMkio()
        cls.fake.seed(world())

    @classmethod
    def tearDownClass(cls):
        cls.fake.stop()

    def setUp(self):
        self.assertTrue(os.access(FORK_EXEC, os.X_OK), "build it first: make B=... unit")
        self.dns = SilentDns()
        self.addCleanup(self.dns.stop)
        self.tmp = tempfile.mkdtemp(prefix="mkio-forkexec-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        files = {
            "resolv.conf": "nameserver %s\noptions timeout:5 attempts:2\n" % self.dns.address,
            "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files dns\n",
            "hosts": "127.0.0.1 localhost\n::1 localhost\n",
            "loopback.conf": "base_url = %s\nca_file = %s\ntime_budget = 3\nconnect_timeout = 1\n"
                             % (self.fake.api_url, self.fake.ca_file),
            "dns.conf": "base_url = https://never-resolves.example:8443\n"
                        "time_budget = 1\nconnect_timeout = 1\n",
        }
        for name, text in files.items():
            path = os.path.join(self.tmp, name)
            with open(path, "w") as f:
                f.write(text)
            os.chmod(path, 0o644)

    def run_fork_exec(self, *args, seconds=3):
        """Runs the tool in a private mount namespace whose /etc/resolv.conf,
        nsswitch.conf and hosts are ours; returns (exit code, counters,
        distinct child lines, stderr)."""
        t = self.tmp
        sb = sandbox.Sandbox()
        for name in ("resolv.conf", "nsswitch.conf", "hosts"):
            sb.bind(os.path.join(t, name), "/etc/" + name)
        cmd = sb.command([FORK_EXEC, *args, os.path.join(t, "loopback.conf"),
                          os.path.join(t, "dns.conf"), str(seconds)])
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "MKIO_TOKEN": ALICE_TOKEN}
        for name in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if name in os.environ:
                env[name] = os.environ[name]
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
        counts, lines = {}, []
        for line in p.stdout.splitlines():
            key, _, value = line.partition(" ")
            if value.isdigit() and key not in ("leak", "file"):
                counts[key] = int(value)
            else:
                lines.append(line)
        return p.returncode, counts, lines, p.stderr

    def test_child_holds_no_socket_of_ours(self):
        rc, counts, lines, err = self.run_fork_exec()
        detail = "%r\n%r\n%s" % (counts, lines, err)
        self.assertEqual(rc, 0, detail)
        self.assertEqual([l for l in lines if l.startswith("leak")], [], detail)
        # Files only from OpenSSL's one read of its configuration or of the CA file.
        # A descriptor's path is its target's (/proc/PID/fd): OpenSSL's
        # configuration is a link on Debian (/usr/lib/ssl -> /etc/ssl).
        allowed = {"file " + os.path.realpath(OPENSSL_CONF),
                   "file " + os.path.realpath(self.fake.ca_file)}
        self.assertLessEqual(set(lines), allowed, detail)
        # The forks covered what the test is about: requests answered over
        # TLS, and name resolutions in progress with the resolver's socketpair
        # open (the resolver asked our silent server). The tool runs on until
        # it has 20 forks of each (FORK_EXEC_ENOUGH).
        self.assertEqual(counts["forks_failed"], 0, detail)
        self.assertGreater(counts["answers"], 0, detail)
        self.assertGreaterEqual(counts["forks_during_loopback"], 20, detail)
        self.assertGreaterEqual(counts["forks_with_resolver"], 20, detail)
        self.assertGreater(self.dns.queries, 0)

    def test_control_bare_libcurl_leaks_its_socketpairs(self):
        rc, counts, lines, err = self.run_fork_exec("--control", seconds=2)
        detail = "%r\n%r\n%s" % (counts, lines, err)
        self.assertEqual(rc, 1, detail)
        self.assertGreater(counts["leaky_forks"], 0, detail)
        self.assertTrue(any(l.startswith("leak socket:") for l in lines), detail)
        self.assertGreaterEqual(counts["forks_with_resolver"], 20, detail)


if __name__ == "__main__":
    unittest.main()
