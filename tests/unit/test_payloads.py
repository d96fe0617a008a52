"""Every real webhook payload from octokit parses into the typed models; unknown events are ignored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.errors import EventError
from bot.events.payloads import MODELS, IssueCommentEvent, PullRequestEvent, WorkflowRunEvent, parse_event

EXAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "github" / "webhooks" / "examples"
FILES = sorted(EXAMPLES.glob("*/*.json"))
pytestmark = pytest.mark.skipif(not FILES, reason=f"no webhook examples at {EXAMPLES}")


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_real_payload_parses(path: Path) -> None:
    name = path.parent.name
    event = parse_event(name, json.loads(path.read_text()))
    if name in MODELS:
        assert isinstance(event, MODELS[name])
        assert event.repository.full_name
    else:
        assert event is None  # installation: not an event the bot acts on


def test_all_handled_events_have_examples() -> None:
    # workflow_dispatch has no octokit example; its model is tested with the bot's own dispatch.
    assert set(MODELS) - {"workflow_dispatch"} <= {p.parent.name for p in FILES}


def test_fields_the_bot_relies_on() -> None:
    comment = parse_event(
        "issue_comment", json.loads((EXAMPLES / "issue_comment" / "created.payload.json").read_text())
    )
    assert isinstance(comment, IssueCommentEvent) and comment.comment.id > 0 and comment.issue.number > 0
    pull = parse_event(
        "pull_request", json.loads((EXAMPLES / "pull_request" / "opened.with-null-body.json").read_text())
    )
    assert (
        isinstance(pull, PullRequestEvent)
        and pull.pull_request.body is None
        and not pull.pull_request.from_fork
    )
    run = parse_event(
        "workflow_run",
        json.loads((EXAMPLES / "workflow_run" / "completed.with-pull-requests.payload.json").read_text()),
    )
    assert isinstance(run, WorkflowRunEvent) and run.workflow_run.pull_requests


def test_unknown_events_are_none_and_broken_payloads_are_named() -> None:
    assert parse_event("deployment", {"anything": 1}) is None
    with pytest.raises(EventError, match=r"issue_comment payload: comment: Field required"):
        parse_event(
            "issue_comment",
            {
                "action": "created",
                "repository": {"full_name": "a/b"},
                "sender": {"login": "x"},
                "issue": {"number": 1, "title": "t", "user": {"login": "x"}},
            },
        )
    with pytest.raises(EventError, match="not a JSON object"):
        parse_event("issues", [1, 2])
