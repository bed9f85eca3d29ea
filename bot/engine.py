"""The flow engine: pure transitions over a saved draft.

`start`, `prompt` and `advance` take a draft and an event and return the next
draft, the replies and any domain events. They do no I/O: the caller
(`bot.app.Harbour`) saves the draft, then sends the replies, so every answer is
on disk before the person sees the next question.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from bot.flow import REVIEW, AnswerKind, Flow, FlowContext, Page, Step
from bot.models import (
    ChoiceMade,
    ChoiceQuestion,
    Confirmation,
    Control,
    ControlAction,
    FilesShared,
    Form,
    FormSubmitted,
    Notice,
    NoticeLevel,
    Question,
    Reply,
    Text,
    TextMessage,
    TextQuestion,
)
from bot.reports import EventKind
from bot.validation import Invalid, clean_text, form_value, parse_answer

CANCEL = "cancel"
"""The id of the "discard this draft?" confirmation."""

CONTROL_WORDS: dict[str, ControlAction] = {
    "back": ControlAction.BACK,
    "go back": ControlAction.BACK,
    "skip": ControlAction.SKIP,
    "pause": ControlAction.PAUSE,
    "later": ControlAction.PAUSE,
    "come back later": ControlAction.PAUSE,
    "cancel": ControlAction.CANCEL,
    "stop": ControlAction.CANCEL,
    "help": ControlAction.HELP,
    "?": ControlAction.HELP,
}
YES_WORDS = frozenset({"yes", "y", "yeah", "yep", "ok", "okay", "confirm", "1"})
NO_WORDS = frozenset({"no", "n", "nope", "2", "back"})

FlowEvent = TextMessage | ChoiceMade | FormSubmitted | Control | FilesShared


class Draft(BaseModel):
    """A flow in progress. Saved after every step; typed answers via `Flow.typed`."""

    id: str
    flow: str
    subject: str | None = Field(default=None, description="The report it is about, if any.")
    step: str
    answers: dict[str, Any] = Field(default_factory=dict)
    trail: list[str] = Field(default_factory=list, description="Steps behind us, for back.")
    revision: int = 0
    confirming_cancel: bool = False
    paused: bool = False
    effects_done: list[str] = Field(default_factory=list)
    started_at: datetime
    updated_at: datetime

    @property
    def token(self) -> str:
        return f"{self.id}.{self.revision}"


Outcome = Literal["continue", "paused", "cancelled", "finished"]


@dataclass
class Transition:
    outcome: Outcome
    draft: Draft
    replies: list[Reply] = field(default_factory=list)
    events: list[EventKind] = field(default_factory=list)


def start(
    flow: Flow[Any],
    *,
    draft_id: str,
    now: datetime,
    ctx: FlowContext,
    subject: str | None = None,
    answers: dict[str, Any] | None = None,
) -> Transition:
    """Begin a flow, optionally pre-filled (e.g. reflections saved earlier)."""
    first = flow.visible(answers or {})[0][1]
    draft = Draft(
        id=draft_id,
        flow=flow.id,
        subject=subject,
        step=first.id,
        answers=answers or {},
        started_at=now,
        updated_at=now,
    )
    replies: list[Reply] = [Text(text=flow.intro)] if flow.intro else []
    return Transition("continue", draft, [*replies, *prompt(flow, draft, ctx)])


def prompt(flow: Flow[Any], draft: Draft, ctx: FlowContext) -> list[Reply]:
    """What to show for the draft's current position (asking again is harmless)."""
    if draft.confirming_cancel:
        return [
            Confirmation(
                id=CANCEL,
                prompt="Discard this draft? Nothing you've entered so far will be kept.",
                confirm_label="Yes, discard it",
                deny_label="No, keep going",
                token=draft.token,
                danger=True,
            )
        ]
    if draft.step == REVIEW:
        return [flow.summary(flow.typed(draft.answers), ctx), _review_question(flow, draft)]
    return [_form(flow, draft)]


def _review_question(flow: Flow[Any], draft: Draft, lead: str = "") -> Confirmation:
    return Confirmation(
        id=REVIEW,
        prompt=f"{lead} {flow.review_prompt}".strip(),
        confirm_label=flow.confirm_label,
        deny_label="Go back and change something",
        token=draft.token,
    )


def _ask_again(flow: Flow[Any], draft: Draft, ctx: FlowContext) -> list[Reply]:
    """The current question again, after a notice. At the review that is only
    the yes-or-back question: the summary is just above, so it isn't repeated."""
    if draft.step == REVIEW and not draft.confirming_cancel:
        return [_review_question(flow, draft)]
    return prompt(flow, draft, ctx)


def _progress(pages: list[str], page_id: str, questions: int) -> str:
    """Where the page is in the flow ("Part 2 of 5"). A flow of one page has no
    parts ("Part 1 of 1" says nothing), so it says how many questions it has."""
    if len(pages) > 1:
        return f"Part {pages.index(page_id) + 1} of {len(pages)}"
    return "One question" if questions == 1 else f"{questions} questions"


def _form(flow: Flow[Any], draft: Draft) -> Form:
    page, focus = _position(flow, draft)
    visible = flow.visible(draft.answers)
    page_steps = [s for p, s in visible if p.id == page.id]
    pages = list(dict.fromkeys(p.id for p, _ in visible))
    controls = [ControlAction.BACK] if draft.trail else []
    if not focus.required:
        controls.append(ControlAction.SKIP)
    controls += [ControlAction.PAUSE, ControlAction.CANCEL, ControlAction.HELP]
    return Form(
        id=page.id,
        title=page.title,
        intro=page.intro,
        questions=tuple(_question(flow, s, draft) for s in page_steps),
        focus=focus.id,
        token=draft.token,
        progress=_progress(pages, page.id, len(page_steps)),
        controls=tuple(controls),
        submit_label="Next" if page.id != pages[-1] else "Review",
    )


def _question(flow: Flow[Any], step: Step[Any], draft: Draft) -> Question:
    value = form_value(step, draft.answers.get(step.field))
    if step.is_choice:
        return ChoiceQuestion(
            id=step.id,
            prompt=step.prompt,
            options=flow.options_for(step),
            multiple=step.kind is AnswerKind.MULTI_CHOICE,
            required=step.required,
            hint=step.hint,
            value=value if isinstance(value, tuple) else (),
            token=draft.token,
        )
    return TextQuestion(
        id=step.id,
        prompt=step.prompt,
        multiline=step.kind in (AnswerKind.LONG_TEXT, AnswerKind.LINKS),
        required=step.required,
        hint=step.hint,
        max_length=step.max_length,
        value=value if isinstance(value, str) else "",
        token=draft.token,
    )


def _position(flow: Flow[Any], draft: Draft) -> tuple[Page[Any], Step[Any]]:
    """The page and step the draft is on; if that step no longer exists or no
    longer applies (the flow changed since the draft was saved), the first
    visible step that has no answer yet."""
    visible = flow.visible(draft.answers)
    for page, step in visible:
        if step.id == draft.step:
            return page, step
    for page, step in visible:
        if draft.answers.get(step.field) in (None, [], ""):
            return page, step
    return visible[-1]


def advance(
    flow: Flow[Any], draft: Draft, event: FlowEvent, *, now: datetime, ctx: FlowContext
) -> Transition:
    """Apply one event to a draft."""
    token = getattr(event, "token", "")
    if token and token != draft.token:
        return _stale(flow, draft, ctx)
    if isinstance(event, FilesShared):
        return _files(flow, draft, event, now, ctx)
    if isinstance(event, Control):
        if event.values and not draft.confirming_cancel and draft.step != REVIEW:
            draft = _keep_page(flow, draft, event.values, now)
        return _control(flow, draft, event.action, now, ctx, by_page=event.by_page)
    if isinstance(event, TextMessage):
        word = clean_text(event.text).casefold()
        if not draft.confirming_cancel and word in CONTROL_WORDS:
            return _control(flow, draft, CONTROL_WORDS[word], now, ctx)
        if CONTROL_WORDS.get(word) is ControlAction.HELP:
            return _control(flow, draft, ControlAction.HELP, now, ctx)
    if draft.confirming_cancel:
        return _answer_cancel(flow, draft, event, now, ctx)
    if draft.step == REVIEW:
        return _answer_review(flow, draft, event, now, ctx)
    if isinstance(event, FormSubmitted):
        return _answer_page(flow, draft, event, now, ctx)
    _, step = _position(flow, draft)
    if isinstance(event, ChoiceMade):
        if event.question != step.id:
            return _stale(flow, draft, ctx)
        raw: str | list[str] = list(event.values)
    else:
        raw = event.text
    value = parse_answer(step, raw, flow.options_for(step))
    if isinstance(value, Invalid):
        return _refuse(flow, draft, value.message, ctx)
    return _move_on(flow, _save(draft, flow.stored(step, value), now), [step], ctx, now)


def _decision(event: FlowEvent, confirm_label: str, deny_label: str) -> bool | None:
    if isinstance(event, ChoiceMade) and event.values:
        choice = event.values[0].casefold()
    elif isinstance(event, TextMessage):
        choice = clean_text(event.text).casefold()
    else:
        return None
    if choice in YES_WORDS or choice == confirm_label.casefold():
        return True
    if choice in NO_WORDS or choice == deny_label.casefold():
        return False
    return None


def _answer_cancel(
    flow: Flow[Any], draft: Draft, event: FlowEvent, now: datetime, ctx: FlowContext
) -> Transition:
    decision = _decision(event, "yes, discard it", "no, keep going")
    if decision is None:
        return Transition(
            "continue",
            draft,
            [Notice(text="Please answer yes to discard the draft, or no to keep going.")]
            + prompt(flow, draft, ctx),
        )
    if decision:
        sent = [flow.effects_sent[k] for k in draft.effects_done if k in flow.effects_sent]
        kept = (
            f"Discarded: none of your answers were kept. What was sent before ({'; '.join(sent)}) "
            "still stands."
            if sent
            else "Discarded: nothing from it was kept or sent to anyone."
        )
        again = f" To start again, say {_command(flow, draft)}." if flow.command else ""
        return Transition(
            "cancelled",
            draft,
            [Text(text=f"{kept}{again} Say help for everything else I can do.")],
        )
    return _keep_going(flow, draft, now, ctx)


def _keep_going(flow: Flow[Any], draft: Draft, now: datetime, ctx: FlowContext) -> Transition:
    kept = _save(draft, {}, now, confirming_cancel=False)
    return Transition(
        "continue", kept, [Text(text="Good, let's carry on."), *prompt(flow, kept, ctx)]
    )


def _answer_review(
    flow: Flow[Any], draft: Draft, event: FlowEvent, now: datetime, ctx: FlowContext
) -> Transition:
    if isinstance(event, ChoiceMade) and event.question != REVIEW:
        return _stale(flow, draft, ctx)
    decision = _decision(event, flow.confirm_label, "go back and change something")
    if decision is None:
        lead = f"Say yes to {flow.confirm_label.lower()}, or back to change something."
        return Transition("continue", draft, [_review_question(flow, draft, lead)])
    if decision:
        return Transition("finished", draft)
    return _control(flow, draft, ControlAction.BACK, now, ctx)


def _from_form(step: Step[Any], raw: str | list[str] | None) -> str | list[str] | None:
    """A form's answer as pressed: a choice on a form is always option values
    (one, or several comma-separated, as `FormSubmitted` allows), never a
    typed position."""
    if step.is_choice and isinstance(raw, str):
        return raw.split(",") if step.kind is AnswerKind.MULTI_CHOICE else [raw]
    return raw


def _keep_page(
    flow: Flow[Any], draft: Draft, values: dict[str, str | list[str] | None], now: datetime
) -> Draft:
    """What was on the page when a control was pressed: each valid answer is
    kept (nothing moves on; an invalid or empty one is simply not kept)."""
    page, _ = _position(flow, draft)
    updates: dict[str, Any] = {}
    for _, step in ((p, s) for p, s in flow.visible(draft.answers) if p.id == page.id):
        raw = values.get(step.id)
        if raw in (None, "", []):
            continue
        value = parse_answer(step, _from_form(step, raw), flow.options_for(step))
        if isinstance(value, Invalid) and step.kind is AnswerKind.LINKS and isinstance(raw, str):
            # One address she mistyped must not cost her the others.
            good = [parse_answer(step, word, ()) for word in raw.split()]
            value = [v for g in good if isinstance(g, list) for v in g] or value
        if not isinstance(value, Invalid):
            updates.update(flow.stored(step, value))
    return _save(draft, updates, now) if updates else draft


def _read_page(
    flow: Flow[Any], draft: Draft, values: dict[str, str | list[str] | None]
) -> tuple[list[Step[Any]], dict[str, Any], dict[str, Invalid]]:
    """A submitted page read as the engine reads it: its steps, the answers
    that are valid (as stored), and what is wrong with the others, by step id."""
    page, _ = _position(flow, draft)
    steps = [s for p, s in flow.visible(draft.answers) if p.id == page.id]
    updates: dict[str, Any] = {}
    problems: dict[str, Invalid] = {}
    for step in steps:
        value = parse_answer(step, _from_form(step, values.get(step.id)), flow.options_for(step))
        if isinstance(value, Invalid):
            problems[step.id] = value
        else:
            updates.update(flow.stored(step, value))
    return steps, updates, problems


def page_problems(flow: Flow[Any], draft: Draft, event: FormSubmitted) -> dict[str, str]:
    """What is wrong on a submitted page of `flow`, by step id, in the words
    its answer would get: for a platform that shows each beside its field
    before the page is sent on (a Slack modal). {} if nothing, or if it is not
    the page her draft is on (the engine then says so)."""
    if draft.token != event.token:
        return {}
    page, _ = _position(flow, draft)
    if event.form != page.id:
        return {}
    _, _, problems = _read_page(flow, draft, event.values)
    return {step_id: invalid.message for step_id, invalid in problems.items()}


def _answer_page(
    flow: Flow[Any], draft: Draft, event: FormSubmitted, now: datetime, ctx: FlowContext
) -> Transition:
    page, _ = _position(flow, draft)
    if event.form != page.id:
        return _stale(flow, draft, ctx)
    steps, updates, invalid = _read_page(flow, draft, event.values)
    problems = [
        f"{step.prompt} — {invalid[step.id].message}" for step in steps if step.id in invalid
    ]
    if problems:
        text = "Some answers need another look:\n" + "\n".join(f"• {p}" for p in problems)
        # Keep what was valid, so a retry does not lose it.
        return _refuse(flow, _save(draft, updates, now), text, ctx)
    return _move_on(flow, _save(draft, updates, now), steps, ctx, now)


def _move_on(
    flow: Flow[Any],
    draft: Draft,
    answered: list[Step[Any]],
    ctx: FlowContext,
    now: datetime,
) -> Transition:
    replies: list[Reply] = []
    events: list[EventKind] = []
    done = list(draft.effects_done)
    typed = flow.typed(draft.answers)
    for step in answered:
        effects = step.after(typed, ctx) if step.after else None
        if effects is not None and effects.key not in done:
            done.append(effects.key)
            replies.extend(effects.replies)
            events.extend(effects.events)
    visible = [s.id for _, s in flow.visible(draft.answers)]
    last = answered[-1].id
    following = visible[visible.index(last) + 1 :] if last in visible else []
    answered_ids = [s.id for s in answered]
    trail = [t for t in draft.trail if t not in answered_ids] + answered_ids
    moved = draft.model_copy(
        update={
            "step": following[0] if following else REVIEW,
            "trail": trail,
            "effects_done": done,
            "revision": draft.revision + 1,
            "updated_at": now,
        }
    )
    return Transition("continue", moved, replies + prompt(flow, moved, ctx), events)


def _command(flow: Flow[Any], draft: Draft) -> str:
    """What to say to open the flow again ("report", "reflect HB-2026-0042")."""
    return f"{flow.command} {draft.subject}" if draft.subject else flow.command


def _paused(flow: Flow[Any], draft: Draft) -> str:
    if not flow.command:
        return "Your draft is saved, just as you left it. " + _sent_so_far(flow, draft)
    if not flow.picks_up:
        return (
            f"Paused: nothing from this {flow.noun} has been saved yet. When you're ready, say "
            f"{_command(flow, draft)} and choose it again."
        )
    return (
        f"Your {flow.noun} draft is saved, just as you left it. Take whatever time you "
        f"need: say {_command(flow, draft)} when you're ready, and we'll carry on from here. "
        + _sent_so_far(flow, draft)
    )


def _sent_so_far(flow: Flow[Any], draft: Draft) -> str:
    sent = [flow.effects_sent[k] for k in draft.effects_done if k in flow.effects_sent]
    if not sent:
        return "Nothing has been sent to anyone yet."
    return f"Already sent: {'; '.join(sent)}. None of your answers have been sent."


def _control(
    flow: Flow[Any],
    draft: Draft,
    action: ControlAction,
    now: datetime,
    ctx: FlowContext,
    *,
    by_page: bool = False,
) -> Transition:
    if action is ControlAction.HELP:
        return Transition("continue", draft, [_help(flow, draft), *_ask_again(flow, draft, ctx)])
    if action is ControlAction.PAUSE:
        paused = _save(draft, {}, now, paused=True)
        return Transition("paused", paused, [Text(text=_paused(flow, draft))])
    if action is ControlAction.CANCEL:
        confirming = _save(draft, {}, now, confirming_cancel=True)
        return Transition("continue", confirming, prompt(flow, confirming, ctx))
    if draft.confirming_cancel:
        return _keep_going(flow, draft, now, ctx)
    if action is ControlAction.BACK:
        return _back(flow, draft, now, ctx, by_page=by_page)
    # SKIP
    if draft.step == REVIEW:
        return _refuse(flow, draft, "There is nothing left to skip: this is the summary.", ctx)
    _, step = _position(flow, draft)
    if step.required:
        return _refuse(
            flow,
            draft,
            f"This one can't be skipped: the {flow.noun} needs it. "
            "If you'd rather stop for now, say pause.",
            ctx,
        )
    return _move_on(flow, _save(draft, flow.stored(step, None), now), [step], ctx, now)


def _back(
    flow: Flow[Any], draft: Draft, now: datetime, ctx: FlowContext, *, by_page: bool
) -> Transition:
    """Step back one question, or (`by_page`, for form adapters) to the start
    of the previous page. Steps that no longer apply are passed over."""
    page_of = {s.id: p.id for p, s in flow.visible(draft.answers)}
    trail = [step_id for step_id in draft.trail if step_id in page_of]
    if not trail:
        return Transition(
            "continue",
            draft,
            [Notice(text="This is the first question, so there is nothing to go back to.")]
            + prompt(flow, draft, ctx),
        )
    target = trail.pop()
    if by_page:
        here = page_of.get(draft.step)
        while trail and page_of[target] == here:
            target = trail.pop()
        while trail and page_of[trail[-1]] == page_of[target]:
            target = trail.pop()
    back = draft.model_copy(
        update={"step": target, "trail": trail, "revision": draft.revision + 1, "updated_at": now}
    )
    return Transition("continue", back, prompt(flow, back, ctx))


def _help(flow: Flow[Any], draft: Draft) -> Notice:
    lines = []
    if draft.step != REVIEW and not draft.confirming_cancel:
        _, step = _position(flow, draft)
        if step.help:
            lines.append(step.help)
        if step.other is not None:
            lines.append("Choose an option, or type it in your own words.")
        elif step.is_choice:
            lines.append("Answer with the number or the name of an option.")
    lines.append(
        "At any point you can say back (previous question), skip (optional questions), "
        "pause (stop for now) or cancel (discard it)."
    )
    return Notice(title=f"Help: {flow.title}", text="\n".join(lines))


def _files(
    flow: Flow[Any], draft: Draft, event: FilesShared, now: datetime, ctx: FlowContext
) -> Transition:
    if flow.attachments_field is None:
        return _refuse(
            flow,
            draft,
            "Files can't be kept with this conversation; please share them in a report.",
            ctx,
        )
    kept = list(draft.answers.get(flow.attachments_field) or [])
    for f in event.files:
        entry = clean_text(f"{f.name} {f.url}" if f.url else f.name)[:300]
        if entry and entry not in kept:
            kept.append(entry)
    saved = _save(draft, {flow.attachments_field: kept}, now)
    noun = "file" if len(event.files) == 1 else "files"
    return Transition(
        "continue",
        saved,
        [
            Notice(
                text=f"Kept {len(event.files)} {noun} with the evidence for this draft.",
                level=NoticeLevel.SUCCESS,
            ),
            *prompt(flow, saved, ctx),
        ],
    )


def _stale(flow: Flow[Any], draft: Draft, ctx: FlowContext) -> Transition:
    return Transition(
        "continue",
        draft,
        [
            Notice(
                text="That question has already been answered, so I've left it as it was. "
                "Here is where we are now."
            ),
            *prompt(flow, draft, ctx),
        ],
    )


def _refuse(flow: Flow[Any], draft: Draft, message: str, ctx: FlowContext) -> Transition:
    return Transition(
        "continue",
        draft,
        [Notice(text=message, level=NoticeLevel.WARNING), *_ask_again(flow, draft, ctx)],
    )


def _save(draft: Draft, updates: dict[str, Any], now: datetime, **fields: Any) -> Draft:
    return draft.model_copy(
        update={"answers": {**draft.answers, **updates}, "updated_at": now, **fields}
    )
