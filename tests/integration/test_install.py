# SPDX-License-Identifier: LGPL-2.1-or-later
"""make install puts every file at Debian's multiarch paths, with the modes
an administrator expects, and only under DESTDIR; the installed units pass
systemd's own checks, and mkio-sync.service still does its work inside its
sandbox; the AppArmor snippet joins abstractions/nameservice.

make install builds into a private build directory of this test: a PREFIX
other than the build's would rebuild pam_mkio.so (the helper's path is
compiled in) under the other tests' feet. systemd is not PID 1 here: only
systemd-analyze's offline modes and systemd-tmpfiles --root are used."""
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import tempfile
import unittest

from fake_driver import FakeMkio
from tooltest import BOB_TOKEN, ORG, world
import sandbox  # tests/lib, on the path through tooltest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UNITDIR = "lib/systemd/system"


def triplet():
    p = subprocess.run(["dpkg-architecture", "-qDEB_HOST_MULTIARCH"], capture_output=True, text=True)
    return p.stdout.strip() or subprocess.run(["cc", "-dumpmachine"], capture_output=True,
                                              text=True).stdout.strip()


def unit_values(path, key):
    """Every value of key= in a unit file, in order."""
    with open(path) as f:
        return [line.split("=", 1)[1].strip() for line in f
                if line.startswith(key + "=")]


# One private build and one install with PREFIX=/usr/local for the whole
# module (the tests read it and never change it).
INSTALL = {}


def make_install(dest, prefix):
    return subprocess.run(["make", "-s", "-C", ROOT, f"-j{os.cpu_count() or 2}",
                           "B=" + INSTALL["build"], "install", "DESTDIR=" + dest, "PREFIX=" + prefix],
                          capture_output=True, text=True)


def setUpModule():
    INSTALL["tmp"] = tempfile.mkdtemp(prefix="mkio-install-")
    INSTALL["build"] = os.path.join(INSTALL["tmp"], "build")
    INSTALL["local"] = os.path.join(INSTALL["tmp"], "local")
    p = make_install(INSTALL["local"], "/usr/local")
    if p.returncode != 0:
        shutil.rmtree(INSTALL.pop("tmp"), True)
        raise AssertionError("make install PREFIX=/usr/local failed:\n" + p.stdout + p.stderr)


def tearDownModule():
    if "tmp" in INSTALL:
        shutil.rmtree(INSTALL.pop("tmp"), True)


class Installed(unittest.TestCase):
    @property
    def local(self):
        return INSTALL["local"]

    def make_install(self, dest, prefix):
        return make_install(dest, prefix)

    def unit(self, name, dest=None):
        return os.path.join(dest or self.local, UNITDIR, name)


class Install(Installed):
    def test_uninstall_removes_what_install_put_and_keeps_etc_mkio(self):
        dest = tempfile.mkdtemp(prefix="mkio-uninstall-")
        self.addCleanup(shutil.rmtree, dest, True)
        self.assertEqual(self.make_install(dest, "/usr").returncode, 0)
        token = os.path.join(dest, "etc/mkio/tokens/alice")
        with open(token, "w") as f:
            f.write("tok\n")
        p = subprocess.run(["make", "-s", "-C", ROOT, "B=" + INSTALL["build"], "uninstall",
                            "DESTDIR=" + dest, "PREFIX=/usr"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        left = sorted(os.path.relpath(os.path.join(d, f), dest)
                      for d, _, files in os.walk(dest) for f in files)
        # Only what the administrator made or may have changed stays.
        self.assertEqual(left, ["etc/mkio/mkio.conf", "etc/mkio/tokens/alice"])
        self.assertFalse(os.path.exists(os.path.join(dest, "usr/libexec/mkio")))

    def test_install_into_destdir(self):
        dest = tempfile.mkdtemp(prefix="mkio-install-usr-")
        self.addCleanup(shutil.rmtree, dest, True)
        tri = triplet()
        p = self.make_install(dest, "/usr")
        self.assertEqual(p.returncode, 0, p.stderr)
        want = {
            f"lib/{tri}/security/pam_mkio.so": 0o644,
            f"lib/{tri}/libnss_mkio.so.2": 0o644,
            "usr/bin/mkio-orgs": 0o755,
            "usr/libexec/mkio/mkio-login-helper": 0o755,
            "usr/libexec/mkio/mkio-login-refresh": 0o755,
            "etc/mkio/mkio.conf": 0o644,
            "etc/mkio/tokens": 0o700,
            "lib/systemd/system/mkio-sync.service": 0o644,
            "lib/systemd/system/mkio-sync.timer": 0o644,
            "lib/systemd/system/mkio-recheck.service": 0o644,
            "lib/systemd/system/mkio-recheck.path": 0o644,
            "lib/systemd/system/mkio-userdb.service": 0o644,
            "lib/systemd/system/mkio-refresh.socket": 0o644,
            "lib/systemd/system/mkio-refresh@.service": 0o644,
            "usr/share/pam-configs/mkio": 0o644,
            "usr/lib/tmpfiles.d/mkio.conf": 0o644,
            "etc/apparmor.d/abstractions/nameservice.d/mkio": 0o644,
            "usr/share/doc/mkio/README.md": 0o644,
        }
        for path, mode in want.items():
            with self.subTest(path=path):
                st = os.stat(os.path.join(dest, path))
                self.assertEqual(stat.S_IMODE(st.st_mode), mode)
        # The module starts the helper where it was installed, and the
        # helper (a gate) the refresh program.
        with open(os.path.join(dest, f"lib/{tri}/security/pam_mkio.so"), "rb") as f:
            self.assertIn(b"/usr/libexec/mkio/mkio-login-helper\0", f.read())
        with open(os.path.join(dest, "usr/libexec/mkio/mkio-login-helper"), "rb") as f:
            self.assertIn(b"/usr/libexec/mkio/mkio-login-refresh\0", f.read())
        self.assertEqual(sorted(os.listdir(os.path.join(dest, "usr/libexec/mkio"))),
                         ["mkio-login-helper", "mkio-login-refresh"])
        self.assertEqual(unit_values(self.unit("mkio-sync.service", dest), "ExecStart"),
                         ["/usr/bin/mkio-orgs sync --all --max-time 600"])
        # No temporary file of the unit substitution is left behind.
        self.assertEqual(sorted(os.listdir(os.path.join(dest, UNITDIR))),
                         ["mkio-recheck.path", "mkio-recheck.service", "mkio-refresh.socket",
                          "mkio-refresh@.service", "mkio-sync.service", "mkio-sync.timer",
                          "mkio-userdb.service"])
        # An administrator's configuration is never overwritten.
        conf = os.path.join(dest, "etc/mkio/mkio.conf")
        with open(conf, "w") as f:
            f.write("time_budget = 2\n")
        p = self.make_install(dest, "/usr")
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(conf) as f:
            self.assertEqual(f.read(), "time_budget = 2\n")

    def test_the_version_is_written_once(self):
        """debian/changelog's version is the one the tool prints and every
        installed manual page names in its footer."""
        with open(os.path.join(ROOT, "debian", "changelog")) as f:
            version = f.readline().split("(", 1)[1].split(")", 1)[0]
        tool = os.path.join(self.local, "usr/local/bin/mkio-orgs")
        p = subprocess.run([tool, "--version"], capture_output=True, text=True)
        self.assertEqual(p.stdout, f"mkio-orgs {version}\n")
        mandir = os.path.join(self.local, "usr/local/share/man")
        for page in ("man1/mkio-orgs.1", "man5/mkio.conf.5", "man8/pam_mkio.8", "man8/nss-mkio.8"):
            with self.subTest(page=page), open(os.path.join(mandir, page)) as f:
                self.assertIn(f"\n.Os mkio {version}\n", f.read())
        # The sources carry no version of their own to fall out of step:
        # their footer is a bare .Os that make install completes.
        for page in os.listdir(os.path.join(ROOT, "man")):
            with self.subTest(source=page), open(os.path.join(ROOT, "man", page)) as f:
                footers = [line for line in f if line.startswith(".Os")]
            self.assertEqual(footers, [".Os\n"])

    def test_prefix_usr_local(self):
        # ExecStart names the installed tool, the documentation its place,
        # and the module the installed helper; what other tools read stays
        # where they look, whatever PREFIX is.
        self.assertEqual(unit_values(self.unit("mkio-sync.service"), "ExecStart"),
                         ["/usr/local/bin/mkio-orgs sync --all --max-time 600"])
        self.assertEqual(unit_values(self.unit("mkio-refresh@.service"), "ExecStart"),
                         ["/usr/local/bin/mkio-orgs refresh --serve"])
        for name in ("mkio-sync.service", "mkio-sync.timer", "mkio-refresh.socket",
                     "mkio-refresh@.service"):
            with self.subTest(unit=name):
                self.assertEqual(unit_values(self.unit(name), "Documentation"),
                                 ["man:mkio-orgs(1) file:/usr/local/share/doc/mkio/README.md"])
        self.assertTrue(os.access(os.path.join(self.local, "usr/local/bin/mkio-orgs"), os.X_OK))
        for page in ("man1/mkio-orgs.1", "man5/mkio.conf.5", "man8/pam_mkio.8", "man8/nss-mkio.8",
                     "man8/libnss_mkio.so.2.8"):
            self.assertTrue(os.path.isfile(os.path.join(self.local, "usr/local/share/man", page)),
                            page)
        # The three completions, each where its shell looks (issue 19, item 8).
        for path, first, says in (
                ("usr/local/share/bash-completion/completions/mkio-orgs",
                 "# SPDX-License-Identifier: LGPL-2.1-or-later", "complete -F _mkio_orgs mkio-orgs"),
                ("usr/local/share/zsh/vendor-completions/_mkio-orgs", "#compdef mkio-orgs",
                 "_mkio_orgs_main \"$@\""),
                ("usr/local/share/fish/vendor_completions.d/mkio-orgs.fish",
                 "# SPDX-License-Identifier: LGPL-2.1-or-later", "complete -c mkio-orgs -f")):
            with self.subTest(completion=path):
                with open(os.path.join(self.local, path)) as f:
                    text = f.read()
                self.assertEqual(text.splitlines()[0], first)
                self.assertIn(says, text)
        self.assertTrue(os.path.isfile(os.path.join(self.local, "usr/local/share/doc/mkio/README.md")))
        with open(os.path.join(self.local, f"lib/{triplet()}/security/pam_mkio.so"), "rb") as f:
            self.assertIn(b"/usr/local/libexec/mkio/mkio-login-helper\0", f.read())
        self.assertTrue(os.access(os.path.join(self.local, "usr/local/libexec/mkio/mkio-login-helper"),
                                  os.X_OK))
        with open(os.path.join(self.local, "usr/local/libexec/mkio/mkio-login-helper"), "rb") as f:
            self.assertIn(b"/usr/local/libexec/mkio/mkio-login-refresh\0", f.read())
        self.assertTrue(os.access(os.path.join(self.local, "usr/local/libexec/mkio/mkio-login-refresh"),
                                  os.X_OK))
        with open(os.path.join(self.local, "usr/share/pam-configs/mkio")) as f:
            self.assertIn("pam_mkio.so", f.read())
        self.assertFalse(os.path.exists(os.path.join(self.local, "usr/local/share/pam-configs")))
        self.assertTrue(os.path.isfile(os.path.join(self.local, "usr/lib/tmpfiles.d/mkio.conf")))
        self.assertTrue(os.path.isfile(os.path.join(
            self.local, "etc/apparmor.d/abstractions/nameservice.d/mkio")))

    def test_tmpfiles_entry_makes_the_state_directory(self):
        root = tempfile.mkdtemp(prefix="mkio-tmpfiles-")
        self.addCleanup(shutil.rmtree, root, True)
        shutil.copytree(os.path.join(self.local, "usr/lib/tmpfiles.d"),
                        os.path.join(root, "usr/lib/tmpfiles.d"))
        p = subprocess.run(["systemd-tmpfiles", "--root=" + root, "--create", "mkio.conf"],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr, "")
        st = os.lstat(os.path.join(root, "var/lib/mkio"))
        self.assertTrue(stat.S_ISDIR(st.st_mode))
        self.assertEqual((stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid), (0o755, 0, 0))


class Units(Installed):
    def analyze(self, *args):
        return subprocess.run(["systemd-analyze", *args], capture_output=True, text=True)

    def verify(self, bin_dir):
        """systemd-analyze verify of the installed units by path, in a mount
        namespace whose /usr/local/bin is bin_dir (verify checks that
        ExecStart's program is executable)."""
        self.assertEqual(os.geteuid(), 0, "needs root (unshare --mount)")
        sb = sandbox.Sandbox().bind(bin_dir, "/usr/local/bin")
        return sb.run(["systemd-analyze", "verify", self.unit("mkio-sync.service"),
                       self.unit("mkio-sync.timer"), self.unit("mkio-refresh.socket"),
                       self.unit("mkio-refresh@.service")], capture_output=True, text=True,
                              # Documentation=man:mkio-orgs(1): verify runs man for it,
                              # which finds the page make install put there.
                              env=dict(os.environ,
                                       MANPATH=os.path.join(self.local, "usr/local/share/man")))

    def test_units_verify(self):
        p = self.verify(os.path.join(self.local, "usr/local/bin"))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout + p.stderr, "")

    def test_units_verify_names_a_missing_tool(self):
        # Without the tool at ExecStart's path the same check fails, naming
        # it: the check above is not vacuous.
        empty = tempfile.mkdtemp(prefix="mkio-empty-bin-")
        self.addCleanup(shutil.rmtree, empty, True)
        p = self.verify(empty)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("/usr/local/bin/mkio-orgs is not executable", p.stderr)

    def test_service_exposure_at_most_3(self):
        p = self.analyze("security", "--offline=true", "--root=" + self.local, "mkio-sync.service")
        self.assertEqual(p.returncode, 0, p.stderr)
        m = re.search(r"Overall exposure level for mkio-sync\.service: (\d+\.\d+) ", p.stdout)
        self.assertIsNotNone(m, p.stdout)
        self.assertLessEqual(float(m.group(1)), 3.0, p.stdout)

    def test_refresh_service_exposure_at_most_3(self):
        """Issue 19: hardened as the sync unit, less only what reading a
        user's own token file with their identity needs."""
        p = self.analyze("security", "--offline=true", "--root=" + self.local,
                         "mkio-refresh@0.service")
        self.assertEqual(p.returncode, 0, p.stderr)
        m = re.search(r"Overall exposure level for mkio-refresh@0\.service: (\d+\.\d+) ", p.stdout)
        self.assertIsNotNone(m, p.stdout)
        self.assertLessEqual(float(m.group(1)), 3.0, p.stdout)

    def test_refresh_socket_is_for_every_user_one_connection_each(self):
        sock = self.unit("mkio-refresh.socket")
        self.assertEqual(unit_values(sock, "ListenStream"), ["/run/mkio/refresh.sock"])
        self.assertEqual(unit_values(sock, "SocketMode"), ["0666"])
        self.assertEqual(unit_values(sock, "Accept"), ["yes"])
        service = self.unit("mkio-refresh@.service")
        self.assertEqual(unit_values(service, "StandardInput"), ["socket"])
        # No setuid program anywhere: the privilege is the service's.
        for root, _, files in os.walk(self.local):
            for name in files:
                st = os.lstat(os.path.join(root, name))
                self.assertFalse(st.st_mode & (stat.S_ISUID | stat.S_ISGID), name)

    def test_timer_spreads_the_fleet(self):
        timer = self.unit("mkio-sync.timer")
        self.assertEqual(unit_values(timer, "OnCalendar"), ["00/3:00"])
        self.assertEqual(unit_values(timer, "RandomizedDelaySec"), ["3h"])
        self.assertEqual(unit_values(timer, "FixedRandomDelay"), ["yes"])
        self.assertEqual(unit_values(timer, "Persistent"), ["true"])
        # Persistent= works only with OnCalendar=: no monotonic trigger.
        for key in ("OnBootSec", "OnUnitActiveSec", "OnActiveSec", "OnStartupSec"):
            self.assertEqual(unit_values(timer, key), [], key)
        # Every 3 hours, as systemd reads it: 8 runs a day, 3 hours apart.
        p = self.analyze("calendar", "--iterations=9", "00/3:00")
        self.assertEqual(p.returncode, 0, p.stderr)
        hours = [int(h) for h in re.findall(r"(?:Next elapse|Iter\. #\d+): \w+ \S+ (\d\d):00:00",
                                             p.stdout)]
        self.assertEqual(len(hours), 9, p.stdout)
        self.assertEqual(sorted(set(hours)), [0, 3, 6, 9, 12, 15, 18, 21])
        # The fleet note: 10,000 machines x 10 users, one listing each per
        # run, spread over the whole interval, stay under half of MK.IO's
        # 2,000 GET per minute per organization.
        interval_minutes = 180
        self.assertLessEqual(10000 * 10 / interval_minutes, 2000 / 2)


class AppArmor(Installed):
    PROFILE = ("abi <abi/3.0>,\n"
               "include <tunables/global>\n"
               "profile mkio-nameservice-test /usr/bin/mkio-nameservice-test {\n"
               "  include <abstractions/base>\n"
               "  include <abstractions/nameservice>\n"
               "}\n")

    def parse(self, snippet_text):
        """Parses a profile that includes abstractions/nameservice, with the
        system's abstractions (package apparmor) and snippet_text as
        nameservice.d/mkio, in a private copy; never loads anything."""
        self.assertTrue(os.path.isfile("/etc/apparmor.d/abstractions/nameservice"),
                        "the apparmor package is not installed (tests/install-deps)")
        base = tempfile.mkdtemp(prefix="mkio-apparmor-")
        self.addCleanup(shutil.rmtree, base, True)
        aa = os.path.join(base, "apparmor.d")
        shutil.copytree("/etc/apparmor.d", aa, symlinks=True)
        d = os.path.join(aa, "abstractions", "nameservice.d")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "mkio"), "w") as f:
            f.write(snippet_text)
        profile = os.path.join(base, "profile")
        with open(profile, "w") as f:
            f.write(self.PROFILE)
        common = ["apparmor_parser", "--skip-kernel-load", "--skip-cache", "--base", aa,
                  "--Include", aa]
        parsed = subprocess.run(common + [profile], capture_output=True, text=True)
        pre = subprocess.run(common + ["--preprocess", profile], capture_output=True, text=True)
        return parsed, pre

    def snippet(self):
        with open(os.path.join(self.local, "etc/apparmor.d/abstractions/nameservice.d/mkio")) as f:
            return f.read()

    def test_nameservice_includes_nameservice_d(self):
        # Debian 12's apparmor 3.0.8 ends abstractions/nameservice with it.
        with open("/etc/apparmor.d/abstractions/nameservice") as f:
            self.assertIn("include if exists <abstractions/nameservice.d>", f.read())

    def test_snippet_parses_into_nameservice(self):
        parsed, pre = self.parse(self.snippet())
        self.assertEqual(parsed.returncode, 0, parsed.stderr)
        self.assertEqual(pre.returncode, 0, pre.stderr)
        rules = [line.strip() for line in pre.stdout.splitlines()]
        self.assertIn("/var/lib/mkio/groups.db r,", rules)

    def test_broken_snippet_breaks_the_parse(self):
        # The snippet really is read through abstractions/nameservice.
        parsed, _ = self.parse(self.snippet().replace("groups.db r,", "groups.db rq,"))
        self.assertNotEqual(parsed.returncode, 0)
        self.assertIn("nameservice.d/mkio", parsed.stderr)


def syscall_set(name):
    """The system calls of a systemd set (@system-service), sets expanded."""
    p = subprocess.run(["systemd-analyze", "syscall-filter", name], capture_output=True, text=True,
                       check=True)
    calls = set()
    for line in p.stdout.splitlines()[1:]:
        word = line.strip()
        if not word or word.startswith("#"):
            continue
        calls |= syscall_set(word) if word.startswith("@") else {word}
    return calls


# Runs the installed unit's ExecStart= in an emulation of its sandbox, in a
# private mount namespace (unit_sandbox below: /etc and /var/lib are
# overlays whose writes land in WORK, the installed tool is bind-mounted at
# /usr/local/bin); then the installed tmpfiles.d entry makes /var/lib/mkio
# (as StateDirectory= would);
# then ProtectSystem=strict (every mount read-only but /proc, /sys and /dev,
# the state directory writable), ProtectHome=yes, PrivateTmp=yes,
# PrivateDevices=yes, CapabilityBoundingSet= and NoNewPrivileges=yes (setpriv),
# UMask=0022 and a clean environment; an nscd runs. The run is traced (strace)
# to compare its system calls and socket families with the unit's filters.
# Afterwards, with the same rights, it tries to write outside the state
# directory, to read /home and /root, and to have nscd drop its group cache.
SANDBOX = r'''
set -eu
work=$1 dest=$2
shift 2
systemd-tmpfiles --create "$dest/usr/lib/tmpfiles.d/mkio.conf"
# nscd, as on a host that runs one, in this namespace only: its files on
# tmpfs, its debug log on our stderr, stopped at exit.
mount -t tmpfs -o mode=0755 tmpfs /run/nscd
mount -t tmpfs -o mode=0755 tmpfs /var/cache/nscd
nscd -d &
nscd_pid=$!
trap 'kill "$nscd_pid" 2>/dev/null; wait "$nscd_pid" 2>/dev/null' EXIT
for _ in $(seq 100); do [ -S /run/nscd/socket ] && break; sleep 0.05; done
mount --bind /var/lib/mkio /var/lib/mkio
# /var/cache/nscd is nscd's, not the unit's (and nscd writes there).
findmnt -rn -o TARGET | while read -r m; do
    case $m in /proc|/proc/*|/sys|/sys/*|/dev|/dev/*|/var/cache/nscd) continue ;; esac
    mount -o remount,bind,ro "$m"
done
mount -o remount,bind,rw /var/lib/mkio
for d in /home /root /run/user; do
    [ -d "$d" ] && mount -t tmpfs -o ro,mode=000 tmpfs "$d"
done
for d in /tmp /var/tmp; do mount -t tmpfs -o mode=1777 tmpfs "$d"; done
mount -t tmpfs -o mode=0755,nosuid tmpfs /dev
while read -r node major minor; do
    mknod -m 0666 "/dev/$node" c "$major" "$minor"
done <<EOF
null 1 3
zero 1 5
full 1 7
random 1 8
urandom 1 9
tty 5 0
EOF
mkdir /dev/shm /dev/pts && mount -t tmpfs -o mode=1777 tmpfs /dev/shm
umask 0022
cd /
as_unit() {
    setpriv --bounding-set=-all --inh-caps=-all --no-new-privs -- \
        env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
}
rc=0
as_unit strace -f -qq -o /tmp/syscalls "$@" || rc=$?
echo "exit: $rc"
# Only the names of the system calls and the socket families it used: the
# trace itself holds the token it read.
sed -nE 's/^[0-9]+ +(<\.\.\. )?([a-z0-9_]+)[( ].*/syscall: \2/p' /tmp/syscalls | sort -u
sed -nE 's/^[0-9]+ +socket\((AF_[A-Z0-9]+).*/family: \1/p' /tmp/syscalls | sort -u
as_unit sh -c 'echo x > /etc/mkio/probe' 2>/dev/null || echo "refused: write /etc/mkio"
as_unit sh -c 'echo x > /var/lib/probe' 2>/dev/null || echo "refused: write /var/lib"
as_unit sh -c 'echo x > /var/lib/mkio/probe && rm /var/lib/mkio/probe' && echo "allowed: write /var/lib/mkio"
as_unit ls /home >/dev/null 2>&1 || echo "refused: read /home"
as_unit ls /root >/dev/null 2>&1 || echo "refused: read /root"
# nscd's socket, on a read-only /run, with no capability (uid 0 is what
# nscd checks): the protocol of common/store/nscd.h, as `nscd -i group` speaks it.
as_unit nscd -i group && echo "allowed: nscd -i group"
exit 0
'''


def unit_sandbox(work, dest):
    """The mounts SANDBOX starts from: /etc and /var/lib overlays whose
    writes land in work, dest's /usr/local/bin at /usr/local/bin."""
    sb = sandbox.Sandbox()
    sb.overlay("/etc", work + "/etc/upper", work + "/etc/work", "/etc")
    sb.overlay("/var/lib", work + "/varlib/upper", work + "/varlib/work", "/var/lib")
    sb.bind(dest + "/usr/local/bin", "/usr/local/bin")
    return sb


class SyncSandbox(Installed):
    def setUp(self):
        self.assertEqual(os.geteuid(), 0, "needs root (unshare --mount)")
        self.fake = FakeMkio()
        self.addCleanup(self.fake.stop)
        self.fake.seed(world())
        self.work = tempfile.mkdtemp(prefix="mkio-sandbox-")
        self.addCleanup(shutil.rmtree, self.work, True)
        for d in ("etc/upper", "etc/work", "varlib/upper", "varlib/work"):
            os.makedirs(os.path.join(self.work, d))
        etc_mkio = os.path.join(self.work, "etc/upper/mkio")
        os.makedirs(os.path.join(etc_mkio, "tokens"))
        os.chmod(os.path.join(etc_mkio, "tokens"), 0o700)
        shutil.copy(self.fake.ca_file, os.path.join(etc_mkio, "ca.pem"))
        # The installed unit reads the default places: /etc/mkio/mkio.conf,
        # /etc/mkio/tokens, /var/lib/mkio.
        with open(os.path.join(etc_mkio, "mkio.conf"), "w") as f:
            f.write(f"base_url = {self.fake.api_url}\n"
                    "ca_file = /etc/mkio/ca.pem\n"
                    "time_budget = 3\n"
                    "connect_timeout = 1\n")
        os.chmod(os.path.join(etc_mkio, "mkio.conf"), 0o644)
        token = os.path.join(etc_mkio, "tokens", "nobody")
        with open(token, "w") as f:
            f.write(BOB_TOKEN + "\n")
        os.chmod(token, 0o600)

    def test_sync_does_its_work_in_its_sandbox(self):
        exec_start = unit_values(self.unit("mkio-sync.service"), "ExecStart")
        self.assertEqual(len(exec_start), 1)
        argv = shlex.split(exec_start[0])
        self.assertEqual(argv[0], "/usr/local/bin/mkio-orgs")
        p = unit_sandbox(self.work, self.local).run(
            ["bash", "-c", SANDBOX, "sandbox", self.work, self.local, *argv],
            capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertNotIn(BOB_TOKEN, p.stdout + p.stderr)
        lines = p.stdout.splitlines()
        self.assertIn("exit: 0", lines, p.stdout + p.stderr)
        self.assertTrue(any(line.startswith("nobody: ") for line in lines), p.stdout)
        # The sandbox was real: nothing but the state directory is writable,
        # and no home can be read.
        for line in ("refused: write /etc/mkio", "refused: write /var/lib",
                     "allowed: write /var/lib/mkio", "refused: read /home", "refused: read /root",
                     "allowed: nscd -i group"):
            self.assertIn(line, lines, p.stdout + p.stderr)
        self.assertIn("INVALIDATE (group)", p.stderr)
        # Its seccomp filter and address families (which only systemd can
        # apply) allow every system call and socket the run made.
        used = {line.split(": ", 1)[1] for line in lines if line.startswith("syscall: ")}
        self.assertIn("connect", used)
        filters = unit_values(self.unit("mkio-sync.service"), "SystemCallFilter")
        self.assertEqual(filters, ["@system-service", "~@privileged @resources"])
        allowed = syscall_set("@system-service") - syscall_set("@privileged") - syscall_set("@resources")
        self.assertEqual(sorted(used - allowed), [])
        families = {line.split(": ", 1)[1] for line in lines if line.startswith("family: ")}
        self.assertIn("AF_INET", families)
        restricted = unit_values(self.unit("mkio-sync.service"), "RestrictAddressFamilies")
        self.assertEqual(sorted(families - set(restricted[0].split())), [])
        # MK.IO was asked for bob's organizations, and the state directory
        # (made by the tmpfiles.d entry) has his group for the local user.
        gets = [r for r in self.fake.requests() if r["method"] == "GET"]
        self.assertEqual(len(gets), 1, gets)
        state = os.path.join(self.work, "varlib/upper/mkio")
        st = os.lstat(state)
        self.assertEqual((stat.S_IMODE(st.st_mode), st.st_uid), (0o755, 0))
        st = os.lstat(os.path.join(state, "groups.db"))
        self.assertEqual((stat.S_IMODE(st.st_mode), st.st_uid), (0o644, 0))
        self.assertFalse(os.path.exists(os.path.join(self.work, "etc/upper/mkio/probe")))
        self.assertEqual(sorted(os.listdir(os.path.join(self.work, "varlib/upper"))), ["mkio"])
        conf = os.path.join(self.work, "status.conf")
        with open(conf, "w") as f:
            f.write(f"base_url = {self.fake.api_url}\nstate_dir = {state}\n")
        s = subprocess.run([os.path.join(self.local, "usr/local/bin/mkio-orgs"), "--config", conf,
                            "status", "--json"], capture_output=True, text=True)
        self.assertEqual(s.returncode, 0, s.stderr)
        groups = json.loads(s.stdout)["groups"]
        self.assertEqual([(g["group"]["organization"]["id"], g["members"]) for g in groups],
                         [(ORG, ["nobody"])])


if __name__ == "__main__":
    unittest.main()
