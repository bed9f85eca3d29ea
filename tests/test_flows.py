"""The report, update and reflection flows end to end through the core, with the
domain events they leave in the outbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app import Harbour
from bot.models import Confirmation, NoticeLevel, SummaryCard
from bot.reports import Audience, EventKind, RiskLevel
from bot.store import Store
from flows import FLOWS, REPORT
from flows.reflection import PAGES as REFLECTION_PAGES
from tests.conftest import TYPED_REPORT, Chat, Clock, type_report


async def file_report(chat: Chat, answers: list[tuple[str, str]] = TYPED_REPORT) -> str:
    await chat.command("report")
    await type_report(chat, answers)
    assert isinstance(chat.asking(), Confirmation)
    await chat.say("yes")
    [ref] = [w for w in chat.text().replace(".", " ").split() if w.startswith("HB-")][:1]
    return ref


async def test_full_report_typed(chat: Chat, store: Store) -> None:
    await chat.command("report")
    await type_report(chat)
    summary = next(r for r in chat.replies if isinstance(r, SummaryCard))
    values = {f.label: f.value for f in summary.fields}
    assert values["What has been happening?"].startswith("Threatening messages")
    assert values["Which details were posted?"] == "Where I live, My children's school"
    assert values["How worried are you about this?"] == "4 — very worried"
    assert values["Is there anything you'd like to add in your own words?"] == (
        "Posts naming me and my street."
    )
    await chat.say("yes")
    assert "HB-2026-0001" in chat.text()
    report = await store.get_report("HB-2026-0001")
    assert report is not None
    assert report.reporter == chat.person
    assert report.answers.links == ["https://www.facebook.com/some.post/123"]
    assert report.answers.affected == ["me", "children"]
    assert report.answers.poster == "relative"
    assert report.answers.worry == 4
    assert report.answers.audience is Audience.MANAGER_AND_LEADS
    # Threats together with home and school details exposed.
    assert report.risk is RiskLevel.CRITICAL
    # Critical: the reflective questions are offered for later, not asked now,
    # and nothing is left waiting (no draft, no question).
    assert "reflect HB-" in chat.text() and "no hurry" in chat.text()
    assert await store.load_session(chat.person) is None


async def test_full_report_by_forms(chat: Chat, store: Store) -> None:
    await chat.command("report")
    pages = [
        {"danger": "no"},
        {"kinds": ["complaints"]},
        {
            "platforms": ["facebook", "reddit"],
            "links": "https://reddit.com/r/x/1",
            "evidence": None,
        },
        {"started": "this_month", "frequency": "once"},
        {"affected": ["me"], "poster": "public"},
        {"worry": "2", "description": ""},
        {"audience": "leads_only"},
    ]
    for values in pages:
        assert chat.form().focus in values
        await chat.submit(values)
    await chat.choose("yes")
    report = await store.get_report("HB-2026-0001")
    assert report is not None
    assert report.risk is RiskLevel.LOW
    assert report.answers.platforms == ["facebook", "reddit"]
    assert report.answers.description is None
    assert "Your manager won't be told" in chat.text()


async def test_review_go_back_changes_an_answer(chat: Chat, store: Store) -> None:
    await chat.command("report")
    await type_report(chat)
    await chat.say("back")
    assert chat.focus() == "audience"
    await chat.say("3")
    await chat.choose("yes")
    report = await store.get_report("HB-2026-0001")
    assert report is not None and report.answers.audience is Audience.ONLY_ME
    assert "kept as your own record" in chat.text()


async def test_immediate_danger_first(chat: Chat, store: Store) -> None:
    await chat.command("report")
    await chat.say("yes")
    danger = [n for n in chat.notices() if n.level is NoticeLevel.DANGER]
    assert danger and "112 or 999" in danger[0].text
    assert chat.replies.index(danger[0]) < chat.replies.index(chat.form())
    [event] = await store.pending_events()
    assert event.kind is EventKind.RISK_CRITICAL
    assert event.reference is None and event.source == "draft"
    # Going back and answering yes again does not alert twice.
    await chat.say("back")
    await chat.say("yes")
    assert len(await store.pending_events()) == 1
    answers = [("danger", "yes"), ("danger_manager", "1"), *TYPED_REPORT[1:]]
    await chat.say("back")
    ref = await file_report(chat, answers)
    events = await store.pending_events()
    assert [e.kind for e in events] == [
        EventKind.RISK_CRITICAL,
        EventKind.DANGER_MANAGER,
        EventKind.REPORT_FILED,
    ]
    assert events[2].reference == ref and events[2].risk is RiskLevel.CRITICAL
    report = await store.get_report(ref)
    assert report is not None and report.draft_id == events[0].draft_id  # the same draft


async def test_filing_emits_report_filed_and_critical_once(chat: Chat, store: Store) -> None:
    ref = await file_report(chat)
    kinds = [(e.kind, e.reference) for e in await store.pending_events()]
    assert kinds == [(EventKind.REPORT_FILED, ref), (EventKind.RISK_CRITICAL, ref)]


async def test_events_carry_no_incident_content(chat: Chat, store: Store) -> None:
    await file_report(chat)
    for event in await store.pending_events():
        dumped = event.model_dump_json()
        for secret in ("street", "facebook.com", "screenshots"):
            assert secret not in dumped


async def test_references_count_up_per_year(chat: Chat, clock: Clock) -> None:
    assert await file_report(chat) == "HB-2026-0001"
    await chat.say("no")
    assert await file_report(chat) == "HB-2026-0002"
    clock.now = clock.now.replace(year=2027)
    await chat.say("no")
    assert await file_report(chat) == "HB-2027-0001"


async def test_mine_lists_own_reports_only(harbour: Harbour) -> None:
    alice, bob = Chat(harbour, "alice"), Chat(harbour, "bob")
    await alice.command("mine")
    assert "haven't filed any reports" in alice.text()
    await file_report(alice)
    await bob.command("mine")
    assert "haven't filed any reports" in bob.text()
    await alice.command("mine")
    card = next(r for r in alice.replies if isinstance(r, SummaryCard))
    assert [f.label for f in card.fields] == ["HB-2026-0001"]
    assert "critical risk · open" in card.fields[0].value


async def test_mine_during_a_report_keeps_the_question(chat: Chat) -> None:
    await file_report(chat)
    await chat.say("no")
    await chat.command("report")
    await chat.say("no")
    await chat.say("mine")
    assert any(isinstance(r, SummaryCard) for r in chat.replies)
    assert chat.focus() == "kinds"


LOW = [
    ("danger", "no"),
    ("kinds", "complaints"),
    *[(s, "skip") for s in ("platforms", "links", "evidence", "started", "frequency")],
    *[(s, "skip") for s in ("affected", "poster", "worry", "description")],
    ("audience", "1"),
]
"""A low-risk report: the reflective questions are offered straight after it."""


async def test_reflection_after_report(chat: Chat, store: Store) -> None:
    ref = await file_report(chat, LOW)
    await chat.choose("now")
    assert ref in chat.text()
    assert chat.form().id == "concern"
    await chat.submit(
        {"concerns": "My children's safety", "concern_list": None, "impacted": "Family"}
    )
    await chat.say("skip")  # one question at a time works too
    await chat.say("The family are under strain")
    await chat.say("skip")
    assert chat.form().id == "practice"
    await chat.submit({"work_impact": "", "poster_context": "", "culture_age": "Maybe"})
    await chat.say("yes")
    summary = next(r for r in chat.replies if isinstance(r, SummaryCard))
    assert summary.title == "Your reflections"
    assert "Burns et al. (2021)" in summary.footer
    report = await store.get_report(ref)
    assert report is not None and report.reflection is not None
    assert report.reflection.concerns == "My children's safety"
    assert report.reflection.implications is None
    assert report.reflection.best_interests == "The family are under strain"
    assert report.reflection.culture_age == "Maybe"


async def test_reflection_has_nine_optional_questions_in_short_pages() -> None:
    steps = [s for p in REFLECTION_PAGES for s in p.steps]
    assert len(steps) == 9
    assert not any(s.required for s in steps)
    assert all(len(p.steps) <= 3 for p in REFLECTION_PAGES)


async def test_reflect_later_by_reference_shows_saved_answers(chat: Chat, store: Store) -> None:
    ref = await file_report(chat, LOW)
    await chat.choose("later")
    assert f"reflect {ref}" in chat.text()
    await chat.command("reflect", ref.lower())
    await chat.say("Worried about home")
    for _ in range(8):
        await chat.say("skip")
    await chat.say("yes")
    await chat.command("reflect", ref)
    assert chat.form().questions[0].value == "Worried about home"


async def test_reflect_someone_elses_report_is_not_found(harbour: Harbour) -> None:
    alice, bob = Chat(harbour, "alice"), Chat(harbour, "bob")
    ref = await file_report(alice)
    await bob.command("reflect", ref)
    assert "couldn't find a report of yours" in bob.text()
    await bob.command("update", ref)
    assert "couldn't find a report of yours" in bob.text()
    await bob.command("update", "HB-2026-9999")
    assert "couldn't find a report of yours" in bob.text()


async def test_update_adds_to_report_and_can_raise_risk(chat: Chat, store: Store) -> None:
    low = [("danger", "no"), ("kinds", "complaints")] + [
        (step, "skip") for step in ("platforms", "links", "evidence", "started", "frequency")
    ]
    low += [("affected", "skip"), ("poster", "skip"), ("worry", "skip"), ("description", "skip")]
    low += [("audience", "1")]
    ref = await file_report(chat, low)
    report = await store.get_report(ref)
    assert report is not None and report.risk is RiskLevel.LOW
    await chat.choose("later")
    await chat.command("update")  # one report: no need to pick
    assert ref in chat.text()
    await chat.say("1, 3")
    await chat.say("home")
    for _ in range(5):
        await chat.say("skip")
    await chat.share("screenshot.png")
    assert "Kept 1 file" in chat.text()
    await chat.say("yes")
    assert f"Added to {ref}" in chat.text()
    report = await store.get_report(ref)
    assert report is not None
    assert report.risk is RiskLevel.CRITICAL
    [update] = report.updates
    assert update.answers.details_exposed == ["home"]
    assert update.answers.attachments == ["screenshot.png https://files.example.org/screenshot.png"]
    kinds = [e.kind for e in await store.pending_events()]
    assert kinds[-2:] == [EventKind.REPORT_UPDATED, EventKind.RISK_CRITICAL]


async def test_update_asks_which_report_when_several(chat: Chat) -> None:
    first = await file_report(chat)
    await chat.say("no")
    second = await file_report(chat)
    await chat.say("no")
    await chat.command("update")
    picker = chat.asking()
    assert picker.id == "pick-report"
    assert [o.value for o in picker.options] == [second, first]  # type: ignore[union-attr]
    await chat.say("2")
    assert first in chat.text()
    assert chat.form().id == "what"


async def test_starting_another_flow_pauses_the_current_one(chat: Chat) -> None:
    ref = await file_report(chat)
    await chat.say("no")
    await chat.command("report")
    await chat.say("no")
    await chat.command("reflect", ref)
    assert "saved your unfinished report as a draft" in chat.text().lower()
    assert chat.form().id == "concern"
    await chat.say("pause")
    await chat.command("report")
    await chat.choose("resume")
    assert chat.focus() == "kinds"


async def test_files_outside_a_flow_get_a_way_forward(chat: Chat) -> None:
    await chat.share("photo.jpg")
    assert "start a report" in chat.text()


async def test_files_during_a_report_are_kept_as_evidence(chat: Chat, store: Store) -> None:
    await chat.command("report")
    await chat.say("no")
    await chat.share("a.png", "b.png")
    assert chat.focus() == "kinds"
    session = await store.load_session(chat.person)
    assert session is not None
    assert len(session.drafts["report"].answers["attachments"]) == 2


async def test_hello_help_and_unknown_always_offer_a_way_forward(chat: Chat) -> None:
    for text in ("hi", "HELLO", "help", "HELP"):
        await chat.say(text)
        assert "report" in chat.text() and "mine" in chat.text(), text
    for text in ("asdfgh", "🙂", "cancel"):  # unclear: a warm line and three next steps
        await chat.say(text)
        assert "not sure I understood" in chat.text(), text
        labels = [o.label for o in chat.asking().options]  # type: ignore[union-attr]
        assert labels == ["Report what happened", "See guidance", "Find someone to talk to"]
    await chat.command("frobnicate")
    assert "not sure I understood" in chat.text()
    assert "frobnicate" not in chat.text()


async def test_mention_text_is_kept_verbatim_for_renderers_to_escape(
    chat: Chat, store: Store
) -> None:
    answers = [
        (s, "<!channel> <@U123> <https://evil.example|click>" if s == "description" else a)
        for s, a in TYPED_REPORT
    ]
    ref = await file_report(chat, answers)
    report = await store.get_report(ref)
    assert report is not None
    assert report.answers.description == "<!channel> <@U123> <https://evil.example|click>"


def test_every_flow_diagram_in_the_docs_is_current() -> None:
    docs = (Path(__file__).parent.parent / "flows" / "README.md").read_text(encoding="utf-8")
    for flow in FLOWS.values():
        diagram = flow.mermaid()
        for page in flow.pages:
            assert f"{page.id}[" in diagram
        assert diagram in docs, f"regenerate flows/README.md: {flow.id} changed"


def test_two_flows_with_one_id_are_refused() -> None:
    from flows import _by_id

    with pytest.raises(ValueError, match="two flows have the id 'report'"):
        _by_id(REPORT, REPORT)


def test_the_route_table_is_checked_when_built() -> None:
    from dataclasses import replace

    from bot.conversation.routes import ROUTES, RouteError
    from bot.conversation.session import Ask

    with pytest.raises(RouteError, match="no handler"):
        replace(ROUTES, words={**ROUTES.words, "frob": "frobnicate"})
    with pytest.raises(RouteError, match="questions Harbour asks with no handler"):
        replace(ROUTES, answers={k: v for k, v in ROUTES.answers.items() if k is not Ask.RESUME})
    with pytest.raises(RouteError, match="flows with no finisher"):
        replace(ROUTES, finishers={k: v for k, v in ROUTES.finishers.items() if k != REPORT.id})
    with pytest.raises(RouteError, match="hides"):
        replace(ROUTES, buttons={**ROUTES.buttons, "case": ROUTES.buttons["case:"]})
