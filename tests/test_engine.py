"""The flow engine: back, skip, pause, resume, cancel, help, validation, stale
answers, duplicate events and concurrent events, fed as core events."""

from __future__ import annotations

import asyncio
import unicodedata
from datetime import UTC, datetime

import pytest
from pydantic import BaseModel

from bot import engine
from bot.app import Harbour
from bot.flow import REVIEW, AnswerKind, Flow, FlowContext, Page, Step
from bot.models import (
    ChoiceMade,
    Confirmation,
    Control,
    ControlAction,
    Form,
    NoticeLevel,
    Option,
    SummaryCard,
    TextMessage,
)
from bot.store import Store
from bot.validation import clean_text
from tests.conftest import Chat, person

CTX = FlowContext(emergency_guidance="Call 112.")
NOW = datetime(2026, 1, 1, tzinfo=UTC)


class Answers(BaseModel):
    a: str | None = None
    b: str | None = None


def _summary(answers: Answers, ctx: FlowContext) -> SummaryCard:
    return SummaryCard(title="s", fields=())


def _flow(*pages: Page[Answers]) -> Flow[Answers]:
    return Flow(id="t", title="T", pages=pages, answers=Answers, summary=_summary)


def _step(step_id: str, field: str = "a", **kw: object) -> Step[Answers]:
    return Step(id=step_id, prompt=step_id, kind=AnswerKind.TEXT, field=field, **kw)  # type: ignore[arg-type]


# ------------------------------------------------------------------ flows as data


def test_flow_rejects_duplicate_step_ids() -> None:
    with pytest.raises(ValueError, match="used twice"):
        _flow(Page(id="p", title="P", steps=(_step("x"), _step("x", "b"))))


def test_flow_rejects_unknown_field() -> None:
    with pytest.raises(ValueError, match="unknown field 'nope'"):
        _flow(Page(id="p", title="P", steps=(_step("x", "nope"),)))


def test_flow_rejects_choice_without_options_and_reserved_ids() -> None:
    bad = Step[Answers](id="c", prompt="c", kind=AnswerKind.CHOICE, field="a")
    with pytest.raises(ValueError, match="has no options"):
        _flow(Page(id="p", title="P", steps=(bad,)))
    with pytest.raises(ValueError, match="used twice"):
        _flow(Page(id="p", title="P", steps=(_step(REVIEW),)))


def test_flow_rejects_repeated_option_and_empty_page() -> None:
    twice = Step[Answers](
        id="c",
        prompt="c",
        kind=AnswerKind.CHOICE,
        field="a",
        options=(Option(value="x", label="X"), Option(value="x", label="Y")),
    )
    with pytest.raises(ValueError, match="repeats an option"):
        _flow(Page(id="p", title="P", steps=(twice,)))
    with pytest.raises(ValueError, match="no steps"):
        _flow(Page(id="p", title="P", steps=()))


def test_draft_saved_on_a_step_that_no_longer_exists_resumes_at_first_unanswered() -> None:
    flow = _flow(Page(id="p", title="P", steps=(_step("x"), _step("y", "b"))))
    draft = engine.Draft(
        id="d", flow="t", step="removed-step", answers={"a": "kept"}, started_at=NOW, updated_at=NOW
    )
    [form] = engine.prompt(flow, draft, CTX)
    assert isinstance(form, Form)
    assert form.focus == "y"
    assert form.questions[0].value == "kept"


def test_pure_steps_do_not_mutate_their_input() -> None:
    flow = _flow(Page(id="p", title="P", steps=(_step("x"), _step("y", "b"))))
    started = engine.start(flow, draft_id="d", now=NOW, ctx=CTX)
    before = started.draft.model_copy(deep=True)
    moved = engine.advance(
        flow,
        started.draft,
        TextMessage(event_id="e", person=person(), text="hello"),
        now=NOW,
        ctx=CTX,
    )
    assert started.draft == before
    assert moved.draft.answers == {"a": "hello"}
    assert moved.draft.step == "y"


# ------------------------------------------------------------------ navigation


async def test_back_returns_to_previous_question_with_answer_kept(chat: Chat) -> None:
    await chat.command("report")
    await chat.say("no")
    await chat.say("1")
    assert chat.focus() == "platforms"
    await chat.say("back")
    assert chat.focus() == "kinds"
    [question] = chat.form().questions
    assert question.value == ("threatening_messages",)
    await chat.say("back")
    assert chat.focus() == "danger"
    await chat.say("back")
    assert "first question" in chat.text()
    assert chat.focus() == "danger"


async def test_back_by_page_goes_to_start_of_previous_page(chat: Chat) -> None:
    await chat.command("report")
    await chat.submit({"danger": "no"})
    await chat.submit({"kinds": ["stalking"]})
    await chat.submit({"platforms": ["instagram"], "links": "", "evidence": ""})
    assert chat.form().id == "when"
    await chat.control(ControlAction.BACK, by_page=True)
    assert chat.form().id == "where"
    assert chat.focus() == "platforms"
    await chat.control(ControlAction.BACK, by_page=True)
    assert chat.form().id == "what"


async def test_back_skips_pages_that_no_longer_apply(chat: Chat) -> None:
    await chat.command("report")
    await chat.say("no")
    await chat.say("3")  # personal details -> the "exposed" page applies
    await chat.say("1")
    assert chat.focus() == "platforms"
    await chat.say("back")
    await chat.say("back")
    assert chat.focus() == "kinds"
    await chat.say("1")  # no longer personal details
    assert chat.focus() == "platforms"
    await chat.say("back")
    assert chat.focus() == "kinds"


async def test_skip_optional_and_refuse_skip_of_required(chat: Chat) -> None:
    await chat.command("report")
    await chat.say("skip")
    assert chat.focus() == "danger"
    assert chat.notices()[0].level is NoticeLevel.WARNING
    assert "can't be skipped" in chat.text()
    await chat.say("no")
    await chat.say("2")
    await chat.control(ControlAction.SKIP)
    assert chat.focus() == "links"


async def test_help_explains_the_step_and_keeps_position(chat: Chat) -> None:
    await chat.command("report")
    await chat.say("no")
    await chat.say("help")
    assert chat.focus() == "kinds"
    assert "Several may apply" in chat.text()
    assert "pause" in chat.text()


async def test_pause_keeps_draft_and_report_command_offers_it(chat: Chat) -> None:
    await chat.command("report")
    await chat.say("no")
    await chat.say("2")
    await chat.say("pause")
    assert "saved" in chat.text()
    await chat.say("what now")  # not in a flow any more: a way forward, no answer taken
    assert "not sure I understood" in chat.text()
    await chat.say("help")
    assert "paused draft" in chat.text()
    await chat.command("report")
    offer = chat.asking()
    assert offer.id == "resume"
    await chat.choose("resume")
    assert chat.focus() == "platforms"
    await chat.say("back")
    assert chat.form().questions[0].value == ("stalking",)


async def test_restart_discards_paused_draft(chat: Chat) -> None:
    await chat.command("report")
    await chat.say("no")
    await chat.say("pause")
    await chat.command("report")
    await chat.say("2")  # "Start a new report"
    assert chat.focus() == "danger"
    assert chat.form().questions[0].value == ()


async def test_cancel_asks_then_discards(chat: Chat, store: Store) -> None:
    await chat.command("report")
    await chat.say("no")
    await chat.say("cancel")
    confirm = chat.asking()
    assert isinstance(confirm, Confirmation) and confirm.danger
    await chat.say("no")
    assert chat.focus() == "kinds"
    await chat.say("cancel")
    await chat.choose("yes")
    assert "Discarded" in chat.text()
    assert await store.load_session(chat.person) is None
    await chat.command("report")
    assert chat.focus() == "danger"  # a fresh report: nothing offered to resume


async def test_cancel_confirmation_ignores_unclear_answer(chat: Chat) -> None:
    await chat.command("report")
    await chat.say("cancel")
    await chat.say("hmm")
    assert isinstance(chat.asking(), Confirmation)
    await chat.say("back")
    assert chat.focus() == "danger"


# ------------------------------------------------------------------ validation


async def test_invalid_choice_is_reasked_kindly(chat: Chat) -> None:
    await chat.command("report")
    await chat.say("maybe")
    assert chat.focus() == "danger"
    [notice] = chat.notices()
    assert notice.level is NoticeLevel.WARNING
    assert "number or name" in notice.text
    await chat.say("no")
    await chat.say("1, 42")
    assert chat.focus() == "kinds"
    assert "couldn't match" in chat.text()


async def test_empty_answer_to_required_question(chat: Chat) -> None:
    await chat.command("report")
    await chat.say("   ")
    assert chat.focus() == "danger"
    assert "needs an answer" in chat.text()


async def test_non_url_where_link_asked(chat: Chat) -> None:
    await chat.command("report")
    for text in ("no", "1", "1"):
        await chat.say(text)
    assert chat.focus() == "links"
    await chat.say("javascript:alert(1)")
    assert chat.focus() == "links"
    assert "doesn't look like a web address" in chat.text()
    await chat.say("https://ok.example.com/a not-a-link")
    assert "Item 2" in chat.text()
    await chat.say("www.facebook.com/p/1, https://x.com/a/status/2 https://x.com/a/status/2")
    assert chat.focus() == "evidence"
    await chat.say("back")
    assert chat.form().focused.value == "https://www.facebook.com/p/1\nhttps://x.com/a/status/2"


async def test_answers_past_the_limit_are_refused_and_nothing_is_lost(chat: Chat) -> None:
    await chat.command("report")
    for text in ("no", "1", "1", "skip", "skip", "1", "1", "1", "1", "3"):
        await chat.say(text)
    assert chat.focus() == "description"
    await chat.say("x" * 12_000)
    assert chat.focus() == "description"
    assert "12,000 characters" in chat.text() and "5,000" in chat.text()
    await chat.say("y" * 5_000)
    assert chat.focus() == "audience"
    await chat.say("back")
    assert chat.form().focused.value == "y" * 5_000
    assert chat.form().questions[0].value == ("3",)  # the earlier answer on the page is kept


async def test_unicode_emoji_rtl_kept_and_control_characters_dropped(chat: Chat) -> None:
    await chat.command("report")
    for text in ("no", "1", "1", "skip"):
        await chat.say(text)
    assert chat.focus() == "evidence"
    await chat.say("لقطات شاشة 📸 שלום\x00\x1b[31m e\u0301")
    await chat.say("back")
    assert chat.form().focused.value == "لقطات شاشة 📸 שלום[31m é"


async def test_form_submission_with_errors_keeps_the_valid_answers(chat: Chat) -> None:
    await chat.command("report")
    await chat.submit({"danger": "no"})
    await chat.submit({"kinds": ["threats"]})
    await chat.submit({"platforms": ["x"], "links": "not a link", "evidence": "kept"})
    assert chat.form().id == "where"
    assert "Some answers need another look" in chat.text()
    values = {q.id: q.value for q in chat.form().questions}
    assert values["platforms"] == ("x",)
    assert values["evidence"] == "kept"
    await chat.submit({"platforms": ["x"], "links": "https://x.com/p/1", "evidence": "kept"})
    assert chat.form().id == "when"


async def test_form_missing_required_answer(chat: Chat) -> None:
    await chat.command("report")
    await chat.submit({"danger": None})
    assert chat.form().id == "safety"
    assert "needs an answer" in chat.text()


# ------------------------------------------------------------------ stale answers


async def test_answer_to_a_question_no_longer_current(chat: Chat) -> None:
    await chat.command("report")
    old = chat.form()
    await chat.say("no")
    await chat.say("1")
    before = chat.focus()
    await chat.send_event(
        ChoiceMade(
            event_id="late-click",
            person=chat.person,
            question=old.focus,
            values=("yes",),
            token=old.token,
        )
    )
    assert "already been answered" in chat.text()
    assert chat.focus() == before
    await chat.say("back")
    await chat.say("back")
    assert chat.form().questions[0].value == ("no",)


async def test_stale_form_is_refused(chat: Chat) -> None:
    await chat.command("report")
    first = chat.form()
    await chat.submit({"danger": "no"})
    await chat.submit({"danger": "yes"}, token=first.token)
    assert "already been answered" in chat.text()
    assert chat.form().id == "what"


async def test_button_from_a_finished_conversation(chat: Chat) -> None:
    await chat.command("report")
    await chat.say("cancel")
    await chat.say("yes")
    await chat.choose("no", question="danger", token="gone.3")
    assert "already finished" in chat.text()


# ------------------------------------------------------------------ one event at a time


async def test_duplicate_delivery_is_ignored(chat: Chat) -> None:
    await chat.command("report")
    event = TextMessage(event_id="slack-retry-1", person=chat.person, text="no")
    first = await chat.harbour.handle(event)
    assert first
    again = await chat.harbour.handle(event)
    assert again == []
    await chat.say("1")
    assert chat.focus() == "platforms"  # "no" was applied once, "1" answered kinds


async def test_two_events_for_one_conversation_at_once(harbour: Harbour, store: Store) -> None:
    alice = Chat(harbour)
    await alice.command("report")
    token = alice.form().token
    clicks = [
        ChoiceMade(
            event_id=f"click-{i}",
            person=alice.person,
            question="danger",
            values=("no",),
            token=token,
        )
        for i in range(2)
    ]
    results = await asyncio.gather(*(harbour.handle(c) for c in clicks))
    stale = [
        r for r in results if any("already been answered" in getattr(x, "text", "") for x in r)
    ]
    assert len(stale) == 1  # the double click did the work once
    session = await store.load_session(alice.person)
    assert session is not None
    draft = session.drafts["report"]
    assert draft.step == "kinds"
    assert draft.trail == ["danger"]


async def test_different_people_are_independent(harbour: Harbour) -> None:
    alice, bob = Chat(harbour, "alice"), Chat(harbour, "bob")
    await asyncio.gather(alice.command("report"), bob.command("report"))
    await asyncio.gather(alice.say("no"), bob.say("yes"))
    assert alice.focus() == "kinds"
    assert bob.focus() == "danger_manager"
    assert not any(n.level is NoticeLevel.DANGER for n in alice.notices())
    assert any(n.level is NoticeLevel.DANGER for n in bob.notices())


async def test_state_is_saved_before_the_next_question_is_returned(
    harbour: Harbour, store: Store
) -> None:
    alice = Chat(harbour)
    await alice.command("report")
    await alice.say("no")
    session = await store.load_session(alice.person)
    assert session is not None
    assert session.drafts["report"].answers["in_danger"] is False
    assert session.drafts["report"].step == alice.focus() == "kinds"


async def test_store_failure_gives_a_kind_error_and_loses_nothing(
    harbour: Harbour,
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    alice = Chat(harbour)
    await alice.command("report")
    await alice.say("no")

    content = "".join(["my sec", "ret description"])  # not a literal in the traceback

    async def broken(*args: object, **kwargs: object) -> None:
        raise OSError(f"disk full while saving {content!r}")

    monkeypatch.setattr(store, "save_session", broken)
    await alice.say("1")
    assert alice.notices()[0].level is NoticeLevel.ERROR
    assert "Everything before it is safe" in alice.text()
    assert content not in caplog.text  # the failure is logged without its message
    assert "OSError" in caplog.text
    monkeypatch.undo()
    await alice.command("report")
    assert alice.focus() == "kinds"


def test_clean_text_drops_exactly_the_control_characters_but_tab_and_newline() -> None:
    for code in range(0x110000):
        ch = chr(code)
        category = unicodedata.category(ch)
        control = (category == "Cc" and ch not in "\t\n\r") or category == "Cf"
        kept = clean_text(f"a{ch}b")
        assert (kept == "ab") == control, hex(code)
    assert clean_text("  one\r\ntwo\rthree\n\n\n\nfour\t \x00") == "one\ntwo\nthree\n\nfour"
    assert clean_text("e\u0301 🙂 שלום") == "é 🙂 שלום"


async def test_pause_keeps_what_was_ticked_on_the_page(chat: Chat) -> None:
    """Finding: Pause (and Help, Cancel -> keep going) lost what was ticked or
    typed on a page, though Pause said "saved, just as you left it"."""
    await chat.command("report")
    await chat.say("no")  # not in danger: the "what happened" page
    page = chat.form()
    await chat.send_event(
        Control(
            event_id="pause-with-page",
            person=chat.person,
            action=ControlAction.PAUSE,
            token=page.token,
            by_page=True,
            values={"kinds": ["stalking", "threats"], "details_exposed": ["not a detail"]},
        )
    )
    assert "saved" in chat.text()
    await chat.command("report")
    await chat.choose("resume")
    kinds = next(q for q in chat.form().questions if q.id == "kinds")
    assert kinds.value == ("stalking", "threats")  # kept; the unreadable answer simply not
