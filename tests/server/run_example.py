#!/usr/bin/env python3
"""Runs an example client (examples/) against a live `lfmd serve` on the demo model.

    run_example.py [--needs PATH] -- COMMAND [ARGS...]

Starts the server without --model (the demo model, generated into a temporary LFMD_CACHE_DIR)
and with --test-hooks, appends the server's base URL to COMMAND, runs it with
LFMD_EXAMPLE_FORCE_TOOL_CALL=1 (the examples' test-only mode: forced tool calls, checked
answers), stops the server, and exits with the command's status. --needs PATH: exit 77 (ctest
"skipped") when PATH does not exist, e.g. examples/node_modules/openai before install.sh ran.
"""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lfmd_server import LfmdServer  # noqa: E402


def main(argv):
    needs = []
    while argv and argv[0] != "--":
        if argv[0] == "--needs" and len(argv) > 1:
            needs.append(argv[1])
            argv = argv[2:]
        else:
            sys.exit(f"usage: {sys.argv[0]} [--needs PATH] -- COMMAND [ARGS...]")
    cmd = argv[1:]
    if not cmd:
        sys.exit(f"usage: {sys.argv[0]} [--needs PATH] -- COMMAND [ARGS...]")
    for p in needs:
        if not os.path.exists(p):
            print(f"SKIP: {p} is missing (run tests/server/install.sh)")
            return 77
    with LfmdServer(args=["--test-hooks"]) as srv:
        env = dict(os.environ, LFMD_EXAMPLE_FORCE_TOOL_CALL="1")
        env.pop("LFMD_API_KEY", None)
        try:
            rc = subprocess.run(cmd + [srv.base_url], env=env, timeout=300).returncode
        except subprocess.TimeoutExpired:
            print("example timed out", file=sys.stderr)
            rc = 1
        if not srv.alive():
            print("server died:\n" + srv.stderr_text()[-3000:], file=sys.stderr)
            rc = rc or 1
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
