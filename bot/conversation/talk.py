"""Talking outside any flow: hello, help, guidance, and plain words.

A worker at a bad moment doesn't type commands. Outside a flow, plain words
that mean "report", "help", "I need to talk to someone" or a guidance topic
are understood from a small table here (no outside service sees them), and
anything unclear gets a short warm reply with three next steps, never a dead end.
"""

from __future__ import annotations

import re
from enum import StrEnum

from bot.conversation.session import Ask, ask, help_reply, with_current
from bot.conversation.worker import report_command
from bot.guidance import GuidanceItem
from bot.models import (
    Notice,
    NoticeLevel,
    Option,
    PersonRef,
    Reply,
    SummaryCard,
    SummaryField,
    Text,
)
from bot.outcome import Outcome
from bot.services import Services
from bot.session import PendingChoice, Session
from bot.validation import clean_text


class Meaning(StrEnum):
    """What plain words outside a flow are taken to mean."""

    DANGER = "danger"
    TALK = "talk"
    REPORT = "report"


PLAIN_WORDS: tuple[tuple[Meaning, tuple[str, ...]], ...] = (
    (
        Meaning.DANGER,
        (
            "in danger",
            "outside my house",
            "at my door",
            "outside my home",
            "going to hurt",
            "threatened to kill",
            "emergency",
        ),
    ),
    (
        Meaning.TALK,
        (
            "talk to someone",
            "need to talk",
            "someone to talk",
            "need help",
            "help me",
            "not ok",
            "not okay",
            "struggling",
            "can't cope",
            "cant cope",
            "scared",
            "frightened",
            "overwhelmed",
        ),
    ),
    (
        Meaning.REPORT,
        (
            "someone posted",
            "posted my",
            "posted a",
            "my address",
            "my home",
            "my kids",
            "my children",
            "my photo",
            "photos of",
            "harass",
            "abuse",
            "abusive",
            "threat",
            "troll",
            "doxx",
            "stalk",
            "fake account",
            "messaged me",
            "messages from",
            "online",
            "facebook",
            "instagram",
            "tiktok",
            "twitter",
            "whatsapp",
        ),
    ),
)
"""Checked in this order: danger first, then someone to talk to, then a report."""

NEXT_STEPS = (
    Option(value="report", label="Report what happened"),
    Option(value="guidance", label="See guidance"),
    Option(value="talk", label="Find someone to talk to"),
)


def meaning(text: str) -> Meaning | None:
    words = f" {clean_text(text).casefold()} "
    for found, phrases in PLAIN_WORDS:
        if any(phrase in words for phrase in phrases):
            return found
    return None


def hello(s: Services, session: Session, args: str = "") -> Outcome:
    return with_current(
        s,
        session,
        [
            Text(
                text="Hello. I'm Harbour. I'm here to help if you're being abused or harassed "
                "online because of your work: you can report it privately, and I'll make sure "
                "the right people know."
            ),
            help_reply(s, session),
        ],
    )


def show_help(s: Services, session: Session, args: str = "") -> Outcome:
    return with_current(s, session, [help_reply(s, session)])


def show_guidance(s: Services, session: Session, args: str) -> Outcome:
    return with_current(s, session, guidance(s, session.person, args))


def someone_to_talk_to(s: Services, person: PersonRef) -> list[Reply]:
    prefix = s.command_prefix(person)
    return [
        Notice(
            level=NoticeLevel.INFO,
            title="Someone to talk to",
            text="I'm sorry you're going through this; you don't have to deal with it alone. "
            f"{s.ctx.emergency_guidance}\n\nFor support any time, day or night: "
            f"{prefix}guidance self-care. If you tell me what happened ({prefix}report), I'll "
            "make sure your manager or a safety lead knows, privately, so someone can talk "
            "it through with you.",
        )
    ]


async def plain_words(s: Services, session: Session, text: str) -> Outcome:
    """Typed words that are not a command, outside any flow."""
    found = meaning(text)
    if found is Meaning.DANGER:
        return with_current(
            s,
            session,
            [
                Notice(
                    level=NoticeLevel.DANGER, title="Get help now", text=s.ctx.emergency_guidance
                ),
                *next_steps(s, session).replies,
            ],
        )
    if found is Meaning.TALK:
        return Outcome(
            [*someone_to_talk_to(s, session.person), *next_steps(s, session).replies], session
        )
    if found is Meaning.REPORT:
        return ask(
            s,
            session,
            Ask.NEXT_STEP,
            "I'm sorry that's happening. Would you like to report it? It's private: you "
            "choose who sees it.",
            [NEXT_STEPS[0], Option(value="guidance", label="Not now, show me guidance")],
        )
    item = topic_named(s, text)
    if item is not None:
        steps = next_steps(s, session)
        return Outcome([guidance_card(s, item), *steps.replies], steps.session)
    return next_steps(s, session, lead="I'm not sure I understood that.")


def topic_named(s: Services, text: str) -> GuidanceItem | None:
    """The guidance item whose topics name one of these words (whole words of
    four letters or more, so small words never pull in an unrelated item)."""
    words = {w for w in re.findall(r"[a-z]+", text.casefold()) if len(w) > 3}
    for item in sorted(s.library.items.values(), key=lambda i: (-i.priority, i.id)):
        topics = set(re.findall(r"[a-z]+", " ".join(item.topics).casefold()))
        if words & topics:
            return item
    return None


def next_steps(s: Services, session: Session, lead: str = "") -> Outcome:
    everything = f"{s.command_prefix(session.person)}help"
    prompt = (lead + " " if lead else "") + f"Here's what I can do now ({everything} for more):"
    return ask(s, session, Ask.NEXT_STEP, prompt, list(NEXT_STEPS))


async def answer_next_step(
    s: Services, session: Session, pending: PendingChoice, value: str
) -> Outcome:
    if value == "talk":
        return Outcome(someone_to_talk_to(s, session.person), session)
    if value == "guidance":
        return show_guidance(s, session, "")
    return report_command(s, session)


def guidance(s: Services, person: PersonRef, args: str) -> list[Reply]:
    prefix = s.command_prefix(person)
    words = args.strip()
    if not words:
        rows = [
            SummaryField(label=item.title, value=f"{prefix}guidance {item.id}")
            for item in sorted(s.library.items.values(), key=lambda i: (-i.priority, i.title))
        ]
        return [
            SummaryCard(
                title="Guidance",
                fields=tuple(rows),
                footer=f"Or search, e.g. {prefix}guidance police.",
            )
        ]
    item = s.library.get(words)
    if item is not None:
        return [guidance_card(s, item)]
    found = s.library.search(words)
    if not found:
        return [
            Text(
                text=f"I couldn't find guidance about that. Say {prefix}guidance to see "
                "every topic."
            )
        ]
    if len(found) == 1:
        return [guidance_card(s, found[0])]
    return [
        SummaryCard(
            title="Guidance that may help",
            fields=tuple(
                SummaryField(
                    label=i.title,
                    value=f"{s.library.fill(i.summary)}\n{prefix}guidance {i.id}",
                )
                for i in found[:5]
            ),
        )
    ]


def guidance_card(s: Services, item: GuidanceItem) -> SummaryCard:
    """One guidance item in full: what to do, detail, pages to act on, sources."""
    fields = [SummaryField(label="In short", value=s.library.fill(item.summary))]
    if item.body:
        fields.append(SummaryField(label="In more detail", value=s.library.fill(item.body)))
    if item.links:
        fields.append(
            SummaryField(
                label="Pages to act on (open in your browser)",
                value="\n".join(f"{link.title}: {link.url}" for link in item.links),
            )
        )
    sources = "\n".join(
        f"{src.name}" + (f" ({src.url})" if src.url else "") for src in item.sources
    )
    if sources:
        fields.append(SummaryField(label="Sources", value=sources))
    return SummaryCard(title=item.title, fields=tuple(fields))
