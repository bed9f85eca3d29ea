"""The App Home tab: a welcome the first time a person opens it, then what
Harbour is, how to use it, her own reports and where help is.

The reports and the "Start a report" button are `render.home_blocks`; this
module adds the welcome and the guidance around them, in plain text only
(nothing a person wrote is ever shown here but her own reports' titles).
"""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from adapters.slack import render
from bot.flow import FlowContext
from bot.models import SummaryCard, Text

WELCOMED = "slack_welcomed"
"""The field of a person's `RecordKind.CONTACTS` record saying she has seen the
welcome (it is shown once)."""

BLOCKS_MAX = 100
"""The most blocks Slack takes in a Home tab view."""


def welcome_blocks(ctx: FlowContext, command: str) -> list[Block]:
    text = (
        "Harbour is a private place to report abuse or harassment you get online because "
        f"of your work at {render.escape(ctx.organisation)}, and to get support with it. "
        f"To start, press *Start a report* below or type `{command}` anywhere in Slack. "
        "The conversation happens only in your direct messages with Harbour; you can pause "
        "it and come back, and you choose who is told."
    )
    return [
        HeaderBlock(text="Welcome to Harbour"),
        SectionBlock(text=MarkdownTextObject(text=text)),
        DividerBlock(),
    ]


def guidance_blocks(ctx: FlowContext, command: str) -> list[Block]:
    how = (
        "*How to use Harbour*\n"
        f"• `{command}` starts a report, a few short questions at a time.\n"
        f"• `{command} mine` lists your reports; `{command} update HB-…` adds something new "
        "to one.\n"
        f"• `{command} guidance` has advice: keeping evidence, reporting to each platform, "
        "your privacy settings, looking after yourself.\n"
        "• Your manager and the safety leads are only told if you choose; a safety leads' "
        "channel only ever sees a reference, how serious it is and the kind of abuse."
    )
    help_ = (
        "*Where help is*\n"
        f"• {render.escape(ctx.emergency_guidance)}\n"
        f"• `{command} help` at any time, in any channel or direct message.\n"
        f"• Your manager or your safety leads at {render.escape(ctx.organisation)}."
    )
    return [
        DividerBlock(),
        SectionBlock(text=MarkdownTextObject(text=how)),
        SectionBlock(text=MarkdownTextObject(text=help_)),
        ContextBlock(
            elements=[MarkdownTextObject(text="Only you can see this tab and your reports.")]
        ),
    ]


def home_view(
    card: SummaryCard | Text, ctx: FlowContext, command: str, *, first_visit: bool
) -> dict[str, Any]:
    """The Home tab view for `views.publish`: the welcome on a first visit, the
    start button and her reports (`render.home_blocks`), then the guidance."""
    blocks: list[dict[str, Any]] = []
    if first_visit:
        blocks += [b.to_dict() for b in welcome_blocks(ctx, command)]
    blocks += render.home_blocks(card, command)
    guidance = [b.to_dict() for b in guidance_blocks(ctx, command)]
    room = BLOCKS_MAX - len(blocks)
    if room >= len(guidance):
        blocks += guidance
    return {"type": "home", "blocks": blocks[:BLOCKS_MAX]}
