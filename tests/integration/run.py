#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Runs the unittest modules test_*.py of a folder and prints a closing line
"<folder>: N passed, N failed" that tests/run-all adds up. Exit 1 on failure."""
import os
import sys
import unittest

def main():
    folder = os.path.abspath(sys.argv[1])
    sys.path.insert(0, folder)
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fake"))
    suite = unittest.defaultTestLoader.discover(folder, pattern="test_*.py", top_level_dir=folder)
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    passed = result.testsRun - failed - skipped
    name = os.path.basename(folder.rstrip("/"))
    # A skipped test is not a pass: count it as a failure so nothing hides.
    print(f"{name}: {passed} passed, {failed + skipped} failed")
    return 0 if failed + skipped == 0 and result.testsRun > 0 else 1

if __name__ == "__main__":
    sys.exit(main())
