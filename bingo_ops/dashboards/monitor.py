"""`LiveMonitor`: an ipywidgets view of one game's leaderboard, activity and points, live.

The first half of this module is pure: functions and small classes that turn the client's
messages and `ClientState` into table rows, feed lines, a status line and chart series, tested
without widgets or sockets. The second half builds the widgets and runs the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import os
from collections import Counter, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any, Literal

import ipywidgets as widgets
import plotly.graph_objects as go

from bingo_ops.client.http import BingoHttp, PublicTokenSource
from bingo_ops.client.policy import Backoff, ClientState
from bingo_ops.client.token_cache import TokenCache
from bingo_ops.client.ws import BingoClient, TokenProvider
from bingo_ops.dashboards.games import current_game_id

TOP_N = 10  # rows of the leaderboard table (the server's leaderboards carry 10)
CHART_TOP_N = 8  # players drawn in the chart; more lines than this are unreadable
FEED_SIZE = 50
# Widgets are redrawn at most this often: a busy game delivers many messages a second, and
# each redraw sends the whole table and chart to the browser.
REFRESH_S = 0.25
EVENT_MESSAGES = ("activity_event", "game_state_changed")

Phase = Literal["connecting", "connected", "reconnecting", "stopped", "failed"]
Series = dict[str, tuple[list[int], list[int]]]


# -- pure view logic -------------------------------------------------------------------------
@dataclass(frozen=True)
class ConnectionStatus:
    """What the status line shows about the connection and the game.

    Attributes:
        connected: A connection is open and the game subscribed to.
        closed: The client has stopped.
        connections: Connections opened so far.
        attempts: Connection attempts so far (successful ones included).
        last_error: The client's last error (connection trouble or a server error frame).
        error: Why the client gave up, when it did.
        game_state: The game's state once a state change was seen.
        winner: The winner's nickname once a verified claim ended the game.
        remaining_s: Seconds the monitor still runs (None: until stopped).
    """

    connected: bool = False
    closed: bool = False
    connections: int = 0
    attempts: int = 0
    last_error: str | None = None
    error: str | None = None
    game_state: str | None = None
    winner: str | None = None
    remaining_s: float | None = None

    @property
    def phase(self) -> Phase:
        """`connecting` (never connected yet), `connected`, `reconnecting`, `stopped`, `failed`."""
        if self.closed:
            return "failed" if self.error else "stopped"
        if self.connected:
            return "connected"
        return "reconnecting" if self.connections else "connecting"

    @property
    def reconnects(self) -> int:
        """Connections opened after the first."""
        return max(0, self.connections - 1)


def connection_status(
    state: ClientState,
    game_id: str | None = None,
    *,
    attempts: int = 0,
    closed: bool = False,
    error: BaseException | str | None = None,
    remaining_s: float | None = None,
) -> ConnectionStatus:
    """Read a client's state into a `ConnectionStatus`.

    Args:
        state: The client's `ClientState`.
        game_id: The watched game (its state and winner are shown); None for the first game.
        attempts: Connection attempts counted by the caller (the state does not count them).
        closed: Whether the client has stopped.
        error: Why it gave up, if it did.
        remaining_s: Seconds the monitor still runs.
    """
    view = state.games.get(game_id) if game_id is not None else state.game
    return ConnectionStatus(
        connected=state.connected,
        closed=closed,
        connections=state.connections,
        attempts=max(attempts, state.connections),
        last_error=state.last_error,
        error=None if error is None else str(error),
        game_state=view.game_state if view else None,
        winner=view.winner if view else None,
        remaining_s=remaining_s,
    )


_PHASE_MARKS: Mapping[Phase, tuple[str, str]] = {
    "connecting": ("◌", "#b58900"),
    "connected": ("●", "#2e7d32"),
    "reconnecting": ("◌", "#b58900"),
    "stopped": ("○", "#616161"),
    "failed": ("✖", "#c62828"),
}


def status_text(status: ConnectionStatus) -> str:
    """The status line as plain text, e.g. `connected · 1 connection · 0 reconnects`."""
    parts: list[str] = [status.phase]
    parts.append(f"{status.connections} connection{'s' if status.connections != 1 else ''}")
    parts.append(f"{status.reconnects} reconnect{'s' if status.reconnects != 1 else ''}")
    parts.append(f"{status.attempts} attempt{'s' if status.attempts != 1 else ''}")
    if status.game_state:
        parts.append(f"game {status.game_state}")
    if status.winner:
        parts.append(f"winner {status.winner}")
    if status.remaining_s is not None and not status.closed:
        parts.append(f"{max(0.0, status.remaining_s):.0f} s left")
    if status.error:
        parts.append(f"gave up: {status.error}")
    elif status.last_error:
        parts.append(f"last error: {status.last_error}")
    return " · ".join(parts)


def status_html(status: ConnectionStatus) -> str:
    """The status line as HTML, with a coloured mark for the phase."""
    mark, colour = _PHASE_MARKS[status.phase]
    text = html.escape(status_text(status))
    return f'<span style="color:{colour};font-weight:bold">{mark}</span> <code>{text}</code>'


def leaderboard_rows(
    leaderboard: Iterable[Mapping[str, Any]], top_n: int = TOP_N, me: str | None = None
) -> list[dict[str, Any]]:
    """The table's rows: rank, nickname, points, marks and whether the row is the viewer's.

    Args:
        leaderboard: Rows of a `leaderboard_update` (in rank order).
        top_n: Rows kept.
        me: The viewing player's nickname (broadcasts do not flag the viewer's row).
    """
    rows = []
    for i, row in enumerate(leaderboard):
        if i >= top_n:
            break
        nickname = str(row.get("nickname", ""))
        you = bool(row.get("isYou")) or (me is not None and nickname.casefold() == me.casefold())
        rows.append(
            {
                "rank": int(row.get("rank", i + 1)),
                "nickname": nickname,
                "points": int(row.get("points", 0)),
                "marks": int(row.get("marks", 0)),
                "you": you,
            }
        )
    return rows


def leaderboard_html(rows: Sequence[Mapping[str, Any]], total_players: int | None = None) -> str:
    """An HTML table of `leaderboard_rows`; the viewer's own row in bold."""
    head = "<tr><th>#</th><th>player</th><th>points</th><th>marks</th></tr>"
    body = []
    for row in rows:
        style = ' style="font-weight:bold"' if row.get("you") else ""
        name = html.escape(str(row["nickname"])) + (" (you)" if row.get("you") else "")
        body.append(
            f"<tr{style}><td>{row['rank']}</td><td>{name}</td>"
            f"<td>{row['points']}</td><td>{row['marks']}</td></tr>"
        )
    if not body:
        body.append('<tr><td colspan="4"><i>no players yet</i></td></tr>')
    caption = ""
    if total_players is not None:
        caption = f"<caption>Leaderboard ({total_players} players)</caption>"
    return f'<table class="bingo-leaderboard">{caption}{head}{"".join(body)}</table>'


def _clock(timestamp_ms: Any, tz: tzinfo | None) -> str:
    if not isinstance(timestamp_ms, int | float):
        return ""
    return datetime.fromtimestamp(timestamp_ms / 1000, tz).strftime("%H:%M:%S") + " "


def feed_line(message: Mapping[str, Any], tz: tzinfo | None = None) -> str | None:
    """The activity feed's line for one delivered message, or None when it has none.

    Args:
        message: A message the client delivered.
        tz: Time zone of the clock shown; None for local time.
    """
    kind = message.get("type")
    if kind == "activity_event":
        event = message.get("event") or {}
        data = event.get("data") or {}
        who = data.get("nickname", "someone")
        what = event.get("type")
        if what == "game_created":
            size = data.get("gridSize")
            text = f"game {data.get('name', '')!r} created" + (f" ({size}x{size})" if size else "")
        elif what == "player_joined":
            text = f"{who} joined"
        elif what == "word_marked":
            text = f"{who} marked a word: {data.get('points', 0)} pts, {data.get('marks', 0)} marks"
        elif what == "bingo_claimed":
            text = f"{who} claims BINGO!"
        else:
            text = str(what)
        return f"{_clock(event.get('timestamp'), tz)}#{message.get('seq')} {text}"
    if kind == "game_state_changed":
        text = f"game {message.get('previousState')} -> {message.get('newState')}"
        if message.get("reason"):
            text += f" ({message['reason']})"
        if message.get("winner"):
            text += f", winner {message['winner']}"
        return f"{_clock(message.get('timestamp'), tz)}#{message.get('seq')} {text}"
    if kind == "subscribed":
        return f"subscribed to game {message.get('gameId')} (log at seq {message.get('seq')})"
    if kind == "error":
        return f"error {message.get('code', '')}: {message.get('message', '')}"
    return None  # leaderboards show in the table; pongs and unsubscribes are not news


def feed_html(lines: Iterable[str]) -> str:
    """The feed as HTML lines, in the order given (most recent first)."""
    items = [f"<div>{html.escape(line)}</div>" for line in lines]
    if not items:
        items = ["<div><i>waiting for activity</i></div>"]
    return f'<div class="bingo-feed" style="font-family:monospace">{"".join(items)}</div>'


def standings(rows: Iterable[Mapping[str, Any]]) -> list[tuple[Any, Any, Any, Any]]:
    """(rank, nickname, points, marks) of each row: what two leaderboards must agree on.

    `isYou` and `lastMarkAt` formatting are left out: a player's own row is flagged only in
    replies to it, never in broadcasts.
    """
    return [(r.get("rank"), r.get("nickname"), r.get("points"), r.get("marks")) for r in rows]


def leaderboards_match(
    seen: Iterable[Mapping[str, Any]], server: Iterable[Mapping[str, Any]]
) -> bool:
    """Whether a leaderboard a client saw equals the server's (see `standings`)."""
    return standings(seen) == standings(server)


class PointsHistory:
    """Points over time per player, from the game's `player_joined` and `word_marked` events.

    A join starts a player's series at 0 points; each mark adds the player's total after it.
    """

    def __init__(self) -> None:
        self._series: dict[str, tuple[list[int], list[int]]] = {}
        self.last_ms: int | None = None

    def add(self, message: Mapping[str, Any]) -> bool:
        """Take one delivered message; returns whether a series changed."""
        if message.get("type") != "activity_event":
            return False
        event = message.get("event") or {}
        data = event.get("data") or {}
        what, nickname, when = event.get("type"), data.get("nickname"), event.get("timestamp")
        if what not in ("player_joined", "word_marked") or not isinstance(nickname, str):
            return False
        if not isinstance(when, int | float):
            return False
        xs, ys = self._series.setdefault(nickname, ([], []))
        xs.append(int(when))
        ys.append(int(data.get("points", 0)) if what == "word_marked" else 0)
        self.last_ms = int(when) if self.last_ms is None else max(self.last_ms, int(when))
        return True

    @property
    def players(self) -> list[str]:
        """Players with a series, in order of appearance."""
        return list(self._series)

    def series(
        self,
        order: Sequence[str] = (),
        top_n: int = CHART_TOP_N,
        until_ms: int | None = None,
    ) -> Series:
        """The series of the top players: nickname -> (epoch ms list, points list).

        Args:
            order: Nicknames in leaderboard order, taken first; the rest follow by points.
            top_n: Players kept.
            until_ms: Extend each series flat to this time, so every line reaches "now".
        """
        ranked = [n for n in order if n in self._series]
        rest = sorted(
            (n for n in self._series if n not in ranked),
            key=lambda n: (-self._series[n][1][-1], n),
        )
        out: Series = {}
        for nickname in [*ranked, *rest][:top_n]:
            xs, ys = (list(v) for v in self._series[nickname])
            if until_ms is not None and xs and until_ms > xs[-1]:
                xs.append(until_ms)
                ys.append(ys[-1])
            out[nickname] = (xs, ys)
        return out


@dataclass
class MonitorModel:
    """What the monitor has taken from the client's messages, ready to be shown.

    Attributes:
        feed_size: Feed lines kept.
        tz: Time zone of the feed's clock (None: local time).
        counts: Messages delivered, by `type`.
        event_counts: Game events delivered, by event type (`word_marked`, `state_changed`...).
        feed: Feed lines, most recent first.
        history: Points over time.
        version: Bumped by every change, so views redraw only when needed.
    """

    feed_size: int = FEED_SIZE
    tz: tzinfo | None = None
    counts: Counter[str] = field(default_factory=Counter)
    event_counts: Counter[str] = field(default_factory=Counter)
    feed: deque[str] = field(init=False)
    history: PointsHistory = field(default_factory=PointsHistory)
    version: int = 0

    def __post_init__(self) -> None:
        self.feed = deque(maxlen=self.feed_size)

    def apply(self, message: Mapping[str, Any]) -> None:
        """Take one message the client delivered."""
        kind = str(message.get("type"))
        self.counts[kind] += 1
        if kind == "activity_event":
            self.event_counts[str((message.get("event") or {}).get("type"))] += 1
        elif kind == "game_state_changed":
            self.event_counts["state_changed"] += 1
        line = feed_line(message, self.tz)
        if line is not None:
            self.feed.appendleft(line)
        self.history.add(message)
        self.version += 1


# -- charts ------------------------------------------------------------------------------------
def _times(xs: Iterable[int]) -> list[datetime]:
    return [datetime.fromtimestamp(x / 1000, UTC) for x in xs]


def points_figure(series: Series, title: str = "Points over time") -> go.Figure:
    """A plain figure of points over time, one step line per player."""
    figure = go.Figure()
    _set_traces(figure, series)
    _layout(figure, title)
    return figure


def _layout(figure: go.Figure, title: str) -> None:
    figure.update_layout(
        title=title,
        xaxis_title="time (UTC)",
        yaxis_title="points",
        legend_title="player",
        height=360,
        margin={"l": 50, "r": 20, "t": 50, "b": 40},
    )


def _set_traces(figure: go.Figure, series: Series) -> None:
    names = [trace.name for trace in figure.data]
    if names == list(series):
        # Same players in the same order: update in place, which a FigureWidget sends as a
        # small diff instead of rebuilding the chart.
        for trace, (xs, ys) in zip(figure.data, series.values(), strict=True):
            trace.x, trace.y = _times(xs), ys
        return
    figure.data = []
    for nickname, (xs, ys) in series.items():
        figure.add_trace(
            go.Scatter(
                x=_times(xs), y=ys, name=nickname, mode="lines+markers", line={"shape": "hv"}
            )
        )


# -- widgets -----------------------------------------------------------------------------------
class MonitorView:
    """The widgets: a title, the status line, the leaderboard table, the feed and the chart.

    Attributes:
        title: HTML title.
        status: HTML status line.
        table: HTML leaderboard table.
        feed: HTML activity feed (most recent first), scrolling.
        chart: Plotly `FigureWidget` of points over time.
        widget: The whole layout, to display.
    """

    def __init__(self, title: str = "Live monitor") -> None:
        self.title = widgets.HTML(f"<h3>{html.escape(title)}</h3>")
        self.status = widgets.HTML(status_html(ConnectionStatus()))
        self.table = widgets.HTML(leaderboard_html([]), layout=widgets.Layout(width="40%"))
        self.feed = widgets.HTML(
            feed_html([]),
            layout=widgets.Layout(width="60%", max_height="320px", overflow="auto"),
        )
        self.chart = go.FigureWidget()
        _layout(self.chart, "Points over time")
        self.widget = widgets.VBox(
            [self.title, self.status, widgets.HBox([self.table, self.feed]), self.chart]
        )

    def set_title(self, title: str) -> None:
        """Change the title."""
        self.title.value = f"<h3>{html.escape(title)}</h3>"

    def show_status(self, status: ConnectionStatus) -> None:
        """Redraw the status line."""
        self.status.value = status_html(status)

    def show_game(
        self,
        rows: Sequence[Mapping[str, Any]],
        total_players: int,
        feed: Iterable[str],
        series: Series,
    ) -> None:
        """Redraw the table, the feed and the chart."""
        self.table.value = leaderboard_html(rows, total_players)
        self.feed.value = feed_html(feed)
        with self.chart.batch_update():
            _set_traces(self.chart, series)


class _CountingToken:
    """A token provider that counts connection attempts (the client asks once per attempt)."""

    def __init__(self, token: str | TokenProvider) -> None:
        self.token = token
        self.calls = 0

    async def __call__(self, refresh: bool = False) -> str:
        self.calls += 1
        if isinstance(self.token, str):
            return self.token
        return await self.token(refresh=refresh)


class LiveMonitor:
    """Watch one game live, as a public status board or as a player, in ipywidgets.

    Display `monitor.widget`, then `await monitor.run(duration_s)`: the client connects
    (a board with a cached public token; a player joins over HTTP with `nickname` first),
    follows the game from the start of its log, and the widgets follow its messages. Afterwards
    `results()`, `figure()` and `leaderboard_frame()` describe what it saw.

    Args:
        outputs: The stack's outputs (`httpUrl`, `wsUrl`).
        game_id: The game to watch; empty for the current game.
        as_public: Watch as a public status board; False joins as a player.
        nickname: The player's nickname when not public.
        top_n: Rows in the leaderboard table.
        chart_top_n: Players in the chart.
        feed_size: Lines kept in the activity feed.
        refresh_s: Seconds between widget redraws.
        after_seq: Events to replay first: 0 the whole log (the chart needs it), None the
            last 50.
        cache_dir: Public token cache; the user cache directory by default.
        backoff: Reconnect delays (full jitter, 1 s base, 30 s cap by default).
        max_attempts: Failed attempts in a row before giving up (`"default"`: 10 for a player,
            unlimited for a board).
        tz: Time zone of the feed's clock; None for local time.
    """

    def __init__(
        self,
        outputs: Mapping[str, Any],
        *,
        game_id: str = "",
        as_public: bool = True,
        nickname: str = "monitor",
        top_n: int = TOP_N,
        chart_top_n: int = CHART_TOP_N,
        feed_size: int = FEED_SIZE,
        refresh_s: float = REFRESH_S,
        after_seq: int | None = 0,
        cache_dir: str | os.PathLike[str] | None = None,
        backoff: Backoff | None = None,
        max_attempts: int | Literal["default"] | None = "default",
        tz: tzinfo | None = None,
    ) -> None:
        if not refresh_s > 0:
            raise ValueError("refresh_s must be positive")
        self.http_url = str(outputs["httpUrl"])
        self.ws_url = str(outputs["wsUrl"])
        self.game_id = game_id
        self.as_public = as_public
        self.nickname = nickname
        self.top_n = top_n
        self.chart_top_n = chart_top_n
        self.refresh_s = refresh_s
        self.after_seq = after_seq
        self.cache = TokenCache(cache_dir)
        self.backoff = backoff
        self.max_attempts = max_attempts
        self.model = MonitorModel(feed_size=feed_size, tz=tz)
        self.view = MonitorView(self._title())
        self.client: BingoClient | None = None
        self.joined: dict[str, Any] | None = None
        self.started_at: float | None = None
        self.stopped_at: float | None = None
        self.connected_at_stop = False
        self._token: _CountingToken | None = None
        self._stop = asyncio.Event()
        self._drawn = -1

    # -- what the notebook calls ---------------------------------------------------------------
    @property
    def widget(self) -> widgets.VBox:
        """The layout to display."""
        return self.view.widget

    async def connect(self) -> BingoClient:
        """Find the game, join it when watching as a player, and start the client.

        Raises:
            bingo_ops.dashboards.games.NoGameRunning: no game given and none running.
            ApiError: the join was refused (e.g. the nickname is taken in this game).
        """
        if self.client is not None:
            return self.client
        options: dict[str, Any] = {
            "after_seq": self.after_seq,
            "on_message": self.model.apply,
            "max_attempts": self.max_attempts,
            "backoff": self.backoff,
        }
        if self.as_public:
            if not self.game_id:
                self.game_id = await current_game_id(self.http_url, cache_dir=self.cache.directory)
            source = PublicTokenSource(self.http_url, cache=self.cache)
            self._token = _CountingToken(source)
            kind: Literal["user", "public"] = "public"
        else:
            async with BingoHttp(self.http_url) as http:
                self.joined = await http.join(self.nickname, self.game_id or None)
            self.game_id = str(self.joined["gameId"])
            self.nickname = str(self.joined["nickname"])
            self._token = _CountingToken(str(self.joined["token"]))
            kind = "user"
        self.client = BingoClient(
            self.ws_url, self._token, games=[self.game_id], kind=kind, **options
        )
        self.view.set_title(self._title())
        self.client.start()
        return self.client

    async def run(self, duration_s: float = 0) -> dict[str, Any]:
        """Watch for `duration_s` seconds (0: until `stop()` or the cell is interrupted).

        Connects first if needed, redraws the widgets as messages arrive, ends early if the
        client gives up, and always closes the client.

        Returns:
            `results()`.

        Raises:
            RuntimeError: the monitor has run already (make a new one to watch again).
        """
        if duration_s < 0:
            raise ValueError("duration_s must not be negative")
        if self.started_at is not None:
            raise RuntimeError("a monitor runs once; make a new one to watch again")
        loop = asyncio.get_running_loop()
        self.started_at = loop.time()
        deadline = self.started_at + duration_s if duration_s > 0 else None
        try:
            client = await self.connect()
            while not self._stop.is_set() and not client.closed:
                now = loop.time()
                if deadline is not None and now >= deadline:
                    break
                wait = self.refresh_s if deadline is None else min(self.refresh_s, deadline - now)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), wait)
                self.render(None if deadline is None else deadline - loop.time())
        finally:
            self.stopped_at = loop.time()
            self.connected_at_stop = self.client is not None and self.client.state.connected
            if self.client is not None:
                await self.client.close()
            self.render()
        return self.results()

    def stop(self) -> None:
        """End `run()` at its next check (safe to call from a callback or another task)."""
        self._stop.set()

    def render(self, remaining_s: float | None = None) -> None:
        """Redraw the widgets from the client's state (the chart only when something changed)."""
        self.view.show_status(self.status(remaining_s))
        if self.model.version == self._drawn:
            return
        self._drawn = self.model.version
        self.view.show_game(
            self.rows(), self.total_players, self.model.feed, self.series(until_now=False)
        )

    # -- what it saw -------------------------------------------------------------------------------
    @property
    def state(self) -> ClientState:
        """The client's state (empty before `connect()`)."""
        return self.client.state if self.client is not None else ClientState()

    def status(self, remaining_s: float | None = None) -> ConnectionStatus:
        """The connection status now."""
        client = self.client
        return connection_status(
            self.state,
            self.game_id or None,
            attempts=self._token.calls if self._token else 0,
            closed=client.closed if client is not None else False,
            error=client.error if client is not None else None,
            remaining_s=remaining_s,
        )

    def status_text(self) -> str:
        """The status line as plain text."""
        return status_text(self.status())

    @property
    def leaderboard(self) -> list[dict[str, Any]]:
        """The newest leaderboard the client received, as sent."""
        view = self.state.games.get(self.game_id)
        return list(view.leaderboard) if view else []

    @property
    def total_players(self) -> int:
        """Players in the game, as of the newest leaderboard."""
        view = self.state.games.get(self.game_id)
        return view.total_players if view else 0

    @property
    def last_seq(self) -> int | None:
        """The last event seq delivered in order (None before subscribing)."""
        feed = self.state.feeds.get(self.game_id)
        return feed.last_seq if feed else None

    def rows(self) -> list[dict[str, Any]]:
        """The leaderboard table's rows."""
        return leaderboard_rows(
            self.leaderboard, self.top_n, None if self.as_public else self.nickname
        )

    def series(self, *, until_now: bool = True) -> Series:
        """Points over time of the top players (leaderboard order first)."""
        order = [str(r.get("nickname")) for r in self.leaderboard]
        until = self.model.history.last_ms if until_now else None
        return self.model.history.series(order, self.chart_top_n, until)

    def results(self) -> dict[str, Any]:
        """Headline figures of the run, JSON-ready."""
        status = self.status()
        view = self.state.games.get(self.game_id)
        client = self.client
        return {
            "gameId": self.game_id,
            "asPublic": self.as_public,
            "nickname": None if self.as_public else self.nickname,
            "runS": (
                self.stopped_at - self.started_at
                if self.stopped_at is not None and self.started_at is not None
                else None
            ),
            "messages": sum(self.model.counts.values()),
            "messagesByType": dict(self.model.counts),
            "events": sum(self.model.counts[k] for k in EVENT_MESSAGES),
            "eventsByType": dict(self.model.event_counts),
            "lastSeq": self.last_seq,
            "leaderboardSeq": view.leaderboard_seq if view else None,
            "leaderboard": self.leaderboard,
            "totalPlayers": self.total_players,
            "gameState": status.game_state,
            "winner": status.winner,
            "connected": self.connected_at_stop,
            "connections": status.connections,
            "reconnects": status.reconnects,
            "attempts": status.attempts,
            "lastError": status.last_error,
            "error": None if client is None or client.error is None else str(client.error),
            "feedLines": len(self.model.feed),
            "playersCharted": len(self.series()),
        }

    def figure(self) -> go.Figure:
        """A plain figure of points over time (for `save_figure` and the HTML report)."""
        who = "board" if self.as_public else f"player {self.nickname}"
        return points_figure(self.series(), f"Points over time, game {self.game_id} ({who})")

    def leaderboard_frame(self) -> Any:
        """The final leaderboard table as a pandas DataFrame (plain output for the report)."""
        import pandas as pd

        return pd.DataFrame(self.rows(), columns=["rank", "nickname", "points", "marks", "you"])

    async def compare_with_server(self) -> dict[str, Any]:
        """Fetch the server's leaderboard and game now and compare them with what was seen.

        Uses the monitor's own token (a board's public token, a player's user token).

        Returns:
            `serverLeaderboard`, `serverSeq`, `serverState`, `leaderboardMatches`, `seqMatches`.
        """
        token = await self._read_token()
        async with BingoHttp(self.http_url, token=token) as http:
            board = await http.leaderboard(self.game_id)
            game = await http.game(self.game_id)
        rows = list(board["leaderboard"])
        return {
            "serverLeaderboard": rows,
            "serverSeq": game.get("seq"),
            "serverState": game.get("state"),
            "leaderboardMatches": leaderboards_match(self.leaderboard, rows),
            "seqMatches": self.last_seq == game.get("seq"),
        }

    async def _read_token(self) -> str:
        if self.joined is not None:
            return str(self.joined["token"])
        async with BingoHttp(self.http_url, cache=self.cache) as http:
            return (await http.public_token()).token

    def _title(self) -> str:
        who = "public board" if self.as_public else f"player {self.nickname}"
        game = self.game_id or "the current game"
        return f"Live monitor: {game} as {who}"
