"""A page answered in a modal: a bad value keeps the modal open with the
message beside its field (`response_action: errors`), nothing lost."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.slack import render
from bot.models import PersonRef, Platform
from tests.fakes.slack import TEAM, FakeSlack, interaction_body
from tests.test_slack import FORM, REPORT_PAGES, SlackHarness, _state_for, running

ALICE = "U0ALICE"
LINKS_PAGE = 3  # platforms, links and evidence


@pytest.fixture
async def h() -> AsyncIterator[SlackHarness]:
    fake = FakeSlack()
    fake.reject_inputs = True  # every page is answered in a modal
    async with running(SlackHarness, fake) as harness:
        yield harness


async def open_modal(h: SlackHarness) -> dict[str, Any]:
    opened = len(h.fake.called("views.open"))
    await h.press(ALICE, render.ACTION_OPEN, message=h.last_message(ALICE))
    for _ in range(100):  # the modal opens outside the work queue
        if len(h.fake.called("views.open")) > opened:
            break
        await asyncio.sleep(0.01)
    view: dict[str, Any] = h.fake.called("views.open")[-1]["view"]
    return view


async def submit(h: SlackHarness, view: dict[str, Any], answers: dict[str, Any]) -> Any:
    submission = {
        "type": "view_submission",
        "user": {"id": ALICE, "team_id": TEAM},
        "team": {"id": TEAM},
        "view": {
            "type": "modal",
            "id": "V1",
            "hash": f"h{len(h.fake.calls)}",
            "callback_id": render.MODAL_CALLBACK,
            "private_metadata": view["private_metadata"],
            "state": {"values": _state_for(view["blocks"], answers)},
        },
    }
    response = await h.post(interaction_body(submission), FORM)
    await h.slack.drain()
    return response


async def test_a_bad_link_keeps_the_modal_open_with_the_message_beside_it(
    h: SlackHarness,
) -> None:
    await h.command(ALICE)
    for page in REPORT_PAGES[:LINKS_PAGE]:
        await submit(h, await open_modal(h), page)
    view = await open_modal(h)
    posts_before = len(h.fake.posts())
    bad = {**REPORT_PAGES[LINKS_PAGE], "links": "just some words"}
    response = await submit(h, view, bad)

    assert response.status == 200
    answer = await response.json()
    assert answer["response_action"] == "errors"
    [(block_id, message)] = answer["errors"].items()
    links_block = next(b for b in view["blocks"] if b["block_id"].endswith("|links"))
    assert block_id == links_block["block_id"]
    assert "doesn't look like a web address" in message
    assert len(h.fake.posts()) == posts_before  # nothing new in the DM: the modal is open
    session = await h.store.load_session(
        PersonRef(platform=Platform.SLACK, workspace=TEAM, user=ALICE)
    )
    assert session is not None and session.active_draft is not None
    assert session.active_draft.step == "platforms"  # still on this page

    response = await submit(h, view, REPORT_PAGES[LINKS_PAGE])  # corrected
    assert response.status == 200 and await response.text() == ""
    session = await h.store.load_session(
        PersonRef(platform=Platform.SLACK, workspace=TEAM, user=ALICE)
    )
    assert session is not None and session.active_draft is not None
    assert session.active_draft.answers.get("links") == ["https://facebook.com/p/1"]


async def test_a_page_that_is_no_longer_current_is_left_to_the_core(h: SlackHarness) -> None:
    await h.command(ALICE)
    view = await open_modal(h)
    await submit(h, view, REPORT_PAGES[0])
    response = await submit(h, view, REPORT_PAGES[0])  # the same page, sent twice
    assert response.status == 200 and await response.text() == ""
