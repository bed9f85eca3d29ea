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

from bot.flow import LINK_LIMIT, LINKS_PER_ANSWER, SHORT_TEXT_LIMIT, AnswerKind, Step
from bot.models import Option


@dataclass(frozen=True)
class Invalid:
    message: str


# What an answer becomes when it is valid: None means "left empty".
Parsed = Any

_HOST = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9-]{1,63})+$")
_BARE_LINK = re.compile(
    r"^[^\s/?#@:]+\.(?P<tld>[^\W\d_]{2,63}|xn--[a-z0-9-]{1,59})\.?(?::\d{1,5})?(?P<path>[/?#]\S*)?$",
    re.IGNORECASE,
)
"""An address typed without https://: a host with a dot and a top-level domain of
letters, then optionally a port and a path ("facebook.com/post/1")."""
_FILE_ENDING = re.compile(
    r"png|jpe?g|gif|heic|webp|bmp|tiff?|pdf|docx?|txt|rtf|odt|xlsx?|csv|mp[34]|m4a|mov|avi|wav|zip",
    re.IGNORECASE,
)
"""Endings that make a bare "name.ending" a file name rather than a web address."""
_ZWNJ, _ZWJ = "\u200c", "\u200d"
_BLACK_FLAG = "\U0001f3f4"


def _invisible(ch: str) -> bool:
    """Unicode's control (Cc, but for tab and newline) and format (Cf) characters."""
    category = unicodedata.category(ch)
    return (category == "Cc" and ch not in "\t\n") or category == "Cf"


def _joins_script(before: str, after: str) -> bool:
    """Both sides are letters or marks of a script that uses joiners in its
    spelling (Hebrew onwards: Arabic, Persian, the Indic scripts, ...)."""
    return all(
        ch and unicodedata.category(ch)[0] in "LM" and ord(ch) >= 0x0590 for ch in (before, after)
    )


def _kept_format(ch: str, before: str, after: str) -> bool:
    """The few format characters that are part of what was typed: a joiner
    inside an emoji sequence or a word, and the tags of a subdivision flag."""
    if ch == _ZWJ and unicodedata.category(after or " ") == "So":
        return bool(before) and unicodedata.category(before) in ("So", "Sk", "Mn", "Me")
    if ch in (_ZWJ, _ZWNJ):
        return _joins_script(before, after)
    if "\U000e0020" <= ch <= "\U000e007f":
        return before == _BLACK_FLAG or "\U000e0020" <= before <= "\U000e007f"
    return False


def _drop_invisible(text: str) -> str:
    kept: list[str] = []
    for i, ch in enumerate(text):
        if _invisible(ch):
            before = kept[-1] if kept else ""
            after = text[i + 1] if i + 1 < len(text) else ""
            if not _kept_format(ch, before, after):
                continue
        kept.append(ch)
    return "".join(kept)


def clean_text(text: str) -> str:
    """Normalise typed text: NFC, no invisible characters, no stray whitespace.

    Emoji, right-to-left scripts and every other visible character are kept
    exactly as typed. Invisible control and format characters are dropped: they
    can corrupt a terminal or a log line, reverse how text reads (U+202E) or
    hide inside a word (U+200B). The joiners that emoji sequences and some
    scripts are spelled with are kept where they join.
    """
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    if not text.isprintable():
        text = _drop_invisible(text)
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


def _with_scheme(candidate: str) -> str:
    """Add https:// to an address typed without one ("www.…", "facebook.com/post/1")."""
    if candidate.lower().startswith("www."):
        return "https://" + candidate
    bare = _BARE_LINK.match(candidate)
    if bare and (bare["path"] or not _FILE_ENDING.fullmatch(bare["tld"])):
        return "https://" + candidate
    return candidate


def _candidate(item: str) -> str:
    """An item of a links answer as an address: no wrapping punctuation, a scheme."""
    return _with_scheme(item.strip().strip("<>()[]\"'.,;"))


def normalise_link(item: str) -> str | None:
    """An http(s) address with a real-looking host name, or None."""
    candidate = _candidate(item)
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
        shown = item if len(item) <= 40 else item[:37] + "…"
        which = f"“{shown}”" if len(items) == 1 else f"Item {position} (“{shown}”)"
        length = len(_candidate(item))
        if length > LINK_LIMIT:
            return Invalid(
                f"{which} is {length:,} characters long, and one web address here can be up "
                f"to {LINK_LIMIT:,}. Could you paste a shorter link to the same page? The "
                "Share menu's “Copy link” usually gives one. Or skip this, and describe where "
                "it is on the next question."
            )
        link = normalise_link(item)
        if link is None:
            return Invalid(
                f"{which} doesn't look like a web address. A web address looks like "
                "facebook.com/… or https://…; you can copy one from your browser's address "
                "bar or the post's Share menu. If you have screenshots or notes instead, skip "
                "this and add them on the next question."
            )
        if link not in links:
            links.append(link)
    if len(links) > LINKS_PER_ANSWER:
        return Invalid(
            f"That's {len(links)} links; one answer holds up to {LINKS_PER_ANSWER}. "
            "Add the most important ones now; the rest can go in an update after filing."
        )
    return links


_NUMBERED_LABEL = re.compile(r"^\d+\s*[—–-]\s*")
"""A label that starts with its own number ("1 — a little")."""


def _match_option(
    token: str, options: tuple[Option, ...], *, pressed: bool = False
) -> Option | None:
    """The option a token names, or None.

    A value sent by a button or a menu (`pressed`) is matched on the options'
    values first, so an option whose value is a number ("3": in 3 days) is
    never read as a position. Typed text is read as people read the numbered
    list: a number is a position ("1" is the first option shown), then a
    value, a label, or the start of a label.
    """
    folded = token.strip().casefold()
    if pressed:
        exact = next((o for o in options if o.value.casefold() == folded), None)
        if exact is not None:
            return exact
    word = folded.strip(".")
    if word.isdecimal():
        index = int(word) - 1
        if 0 <= index < len(options):
            return options[index]
    squeezed = re.sub(r"\s+", "", word)
    for option in options:
        value = option.value.casefold()
        label = option.label.casefold()
        names = (value, value.replace("_", " "), label, _NUMBERED_LABEL.sub("", label))
        if word in names or squeezed == value:
            return option
    if len(word) < 3:
        return None
    starts = [
        o
        for o in options
        if any(
            name.startswith(word)
            for name in (o.label.casefold(), _NUMBERED_LABEL.sub("", o.label.casefold()))
        )
    ]
    return starts[0] if len(starts) == 1 else None


def _in_own_words(step: Step[Any], token: str, pressed: bool) -> str | Invalid | None:
    """What a single choice that takes words (`Step.other`) keeps for a token
    that names no option: "<other>: <their words>", or None if it can't."""
    other = step.other
    if other is None:
        return None
    words = clean_text(token)
    names = [other] + [o.label for o in step.options if o.value == other]
    said = "|".join(re.escape(name) for name in names)
    prefix = re.match(rf"^(?:{said})\s*:\s*", words, re.IGNORECASE)
    if prefix:
        words = words[prefix.end() :]
    elif pressed:
        return None  # a press names an option; only typed text is taken as words
    if not words:
        return None
    if len(words) > SHORT_TEXT_LIMIT:
        return _too_long(len(words), SHORT_TEXT_LIMIT)
    return f"{other}: {words}"


def other_words(step: Step[Any], value: Any) -> str | None:
    """The person's own words in a saved answer to a step that takes them."""
    if step.other is None or not isinstance(value, str):
        return None
    prefix = f"{step.other}: "
    return value[len(prefix) :] if value.startswith(prefix) else None


def parse_choice(
    step: Step[Any], raw: str | list[str], options: tuple[Option, ...]
) -> Parsed | Invalid:
    """A list is what buttons and menus send (option values); a string is typed."""
    multiple = step.kind is AnswerKind.MULTI_CHOICE
    pressed = isinstance(raw, list)
    chosen: list[Option] = []
    tokens: list[str] = []
    if isinstance(raw, list):
        tokens = [t for t in raw if t.strip()]
    else:
        text = clean_text(raw)
        whole = _match_option(text, options) if text else None
        if whole is not None:
            chosen.append(whole)
        elif multiple:
            # Labels that contain commas ("… (home, children, school)") are
            # taken whole first, so splitting at commas never cuts one up.
            rest = text
            for labelled in sorted(options, key=lambda o: -len(o.label)):
                at = rest.casefold().find(labelled.label.casefold())
                if "," in labelled.label and at >= 0:
                    chosen.append(labelled)
                    rest = rest[:at] + "," + rest[at + len(labelled.label) :]
            tokens = [t for t in re.split(r"[,;\n]+|\s+(?=\d)|(?<=\d)\s+", rest) if t.strip()]
        elif text:
            tokens = [text]
    if not tokens and not chosen:
        return None
    if not multiple and len(tokens) > 1:
        return Invalid("Please pick just one option for this question.")
    for token in tokens:
        option = _match_option(token, options, pressed=pressed)
        if option is None:
            if not multiple:
                words = _in_own_words(step, token, pressed)
                if words is not None:
                    return words
            numbers = ", ".join(str(i) for i in range(1, min(len(options), 3) + 1))
            how = (
                f"the numbers or names of the options, separated by commas (e.g. {numbers})"
                if multiple
                else f"the number or name of one option (1 to {len(options)})"
            )
            return Invalid(f"I couldn't match that to an option. Please reply with {how}.")
        if option not in chosen:
            chosen.append(option)
    values = [option.value for option in chosen]
    if step.kind is AnswerKind.YES_NO:
        return values[0] == "yes"
    return values if multiple else values[0]


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
    words = other_words(step, value)
    if words is not None and step.other in labels:
        return f"{labels[step.other]}: {words}"
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
