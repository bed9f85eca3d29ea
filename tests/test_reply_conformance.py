"""Every reply type renders on every surface: each member of `bot.models.Reply`
(read from the type itself, so a new one fails here until each surface renders
it), in representative and awkward instances, through each surface's real
renderer: Slack (Block Kit, checked with slack_sdk's block models and Slack's
limits), Teams (Adaptive Cards, checked against the rules Teams applies) and
the console. For each: nothing raises, every prompt, label and text a person
must read is there, markup in it stays inert, and a reply with buttons carries
its question's id and token, so the press comes back to the question asked
(checked by feeding the rendered press to the surface's own translator)."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterator
from typing import Any, get_args

import pytest
from microsoft_agents.activity import Activity, ChannelAccount, ConversationAccount
from slack_sdk.models.blocks import Block

from adapters import console
from adapters.slack import render as slack
from adapters.slack import translate as slack_in
from adapters.teams import cards as teams
from adapters.teams import translate as teams_in
from bot.models import (
    ChoiceMade,
    ChoiceQuestion,
    Confirmation,
    Control,
    ControlAction,
    FileReply,
    Form,
    FormSubmitted,
    Notice,
    NoticeLevel,
    Option,
    PersonQuestion,
    Refresh,
    Reply,
    Shown,
    SummaryCard,
    SummaryField,
    Text,
    TextQuestion,
)

MARKUP = "<!channel> *bold* <https://x|y> _it_ ~gone~ `code` <@U0BOSS> & [link](https://e.x)"
EMOJI = "Thank you 💙🙏🏽 — that helps 👍"
RTL = "هذه رسالة تجريبية · זו הודעת ניסיון"
LONG = " ".join(f"word{n}" + ("\n" if n % 40 == 39 else "") for n in range(1200))
"""About 9,000 characters: more than a Slack section or a message's worth."""
LONG_LABEL = "A very long option label that goes on well past what a button can hold, really"

SLACK_OWNER = "U0ALICE"
TEAMS_OWNER = "aad-alice"


def _options(*labels: str) -> tuple[Option, ...]:
    return tuple(Option(value=f"v{n}", label=label) for n, label in enumerate(labels))


def _choice(**fields: Any) -> ChoiceQuestion:
    base: dict[str, Any] = {
        "id": "case:HB-2026-0001",
        "prompt": "What would you like to do?",
        "options": _options("Acknowledge", "Close"),
        "token": "HB-2026-0001",
    }
    return ChoiceQuestion(**{**base, **fields})


def _form(**fields: Any) -> Form:
    kinds = ChoiceQuestion(
        id="kinds",
        prompt="What has been happening?",
        options=_options(*(f"Kind {n}" for n in range(9))),
        multiple=True,
        required=True,
        hint="choose one or more",
        value=("v1",),
    )
    words = TextQuestion(
        id="words", prompt="In your own words?", max_length=10_000, multiline=True, hint="optional"
    )
    base: dict[str, Any] = {
        "id": "what",
        "title": "What happened",
        "intro": "There's room to describe it later.",
        "questions": (kinds, words),
        "focus": "kinds",
        "token": "tok-1",
        "progress": "Part 2 of 7",
        "controls": tuple(ControlAction),
    }
    return Form(**{**base, **fields})


INSTANCES: dict[type[Any], dict[str, Reply]] = {
    Text: {
        "plain": Text(text="Hello. I'm Harbour."),
        "long": Text(text=LONG),
        "markup": Text(text=MARKUP),
        "emoji": Text(text=EMOJI),
        "rtl": Text(text=RTL),
    },
    ChoiceQuestion: {
        "two": _choice(),
        "six buttons": _choice(options=_options(*(f"Option {n}" for n in range(6)))),
        "many options": _choice(
            options=tuple(
                Option(value=f"v{n}", label=f"{LONG_LABEL} {n}", description="described " * 10)
                for n in range(30)
            ),
            hint="pick one",
        ),
        "markup": _choice(prompt=MARKUP, options=_options(MARKUP[:60], "*not bold*")),
        "emoji and rtl": _choice(prompt=EMOJI, options=_options(RTL, "👍 fine")),
        "several": _choice(
            id="pick", options=_options("Me", "My partner", "My children"), multiple=True
        ),
    },
    TextQuestion: {
        "short": TextQuestion(id="checkin-note", prompt="Anything to add?", max_length=200),
        "multiline": TextQuestion(
            id="note",
            prompt=MARKUP,
            multiline=True,
            hint=EMOJI,
            max_length=10_000,
            value=RTL,
            token="t-note",
        ),
    },
    PersonQuestion: {
        "plain": PersonQuestion(
            id="who-manager", prompt="Who is your manager?", token="t-who", hint="their name"
        ),
        "markup": PersonQuestion(id="who-manager", prompt=MARKUP, token="t-who"),
    },
    Form: {
        "first question": _form(),
        "second question": _form(focus="words"),
        "markup": _form(
            title=MARKUP,
            intro=MARKUP,
            questions=(
                ChoiceQuestion(id="c", prompt=MARKUP, options=_options(MARKUP[:60], RTL, EMOJI)),
                TextQuestion(id="t", prompt=RTL, max_length=100, value=MARKUP),
            ),
            focus="c",
        ),
        "long and many": _form(
            title="A page title much longer than any modal's title or a header can show " * 3,
            questions=(
                ChoiceQuestion(
                    id="where",
                    prompt=LONG[:1500],
                    options=_options(*(f"{LONG_LABEL} {n}" for n in range(14))),
                    required=True,
                ),
            ),
            focus="where",
            controls=(ControlAction.PAUSE,),
            submit_label="File report",
        ),
    },
    Confirmation: {
        "plain": Confirmation(
            id="review",
            prompt="Shall I file this report?",
            confirm_label="File report",
            deny_label="Go back and change something",
            token="t-review",
        ),
        "danger": Confirmation(
            id="cancel",
            prompt=MARKUP,
            confirm_label="Yes, discard it",
            deny_label="No, keep going",
            token="t-cancel",
            danger=True,
        ),
        "long labels": Confirmation(
            id="review", prompt=LONG, confirm_label=LONG_LABEL, deny_label=RTL, token="t"
        ),
    },
    SummaryCard: {
        "case": SummaryCard(
            title="HB-2026-0001 · high risk",
            fields=(SummaryField(label="Status", value="Open: not yet acknowledged"),),
            footer="Details are shared privately with whoever claims the case.",
        ),
        "empty footer": SummaryCard(
            title="Your report, before it is filed",
            fields=(
                SummaryField(label="In their words", value=MARKUP),
                SummaryField(label=MARKUP, value=EMOJI),
                SummaryField(label="Links", value="https://a.example/1\nhttps://b.example/2"),
                SummaryField(label="RTL", value=RTL),
            ),
        ),
        "long": SummaryCard(
            title="A title " * 30,
            fields=(SummaryField(label="Description", value=LONG),),
            footer=MARKUP,
        ),
        "many fields": SummaryCard(
            title="Open cases you can see",
            fields=tuple(
                SummaryField(label=f"HB-2026-{n:04d} · high risk", value=f"cases HB-2026-{n:04d}")
                for n in range(60)
            ),
            footer="Confidential.",
        ),
    },
    Notice: {
        **{
            f"{level.value}": Notice(level=level, text=f"A {level.value} notice.")
            for level in NoticeLevel
        },
        "titled": Notice(title="Check-in about HB-2026-0001", text="The worker is doing OK."),
        "markup": Notice(title="Someone to talk to", text=MARKUP, level=NoticeLevel.WARNING),
        "long": Notice(title=EMOJI, text=LONG, level=NoticeLevel.DANGER),
        "rtl": Notice(text=RTL),
    },
}
INSTANCES[FileReply] = {
    "mydata": FileReply(
        name="harbour-mydata-2026-03-02.json",
        media_type="application/json",
        content=b'{"reports": []}',
        caption="Here is everything Harbour holds about you, in one file.",
        ask_again="mydata",
    ),
    "markup and a long caption": FileReply(
        name="evidence-HB-2026-0001.pdf",
        media_type="application/pdf",
        content=bytes(range(256)) * 40,
        caption=(MARKUP + " " + EMOJI + " " + RTL + " ") * 6,
    ),
}
SHOWN_TYPES: tuple[type[Any], ...] = get_args(get_args(Shown)[0])
REPLY_TYPES: tuple[type[Any], ...] = get_args(get_args(Reply)[0])
INSTANCES[Refresh] = {
    **{
        f"wrapping {kind.__name__} {name}": Refresh(replies=(reply,))  # type: ignore[arg-type]
        for kind in SHOWN_TYPES
        for name, reply in list(INSTANCES.get(kind, {}).items())[:2]
    },
    "an alert's status": Refresh(
        replies=(
            Notice(level=NoticeLevel.SUCCESS, title="HB-2026-0001 · Acknowledged", text="Done."),
            _choice(prompt="What else would you like to do?"),
        )
    ),
}
CASES = [
    pytest.param(reply, id=f"{kind.__name__}-{name}")
    for kind in REPLY_TYPES
    for name, reply in INSTANCES.get(kind, {}).items()
]


def test_every_reply_type_has_instances_here() -> None:
    """A reply type added to `Reply` (or to what a Refresh shows) fails until
    it has instances here, and so until every surface renders it."""
    assert set(REPLY_TYPES) == set(INSTANCES), "add instances of the new reply type"
    # A file is sent, never shown in place of a pressed message: no Refresh holds one.
    assert set(SHOWN_TYPES) == set(REPLY_TYPES) - {Refresh, FileReply}
    for kind in SHOWN_TYPES:
        assert any(
            isinstance(r, Refresh) and isinstance(r.replies[0], kind)
            for r in INSTANCES[Refresh].values()
        ), f"no Refresh wraps a {kind.__name__}"


# ---------------------------------------------------------------- what must be shown


def _shown(reply: Reply) -> tuple[Any, ...]:
    return reply.replies if isinstance(reply, Refresh) else (reply,)


def required_texts(reply: Reply, surface: str) -> list[str]:
    """What a person must be able to read of this reply on this surface. The
    console asks a form one question at a time (its page heading at the first)."""
    out: list[str] = []
    for r in _shown(reply):
        if isinstance(r, Text):
            out.append(r.text)
        elif isinstance(r, Notice):
            out += [r.title, r.text]
        elif isinstance(r, ChoiceQuestion):
            out += [r.prompt, *(o.label for o in r.options)]
        elif isinstance(r, TextQuestion | PersonQuestion):
            out.append(r.prompt)
        elif isinstance(r, Confirmation):
            out += [r.prompt, r.confirm_label, r.deny_label]
        elif isinstance(r, SummaryCard):
            out += [r.title, r.footer, *(t for f in r.fields for t in (f.label, f.value))]
        elif isinstance(r, FileReply):  # where it is not uploaded with its caption
            out += [r.caption, r.name]
        elif isinstance(r, Form):
            asked = [r.focused] if surface == "console" else list(r.questions)
            if surface != "console" or r.starts_page:
                out += [r.title, r.intro, r.progress]
            if surface != "console":
                out.append(r.submit_label)
            for q in asked:
                out.append(q.prompt)
                if isinstance(q, ChoiceQuestion):
                    out += [o.label for o in q.options]
        else:
            raise AssertionError(f"no expectations for {type(r).__name__}")
    return [t for t in out if t]


def _norm(text: str) -> str:
    return " ".join(text.split())


def _missing(texts: list[str], haystack: str) -> list[str]:
    """The texts not in the haystack. A text a surface must clip (a button's
    75 characters, a header's 150) counts as shown by its start."""
    hay = _norm(haystack)
    return [t for t in texts if _norm(t) not in hay and _norm(t)[:60] not in hay]


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


# ---------------------------------------------------------------- Slack

SLACK_LIMITS = {"action_id": 255, "block_id": 255}


def _slack_messages(reply: Reply) -> list[list[dict[str, Any]]]:
    return [
        *slack.messages([reply], SLACK_OWNER),
        *slack.messages([reply], SLACK_OWNER, forms_in_modals=True),
    ]


def _slack_texts(blocks: list[dict[str, Any]]) -> tuple[str, list[str]]:
    """(everything shown, as a person reads it; the raw mrkdwn texts)."""
    shown: list[str] = []
    mrkdwn: list[str] = []
    for node in _walk(blocks):
        if node.get("type") == "mrkdwn":
            mrkdwn.append(node["text"])
            shown.append(html.unescape(node["text"]))
        elif node.get("type") == "plain_text":
            shown.append(node["text"])
    return "\n".join(shown), mrkdwn


@pytest.mark.parametrize("reply", CASES)
def test_slack_renders_within_block_kit_and_its_limits(reply: Reply) -> None:
    messages = _slack_messages(reply)
    assert messages
    for blocks in messages:
        assert 1 <= len(blocks) <= slack.MAX_BLOCKS
        for block in blocks:
            parsed = Block.parse(block)
            assert parsed is not None, block
            assert parsed.to_dict() == block  # slack_sdk validates its limits here
        for node in _walk(blocks):
            for key, limit in SLACK_LIMITS.items():
                assert len(node.get(key, "")) <= limit, (key, node)
            if node.get("type") == "button":
                assert len(node["text"]["text"]) <= 75
                assert len(node.get("value", "")) <= 2000
            if node.get("type") == "section" and "text" in node:
                assert len(node["text"]["text"]) <= 3000
            if node.get("type") in ("static_select", "multi_static_select"):
                assert len(node["options"]) <= 100
            if "options" in node and node.get("type") != "input":
                assert all(len(o["value"]) <= 150 for o in node["options"])
    for form in (r for r in _shown(reply) if isinstance(r, Form)):
        modal = slack.form_modal(form, SLACK_OWNER)
        assert len(modal["title"]["text"]) <= 24 and len(modal["submit"]["text"]) <= 24
        assert len(modal["private_metadata"]) <= 3000
        for block in modal["blocks"]:
            parsed = Block.parse(block)
            assert parsed is not None and parsed.to_dict() == block


@pytest.mark.parametrize("reply", CASES)
def test_slack_shows_every_text_and_keeps_markup_inert(reply: Reply) -> None:
    blocks = [b for m in slack.messages([reply], SLACK_OWNER) for b in m]
    shown, mrkdwn = _slack_texts(blocks)
    assert not _missing(required_texts(reply, "slack"), shown)
    for text in mrkdwn:  # Harbour's own mrkdwn has no <, > or &: any is someone's text
        assert "<" not in text and ">" not in text, text
        assert not re.search(r"&(?!amp;|lt;|gt;)", text), text
    fallback = slack.fallback_text([reply])
    assert 0 < len(fallback) <= 150
    for r in _shown(reply):  # what a lock screen shows is never what someone wrote
        said = r.text if isinstance(r, Text | Notice) else ""
        assert not said or _norm(said)[:40] not in fallback


def test_slack_prose_is_never_read_as_mrkdwn() -> None:
    """A Text, and a notice's text, can quote someone: plain_text, formatting and all."""
    for reply in (Text(text=MARKUP), Notice(title="Said", text=MARKUP)):
        blocks = [b for m in slack.messages([reply], SLACK_OWNER) for b in m]
        for node in _walk(blocks):
            if node.get("type") == "mrkdwn":
                assert "bold" not in node["text"], node


def test_slack_formatting_in_someones_text_is_not_read_as_mrkdwn() -> None:
    found = []
    for case in CASES:
        for blocks in slack.messages([case.values[0]], SLACK_OWNER):
            for node in _walk(blocks):
                if node.get("type") == "mrkdwn" and "*bold*" in node["text"]:
                    found.append(case.id)
    assert not found, sorted(set(found))


def test_slack_the_notification_text_keeps_markup_inert() -> None:
    said = slack.fallback_text([Notice(title=MARKUP, text="x")])
    assert "<!channel>" not in said and "&lt;!channel&gt;" in said


def _slack_press(blocks: list[dict[str, Any]], element: dict[str, Any], **extra: Any) -> Any:
    block = next(b for b in blocks if element in b.get("elements", []))
    action = {"action_id": element["action_id"], "block_id": block.get("block_id"), **extra}
    if "value" in element:
        action["value"] = element["value"]
    body = {
        "user": {"id": SLACK_OWNER, "team_id": "T1"},
        "actions": [action],
        "container": {"message_ts": "1.0"},
    }
    return slack_in.action_event(body).event


@pytest.mark.parametrize(
    "reply", [c for c in CASES if not any(isinstance(r, Form) for r in _shown(c.values[0]))]
)
def test_slack_presses_come_back_to_the_question_asked(reply: Reply) -> None:
    asked = [r for r in _shown(reply) if isinstance(r, ChoiceQuestion | Confirmation)]
    people = [r for r in _shown(reply) if isinstance(r, PersonQuestion)]
    blocks = [b for m in slack.messages([reply], SLACK_OWNER) for b in m]
    elements = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    if not asked and not people:
        assert not elements  # typed answers only: nothing to press
        return
    for question in asked:
        if isinstance(question, ChoiceQuestion) and question.multiple:
            _slack_press_several(blocks, question)
            continue
        choices = (
            [("yes", question.confirm_label), ("no", question.deny_label)]
            if isinstance(question, Confirmation)
            else [(o.value, o.label) for o in question.options]
        )
        for value, _ in choices:
            button = next(
                (e for e in elements if e["type"] == "button" and e["value"].endswith(value)),
                None,
            )
            if button is not None:
                event = _slack_press(blocks, button)
            else:
                menu = next(e for e in elements if e["type"] == "static_select")
                event = _slack_press(blocks, menu, selected_option={"value": value})
            assert isinstance(event, ChoiceMade), event
            assert (event.question, event.token, event.values) == (
                question.id,
                question.token,
                (value,),
            )
    for question in people:
        picker = next(e for e in elements if e["type"] == "users_select")
        event = _slack_press(blocks, picker, selected_user="U0BOB")
        assert isinstance(event, ChoiceMade)
        assert (event.question, event.token, event.values) == (
            question.id,
            question.token,
            ("slack:T1:U0BOB",),
        )


def _slack_press_several(blocks: list[dict[str, Any]], question: ChoiceQuestion) -> None:
    """Tick the first and third options, then press the button that sends them."""
    kinds = ("checkboxes", "multi_static_select")
    [(block, ticks)] = [
        (b, e)
        for b in blocks
        if b["type"] == "actions"
        for e in b["elements"]
        if e["type"] in kinds
    ]
    ticked = [{"value": o["value"]} for o in ticks["options"][:3:2]]
    state = {
        "values": {
            block["block_id"]: {
                ticks["action_id"]: {"type": ticks["type"], "selected_options": ticked}
            }
        }
    }
    [send] = [
        e
        for b in blocks
        if b["type"] == "actions"
        for e in b["elements"]
        if e["type"] == "button" and question.id in e.get("value", "").split(slack.SEP)
    ]
    body = {
        "user": {"id": SLACK_OWNER, "team_id": "T1"},
        "actions": [{"action_id": send["action_id"], "value": send["value"]}],
        "container": {"message_ts": "1.0"},
        "state": state,
    }
    event = slack_in.action_event(body).event
    assert isinstance(event, ChoiceMade), event
    assert (event.question, event.token) == (question.id, question.token)
    assert event.values == (question.options[0].value, question.options[2].value)


def test_slack_a_question_of_several_choices_lets_several_be_chosen() -> None:
    blocks = [b.to_dict() for b in slack.reply_blocks(INSTANCES[ChoiceQuestion]["several"], "U")]
    kinds = {e["type"] for b in blocks if b["type"] == "actions" for e in b["elements"]}
    assert kinds & {"multi_static_select", "checkboxes"}


@pytest.mark.parametrize(
    "reply", [c for c in CASES if any(isinstance(r, Form) for r in _shown(c.values[0]))]
)
def test_slack_a_form_page_comes_back_as_that_page(reply: Reply) -> None:
    form = next(r for r in _shown(reply) if isinstance(r, Form))
    blocks = [b for m in slack.messages([reply], SLACK_OWNER) for b in m]
    inputs = [b for b in blocks if b["type"] == "input"]
    assert [b["block_id"] for b in inputs] == [
        slack.pack("q", form.token, q.id) for q in form.questions
    ]
    state = {
        "values": {
            b["block_id"]: {slack.ACTION_INPUT: {"type": "plain_text_input", "value": "typed"}}
            for b in inputs
        }
    }
    buttons = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    submit = next(e for e in buttons if e["action_id"] == slack.ACTION_SUBMIT)
    block = next(b for b in blocks if submit in b.get("elements", []))
    body = {
        "user": {"id": SLACK_OWNER, "team_id": "T1"},
        "actions": [{"action_id": submit["action_id"], "value": submit["value"]}],
        "container": {"message_ts": "1.0"},
        "state": state,
        "block_id": block["block_id"],
    }
    event = slack_in.action_event(body).event
    assert isinstance(event, FormSubmitted)
    assert (event.form, event.token) == (form.id, form.token)
    assert set(event.values) == {q.id for q in form.questions}
    for control in (c for c in form.controls if c is not ControlAction.SKIP):
        button = next(e for e in buttons if e["action_id"].endswith("." + control.value))
        event = _slack_press(blocks, button)
        assert isinstance(event, Control)
        assert (event.action, event.token) == (control, form.token)


# ---------------------------------------------------------------- Teams

TEAMS_ELEMENTS = {"RichTextBlock", "Container", "Input.ChoiceSet", "Input.Text"}
TEAMS_STYLES = {None, "positive", "destructive"}


def _teams_cards(reply: Reply) -> list[dict[str, Any]]:
    return json.loads(json.dumps(teams.cards([reply], TEAMS_OWNER)))


def _teams_texts(card: dict[str, Any]) -> str:
    out: list[str] = []
    for node in _walk(card):
        kind = node.get("type")
        if kind == "TextRun":
            out.append(node["text"])
        elif kind in ("Input.Text", "Input.ChoiceSet"):
            out.append(node.get("label", ""))
            out += [c["title"] for c in node.get("choices", [])]
        elif kind == "Action.Execute":
            out.append(node["title"])
    return "\n".join(out)


@pytest.mark.parametrize("reply", CASES)
def test_teams_renders_adaptive_cards_teams_accepts(reply: Reply) -> None:
    contents = _teams_cards(reply)
    assert contents
    for card in contents:
        assert card["type"] == "AdaptiveCard" and card["version"] == "1.5"
        assert isinstance(card["body"], list) and card["body"]
        for element in card["body"]:
            assert element["type"] in TEAMS_ELEMENTS, element
        for node in _walk(card["body"]):
            if node.get("type") == "RichTextBlock":
                assert all(i["type"] == "TextRun" for i in node["inlines"])
            if node.get("type") == "Container":
                assert node["items"]
        ids = [n["id"] for n in _walk(card["body"]) if str(n.get("type")).startswith("Input.")]
        assert len(ids) == len(set(ids)), ids
        actions = card.get("actions", [])
        assert len(actions) <= teams.MAX_ACTIONS
        for action in actions:
            assert action["type"] == "Action.Execute" and action["verb"] == teams.VERB
            assert action["title"] and action.get("style") in TEAMS_STYLES
            assert action["data"][teams.KEY]["owner"] == TEAMS_OWNER


@pytest.mark.parametrize("reply", CASES)
def test_teams_shows_every_text_and_no_markdown(reply: Reply) -> None:
    contents = _teams_cards(reply)
    shown = "\n".join(_teams_texts(c) for c in contents)
    assert not _missing(required_texts(reply, "teams"), shown)
    for node in _walk(contents):
        # Markdown is read only in a TextBlock: the cards module never uses one.
        assert node.get("type") != "TextBlock", node


def _teams_press(data: dict[str, Any]) -> Any:
    activity = Activity(
        type="invoke",
        id="act-1",
        from_property=ChannelAccount(id="29:alice", aad_object_id=TEAMS_OWNER),
        conversation=ConversationAccount(id="c1", tenant_id="T1", conversation_type="personal"),
    )
    return teams_in.action_event(activity, data).event


@pytest.mark.parametrize("reply", CASES)
def test_teams_presses_come_back_to_the_question_asked(reply: Reply) -> None:
    contents = _teams_cards(reply)
    actions = [a for c in contents for a in c.get("actions", [])]
    shown = _shown(reply)
    if not any(isinstance(r, ChoiceQuestion | Confirmation | PersonQuestion | Form) for r in shown):
        assert not actions  # typed answers only: nothing to press
        return
    for question in (r for r in shown if isinstance(r, ChoiceQuestion | Confirmation)):
        choices = (
            ["yes", "no"]
            if isinstance(question, Confirmation)
            else [o.value for o in question.options]
        )
        mine = [a for a in actions if a["data"][teams.KEY].get("question") == question.id]
        assert mine, f"no action answers {question.id}"
        for value in choices:
            action = next((a for a in mine if a["data"][teams.KEY].get("value") == value), None)
            data = dict((action or mine[0])["data"])
            if action is None:  # a menu: its input's value comes with the press
                data[data[teams.KEY]["input"]] = value
            event = _teams_press(data)
            assert isinstance(event, ChoiceMade), event
            assert (event.question, event.token, event.values) == (
                question.id,
                question.token,
                (value,),
            )
    for question in (r for r in shown if isinstance(r, PersonQuestion)):
        action = next(a for a in actions if a["data"][teams.KEY].get("kind") == "person")
        event = _teams_press({**action["data"], question.id: "aad-bob"})
        assert isinstance(event, ChoiceMade)
        assert (event.question, event.token, event.values) == (
            question.id,
            question.token,
            ("teams:T1:aad-bob",),
        )
    for form in (r for r in shown if isinstance(r, Form)):
        submit = next(a for a in actions if a["data"][teams.KEY].get("kind") == "submit")
        event = _teams_press({**submit["data"], **{q.id: "typed" for q in form.questions}})
        assert isinstance(event, FormSubmitted)
        assert (event.form, event.token) == (form.id, form.token)
        assert set(event.values) == {q.id for q in form.questions}
        for control in (c for c in form.controls if c is not ControlAction.SKIP):
            action = next(a for a in actions if a["data"][teams.KEY].get("action") == control.value)
            event = _teams_press(action["data"])
            assert isinstance(event, Control)
            assert (event.action, event.token) == (control, form.token)


def test_teams_a_question_of_several_choices_comes_back_as_several() -> None:
    question = INSTANCES[ChoiceQuestion]["several"]
    assert isinstance(question, ChoiceQuestion)
    [card] = _teams_cards(question)
    [action] = card["actions"]
    data = {**action["data"], question.id: "v0,v2"}
    event = _teams_press(data)
    assert isinstance(event, ChoiceMade) and event.values == ("v0", "v2")


# ---------------------------------------------------------------- the console


@pytest.mark.parametrize("reply", CASES)
def test_console_shows_every_text_as_written(reply: Reply) -> None:
    out = console.render(reply)
    assert not _missing(required_texts(reply, "console"), out)
    assert "\x1b" not in out  # a terminal reads nothing in it as a control sequence


@pytest.mark.parametrize("reply", CASES)
def test_console_choices_come_back_to_the_question_asked(reply: Reply) -> None:
    person = console.console_person("alice")
    on_screen = console.on_screen([reply])
    shown = [r for r in _shown(reply) if not isinstance(r, Text | Notice | SummaryCard)]
    last = shown[-1] if shown else None
    if not isinstance(last, ChoiceQuestion | Confirmation):
        assert on_screen is None  # typed answers, routed by the conversation in the core
        return
    assert on_screen is last
    choices = (
        [("yes", last.confirm_label), ("no", last.deny_label)]
        if isinstance(last, Confirmation)
        else [(o.value, o.label) for o in last.options]
    )
    out = console.render(reply)
    for number, (value, label) in enumerate(choices, start=1):
        assert f"{number}. " in out
        for typed in (str(number), label, f" {label.upper()}. "):
            event = console.pressed(typed, on_screen, person)
            assert event is not None, typed
            assert (event.question, event.token, event.values) == (last.id, last.token, (value,))
    assert console.pressed("something else", on_screen, person) is None
    assert console.pressed(str(len(choices) + 1), on_screen, person) is None
    if isinstance(last, ChoiceQuestion) and last.multiple:
        event = console.pressed("1, 3", on_screen, person)
        assert event is not None and event.values == (choices[0][0], choices[2][0])


def test_console_prints_no_control_characters() -> None:
    """A terminal acts on ESC sequences, BEL and the like: none is ever printed."""
    sneaky = "before\x1b[2J\x1b]0;owned\x07after\rover\x9b31m"
    for reply in (
        Text(text=sneaky),
        Notice(title=sneaky, text=sneaky),
        _choice(prompt=sneaky, options=_options(sneaky)),
        SummaryCard(title=sneaky, fields=(SummaryField(label=sneaky, value=sneaky),)),
    ):
        out = console.render(reply)
        assert not console.CONTROL.search(out), repr(out)
        assert "before[2J]0;ownedafter" in out and "31m" in out


def _all_renderers() -> dict[str, Callable[[Reply], object]]:
    return {
        "slack": lambda r: slack.reply_blocks(r, SLACK_OWNER),
        "teams": lambda r: teams.reply_parts(r, TEAMS_OWNER),
        "console": console.render,
    }


@pytest.mark.parametrize("surface", sorted(_all_renderers()))
@pytest.mark.parametrize("kind", REPLY_TYPES, ids=lambda k: k.__name__)
def test_every_reply_type_renders_on_every_surface(surface: str, kind: type[Any]) -> None:
    instances = INSTANCES.get(kind)
    assert instances, f"no instances of {kind.__name__}: add some to INSTANCES"
    for reply in instances.values():
        assert _all_renderers()[surface](reply)
