"""What a control keeps from a page: never a stale page, the review step or the cancel question."""

from __future__ import annotations

from bot.app import Harbour
from bot.models import Control, ControlAction
from bot.store import Store
from tests.test_review_conversation import Fresh


async def _at_what(harbour: Harbour) -> Fresh:
    chat = Fresh(harbour, "alice")
    await chat.command("report")
    await chat.say("no")
    return chat


async def test_stale_token_values_are_not_kept(harbour: Harbour, store: Store) -> None:
    chat = await _at_what(harbour)
    page = chat.form()
    await chat.send_event(
        Control(
            event_id="c1",
            person=chat.person,
            action=ControlAction.PAUSE,
            token=page.token.replace(".", ".9"),
            by_page=True,
            values={"kinds": ["threats"]},
        )
    )
    s = await store.load_session(chat.person)
    assert s is not None and "kinds" not in s.drafts["report"].answers


async def test_values_ignored_while_confirming_cancel(harbour: Harbour, store: Store) -> None:
    chat = await _at_what(harbour)
    page = chat.form()
    await chat.say("cancel")
    await chat.send_event(
        Control(
            event_id="c2",
            person=chat.person,
            action=ControlAction.HELP,
            token=page.token,
            by_page=True,
            values={"kinds": ["threats"]},
        )
    )
    s = await store.load_session(chat.person)
    assert s is not None and "kinds" not in s.drafts["report"].answers
