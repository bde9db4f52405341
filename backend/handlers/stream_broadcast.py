"""Broadcasters: DynamoDB Streams batches of new events -> coalesced fan-out, one per audience.

Two entry points, one function each, so each audience has its own event source mapping and
batching window (boards: a fraction of a second; players: seconds). See `services.fanout`.
A third, `post_players_handler`, posts one game's player views when the players' broadcaster
hands each game to an invocation of its own (`fanout.dispatch`, `BINGO_POST_FUNCTION`).
"""

from __future__ import annotations

import logging
from typing import Any

from backend import wiring
from backend.adapters.dynamodb_keys import parse_event_item_keys
from backend.domain.model import Audience
from backend.handlers.events import StreamBatch
from backend.services import fanout

log = logging.getLogger(__name__)


def _broadcast(event: dict[str, Any], audience: Audience) -> dict[str, Any]:
    batch = StreamBatch.from_event(event, parse_event_item_keys)
    deps = wiring.deps()
    report = (
        fanout.dispatch(deps, audience, batch.seq_ranges)
        if audience is Audience.PLAYER
        else fanout.fan_out(deps, audience, batch.seq_ranges)
    )
    log.info(
        "%s broadcast: %d records (%d ignored), %d games, %d posts, %d gone",
        audience,
        batch.records,
        batch.ignored,
        report.games,
        report.posts,
        report.gone,
    )
    # A partial batch failure (FunctionResponseTypes ReportBatchItemFailures): the stream
    # resumes from the earliest reported record, so the failed games' news is delivered again
    # (and others' after it: at-least-once, clients drop repeats by seq).
    # https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-batchfailurereporting.html
    # A failed post is the gateway's concern (logged), never a reason to resend.
    failures = [
        {"itemIdentifier": batch.first_records[game]}
        for game in report.failed_games
        if game in batch.first_records
    ]
    return {"batchItemFailures": failures}


def boards_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Send a window's news to the public boards subscribed to each game."""
    return _broadcast(event, Audience.BOARD)


def players_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Send a window's news to the players subscribed to each game."""
    return _broadcast(event, Audience.PLAYER)


def post_players_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Post one game's window of news to its players, or one part of them (a posting job).

    Invoked asynchronously (`Event`) by `players_handler`, or by a big game's first job for
    its other parts. A store failure raises, so Lambda retries the job (twice by default); a
    malformed job is logged and dropped, since retrying cannot mend it.
    """
    try:
        job = fanout.PostJob.parse(event)
    except ValueError as exc:
        log.error("dropped a malformed posting job: %s", exc)
        return {"games": 0, "posts": 0, "error": str(exc)}
    if job is None:
        log.error("dropped an event that is not a posting job: %s", sorted(event)[:5])
        return {"games": 0, "posts": 0, "error": "not a posting job"}
    report = fanout.run_post_job(wiring.deps(), job)
    log.info(
        "%s posting job of game %s (part %d of %d): %d posts, %d gone",
        job.audience,
        job.game_id,
        job.part + 1,
        job.parts,
        report.posts,
        report.gone,
    )
    return {"games": report.games, "posts": report.posts, "gone": report.gone}
