"""Fan-out defaults shared by every target, so the local stack and AWS behave alike.

`inline` is the original per-mark fan-out (W = 0); `stream` sends from the table's change stream
per audience, at most once per window (see `backend.services.fanout`). The windows are the ones
the conference benchmark chose (`bingo-ops bench conference`): boards as soon as the stream is
read (W_b = 0), players every 2 s (W_p = 2), which meets the freshness targets at about 63 % of
3 s polling's cost on the local stack. The default mode stays `inline` because the live monitor
and the latency notebook are built around per-mark push; `--fanout stream` opts in.
"""

from __future__ import annotations

from typing import Final

DEFAULT_FANOUT: Final = "inline"
DEFAULT_BOARD_WINDOW_S: Final = 0.0
DEFAULT_PLAYER_WINDOW_S: Final = 2.0
