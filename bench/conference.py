"""The conference benchmark: inline, stream and 3 s polling on the local stack; prints JSON.

Each configuration runs on its own fresh local stack (see `bingo_ops.measure.conference`):
players join and mark at the given rate, every player and board follows its game (WebSocket
push, or polling every T s), and the JSON reports the metered counts of the steady-state span,
staleness per audience, $ per hour, the model's agreement with the metering and the targets.

The same as `bingo-ops bench conference` (which documents every option in `--help`), e.g.
    python bench/conference.py --players 500 --duration 60 --configs stream,polling
Run it from the repository root so the stacks it starts run this checkout's code.
"""

from __future__ import annotations

import sys

from bingo_ops.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "conference", *sys.argv[1:]]))
