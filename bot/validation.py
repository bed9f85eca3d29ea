"""Turning what a person typed or picked into a typed answer, or a kind refusal.

Every refusal says what was wrong and what would work, in plain words: the
person reading it may be upset, and may be typing on a phone late at night.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from bot.flow import LINK_LIMIT, LINKS_PER_ANSWER, AnswerKind, Step
from bot.models import Option


@dataclass(frozen=True)
class Invalid:
    message: str


# What an answer becomes when it is valid: None means "left empty".
Parsed = Any

_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""Unicode's control characters (category Cc), but for tab and newline."""
_HOST = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9-]{1,63})+$")


def clean_text(text: str) -> str:
    """Normalise typed text: NFC, no control characters, no stray whitespace.

    Emoji, right-to-left scripts and every other printable character are kept
    exactly as typed; only invisible control characters (which can corrupt a
    terminal or a log line) are dropped.
    """
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _CONTROLS.sub("", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _too_long(length: int, limit: int) -> Invalid:
    return Invalid(
        f"That answer is {length:,} characters long, and this question holds up to "
        f"{limit:,}. Could you shorten it? If there is more to say, you can add it as an "
        "update once the report is filed. Everything you have already answered is saved."
    )


def parse_text(step: Step[Any], raw: str) -> Parsed | Invalid:
    text = clean_text(raw)
    if not text:
        return None
    if len(text) > step.max_length:
        return _too_long(len(text), step.max_length)
    return text


def normalise_link(item: str) -> str | None:
    """An http(s) address with a real-looking host name, or None."""
    candidate = item.strip().strip("<>()[]\"'.,;")
    if candidate.lower().startswith("www."):
        candidate = "https://" + candidate
    if len(candidate) > LINK_LIMIT or any(ch.isspace() for ch in candidate):
        return None
    try:
        parts = urlsplit(candidate)
        host = (parts.hostname or "").rstrip(".")
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https"):
        return None
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None
    if not _HOST.match(ascii_host):
        return None
    return candidate


def parse_links(raw: str | list[str]) -> Parsed | Invalid:
    items = raw if isinstance(raw, list) else re.split(r"[\s,]+", clean_text(raw))
    items = [item for item in (i.strip() for i in items) if item]
    if not items:
        return None
    links: list[str] = []
    for position, item in enumerate(items, start=1):
        link = normalise_link(item)
        if link is None:
            shown = item if len(item) <= 40 else item[:37] + "…"
            which = f"“{shown}”" if len(items) == 1 else f"Item {position} (“{shown}”)"
            return Invalid(
                f"{which} doesn't look like a web address. Links start with https:// — "
                "you can copy one from your browser's address bar or the post's Share menu. "
                "If you have screenshots or notes instead, skip this and add them on the next "
                "question."
            )
        if link not in links:
            links.append(link)
    if len(links) > LINKS_PER_ANSWER:
        return Invalid(
            f"That's {len(links)} links; one answer holds up to {LINKS_PER_ANSWER}. "
            "Add the most important ones now; the rest can go in an update after filing."
        )
    return links


def _match_option(token: str, options: tuple[Option, ...]) -> Option | None:
    token = token.strip().strip(".").casefold()
    if token.isdigit():
        index = int(token) - 1
        return options[index] if 0 <= index < len(options) else None
    for option in options:
        value = option.value.casefold()
        if token in (value, value.replace("_", " "), option.label.casefold()):
            return option
    starts = [o for o in options if o.label.casefold().startswith(token)] if len(token) >= 3 else []
    return starts[0] if len(starts) == 1 else None


def parse_choice(
    step: Step[Any], raw: str | list[str], options: tuple[Option, ...]
) -> Parsed | Invalid:
    multiple = step.kind is AnswerKind.MULTI_CHOICE
    if isinstance(raw, list):
        tokens = [t for t in raw if t.strip()]
    else:
        text = clean_text(raw)
        whole = _match_option(text, options) if text else None
        if whole is not None:
            tokens = [whole.value]
        elif multiple:
            tokens = [t for t in re.split(r"[,;\n]+|\s+(?=\d)|(?<=\d)\s+", text) if t.strip()]
        else:
            tokens = [text] if text else []
    if not tokens:
        return None
    if not multiple and len(tokens) > 1:
        return Invalid("Please pick just one option for this question.")
    chosen: list[str] = []
    for token in tokens:
        option = _match_option(token, options)
        if option is None:
            numbers = ", ".join(str(i) for i in range(1, min(len(options), 3) + 1))
            how = (
                f"the numbers or names of the options, separated by commas (e.g. {numbers})"
                if multiple
                else f"the number or name of one option (1 to {len(options)})"
            )
            return Invalid(f"I couldn't match that to an option. Please reply with {how}.")
        if option.value not in chosen:
            chosen.append(option.value)
    if step.kind is AnswerKind.YES_NO:
        return chosen[0] == "yes"
    return chosen if multiple else chosen[0]


def parse_answer(
    step: Step[Any], raw: str | list[str] | None, options: tuple[Option, ...]
) -> Parsed | Invalid:
    """Validate one answer. Returns the value to save, None for empty, or Invalid."""
    if raw is None:
        value: Parsed | Invalid = None
    elif step.is_choice:
        value = parse_choice(step, raw, options)
    elif step.kind is AnswerKind.LINKS:
        value = parse_links(raw)
    else:
        value = parse_text(step, raw if isinstance(raw, str) else "\n".join(raw))
    if value is None and step.required:
        return Invalid(
            "This question needs an answer before we go on"
            + (f" ({step.hint})." if step.hint else ".")
            + " If now isn't a good time, say pause and your draft will be kept."
        )
    return value


def display_value(step: Step[Any], value: Any, options: tuple[Option, ...]) -> str:
    """How a saved answer reads back in a summary (labels, not internal values)."""
    if value is None or value == [] or value == "":
        return "—"
    if step.kind is AnswerKind.YES_NO:
        return "Yes" if value else "No"
    labels = {o.value: o.label for o in options}
    if isinstance(value, list):
        if step.is_choice:
            return ", ".join(labels.get(str(v), str(v)) for v in value)
        return "\n".join(str(v) for v in value)
    return labels.get(str(value), str(value))


def form_value(step: Step[Any], value: Any) -> tuple[str, ...] | str:
    """A saved answer as a form shows it pre-filled: option values, or text."""
    if step.is_choice:
        if value is None:
            return ()
        if step.kind is AnswerKind.YES_NO:
            return ("yes" if value else "no",)
        return tuple(value) if isinstance(value, list) else (str(value),)
    if isinstance(value, list):
        return "\n".join(value)
    return "" if value is None else str(value)
