"""Fan-out defaults shared by every target, so the local stack and AWS behave alike.

`inline` is the original per-mark fan-out (W = 0); `stream` sends from the table's change stream
per audience, at most once per window (see `backend.services.fanout`). The default stays
`inline` until the conference benchmark has settled the windows; `--fanout stream` opts in.
"""

from __future__ import annotations

from typing import Final

DEFAULT_FANOUT: Final = "inline"
DEFAULT_BOARD_WINDOW_S: Final = 0.25
DEFAULT_PLAYER_WINDOW_S: Final = 2.0
