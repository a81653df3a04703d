# SPDX-License-Identifier: LGPL-2.1-or-later
"""A private mount namespace for the tests that must show a program other
system files (/etc/passwd, nsswitch.conf, resolv.conf, /var/lib, ...), as
root, without touching the host's.

The steps are those of tests/e2e/lib.sh (the shell version the end-to-end
suites and benchmarks source): a new mount namespace whose mounts are all
private (`unshare --mount --propagation private`, or unshare(2) and a
recursive MS_PRIVATE of /), then bind mounts, tmpfs and overlays over the
system's paths, which live and die with the namespace. Two ways in:

- `Sandbox`: a recipe of mounts run in a child, then the command:

      sb = Sandbox()
      sb.bind(my_passwd, "/etc/passwd")
      p = sb.run([TOOL, "sync", "--all"], env=e, capture_output=True, text=True)

  (`sb.popen(...)` for a process to read as it runs; `net=True` adds a
  private network namespace, with only a loopback that `sb.loopback_up()`
  brings up);

- `enter()` then `Mounts`: this very process moves into a private mount
  namespace (it must be single-threaded), for a test module that runs many
  programs in the same private view; `Mounts` remembers what it mounted
  and unmounts it, last first.
"""
import contextlib
import ctypes
import os
import shlex
import shutil
import subprocess
import threading

CLONE_NEWNS = 0x00020000
MS_REC = 16384
MS_PRIVATE = 1 << 18


def available():
    """True if this process can make a sandbox: root, with unshare(1)."""
    return os.geteuid() == 0 and shutil.which("unshare") is not None


class Sandbox:
    """The mounts of a private namespace, made in a child before it execs
    the command. Steps run in the order given, under `set -e`: a failed
    mount ends the child (exit status of mount) before the command runs."""

    def __init__(self, net=False):
        self.net = net
        self.steps = []

    def step(self, *argv):
        """Runs argv inside the namespace, before the command."""
        self.steps.append(" ".join(shlex.quote(str(a)) for a in argv))
        return self

    def mount(self, *args):
        return self.step("mount", *args)

    def bind(self, src, dst):
        """src (a file or a directory) shown at dst."""
        return self.mount("--bind", src, dst)

    def tmpfs(self, dst, mode="0755", options=""):
        return self.mount("-t", "tmpfs", "-o", "mode=%s%s" % (mode, "," + options if options else ""),
                          "tmpfs", dst)

    def overlay(self, lower, upper, work, target):
        """target shows lower, with every change going to upper."""
        return self.mount("-t", "overlay", "overlay", "-o",
                          "lowerdir=%s,upperdir=%s,workdir=%s" % (lower, upper, work), target)

    def ensure_dir(self, path, parent):
        """path exists afterwards: if it does not, a tmpfs over parent (so
        that nothing is created on the host) and path made in it."""
        q, qp = shlex.quote(path), shlex.quote(parent)
        self.steps.append("if [ ! -d %s ]; then mount -t tmpfs -o mode=0755 tmpfs %s; "
                          "mkdir -p %s; fi" % (q, qp, q))
        return self

    def loopback_up(self):
        """In a private network namespace (net=True): the loopback up."""
        return self.step("ip", "link", "set", "lo", "up")

    def script(self):
        return "set -e\n" + "".join(s + "\n" for s in self.steps) + 'exec "$@"\n'

    def command(self, argv):
        """The command line that runs argv in the sandbox."""
        return (["unshare", "--mount", "--propagation", "private"] + (["--net"] if self.net else [])
                + ["--", "sh", "-c", self.script(), "sandbox"] + [str(a) for a in argv])

    def run(self, argv, **kwargs):
        """subprocess.run of argv in the sandbox."""
        return subprocess.run(self.command(argv), **kwargs)

    def popen(self, argv, **kwargs):
        """subprocess.Popen of argv in the sandbox."""
        return subprocess.Popen(self.command(argv), **kwargs)


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                           ctypes.c_void_p]
    return libc


def enter():
    """Moves this process into a new mount namespace whose mounts are all
    private (what `unshare --mount --propagation private` does for a
    child). Needs root and a single-threaded process (unshare(2) refuses
    CLONE_NEWNS otherwise)."""
    libc = _libc()
    if threading.active_count() > 1:
        raise RuntimeError("unshare needs a single-threaded process")
    if libc.unshare(CLONE_NEWNS) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "unshare(CLONE_NEWNS): " + os.strerror(e))
    if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "making / private: " + os.strerror(e))


class Mounts:
    """Mounts made by this process (inside `enter()`), unmounted last first
    by `unmount_all()` (lazily if a target is busy)."""

    def __init__(self):
        self.targets = []

    def mount(self, *args):
        subprocess.run(["mount"] + [str(a) for a in args], check=True)
        self.targets.append(str(args[-1]))

    def bind(self, src, dst):
        self.mount("--bind", src, dst)

    def rbind(self, src, dst):
        self.mount("--rbind", src, dst)

    def tmpfs(self, dst, mode="0755"):
        self.mount("-t", "tmpfs", "-o", "mode=" + mode, "tmpfs", dst)

    def overlay(self, lower, upper, work, target):
        self.mount("-t", "overlay", "overlay", "-o",
                   "lowerdir=%s,upperdir=%s,workdir=%s" % (lower, upper, work), target)

    def unmount_all(self):
        for target in reversed(self.targets):
            if subprocess.call(["umount", target], stderr=subprocess.DEVNULL) != 0:
                subprocess.call(["umount", "-l", target], stderr=subprocess.DEVNULL)
        self.targets = []


@contextlib.contextmanager
def bound(src, dst):
    """src bind-mounted at dst for the block (in this process's namespace,
    so after `enter()`), unmounted afterwards."""
    subprocess.run(["mount", "--bind", str(src), str(dst)], check=True)
    try:
        yield
    finally:
        subprocess.run(["umount", str(dst)], check=True)
