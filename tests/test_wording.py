"""Review findings on answers and wording: option values that are numbers,
links and invisible characters, the words each flow uses for itself, the
review step, a manager's own words on a case, the 24/7 line when no employee
assistance number is set, and the reflective questions' opening line."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bot.app import Harbour
from bot.cases import CASE_QUESTION
from bot.checkins import ANSWERS, CADENCES
from bot.config import Settings
from bot.flow import AnswerKind, Flow, Step
from bot.guidance import Library
from bot.models import ChoiceMade, Confirmation, Form, Option, SummaryCard
from bot.reports import ReportAnswers
from bot.store import Store
from bot.validation import Invalid, clean_text, display_value, parse_choice, parse_links
from flows import FLOWS, REFLECTION
from flows.case import CASE_ACTION, choice_words
from flows.steps import WORRY_OPTIONS
from tests.conftest import Chat, Clock, type_report

# ------------------------------------------------------------------ option values that are numbers


def _choice_steps() -> list[tuple[str, Step[Any], tuple[Option, ...]]]:
    """Every choice asked anywhere: each flow's choice steps, and the check-in
    answers and cadences (asked as single choices)."""
    steps = [
        (f"{flow.id}:{step.id}", step, flow.options_for(step))
        for flow in FLOWS.values()
        for page in flow.pages
        for step in page.steps
        if step.is_choice
    ]
    for name, options in (("checkin-answers", ANSWERS), ("cadences", CADENCES)):
        single = Step[Any](id=name, prompt=name, kind=AnswerKind.CHOICE, field="x", options=options)
        steps.append((name, single, options))
    return steps


CHOICES = _choice_steps()
IDS = [name for name, _, _ in CHOICES]


def _expected(step: Step[Any], option: Option) -> Any:
    if step.kind is AnswerKind.YES_NO:
        return option.value == "yes"
    return [option.value] if step.kind is AnswerKind.MULTI_CHOICE else option.value


@pytest.mark.parametrize(("name", "step", "options"), CHOICES, ids=IDS)
def test_a_pressed_value_is_that_option(
    name: str, step: Step[Any], options: tuple[Option, ...]
) -> None:
    for option in options:
        assert parse_choice(step, [option.value], options) == _expected(step, option), option


@pytest.mark.parametrize(("name", "step", "options"), CHOICES, ids=IDS)
def test_a_typed_number_is_its_place_in_the_list(
    name: str, step: Step[Any], options: tuple[Option, ...]
) -> None:
    for position, option in enumerate(options, start=1):
        assert parse_choice(step, str(position), options) == _expected(step, option), position
        assert parse_choice(step, f" {position}. ", options) == _expected(step, option)


@pytest.mark.parametrize(("name", "step", "options"), CHOICES, ids=IDS)
def test_a_typed_label_or_value_is_that_option(
    name: str, step: Step[Any], options: tuple[Option, ...]
) -> None:
    for option in options:
        expected = _expected(step, option)
        assert parse_choice(step, option.label, options) == expected, option.label
        assert parse_choice(step, option.label.upper(), options) == expected, option.label
        value = option.value
        if value.isdecimal() and 1 <= int(value) <= len(options):
            # A typed number is a place in the list, as shown.
            expected = _expected(step, options[int(value) - 1])
        assert parse_choice(step, value, options) == expected, value


def test_cadence_values_pressed_and_typed() -> None:
    step = next(s for name, s, _ in CHOICES if name == "case-checkins:what")
    assert parse_choice(step, ["3"], CADENCES) == "3"  # the "In 3 days" button
    assert parse_choice(step, ["7"], CADENCES) == "7"  # the "In a week" button
    assert parse_choice(step, ["1,3,7"], CADENCES) == "1,3,7"
    assert parse_choice(step, "3", CADENCES) == "7"  # typed: the third option shown
    assert parse_choice(step, "7", CADENCES) == "7"  # no 7th option: the value
    assert parse_choice(step, "in 3 days", CADENCES) == "3"
    assert parse_choice(step, "1, 3, 7", CADENCES) == "1,3,7"


def test_worry_scale_reads_the_same_pressed_or_typed() -> None:
    step = next(s for name, s, _ in CHOICES if name == "report:worry")
    for n in range(1, 6):
        assert parse_choice(step, [str(n)], WORRY_OPTIONS) == str(n)
        assert parse_choice(step, str(n), WORRY_OPTIONS) == str(n)
    assert parse_choice(step, "very worried", WORRY_OPTIONS) == "4"
    assert parse_choice(step, "4 — very worried", WORRY_OPTIONS) == "4"
    assert isinstance(parse_choice(step, "²", WORRY_OPTIONS), Invalid)  # refused, no crash


async def _open_case_form(harbour: Harbour, ref: str, action: str) -> Chat:
    bob = Chat(harbour, "bob")
    await bob.send_event(
        ChoiceMade(
            event_id=f"bob-{action}-{ref}",
            person=bob.person,
            question=f"{CASE_QUESTION}{ref}",
            values=(action,),
            token=ref,
        )
    )
    assert bob.form().focus == "what"
    return bob


async def _filed(harbour: Harbour) -> str:
    alice = Chat(harbour, "alice")
    await alice.command("report")
    await type_report(alice)
    await alice.say("yes")
    return next(w for w in alice.text().replace(".", " ").split() if w.startswith("HB-"))


async def _due_in_days(store: Store, ref: str, clock: Clock) -> list[float]:
    report = await store.get_report(ref)
    assert report is not None
    return [(c.due - clock.now) / timedelta(days=1) for c in report.checkins]


@pytest.mark.parametrize(
    ("how", "answer", "days"),
    [
        ("slack button", ["3"], [3.0]),
        ("slack button", ["7"], [7.0]),
        ("teams form", "3", [3.0]),
        ("teams form", "7", [7.0]),
        ("teams form", "1,3,7", [1.0, 3.0, 7.0]),
        ("typed", "In 3 days", [3.0]),
        ("typed", "2", [3.0]),
        ("typed", "3", [7.0]),
    ],
)
async def test_in_3_days_schedules_3_days(
    harbour: Harbour, store: Store, clock: Clock, how: str, answer: Any, days: list[float]
) -> None:
    ref = await _filed(harbour)
    bob = await _open_case_form(harbour, ref, "checkins")
    if how == "slack button":
        await bob.choose(*answer)
    elif how == "teams form":
        await bob.submit({"what": answer})  # an Adaptive Card sends one string
    else:
        await bob.say(answer)
    assert isinstance(bob.asking(), Confirmation), bob.text()
    await bob.say("yes")
    assert await _due_in_days(store, ref, clock) == days


# ------------------------------------------------------------------ links and invisible characters


def test_a_link_past_the_limit_says_the_limit() -> None:
    refused = parse_links("https://www.facebook.com/" + "a" * 2_098)
    assert not isinstance(refused, list)
    assert "2,123 characters" in refused.message and "2,048" in refused.message
    assert "doesn't look like a web address" not in refused.message


def test_addresses_typed_without_https_are_accepted() -> None:
    assert parse_links("facebook.com/post/1") == ["https://facebook.com/post/1"]
    assert parse_links("m.facebook.com, tiktok.com/@someone/video/1") == [
        "https://m.facebook.com",
        "https://tiktok.com/@someone/video/1",
    ]
    for not_a_link in ("screenshot.png", "e.g.", "javascript:alert(1)", "me@example.com"):
        assert not isinstance(parse_links(not_a_link), list), not_a_link


def test_invisible_characters_are_dropped_and_joiners_in_emoji_kept() -> None:
    assert clean_text("evil\u202etxt.exe") == "eviltxt.exe"  # right-to-left override
    assert clean_text("face\u200bbook") == "facebook"  # zero-width space
    assert clean_text("\ufeffhello\u2066\u2069\u00ad") == "hello"
    family = "👨\u200d👩\u200d👧"
    rainbow = "🏳\ufe0f\u200d🌈"
    assert clean_text(f"{family} {rainbow} 👍🏽") == f"{family} {rainbow} 👍🏽"
    wales = "🏴\U000e0067\U000e0062\U000e0077\U000e006c\U000e0073\U000e007f"
    assert clean_text(wales) == wales
    assert clean_text("שלום لقطات شاشة می\u200cخواهم") == "שלום لقطات شاشة می\u200cخواهم"
    assert clean_text("a\u200db \u200c") == "ab"  # a joiner between Latin letters is hidden


async def test_invisible_characters_never_reach_a_saved_answer(chat: Chat) -> None:
    await chat.command("report")
    for text in ("no", "1", "1", "skip"):
        await chat.say(text)
    assert chat.focus() == "evidence"
    await chat.say("Four\u200b screenshots \u202e")
    await chat.say("back")
    assert chat.form().focused.value == "Four screenshots"


# ------------------------------------------------------------------ how each flow names itself


def test_every_flow_names_itself_in_plain_words() -> None:
    nouns = {flow.id: flow.noun for flow in FLOWS.values()}
    assert nouns["report"] == "report"
    assert nouns["reflect"] == "reflection"
    assert nouns["update"] == "update"
    for flow in FLOWS.values():
        assert flow.noun not in ("form", flow.title.lower()), flow.id
        assert flow.command, flow.id


async def test_pausing_a_reflection_says_how_to_come_back_to_it(chat: Chat) -> None:
    await chat.command("report")
    await type_report(chat)
    await chat.say("yes")
    ref = next(w for w in chat.text().replace(".", " ").split() if w.startswith("HB-"))
    await chat.command("reflect", ref)  # a critical report: offered for later, not now
    assert chat.form().id == "concern"
    await chat.say("pause")
    said = chat.text()
    assert f"say reflect {ref}" in said
    assert "report again" not in said and "reflect on what happened" not in said
    await chat.command("reflect", ref)
    assert chat.form().id == "concern"


async def test_a_one_page_form_does_not_say_part_1_of_1(harbour: Harbour) -> None:
    ref = await _filed(harbour)
    bob = await _open_case_form(harbour, ref, "action")
    assert "Part" not in bob.form().progress
    assert bob.form().progress == "2 questions"
    dan = Chat(harbour, "dan")
    await dan.command("report")
    assert dan.form().progress.startswith("Part 1 of ")


async def test_a_manager_can_record_an_action_in_her_own_words(
    harbour: Harbour, store: Store
) -> None:
    ref = await _filed(harbour)
    bob = await _open_case_form(harbour, ref, "action")
    await bob.say("help")
    assert "your own words" in bob.text()
    await bob.say("Rang the school's principal about the posts")
    assert "couldn't match" not in bob.text()
    assert bob.focus() == "note"
    await bob.say("skip")
    summary = next(r for r in bob.replies if isinstance(r, SummaryCard))
    values = {f.label: f.value for f in summary.fields}
    assert values["What was done?"] == "Something else: Rang the school's principal about the posts"
    session = await store.load_session(bob.person)
    assert session is not None
    what = session.drafts["case-action"].answers["what"]
    assert what == "other: Rang the school's principal about the posts"
    answers = CASE_ACTION.typed({"what": what})
    assert choice_words(CASE_ACTION, answers) == values["What was done?"]
    assert choice_words(CASE_ACTION, CASE_ACTION.typed({"what": "police"})) == "Police contacted"


def test_own_words_are_for_typed_answers_only() -> None:
    _, step = CASE_ACTION.step_index["what"]
    options = CASE_ACTION.options_for(step)
    assert parse_choice(step, "police", options) == "police"
    assert parse_choice(step, "2", options) == "police"
    assert parse_choice(step, "Something else: told HR", options) == "other: told HR"
    assert parse_choice(step, ["other: told HR"], options) == "other: told HR"  # pre-filled
    assert not isinstance(parse_choice(step, ["made up"], options), str)  # a press names an option
    assert display_value(step, "other: told HR", options) == "Something else: told HR"


async def test_at_the_review_a_stray_message_reasks_in_one_line(chat: Chat) -> None:
    await chat.command("report")
    await type_report(chat)
    assert any(isinstance(r, SummaryCard) for r in chat.replies)
    await chat.say("hmm, not sure")
    [ask] = chat.replies
    assert isinstance(ask, Confirmation)
    assert "yes" in ask.prompt and "back" in ask.prompt
    await chat.say("help")
    assert not any(isinstance(r, SummaryCard | Form) for r in chat.replies)
    assert isinstance(chat.asking(), Confirmation)
    await chat.say("pause")  # every exit works at the review too
    assert "draft is saved" in chat.text()
    await chat.command("report")
    await chat.choose("resume")
    assert any(isinstance(r, SummaryCard) for r in chat.replies)  # where she left off
    await chat.say("cancel")
    assert chat.asking().id == "cancel"


async def test_discarding_after_a_danger_alert_does_not_say_nothing_was_sent(chat: Chat) -> None:
    await chat.command("report")
    await chat.say("yes")  # immediate danger: the safety leads are alerted at once
    await chat.say("cancel")
    await chat.say("yes")
    said = chat.text()
    assert "Discarded" in said and "urgent alert" in said
    assert "sent to anyone" not in said


# ------------------------------------------------------------------ a 24/7 line when no EAP number


def _library(country: str) -> Library:
    facts = {**Settings(_env_file=None).facts(), "eap_phone": "", "country": country}  # type: ignore[call-arg]
    return Library.load(facts=facts)


@pytest.mark.parametrize("country", ["IE", "GB", "ie"])
def test_no_eap_number_gives_samaritans_in_ireland_and_britain(country: str) -> None:
    library = _library(country)
    item = library.items["self-care-eap"]
    for text in (library.fill(item.summary), library.fill(item.body)):
        assert "116 123" in text and "day or night" in text
        assert "Samaritans" in text  # the source, by name
        assert "can give you the number." not in text


def test_no_eap_number_elsewhere_gives_emergency_and_crisis_line() -> None:
    library = _library("US")
    text = library.fill(library.items["self-care-eap"].summary)
    assert "116 123" not in text
    assert "emergency services on 112" in text or "emergency services on 911" in text
    assert "crisis line" in text


def test_a_set_eap_number_is_used() -> None:
    facts = {**Settings(_env_file=None).facts(), "eap_phone": "1800 000 000", "country": "IE"}  # type: ignore[call-arg]
    library = Library.load(facts=facts)
    assert "1800 000 000" in library.fill(library.items["self-care-eap"].summary)


# ------------------------------------------------------------------ reflective questions


async def test_reflection_opens_by_saying_the_questions_are_for_her(chat: Chat) -> None:
    await chat.command("report")
    await type_report(chat)
    await chat.say("yes")
    ref = next(w for w in chat.text().replace(".", " ").split() if w.startswith("HB-"))
    await chat.command("reflect", ref)
    said = chat.text()
    assert "These questions are for you" in said and "excuse" in said
    assert said.index("excuse") < said.index(REFLECTION.pages[0].steps[0].prompt)
    assert REFLECTION.intro.startswith("These questions are for you")


BLAME = ("you should have", "why didn't you", "why did you", "your fault", "failed to", "must ")


@pytest.mark.parametrize("flow", list(FLOWS.values()), ids=list(FLOWS))
def test_prompts_are_short_and_blame_free(flow: Flow[Any]) -> None:
    texts = [flow.intro, flow.review_prompt]
    for page in flow.pages:
        texts += [page.title, page.intro]
        for step in page.steps:
            texts += [step.prompt, step.hint, step.help]
    for text in filter(None, texts):
        assert not any(b in text.lower() for b in BLAME), text
    for page in flow.pages:
        for step in page.steps:
            assert len(step.prompt) <= 130, step.prompt


def test_worry_answers_read_back_as_their_labels() -> None:
    step = next(s for name, s, _ in CHOICES if name == "report:worry")
    assert display_value(step, "4", WORRY_OPTIONS) == "4 — very worried"
    assert ReportAnswers.model_validate({"worry": "4"}).worry == 4
