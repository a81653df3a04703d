# SPDX-License-Identifier: LGPL-2.1-or-later
"""Timed claims of the tests: asserted by `make bench`, recorded by `make check`.

A test in `make check` asserts behaviour (no request made, nothing written,
the right number of requests, the order of events), never how fast: a busy
machine must not fail it. What a test measures it still states here, as a
claim with its limit:

    timing.at_most(self, "calls 2 to 5 (max)", max(times), 0.005)

Under `make check` (MKIO_TIMED unset) a claim is only recorded; under
tests/bench/timed-bench (MKIO_TIMED=1) it is asserted, and every claim is
printed with its number. MKIO_TIMED_LOG=FILE appends one JSON line per claim
to FILE, which tests/bench/timed-bench tabulates.

Two kinds of bound stay asserted in `make check` too, because no load can
break them:
- `at_least`: a lower bound (the program waited for a delay, a back-off,
  its timeout); a busy machine only makes waits longer;
- `hang=` of `at_most`: a generous upper bound that only a hang would
  exceed, for a test whose purpose is that a login or command is cut at its
  deadline (a deadline that is never enforced would otherwise pass).
"""
import json
import os

TIMED = os.environ.get("MKIO_TIMED", "") == "1"
SLACK = float(os.environ.get("MKIO_TEST_SLACK", "0"))


def _record(test, what, value, kind, limit, ok):
    log = os.environ.get("MKIO_TIMED_LOG")
    if not log:
        return
    with open(log, "a") as f:
        f.write(json.dumps({"test": test.id(), "claim": what, "value": round(value, 4),
                            "kind": kind, "limit": limit, "ok": ok}) + "\n")


def at_most(test, what, value, limit, hang=None):
    """Claims value (seconds) < limit. Asserted under MKIO_TIMED=1; else only
    value < hang is asserted, if hang is given (a bound only a hang would
    exceed: say in the test why it has one)."""
    ok = value < limit
    _record(test, what, value, "at most", limit, ok)
    if TIMED:
        test.assertLess(value, limit, "%s: %.3f s, limit %.3f s" % (what, value, limit))
    elif hang is not None:
        test.assertLess(value, hang, "%s: %.3f s, more than the %.0f s only a hang takes"
                        % (what, value, hang))


def at_least(test, what, value, limit, strict=False):
    """Claims and asserts value (seconds) >= limit (> limit if strict), in
    `make check` too: a lower bound on a wait (a delay, a back-off, a
    timeout) that load cannot break."""
    ok = value > limit if strict else value >= limit
    _record(test, what, value, "more than" if strict else "at least", limit, ok)
    test.assertTrue(ok, "%s: %.3f s, %s %.3f s"
                    % (what, value, "more than" if strict else "at least", limit))
