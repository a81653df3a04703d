# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
# tests/e2e/lib.sh: a private system view for end-to-end tests, as root.
# The Python tests build theirs with tests/lib/sandbox.py, in the same steps:
# `unshare --mount --propagation private`, then bind mounts, tmpfs and
# overlays over the system's paths, which die with the namespace.
#
# Source it from a bash script, then:
#   ns_reexec "$@"          re-runs the calling script inside
#                           `unshare --mount --propagation private` (once)
#   ns_setup [LIBDIR...]    private /etc/{passwd,group,shadow,gshadow,nsswitch.conf},
#                           /etc/pam.d, /etc/ld.so.cache (LIBDIRs first, then the
#                           system's), /home and /var/lib (an overlay, so
#                           /var/lib/mkio and /var/lib/misc/group.db are private)
#   ns_add_user NAME UID    a user with its own group NAME (gid UID), home /home/NAME
#   ns_set_group_sources S  "group:" line of the private nsswitch.conf (e.g. "files mkio")
#   ns_teardown             unmounts and removes everything (ns_setup traps EXIT)
#   ns_start_nscd CONF      an nscd of this namespace only (private /run/nscd and
#                           /var/cache/nscd); ns_stop_nscd stops it, before ns_teardown
#
# After ns_setup these are set: NS_DIR (the temporary directory), NS_ETC (private
# copies of the files mounted over /etc; edit them in place with `>`/`>>`, never
# with sed -i or mv, which would replace the mounted inode), NS_STATE_DIR
# (/var/lib/mkio). Nothing on the host changes: every mount lives and dies with
# the private mount namespace, and the temporary directory holds no mount point.

NS_DIR=
NS_ETC=
NS_STATE_DIR=/var/lib/mkio
NS_MOUNTS=()

ns_die() {
    echo "ns: $*" >&2
    exit 1
}

# True inside a mount namespace other than init's.
ns_is_private() {
    [ "$(readlink /proc/self/ns/mnt)" != "$(readlink /proc/1/ns/mnt)" ]
}

ns_reexec() {
    [ "$(id -u)" = 0 ] || ns_die "must run as root (it uses unshare --mount)"
    if [ "${MKIO_NS_INSIDE:-}" = 1 ] && ns_is_private; then
        return 0
    fi
    command -v unshare >/dev/null || ns_die "unshare not found"
    MKIO_NS_INSIDE=1 exec unshare --mount --propagation private -- bash "$0" "$@"
}

# mount ARGS... TARGET; remembers TARGET for ns_teardown.
ns_mount() {
    local target="${*: -1}"
    mount "$@" || ns_die "mount $* failed"
    NS_MOUNTS+=("$target")
}

ns_bind() {
    ns_mount --bind "$1" "$2"
}

ns_set_group_sources() {
    local sources="$1"
    # Rewritten in place: the file is a bind mount over /etc/nsswitch.conf.
    {
        echo "# private nsswitch.conf of an mkio test (tests/e2e/lib.sh)"
        echo "passwd:         files"
        echo "group:          $sources"
        echo "shadow:         files"
        echo "gshadow:        files"
        echo "hosts:          files"
        echo "networks:       files"
        echo "protocols:      files"
        echo "services:       files"
        echo "ethers:         files"
        echo "rpc:            files"
        echo "netgroup:       files"
    } >"$NS_ETC/nsswitch.conf"
}

ns_add_user() {
    local name="$1" uid="$2"
    if [ -z "$name" ] || ! [[ "$uid" =~ ^[0-9]+$ ]]; then
        ns_die "usage: ns_add_user NAME UID"
    fi
    echo "$name:x:$uid:$uid:$name:/home/$name:/bin/bash" >>"$NS_ETC/passwd"
    echo "$name:x:$uid:" >>"$NS_ETC/group"
    echo "$name:*:19000:0:99999:7:::" >>"$NS_ETC/shadow"
    echo "$name:!::" >>"$NS_ETC/gshadow"
    mkdir -p "/home/$name"
    chown "$uid:$uid" "/home/$name"
    chmod 0750 "/home/$name"
}

# The private ld.so.cache: LIBDIRs first, then what the system lists. -X keeps
# ldconfig from touching links in the system's directories.
ns_build_ld_cache() {
    local conf="$NS_DIR/ld.so.conf" dir
    : >"$conf"
    for dir in "$@"; do
        [ -d "$dir" ] || ns_die "library directory $dir does not exist"
        (cd "$dir" && pwd -P) >>"$conf"
    done
    echo "include /etc/ld.so.conf.d/*.conf" >>"$conf"
    # ldconfig may write its aux cache; keep that private too.
    if [ -d /var/cache/ldconfig ]; then
        mkdir -p "$NS_DIR/ldconfig-aux"
        ns_bind "$NS_DIR/ldconfig-aux" /var/cache/ldconfig
    fi
    ldconfig -X -C "$NS_DIR/ld.so.cache" -f "$conf" || ns_die "ldconfig failed"
    ns_bind "$NS_DIR/ld.so.cache" /etc/ld.so.cache
}

ns_setup() {
    ns_is_private || ns_die "ns_setup outside a private mount namespace (call ns_reexec first)"
    NS_DIR="$(mktemp -d /tmp/mkio-ns.XXXXXX)" || ns_die "mktemp failed"
    chmod 0755 "$NS_DIR"
    trap ns_teardown EXIT
    NS_ETC="$NS_DIR/etc"
    mkdir -p "$NS_ETC" "$NS_DIR/home" "$NS_DIR/varlib/upper" "$NS_DIR/varlib/work"

    # The system's own accounts (ids below 1000, and nobody/nogroup), so that
    # su, PAM and getent behave as usual; no host user leaks in.
    awk -F: '$3 < 1000 || $3 == 65534' /etc/passwd >"$NS_ETC/passwd"
    awk -F: '$3 < 1000 || $3 == 65534' /etc/group >"$NS_ETC/group"
    awk -F: 'NR == FNR { keep[$1] = 1; next } keep[$1]' "$NS_ETC/passwd" /etc/shadow >"$NS_ETC/shadow"
    awk -F: 'NR == FNR { keep[$1] = 1; next } keep[$1]' "$NS_ETC/group" /etc/gshadow \
        >"$NS_ETC/gshadow" 2>/dev/null || : >"$NS_ETC/gshadow"
    chmod 0644 "$NS_ETC/passwd" "$NS_ETC/group"
    chmod 0640 "$NS_ETC/shadow" "$NS_ETC/gshadow"
    chgrp shadow "$NS_ETC/shadow" "$NS_ETC/gshadow" 2>/dev/null || true
    ns_set_group_sources "files mkio"
    cp -a /etc/pam.d "$NS_ETC/pam.d"

    local f
    for f in passwd group shadow gshadow nsswitch.conf; do
        [ -e "/etc/$f" ] || ns_die "/etc/$f does not exist; refusing to create it on the host"
        ns_bind "$NS_ETC/$f" "/etc/$f"
    done
    ns_bind "$NS_ETC/pam.d" /etc/pam.d
    ns_bind "$NS_DIR/home" /home

    # An overlay keeps the host's /var/lib readable and takes every write
    # (/var/lib/mkio, /var/lib/misc/group.db) into NS_DIR.
    ns_mount -t overlay overlay \
        -o "lowerdir=/var/lib,upperdir=$NS_DIR/varlib/upper,workdir=$NS_DIR/varlib/work" /var/lib
    mkdir -p "$NS_STATE_DIR"
    chmod 0755 "$NS_STATE_DIR"

    ns_build_ld_cache "$@"
}

ns_teardown() {
    local i
    for ((i = ${#NS_MOUNTS[@]} - 1; i >= 0; i--)); do
        umount "${NS_MOUNTS[$i]}" 2>/dev/null || umount -l "${NS_MOUNTS[$i]}" 2>/dev/null || true
    done
    NS_MOUNTS=()
    if [ -n "$NS_DIR" ] && [ -d "$NS_DIR" ]; then
        # No mount point lives under NS_DIR; --one-file-system guards anyway.
        rm -rf --one-file-system "$NS_DIR"
    fi
    NS_DIR=
}

# ns_install_helper BUILD: pam_mkio.so starts its helper at a path compiled
# into it (/usr/libexec/mkio/mkio-login-helper), a gate that execs the
# refresh program at a path compiled into it (.../mkio-login-refresh). A
# private /usr/libexec holds BUILD's two programs there, and links to
# everything the real one has (kept reachable through a bind mount in
# NS_DIR, unmounted by ns_teardown first).
NS_HELPER_PATH=/usr/libexec/mkio/mkio-login-helper
NS_REFRESH_PATH=/usr/libexec/mkio/mkio-login-refresh
ns_install_helper() {
    local build="$1" name
    for name in mkio-login-helper mkio-login-refresh; do
        [ -x "$build/$name" ] || ns_die "$build/$name is not built"
    done
    mkdir -p "$NS_DIR/oldlibexec"
    ns_bind /usr/libexec "$NS_DIR/oldlibexec"
    ns_mount -t tmpfs -o mode=0755 tmpfs /usr/libexec
    for name in "$NS_DIR/oldlibexec"/*; do
        [ -e "$name" ] && ln -s "$name" "/usr/libexec/$(basename "$name")"
    done
    mkdir -p "$(dirname "$NS_HELPER_PATH")"
    install -m 0755 "$build/mkio-login-helper" "$NS_HELPER_PATH"
    install -m 0755 "$build/mkio-login-refresh" "$NS_REFRESH_PATH"
}

# ns_start_nscd CONF: a glibc nscd of this namespace only, reading CONF.
# Private tmpfs over /run/nscd (its socket, where every client of the
# namespace looks) and /var/cache/nscd (its persistent files); it runs in
# the foreground (-d) as a child of the caller (NS_NSCD_PID), its debug
# messages ("INVALIDATE (group)", ...) in NS_DIR/nscd.log. Stop it with
# ns_stop_nscd before ns_teardown.
NS_NSCD_PID=
ns_start_nscd() {
    local conf="$1" d
    [ -x /usr/sbin/nscd ] || ns_die "/usr/sbin/nscd not found (tests/install-deps installs nscd)"
    [ -r "$conf" ] || ns_die "nscd configuration $conf not found"
    for d in /run/nscd /var/cache/nscd; do
        [ -d "$d" ] || ns_die "$d does not exist; refusing to create it on the host"
        ns_mount -t tmpfs -o mode=0755 tmpfs "$d"
    done
    /usr/sbin/nscd -d -f "$conf" </dev/null >"$NS_DIR/nscd.log" 2>&1 &
    NS_NSCD_PID=$!
    for _ in $(seq 1 250); do
        [ -S /run/nscd/socket ] && return 0
        kill -0 "$NS_NSCD_PID" 2>/dev/null || break
        sleep 0.02
    done
    cat "$NS_DIR/nscd.log" >&2
    ns_stop_nscd
    ns_die "nscd did not start"
}

# ns_stop_nscd: stops the nscd ns_start_nscd started (SIGTERM, then SIGKILL
# after 5 s), by its pid.
ns_stop_nscd() {
    [ -n "$NS_NSCD_PID" ] || return 0
    kill -TERM "$NS_NSCD_PID" 2>/dev/null
    for _ in $(seq 1 250); do
        kill -0 "$NS_NSCD_PID" 2>/dev/null || break
        sleep 0.02
    done
    kill -KILL "$NS_NSCD_PID" 2>/dev/null
    wait "$NS_NSCD_PID" 2>/dev/null
    NS_NSCD_PID=
}
