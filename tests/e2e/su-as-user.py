#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Runs a command as an unprivileged user on a pseudo-terminal, with a
hostile environment, and answers its password prompt: what a local user
does when she runs the setuid `su` herself.

    su-as-user.py DIR UID PASSWORD COMMAND...

The environment is PATH, TERM, HOME=DIR, and variables that libcurl,
OpenSSL and the C library obey: a TLS key log in DIR, proxies pointing at a
listener of this script, CA paths and an OpenSSL configuration in DIR,
a German locale, and the tool's own MKIO_* variables. Prints
"proxy-connections=N" (connections the listener saw), then the lines of the
command's output that start with "uid=" or mention MK.IO.
For tests only: run it inside the private mount namespace of tests/e2e.
"""
import os
import pty
import select
import socket
import sys
import threading
import time


def main():
    home, uid, password, cmd = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
    proxy = socket.socket()
    proxy.bind(("127.0.0.1", 0))
    proxy.listen(8)
    proxy.settimeout(0.2)
    seen = []
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            try:
                conn, _ = proxy.accept()
                seen.append(1)
                conn.close()
            except socket.timeout:
                continue
            except OSError:
                return

    listener = threading.Thread(target=accept)
    listener.start()
    url = "http://127.0.0.1:%d" % proxy.getsockname()[1]
    env = {"PATH": "/usr/bin:/bin", "TERM": "dumb", "HOME": home,
           "SSLKEYLOGFILE": os.path.join(home, "keylog"), "HTTPS_PROXY": url, "https_proxy": url,
           "ALL_PROXY": url, "all_proxy": url, "http_proxy": url, "NO_PROXY": "",
           "CURL_CA_BUNDLE": os.path.join(home, "ca.pem"), "SSL_CERT_FILE": os.path.join(home, "ca.pem"),
           "SSL_CERT_DIR": home, "OPENSSL_CONF": os.path.join(home, "evil.cnf"),
           "LANG": "de_DE.UTF-8", "LC_ALL": "de_DE.UTF-8", "LC_NUMERIC": "de_DE.UTF-8",
           "MKIO_BASE_URL": url, "MKIO_CONFIG": os.path.join(home, "mkio.conf"),
           "MKIO_TOKEN": "tok-from-the-environment", "LOCALDOMAIN": "example.invalid"}
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            os.chdir(home)
            os.execvpe(cmd[0], cmd, env)
        finally:
            os._exit(127)
    out = b""
    sent = False
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            continue
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        out += data
        if not sent and b"assword" in out:
            os.write(fd, password.encode() + b"\n")
            sent = True
    os.waitpid(pid, 0)
    stop.set()
    listener.join()
    proxy.close()
    text = out.decode("utf-8", "replace").replace("\r", "")
    print("proxy-connections=%d" % len(seen))
    for line in text.splitlines():
        if line.startswith("uid=") or "MK.IO" in line:
            print(line)


if __name__ == "__main__":
    main()
