/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tests/unit/testutil.h: the helpers the unit tests share (the Makefile
 * links tests/unit/testutil*.c into every tests/unit/test_*.c binary).
 *
 * - a temporary directory per test, made under $TMPDIR (or /tmp) and removed
 *   with everything in it at teardown, alone or as the first member of a
 *   test's fixture, with cmocka setup and teardown functions for it;
 * - a private locale built with localedef, for tests that change LC_ALL;
 * - recursive removal of a tree, by path or by directory descriptor;
 * - whole-file read and write, by path or relative to a directory;
 * - a monotonic millisecond clock for tests that must wait for an event;
 * - fork-and-expect: run a function in a child and expect its exit status
 *   or the signal that ended it.
 *
 * Every helper whose name ends in _ok asserts (cmocka) and never returns
 * on failure; the others return 0 or -1 with errno set, so that cmocka
 * setup and teardown functions can report failure instead of aborting. */
#ifndef MK_TESTS_TESTUTIL_H
#define MK_TESTS_TESTUTIL_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* One temporary directory: its path and an O_DIRECTORY descriptor of it. */
struct tu_tmpdir {
    char path[PATH_MAX];
    int fd;
};

/* Makes $TMPDIR/NAME.XXXXXX (mode 0700, as mkdtemp makes it; /tmp when
 * TMPDIR is unset or empty) and opens it. Returns 0, or -1 with nothing
 * left behind. */
int tu_tmpdir_make(struct tu_tmpdir *d, const char *name);

/* Removes the directory and everything under it, closes its descriptor.
 * Returns 0, or -1 if anything could not be removed. Safe on a directory
 * already removed (fd -1 and an empty path are skipped). */
int tu_tmpdir_remove(struct tu_tmpdir *d);

/* tu_tmpdir_make under /dev/shm when it is writable (tmpfs: the tests that
 * replace a file thousands of times take seconds on a disk), else as
 * tu_tmpdir_make. */
int tu_tmpdir_make_tmpfs(struct tu_tmpdir *d, const char *name);

/* A zeroed fixture of SIZE bytes whose first member is a struct tu_tmpdir,
 * that directory made (named after the test program). NULL on failure,
 * nothing left behind. tu_fixture_free removes the directory and frees the
 * fixture (NULL is ignored) and returns tu_tmpdir_remove's result. */
void *tu_fixture_new(size_t size);
int tu_fixture_free(void *fixture);

/* cmocka setup and teardown for a test that wants only a directory:
 * *state is a struct tu_tmpdir (tu_fixture_new). */
int tu_tmpdir_setup(void **state);
int tu_tmpdir_teardown(void **state);

/* "DIR/NAME" in malloc'd memory; asserts. */
char *tu_path_ok(const char *dir, const char *name);

/* snprintf into out, asserting that nothing was cut (a long $TMPDIR). */
void tu_pathf_ok(char *out, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Removes PATH and, if it is a directory, everything below it, never
 * following a symbolic link. A missing PATH is not an error. */
int tu_remove_tree(const char *path);

/* Removes every entry inside the directory open at dirfd (the directory
 * itself stays), never following a symbolic link. */
int tu_empty_dir_at(int dirfd);

/* The whole content of PATH (or NAME in dirfd, AT_FDCWD for a path),
 * NUL-terminated, in malloc'd memory; its length (without the NUL) in *len
 * if len is not NULL. NULL with errno set on failure. */
char *tu_read_file_at(int dirfd, const char *name, size_t *len);
char *tu_read_file(const char *path, size_t *len);

/* tu_read_file_at, asserting that it worked. */
char *tu_read_file_ok(int dirfd, const char *name, size_t *len);

/* Reads NAME in dirfd into out (at most size - 1 bytes, NUL-terminated);
 * asserts that the file opens and reads. For the small files of a test. */
void tu_read_file_buf_ok(int dirfd, const char *name, char *out, size_t size);

/* Writes len bytes to NAME in dirfd (AT_FDCWD for a path), created or
 * truncated, then sets MODE whatever the umask. Does not follow a symbolic
 * link at NAME. Returns 0 or -1 with errno set. */
int tu_write_file_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode);
int tu_write_file(const char *path, const void *data, size_t len, mode_t mode);

/* tu_write_file_at, asserting that it worked; of a string for _text_. */
void tu_write_file_ok(int dirfd, const char *name, const void *data, size_t len, mode_t mode);
void tu_write_text_ok(int dirfd, const char *name, const char *text, mode_t mode);

/* Builds the locale NAME (e.g. "de_DE.ISO-8859-1") from the system's
 * sources INPUT and CHARMAP (Debian's locales package) with localedef into
 * the directory d, points LOCPATH at it and sets LC_ALL to it: the host's
 * own locales are left alone. Fails the test if it cannot.
 * tu_locale_drop_ok goes back to the C locale, unsets LOCPATH and asserts
 * that d is removed. */
void tu_locale_make_ok(struct tu_tmpdir *d, const char *input, const char *charmap, const char *name);
void tu_locale_drop_ok(struct tu_tmpdir *d);

/* Milliseconds of CLOCK_MONOTONIC (arbitrary origin). For a test that polls
 * for an event with a deadline; a test asserts behaviour, never elapsed
 * time (timed claims belong to tests/bench). */
int64_t tu_now_ms(void);

/* Returns once the kernel's coarse clock (base/clock.h, mk_clock_tick) has
 * moved past its value at the call: at most one tick (1 to 10 ms). The NSS
 * module checks its files at most once per tick (groupfile/reader.h,
 * CHANGED UNDER A READER), so a test that changed a file and expects the
 * next lookup to see it calls this in between. Fails the test if the clock
 * does not move within 10 s. */
void tu_next_tick(void);

/* Ends a forked child: its descriptors above 2 closed first, so that
 * valgrind's --track-fds (tests/run-unit --valgrind) has nothing to report
 * of a child that never returns to main. */
void tu_child_exit(int code) __attribute__((noreturn));

/* Runs fn(arg) in a child process; the child exits with fn's return value
 * (through tu_child_exit). Waits for it and returns its wait status, or -1
 * if fork or waitpid failed. */
int tu_fork_run(int (*fn)(void *arg), void *arg);

/* tu_fork_run, asserting that the child exited with exit_code. */
void tu_fork_expect_exit(int (*fn)(void *arg), void *arg, int exit_code);

/* tu_fork_run, asserting that the child was killed by signal sig. */
void tu_fork_expect_signal(int (*fn)(void *arg), void *arg, int sig);

/* Waits for the child pid (retrying on EINTR) and returns its wait status;
 * asserts that waitpid worked. */
int tu_wait_ok(pid_t pid);

/* Waits for the child pid, polling once a millisecond at most polls times
 * (so at least polls ms, more on a loaded machine or under valgrind: a
 * bound only a hang exceeds). Returns 0 with its wait status in *status;
 * -1 if it had not ended by then, when it is killed (SIGKILL) and reaped. */
int tu_wait_or_kill(pid_t pid, int polls, int *status);

/* True when the environment asks for the timed claims (MKIO_TIMED=1, as
 * tests/bench/timed-bench sets it): a test asserts a tight bound on elapsed
 * time only then, since a loaded machine makes any such bound flaky. */
int tu_timed(void);

/* A timed claim, as tests/lib/timing.py's at_most: value_ms < limit_ms.
 * Asserted under MKIO_TIMED=1 only; otherwise value_ms < hang_ms is
 * asserted when hang_ms > 0 (a bound only a hang exceeds, for a test whose
 * point is that a call is cut at its deadline; say why at the call). With
 * MKIO_TIMED_LOG=FILE, one JSON line per claim is appended to FILE, which
 * tests/bench/timed-bench tabulates with the Python claims. */
void tu_at_most_ms(const char *claim, int64_t value_ms, int64_t limit_ms, int64_t hang_ms);

#endif
