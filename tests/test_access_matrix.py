"""Who sees what, proven: every role x every action x every audience, through the core.

The expected table below is written out by hand from the rules in the README's
"Who sees what" section (it is not read from `bot.access`), and the README's
table is generated from it and checked to match. Each cell files a fresh
report, has one person try one thing the way a person would (a command, a
button press, a typed form) and checks what actually changed: an allowed
action took effect; a refused one changed nothing, was answered kindly, and
was written in the case's timeline without content. Someone who may not see
a case gets exactly the reply a wrong reference gets, so references can't be
probed. The same table is run through the Slack and Teams adapters in
tests/test_access_slack.py and tests/test_access_teams.py.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.access import Action
from bot.app import Harbour
from bot.cases import CASE_QUESTION
from bot.checkins import CHECKIN_QUESTION, TALK_QUESTION
from bot.config import Settings
from bot.directory import Directory
from bot.models import ChoiceMade, PersonRef, Platform
from bot.reports import (
    AbuseKind,
    Audience,
    CheckIn,
    Report,
    ReportAnswers,
    ReportStatus,
    RiskLevel,
    format_reference,
)
from bot.store import MemoryStore
from tests.conftest import Chat, Clock

ROOT = Path(__file__).resolve().parent.parent

ADMIN_COMMANDS = "admin"
"""Not an action on a case: changing the directory. It has its row all the same."""

ROLES = (
    "reporter",
    "lead who is the reporter",
    "her manager",
    "her manager, also a lead",
    "another manager",
    "safety lead",
    "administrator",
    "stranger",
)
AUDIENCES = ("manager and leads", "leads only", "only me", "immediate danger, only me")

CASE_TEAM = {
    Action.VIEW,
    Action.LIST,
    Action.ACKNOWLEDGE,
    Action.RECORD_ACTION,
    Action.NOTE,
    Action.CLOSE,
    Action.SCHEDULE_CHECKINS,
    Action.TAKE_TALK,
}
OWN = {
    Action.VIEW,
    Action.ANSWER_CHECKIN,
    Action.UPDATE,
    Action.REFLECT,
    Action.SHARE,
    Action.READ_AUDIT,
}
LEADS = CASE_TEAM | {Action.CLAIM, Action.READ_AUDIT}
NOTHING: set[Action | str] = set()


def _by_audience(
    manager_and_leads: set[Action | str] | set[Action],
    leads_only: set[Action | str] | set[Action],
    only_me: set[Action | str] | set[Action],
    danger: set[Action | str] | set[Action],
) -> dict[str, set[Action | str]]:
    cells = (manager_and_leads, leads_only, only_me, danger)
    return {a: set(c) for a, c in zip(AUDIENCES, cells, strict=True)}


def _everywhere(allowed: set[Action | str] | set[Action]) -> dict[str, set[Action | str]]:
    return _by_audience(allowed, allowed, allowed, allowed)


EXPECTED: dict[str, dict[str, set[Action | str]]] = {
    # Her own report, whatever she chose: never as the case team, even as a lead.
    "reporter": _everywhere(OWN),
    "lead who is the reporter": _everywhere(OWN),
    # The manager named at filing, only if she chose to tell her manager.
    "her manager": _by_audience(CASE_TEAM | {Action.ESCALATE}, NOTHING, NOTHING, NOTHING),
    # Kept out means kept out, even when that manager is also a safety lead.
    "her manager, also a lead": _by_audience(LEADS | {Action.ESCALATE}, NOTHING, NOTHING, NOTHING),
    "another manager": _everywhere(NOTHING),
    # The leads: unless she kept it as her own record, and always in danger.
    "safety lead": _by_audience(LEADS, LEADS, NOTHING, LEADS),
    # Administrators run the directory; that gives no access to reports, only
    # to the audit (who looked, never what) of those the leads may see.
    "administrator": _by_audience(
        {ADMIN_COMMANDS, Action.READ_AUDIT},
        {ADMIN_COMMANDS, Action.READ_AUDIT},
        {ADMIN_COMMANDS},
        {ADMIN_COMMANDS, Action.READ_AUDIT},
    ),
    "stranger": _everywhere(NOTHING),
}

ACTIONS: tuple[Action | str, ...] = (*Action, ADMIN_COMMANDS)

WORDS: dict[Action | str, str] = {
    Action.VIEW: "view",
    Action.LIST: "list",
    Action.ACKNOWLEDGE: "acknowledge",
    Action.CLAIM: "claim",
    Action.RECORD_ACTION: "record action",
    Action.NOTE: "note",
    Action.ESCALATE: "escalate",
    Action.CLOSE: "close",
    Action.SCHEDULE_CHECKINS: "schedule check-ins",
    Action.TAKE_TALK: "take a need-to-talk",
    Action.ANSWER_CHECKIN: "answer check-ins",
    Action.UPDATE: "update",
    Action.REFLECT: "reflect",
    Action.SHARE: "share",
    Action.READ_AUDIT: "read its audit",
    ADMIN_COMMANDS: "admin commands",
}

SECRET = "Her son's school gate, 8.40 every morning"  # the worker's own words
TEAM_NOTE = "Spoke to the police liaison; private to the case team"


def readme_table() -> str:
    """The README's "Who sees what" table, generated from EXPECTED."""
    lines = [
        "| who | " + " | ".join(AUDIENCES) + " |",
        "|---" * (len(AUDIENCES) + 1) + "|",
    ]
    for role in ROLES:
        cells = []
        for audience in AUDIENCES:
            allowed = EXPECTED[role][audience]
            cells.append(", ".join(WORDS[a] for a in ACTIONS if a in allowed) or "nothing")
        lines.append(f"| {role} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ------------------------------------------------------------------ the world of one cell


def console(user: str) -> PersonRef:
    return PersonRef(platform=Platform.CONSOLE, workspace="local", user=user)


ACTORS = {
    "reporter": "alice",
    "lead who is the reporter": "lena",
    "her manager": "bob",
    "her manager, also a lead": "bob",
    "another manager": "erin",
    "safety lead": "carol",
    "administrator": "admin",
    "stranger": "zed",
}


@dataclass
class World:
    harbour: Harbour
    store: MemoryStore
    ref: str
    reporter: PersonRef
    actor: Chat
    sent: str  # a check-in waiting for the worker's answer
    talk: str  # a check-in answered "I need to talk now"
    filed: str = ""  # the reference stored (`ref` is what the actor types)

    async def report(self) -> Report:
        report = await self.store.get_report(self.filed or self.ref)
        assert report is not None
        return report


def _answers(audience: str) -> ReportAnswers:
    chosen = {
        "manager and leads": Audience.MANAGER_AND_LEADS,
        "leads only": Audience.LEADS_ONLY,
        "only me": Audience.ONLY_ME,
        "immediate danger, only me": Audience.ONLY_ME,
    }[audience]
    return ReportAnswers(
        in_danger=audience.startswith("immediate danger"),
        kinds=[AbuseKind.THREATS, AbuseKind.PERSONAL_DETAILS],
        details_exposed=["school"],
        links=["https://www.facebook.com/posts/4242"],
        description=SECRET,
        audience=chosen,
    )


def directory_for(role: str, person: Callable[[str], PersonRef] | None = None) -> Directory:
    """Alice and Lena (a safety lead) are managed by Bob; Dan by Erin; Carol is a lead."""

    def key(user: str) -> str:
        return (person or console)(user).key

    leads = {key("carol"), key("lena")}
    if role == "her manager, also a lead":
        leads.add(key("bob"))
    return Directory(
        managers={key("alice"): [key("bob")], key("lena"): [key("bob")], key("dan"): [key("erin")]},
        leads=leads,
    )


async def world(
    role: str,
    audience: str,
    *,
    settings: Settings,
    harbour: Harbour | None = None,
    person: Callable[[str], PersonRef] | None = None,
) -> World:
    """One report, filed by the reporter of this role, with a check-in waiting for
    her answer, one answered "I need to talk now", and a note by her manager."""
    person = person or console
    clock = Clock()
    if harbour is None:
        counter = itertools.count(1)
        harbour = Harbour(
            MemoryStore(),
            settings.flow_context(),
            clock=clock,
            ids=lambda: f"id{next(counter)}",
            library=LIBRARY,
            directory=directory_for(role),
            admins=frozenset({"console:local:admin"}),
        )
    store = harbour.store
    assert isinstance(store, MemoryStore)
    reporter = person("lena" if role == "lead who is the reporter" else "alice")
    now = harbour.clock()

    def make(seq: int, ref: str) -> tuple[Report, list[object]]:
        report = Report(
            reference=ref,
            year=now.year,
            seq=seq,
            reporter=reporter,
            filed_at=now,
            draft_id="d1",
            answers=_answers(audience),
            risk=RiskLevel.CRITICAL,
            risk_reasons=["threats"],
            managers=[m.key for m in harbour.access.current_managers(reporter)],
            checkins=[
                CheckIn(
                    id="c-sent",
                    due=now,
                    by=person("bob").key,
                    state="sent",
                    sent_at=now,
                ),
                CheckIn(
                    id="c-talk",
                    due=now,
                    by=person("bob").key,
                    state="answered",
                    answer="talk",
                    answered_at=now,
                ),
            ],
        )
        report.log(now, "filed", reporter.key)
        report.log(now, "note", person("bob").key, TEAM_NOTE)
        return report, []

    report = await store.file_report(
        year=now.year,
        draft_id="d1",
        make=make,  # type: ignore[arg-type]
        person=reporter,
        session=None,
    )
    clock.advance(minutes=5)
    actor = Chat(harbour, ACTORS[role])
    actor.person = person(ACTORS[role])
    return World(
        harbour=harbour,
        store=store,
        ref=report.reference,
        reporter=reporter,
        actor=actor,
        sent="c-sent",
        talk="c-talk",
    )


LIBRARY = Settings(_env_file=None).guidance()  # type: ignore[call-arg]


# ------------------------------------------------------------------ trying each action


async def press(w: World, action: Action) -> None:
    await w.actor.send_event(
        ChoiceMade(
            event_id=w.actor.next_id(),
            person=w.actor.person,
            question=f"{CASE_QUESTION}{w.ref}",
            values=(action.value,),
            token=w.ref,
        )
    )


async def form(w: World, action: Action, *answers: str) -> None:
    """Press the button, and if a form opened, fill it in by typing and confirm."""
    await press(w, action)
    session = await w.store.load_session(w.actor.person)
    if session is None or session.active is None:
        return
    for answer in answers:
        await w.actor.say(answer)
    await w.actor.say("yes")


async def try_view(w: World) -> bool:
    await w.actor.command("cases", w.ref)
    text = w.actor.text()
    seen = f"{w.ref}, filed" in text
    if seen:
        assert SECRET in text  # the worker's own words, to her and to the people she chose
        team = w.actor.person != w.reporter
        assert (TEAM_NOTE in text) is team  # the case team's notes stay with the case team
    return seen


async def try_list(w: World) -> bool:
    await w.actor.command("cases")
    return w.ref in w.actor.text()


async def try_ack(w: World) -> bool:
    await press(w, Action.ACKNOWLEDGE)
    return (await w.report()).acknowledged_by == w.actor.person.key


async def try_claim(w: World) -> bool:
    await press(w, Action.CLAIM)
    return (await w.report()).claimed_by == w.actor.person.key


async def try_escalate(w: World) -> bool:
    before = _count(await w.report(), "escalated", w.actor.person)
    await press(w, Action.ESCALATE)
    return _count(await w.report(), "escalated", w.actor.person) > before


async def try_note(w: World) -> bool:
    before = _count(await w.report(), "note", w.actor.person)
    await form(w, Action.NOTE, "Called her this afternoon.")
    return _count(await w.report(), "note", w.actor.person) > before


async def try_record_action(w: World) -> bool:
    before = _count(await w.report(), "action", w.actor.person)
    await form(w, Action.RECORD_ACTION, "police", "skip")
    return _count(await w.report(), "action", w.actor.person) > before


async def try_close(w: World) -> bool:
    await form(w, Action.CLOSE, "1", "skip")
    return (await w.report()).status is ReportStatus.CLOSED


async def try_schedule(w: World) -> bool:
    before = len((await w.report()).checkins)
    await form(w, Action.SCHEDULE_CHECKINS, "1")
    return len((await w.report()).checkins) > before


async def try_take_talk(w: World) -> bool:
    await w.actor.send_event(
        ChoiceMade(
            event_id=w.actor.next_id(),
            person=w.actor.person,
            question=f"{TALK_QUESTION}{w.ref}:{w.talk}",
            values=("take",),
            token=w.talk,
        )
    )
    report = await w.report()
    return next(c for c in report.checkins if c.id == w.talk).talk_taken_by == w.actor.person.key


async def try_answer_checkin(w: World) -> bool:
    await w.actor.send_event(
        ChoiceMade(
            event_id=w.actor.next_id(),
            person=w.actor.person,
            question=f"{CHECKIN_QUESTION}{w.ref}:{w.sent}",
            values=("ok",),
            token=w.sent,
        )
    )
    report = await w.report()
    return next(c for c in report.checkins if c.id == w.sent).answer == "ok"


async def _started(w: World, command: str, flow: str) -> bool:
    await w.actor.command(command, w.ref)
    session = await w.store.load_session(w.actor.person)
    draft = session.drafts.get(flow) if session else None
    return draft is not None and draft.subject == w.ref


async def try_update(w: World) -> bool:
    return await _started(w, "update", "update")


async def try_reflect(w: World) -> bool:
    return await _started(w, "reflect", "reflect")


async def try_share(w: World) -> bool:
    await w.actor.command("share", w.ref)
    return _did(await w.report(), "shared", w.actor.person)


async def try_audit(w: World) -> bool:
    await w.actor.command("audit", w.ref)
    said = w.actor.text()
    return f"Audit of {w.ref}" in said or f"Who has seen {w.ref}" in said


async def try_admin(w: World) -> bool:
    newcomer = w.actor.person.model_copy(update={"user": "newlead"})
    await w.actor.command("admin", f"lead add {newcomer.key}")
    return w.harbour.directory.is_lead(newcomer)


def _did(report: Report, what: str, person: PersonRef) -> bool:
    return _count(report, what, person) > 0


def _count(report: Report, what: str, person: PersonRef) -> int:
    return sum(e.action == what and e.actor == person.key for e in report.timeline)


TRIES: dict[Action | str, Callable[[World], Awaitable[bool]]] = {
    Action.VIEW: try_view,
    Action.LIST: try_list,
    Action.ACKNOWLEDGE: try_ack,
    Action.CLAIM: try_claim,
    Action.RECORD_ACTION: try_record_action,
    Action.NOTE: try_note,
    Action.ESCALATE: try_escalate,
    Action.CLOSE: try_close,
    Action.SCHEDULE_CHECKINS: try_schedule,
    Action.TAKE_TALK: try_take_talk,
    Action.ANSWER_CHECKIN: try_answer_checkin,
    Action.UPDATE: try_update,
    Action.REFLECT: try_reflect,
    Action.SHARE: try_share,
    Action.READ_AUDIT: try_audit,
    ADMIN_COMMANDS: try_admin,
}


# ------------------------------------------------------------------ the tests


def test_every_action_has_its_row_and_a_way_to_try_it() -> None:
    """Adding an action to the policy without its row here fails."""
    assert set(ACTIONS) == set(TRIES) == set(WORDS)
    for role in ROLES:
        assert set(EXPECTED[role]) == set(AUDIENCES), role
        for cell in EXPECTED[role].values():
            assert cell <= set(ACTIONS)


def test_readme_table_matches_the_matrix() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme_table() in readme, "regenerate with: python -m tests.test_access_matrix"


def _unchanged(before: Report, after: Report) -> None:
    """A refusal changes nothing but the timeline, and writes only who and what."""
    fields = ("status", "acknowledged_by", "claimed_by", "managers", "checkins", "answers")
    for name in fields:
        assert getattr(before, name) == getattr(after, name), name
    added = after.timeline[len(before.timeline) :]
    assert all(e.action in ("refused",) for e in added), added
    for entry in added:
        assert SECRET not in entry.detail and entry.detail in {a.value for a in Action} | {""}


CELLS = [(r, a, act) for r in ROLES for a in AUDIENCES for act in ACTIONS]


@pytest.mark.parametrize(
    ("role", "audience", "action"),
    CELLS,
    ids=[f"{r}|{a}|{act}" for r, a, act in CELLS],
)
async def test_role_matrix_through_the_core(
    role: str, audience: str, action: Action | str, settings: Settings
) -> None:
    w = await world(role, audience, settings=settings)
    before = await w.report()
    allowed = await TRIES[action](w)
    expected = action in EXPECTED[role][audience]
    assert allowed is expected, f"{role} / {audience} / {action}: allowed={allowed}"
    if expected or action == ADMIN_COMMANDS:
        return
    after = await w.report()
    _unchanged(before, after)
    if action is Action.LIST:
        return
    refusal = w.actor.text()
    assert refusal.strip(), "a refusal is answered, never silence"
    assert SECRET not in refusal
    refused = [e for e in after.timeline if e.action == "refused"]
    assert [(e.actor, e.detail) for e in refused] == [(w.actor.person.key, str(action))]
    if Action.VIEW not in EXPECTED[role][audience]:
        # Not theirs to see: the same words as a reference that doesn't exist.
        probe = await world(role, audience, settings=settings)
        probe.filed, probe.ref = probe.ref, format_reference(2026, 9999)
        await TRIES[action](probe)
        assert _no_refs(probe.actor.text()) == _no_refs(refusal)


def _no_refs(text: str) -> str:
    return re.sub(r"HB-\d{4}-\d{4}", "HB-…", text)


async def test_a_forwarded_claim_works_only_once_and_is_refused_after_closing(
    settings: Settings,
) -> None:
    """State, not role: claim once, nothing but notes on a closed case."""
    w = await world("safety lead", "manager and leads", settings=settings)
    assert await try_claim(w)
    other = Chat(w.harbour, "lena")
    await other.send_event(
        ChoiceMade(
            event_id="lena-1",
            person=other.person,
            question=f"{CASE_QUESTION}{w.ref}",
            values=("claim",),
            token=w.ref,
        )
    )
    assert "already been claimed" in other.text()
    assert await try_close(w)
    await press(w, Action.ACKNOWLEDGE)
    assert "already closed" in w.actor.text()
    assert await try_note(w)


if __name__ == "__main__":
    print(readme_table())
