"""Issue 10's findings, each where a person met it: typed and pressed through the
core, as the worker, her managers, a safety lead and an administrator would.
(The forged Teams activity is tested over HTTP in tests/test_server.py; the whole
role matrix in tests/test_access_matrix.py.)"""

from __future__ import annotations

import json

import pytest

from bot.alerts.sender import Notifier
from bot.app import Harbour
from bot.cases import SHARE_QUESTION
from bot.config import ConfigError, Settings, load_settings
from bot.models import ChoiceMade, ChoiceQuestion, PersonRef, Platform
from bot.store import Store
from bot.team import reconcile_directory_file
from tests.conftest import LEADS, TYPED_REPORT, Chat, RecordingMessenger
from tests.test_cases import BOB, CAROL, LOW_RISK, file, with_answer

ONLY_ME = [*TYPED_REPORT[:-1], ("audience", "3")]


async def test_1_only_me_reports_are_not_in_a_leads_cases_list(harbour: Harbour) -> None:
    ref = await file(Chat(harbour, "alice"), ONLY_ME)
    carol = Chat(harbour, "carol")
    await carol.command("cases")
    assert ref not in carol.text()
    await carol.command("cases", ref)
    assert "Her" not in carol.text() and "that you can see or act on" in carol.text()


def test_2_a_bare_admin_id_is_refused_at_start_naming_the_setting() -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(_env_file=None, admins="U0ADMIN")
    assert "HARBOUR_ADMINS" in str(refused.value) and "slack:T0123:U0ADMIN" in str(refused.value)
    assert load_settings(_env_file=None, admins="slack:T1:U0ADMIN").admin_ids == {
        "slack:T1:U0ADMIN"
    }


@pytest.mark.parametrize(
    "key", ["slack:T2:U0ADMIN", "teams:tenant:U0ADMIN", "console:local:U0ADMIN"]
)
async def test_2_the_same_user_id_elsewhere_is_not_an_administrator(
    store: Store, settings: Settings, key: str
) -> None:
    harbour = Harbour(store, settings.flow_context(), admins=frozenset({"slack:T1:U0ADMIN"}))
    platform, workspace, user = key.split(":")
    who = PersonRef(platform=Platform(platform), workspace=workspace, user=user)
    chat = Chat(harbour)
    chat.person = who
    await chat.command("admin", f"lead add {key}")
    assert "Only Harbour administrators" in chat.text()
    assert not harbour.directory.is_lead(who)


async def test_4_a_worker_cannot_override_the_administrators_manager(
    harbour: Harbour, store: Store
) -> None:
    alice = Chat(harbour, "alice")
    ref = await file(alice, LOW_RISK)
    await alice.command("manager", "console:local:xavier")
    assert "set by your Harbour administrator" in alice.text()
    xavier = Chat(harbour, "xavier")
    await xavier.command("cases", ref)
    assert "that you can see or act on" in xavier.text()
    assert harbour.directory.managers_of(alice.person)[0].key == BOB


async def test_4_a_manager_a_worker_names_sees_only_what_she_shared_with_them(
    harbour: Harbour, store: Store
) -> None:
    fay = Chat(harbour, "fay")  # nobody in the directory manages Fay
    ref = await file(fay, LOW_RISK)
    assert "don't know who your manager is" in fay.text()
    await fay.say("console:local:xavier")
    await fay.command("manager", "console:local:yves")  # later, someone else
    yves = Chat(harbour, "yves")
    await yves.command("cases", ref)
    assert "that you can see or act on" in yves.text()  # not her earlier report
    xavier = Chat(harbour, "xavier")
    await xavier.command("cases", ref)
    assert f"{ref}, filed" in xavier.text()


async def test_5_when_the_administrator_changes_her_manager(
    harbour: Harbour, notifier: Notifier, messenger: RecordingMessenger, store: Store
) -> None:
    alice = Chat(harbour, "alice")
    ref = await file(alice, LOW_RISK)
    await notifier.run_once()
    admin = Chat(harbour, "admin")
    await admin.command("admin", "manager console:local:alice console:local:erin")
    assert "asked whether to share 1 open report" in admin.text()
    bob, erin = Chat(harbour, "bob"), Chat(harbour, "erin")
    for manager in (bob, erin):  # the old manager's access ended; the new one has none yet
        await manager.command("cases", ref)
        assert "that you can see or act on" in manager.text()
    await notifier.run_once()
    [asked] = messenger.to("console:local:alice")[-1:]
    [question] = [r for r in asked if isinstance(r, ChoiceQuestion)]
    assert question.id == f"{SHARE_QUESTION}{ref}"
    # Bob presses a button he kept from an old alert: refused, nothing changes.
    await bob.send_event(
        ChoiceMade(
            event_id="bob-old-alert",
            person=bob.person,
            question=f"case:{ref}",
            values=("ack",),
            token=ref,
        )
    )
    assert "that you can see or act on" in bob.text()
    await alice.choose("share", question=question.id, token=question.token)
    assert "Shared" in alice.text()
    await notifier.run_once()
    assert messenger.to("console:local:erin")  # the new manager's alert
    await erin.command("cases", ref)
    assert f"{ref}, filed" in erin.text()
    report = await store.get_report(ref)
    assert report is not None and report.managers == ["console:local:erin"]
    assert [e.action for e in report.timeline].count("refused") == 3  # bob x2, erin x1


async def test_6_a_lead_cannot_claim_or_close_her_own_report(
    harbour: Harbour, store: Store
) -> None:
    harbour.directory.managers["console:local:carol"] = [BOB]
    carol = Chat(harbour, "carol")  # a safety lead, reporting for herself
    ref = await file(carol)
    for action in ("claim", "close"):
        await carol.send_event(
            ChoiceMade(
                event_id=f"carol-{action}",
                person=carol.person,
                question=f"case:{ref}",
                values=(action,),
                token=ref,
            )
        )
        assert "Only the worker's manager or a safety lead" in carol.text()
    report = await store.get_report(ref)
    assert report is not None and report.claimed_by is None and report.status.value == "open"


async def test_7_the_worker_sees_what_was_done_not_the_teams_notes(
    harbour: Harbour, store: Store
) -> None:
    alice, bob = Chat(harbour, "alice"), Chat(harbour, "bob")
    ref = await file(alice)
    await bob.send_event(
        ChoiceMade(
            event_id="b1", person=bob.person, question=f"case:{ref}", values=("action",), token=ref
        )
    )
    await bob.say("police")
    await bob.say("Rang Sgt Byrne at the station, she is worried about the ex-partner")
    await bob.say("yes")
    await alice.command("cases", ref)
    assert "Police contacted" in alice.text()
    assert "Sgt Byrne" not in alice.text()
    await bob.command("cases", ref)
    assert "Sgt Byrne" in bob.text()


async def test_8_danger_alert_waits_for_her_word_on_the_manager(
    harbour: Harbour, notifier: Notifier, messenger: RecordingMessenger
) -> None:
    alice = Chat(harbour, "alice")
    await alice.command("report")
    await alice.say("yes")
    await notifier.run_once()
    assert messenger.to(LEADS) and not messenger.to(BOB)
    await alice.say("2")  # No, not my manager
    await notifier.run_once()
    assert not messenger.to(BOB)
    text = json.dumps([[r.model_dump() for r in rs] for _, rs in messenger.sent])
    assert "Their manager has been told" not in text


async def test_5_a_manager_kept_out_stays_out_after_the_directory_changes(
    harbour: Harbour, store: Store
) -> None:
    """Alice kept a report from Bob; Bob, also a safety lead, is then replaced as her
    manager. He must not start seeing it as a lead."""
    harbour.directory.leads.add(BOB)
    alice = Chat(harbour, "alice")
    ref = await file(alice, [*LOW_RISK[:-1], ("audience", "2")])
    bob = Chat(harbour, "bob")
    await bob.command("cases", ref)
    assert "that you can see or act on" in bob.text()
    admin = Chat(harbour, "admin")
    await admin.command("admin", "manager console:local:alice console:local:erin")
    await bob.command("cases", ref)
    assert "that you can see or act on" in bob.text()
    erin = Chat(harbour, "erin")  # the new manager is her manager: kept out too
    await erin.command("cases", ref)
    assert "that you can see or act on" in erin.text()
    carol = Chat(harbour, "carol")
    await carol.command("cases", ref)
    assert f"{ref}, filed" in carol.text()


async def test_5_sharing_later_does_not_let_a_kept_out_manager_in_as_a_lead(
    harbour: Harbour, store: Store
) -> None:
    harbour.directory.leads.add(BOB)
    alice = Chat(harbour, "alice")
    ref = await file(alice, [*LOW_RISK[:-1], ("audience", "2")])  # kept from Bob
    admin = Chat(harbour, "admin")
    await admin.command("admin", "manager console:local:alice console:local:erin")
    await alice.command("share", ref)  # with Erin, her manager now
    assert "Shared" in alice.text()
    erin, bob = Chat(harbour, "erin"), Chat(harbour, "bob")
    await erin.command("cases", ref)
    assert f"{ref}, filed" in erin.text()
    await bob.command("cases", ref)
    assert "that you can see or act on" in bob.text()


async def test_a_forged_button_cannot_tell_a_real_reference_from_a_wrong_one(
    harbour: Harbour,
) -> None:
    ref = await file(Chat(harbour, "alice"))
    zed = Chat(harbour, "zed")
    answers = []
    for reference in (ref, "HB-2026-9999"):
        await zed.send_event(
            ChoiceMade(
                event_id=f"zed-{reference}",
                person=zed.person,
                question=f"case:{reference}",
                values=("no-such-action",),
                token=reference,
            )
        )
        answers.append(zed.text())
    assert answers[0] == answers[1]


async def test_5_a_manager_changed_in_the_directory_file_is_a_change_too(
    store: Store, settings: Settings
) -> None:
    """Edited file, restart: the old manager's access ends, and the worker is asked."""
    from bot.directory import parse_directory

    def started(manager: str) -> Harbour:
        text = f'[[people]]\nid = "console:local:alice"\nmanagers = ["console:local:{manager}"]\n'
        return Harbour(store, settings.flow_context(), directory=parse_directory(text, "d.toml"))

    first = started("bob")
    assert await reconcile_directory_file(first, first.directory.file_managers) == []
    ref = await file(Chat(first, "alice"), LOW_RISK)
    again = started("bob")
    assert await reconcile_directory_file(again, again.directory.file_managers) == []
    later = started("erin")  # the administrator edited the file
    assert await reconcile_directory_file(later, later.directory.file_managers) == [
        "console:local:alice"
    ]
    report = await store.get_report(ref)
    assert report is not None and report.managers == []
    assert [e.kind.value for e in await store.pending_events()][-1] == "manager_changed"
    for user in ("bob", "erin"):
        chat = Chat(later, user)
        await chat.command("cases", ref)
        assert "that you can see or act on" in chat.text()


async def test_a_kept_out_manager_who_is_also_a_lead_never_sees_the_leads_alert(
    harbour: Harbour, notifier: Notifier, messenger: RecordingMessenger
) -> None:
    """Review finding: the leads' channel alert (reference, risk, kinds) reached
    the manager she kept out, because he is a safety lead too and reads it."""
    harbour.directory.leads.add(BOB)
    ref = await file(Chat(harbour, "alice"), with_answer("audience", "2"))  # leads only
    await notifier.run_once()
    assert messenger.to(LEADS) == [] and messenger.updated == []
    assert messenger.to(BOB) == []
    assert any(ref in json.dumps([r.model_dump() for r in m]) for m in messenger.to(CAROL))


@pytest.mark.parametrize(
    "command", ["lead add console:local:admin", "manager console:local:alice console:local:admin"]
)
async def test_an_administrator_cannot_grant_herself_access(harbour: Harbour, command: str) -> None:
    """Review finding: an administrator could make herself a safety lead, or a
    worker's manager, and so read reports."""
    admin = Chat(harbour, "admin")
    await admin.command("admin", command)
    assert "can't give yourself access" in admin.text()
    assert not harbour.directory.is_lead(admin.person)
    assert harbour.directory.managers_of(
        PersonRef.model_validate({"platform": "console", "workspace": "local", "user": "alice"})
    ) == [PersonRef(platform=Platform.CONSOLE, workspace="local", user="bob")]
