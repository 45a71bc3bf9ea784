"""A page's SMS carries a link, never the caller's number, name or words; the link's page asks the provider's PIN,
then shows the message and lets them acknowledge; wrong PINs are counted in the database before the PIN is
checked, and lock the link; the link ends on Careline's clock; every view, play, wrong PIN, lock and refusal is
an audit row. Whole calls run through the simulator, SMS through the REST stand-in (`test_after_hours`).
"""
from __future__ import annotations

import hashlib
import re
import threading
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import event, select, update

from careline.app import create_app
from careline.cli import main
from core.config import Config
from core.db import session_scope
from models import AuditEvent, OnCallPage, OnCallPin, OnCallProvider, PageLink
from paging.errors import PinRejected
from tests.integration.conftest import CALLER, NORTHSIDE, REDIS_NOWHERE, run_jobs
from tests.integration.test_after_hours import (DR_OKAFOR, DR_RIVERA, WORDS, ahsim, config, people,  # noqa: F401
                                                rows, texts_to, urgent_message_with_nobody_on_duty)

PIN = "246810"
LINK = re.compile(r"https://careline\.test(/p/([A-Za-z0-9_-]{32})) ")


@pytest.fixture
def paged(ahsim, services, drain, clock, standin):  # noqa: F811 - ahsim: the after-hours simulator
    """Dr. Rivera has a PIN; an urgent after-hours message pages them: the link's path and token."""
    services.page_links.set_pin("northside", DR_RIVERA, PIN)
    urgent_message_with_nobody_on_duty(ahsim, drain, services, clock)
    (text,) = texts_to(standin, DR_RIVERA)
    found = LINK.search(text)
    assert found, text
    return found[1], found[2]


def audit_rows(services, prefix: str = "page-link.") -> list[AuditEvent]:
    with services.session_factory() as session:
        return session.scalars(select(AuditEvent).where(AuditEvent.action.like(f"{prefix}%"))
                               .order_by(AuditEvent.id)).all()


def page_text(response) -> str:
    return response.get_data(as_text=True)


def test_given_an_urgent_message_then_the_page_sms_holds_the_practice_and_a_link_never_the_caller_or_words(
        paged, services, standin, clock):
    path, token = paged
    (text,) = texts_to(standin, DR_RIVERA)
    assert text == (f"Careline: Northside Pediatrics has an urgent message for you. Open it with your PIN: "
                    f"https://careline.test{path} . Reply to this text to acknowledge.")
    assert CALLER not in text and CALLER[-7:] not in text and WORDS not in text
    # The token is kept only as its SHA-256, and the link lasts PAGE_LINK_HOURS on Careline's clock.
    (link,) = rows(services, PageLink)
    assert link.token_hash == hashlib.sha256(token.encode()).hexdigest() and token not in link.token_hash
    assert link.expires_at - link.created_at == timedelta(hours=24)
    assert (link.target, link.phone, link.failed_pins, link.locked_at) == (
        f"provider:{rows(services, OnCallProvider, OnCallProvider.phone == DR_RIVERA)[0].id}", DR_RIVERA, 0, None)
    # The repeat and the next provider get links of their own, as bare as the first; a manager's alert links to
    # the console (behind the manager's sign-in), no number either.
    clock.now += timedelta(minutes=10, seconds=5)
    run_jobs(services, clock)
    clock.now += timedelta(minutes=10)
    run_jobs(services, clock)
    clock.now += timedelta(minutes=10)
    run_jobs(services, clock)
    repeat, okafor, alert = texts_to(standin, DR_RIVERA)[1], texts_to(standin, DR_OKAFOR)[0], \
        texts_to(standin, "+16175550144")[0]
    assert "(page repeated)" in repeat and LINK.search(repeat)[2] != token and LINK.search(okafor)
    (page,) = rows(services, OnCallPage)
    assert alert == ("Careline: an urgent message for Northside Pediatrics was not acknowledged by the on-call "
                     f"provider. Sign in to read it: https://careline.test/console/messages/{page.message_id} . "
                     "Reply to acknowledge.")
    for body in (repeat, okafor, alert):
        assert CALLER not in body and WORDS not in body


def test_given_the_link_then_it_asks_the_pin_and_the_right_pin_shows_the_message_audited(
        paged, app, client, services, clock):
    path, _ = paged
    form = client.get(path)
    assert form.status_code == 200
    assert "Urgent message for Northside Pediatrics" in page_text(form) and 'name="pin"' in page_text(form)
    assert CALLER not in page_text(form) and WORDS not in page_text(form)
    assert form.headers["Cache-Control"] == "no-store, private" and form.headers["Referrer-Policy"] == "no-referrer"
    assert audit_rows(services) == []  # the form shows nothing of the message: nothing to audit

    opened = client.post(path, data={"pin": PIN}, headers={"User-Agent": "provider-phone"})
    assert opened.status_code == 303 and opened.headers["Location"].endswith(path)
    cookie = opened.headers["Set-Cookie"]
    assert f"Path={path}" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    shown = client.get(path, headers={"User-Agent": "provider-phone"})
    assert shown.status_code == 200
    body = page_text(shown)
    assert f'href="tel:{CALLER}"' in body and WORDS in body
    assert re.search(r"Nov 24, 21:\d\d EST", body)  # the time, in the practice's zone, saying which
    assert f'src="{path}/recording"' in body
    (view,) = audit_rows(services)
    (page,) = rows(services, OnCallPage)
    assert (view.action, view.subject_kind, view.subject_id, view.practice_id, view.agent_id) == (
        "page-link.view", "message", str(page.message_id), page.practice_id, None)
    (link,) = rows(services, PageLink)
    assert (view.via, view.via_ref, view.user_agent) == ("session", f"page-link:{link.id}", "provider-phone")
    assert view.details["target"] == link.target and view.address == "127.0.0.1"
    assert CALLER not in str(view.details) and WORDS not in str(view.details)

    # The recording plays through Careline's relay, audited as this link's play.
    audio = client.get(f"{path}/recording")
    assert audio.status_code == 200 and audio.headers["Cache-Control"] == "no-store, private"
    audio.close()
    (play,) = [row for row in audit_rows(services, "recording.") if row.action == "recording.play"]
    assert (play.via_ref, play.subject_id) == (f"page-link:{link.id}", str(page.message_id))

    # Another browser, without the PIN's cookie: the form again, the message neither shown nor audited.
    other = app.test_client().get(path)
    assert 'name="pin"' in page_text(other) and CALLER not in page_text(other)
    assert app.test_client().get(f"{path}/recording").status_code == 403
    assert len(audit_rows(services)) == 1

    # The message stays open PAGE_LINK_VIEW_MINUTES after the PIN, on Careline's clock: then the PIN again.
    clock.now += timedelta(minutes=15, seconds=1)
    again = client.get(path)
    assert 'name="pin"' in page_text(again) and CALLER not in page_text(again)


def test_given_the_message_open_then_the_provider_acknowledges_and_the_escalation_stops(
        paged, client, services, clock, standin):
    path, _ = paged
    client.post(path, data={"pin": PIN})
    answer = client.post(f"{path}/acknowledge")
    assert answer.status_code == 303 and answer.headers["Location"].endswith(f"{path}?acknowledged=1")
    (page,) = rows(services, OnCallPage)
    (link,) = rows(services, PageLink)
    assert (page.status, page.acknowledged_by) == ("acknowledged", link.target)
    assert "Acknowledged by you at" in page_text(client.get(answer.headers["Location"]))
    assert [row.action for row in audit_rows(services)] == ["page-link.acknowledge", "page-link.view"]
    clock.now += timedelta(minutes=45)
    run_jobs(services, clock)
    assert len(texts_to(standin, DR_RIVERA)) == 1 and texts_to(standin, DR_OKAFOR) == []


def test_given_wrong_pins_then_each_is_audited_and_the_fifth_locks_the_link_even_for_the_right_pin(
        paged, client, services):
    path, _ = paged
    for tries_left in (4, 3, 2, 1):
        wrong = client.post(path, data={"pin": "999999"})
        assert wrong.status_code == 403
        assert f"{tries_left} {'try' if tries_left == 1 else 'tries'} left" in page_text(wrong)
        assert CALLER not in page_text(wrong)
    fifth = client.post(path, data={"pin": "000000"})
    assert fifth.status_code == 403 and "locked" in page_text(fifth)
    (link,) = rows(services, PageLink)
    assert link.failed_pins == 5 and link.locked_at is not None
    right = client.post(path, data={"pin": PIN})
    assert right.status_code == 403 and "locked" in page_text(right) and "Set-Cookie" not in right.headers
    assert client.get(path).status_code == 403
    actions = [(row.action, (row.details or {}).get("reason")) for row in audit_rows(services)]
    assert actions == [("page-link.wrong-pin", None)] * 5 + [("page-link.locked", None),
                                                             ("page-link.refused", "locked"),
                                                             ("page-link.refused", "locked")]


def test_given_many_wrong_pins_at_once_then_no_more_than_the_limit_are_ever_checked(paged, app, services):
    """The try is taken in the database before the PIN is checked: 9 guesses together check at most 5. (Nine: fewer
    than the database pool's 10 connections, or a guess may wait past the pool's 2 s and answer 503, busy, which
    says nothing of the limit.) Three rounds on the same link, unlocked between them: on PostgreSQL a round could
    deadlock on the audit chain's head, which answered one guess 503 (paging/links.py, "Locks")."""
    path, _ = paged
    guesses, checked_before = 9, 0
    for _round in range(3):
        barrier, answers = threading.Barrier(guesses), []

        def guess(pin: str) -> None:
            own = app.test_client()
            barrier.wait(timeout=10)
            answers.append(own.post(path, data={"pin": pin}))

        threads = [threading.Thread(target=guess, args=(f"{100000 + n}",)) for n in range(guesses)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert len(answers) == guesses and sorted(answer.status_code for answer in answers) == [403] * guesses
        checked = [row for row in audit_rows(services) if row.action == "page-link.wrong-pin"]
        assert len(checked) - checked_before == 5
        checked_before = len(checked)
        (link,) = rows(services, PageLink)
        assert link.failed_pins == 5 and link.locked_at is not None
        with session_scope(services.session_factory) as session:
            session.execute(update(PageLink).where(PageLink.id == link.id).values(failed_pins=0, locked_at=None))


def test_given_a_locked_or_expired_link_then_a_request_holds_one_pooled_connection_at_a_time(
        paged, client, services, clock):
    """A refusal is audited in a transaction of its own once the request's has ended: a burst of requests at a
    locked link cannot take two connections each and leave the pool waiting on itself."""
    path, _ = paged
    for _ in range(5):
        client.post(path, data={"pin": "999999"})
    held, most = [0], [0]

    def checked_out(*_):
        held[0] += 1
        most[0] = max(most[0], held[0])

    def checked_in(*_):
        held[0] -= 1

    event.listen(services.engine, "checkout", checked_out)
    event.listen(services.engine, "checkin", checked_in)
    try:
        locked = [client.get(path), client.post(path, data={"pin": PIN})]
        clock.now += timedelta(hours=25)
        expired = [client.get(path), client.post(path, data={"pin": PIN})]
    finally:
        event.remove(services.engine, "checkout", checked_out)
        event.remove(services.engine, "checkin", checked_in)
    assert [answer.status_code for answer in locked + expired] == [403, 403, 410, 410]
    assert most[0] == 1
    reasons = [(row.details or {}).get("reason") for row in audit_rows(services) if row.action == "page-link.refused"]
    assert reasons == ["locked", "locked", "expired", "expired"]


def test_given_the_link_past_its_hours_on_careline_clock_then_it_opens_nothing(paged, client, services, clock):
    path, _ = paged
    client.post(path, data={"pin": PIN})
    clock.now += timedelta(hours=23, minutes=59)
    assert client.post(path, data={"pin": PIN}).status_code == 303  # still open a minute before its end
    clock.now += timedelta(minutes=1)
    for answer in (client.get(path), client.post(path, data={"pin": PIN}), client.post(f"{path}/acknowledge")):
        assert answer.status_code == 410 and "expired" in page_text(answer) and CALLER not in page_text(answer)
    assert rows(services, OnCallPage)[0].status != "acknowledged"
    refused = [row for row in audit_rows(services) if row.action == "page-link.refused"]
    assert [row.details["reason"] for row in refused] == ["expired"] * 3


def test_given_an_unknown_token_then_404_and_nothing_shown(paged, client):
    for path in ("/p/" + "A" * 32, "/p/short"):
        answer = client.get(path)
        assert answer.status_code == 404 and "not valid" in page_text(answer)


def test_given_a_provider_without_a_pin_then_the_link_says_to_ask_the_answering_service(
        ahsim, client, services, drain, clock, standin):  # noqa: F811
    urgent_message_with_nobody_on_duty(ahsim, drain, services, clock)
    (text,) = texts_to(standin, DR_RIVERA)
    path = LINK.search(text)[1]
    for answer in (client.get(path), client.post(path, data={"pin": PIN})):
        assert answer.status_code == 403 and "Ask the answering service" in page_text(answer)
        assert CALLER not in page_text(answer) and 'name="pin"' not in page_text(answer)
    assert [(row.action, row.details["reason"]) for row in audit_rows(services)] == [("page-link.refused", "no-pin")]


def test_given_the_pin_command_then_only_a_salted_hash_is_kept_and_bad_pins_or_phones_are_refused(
        cli_env, services, people):  # noqa: F811 - people: the after-hours people
    runner = CliRunner()
    result = runner.invoke(main, ["oncall", "pin", "northside", DR_RIVERA, "--pin-stdin"], input="13572468\n")
    assert result.exit_code == 0, result.output
    (pin,) = rows(services, OnCallPin)
    assert (pin.phone, "13572468" in pin.pin_hash) == (DR_RIVERA, False) and pin.pin_hash.startswith("scrypt:")
    assert "13572468" not in result.output
    assert runner.invoke(main, ["oncall", "pin", "northside", DR_RIVERA, "--pin-stdin"],
                         input="1234\n").exit_code == 1  # too short
    assert runner.invoke(main, ["oncall", "pin", "northside", NORTHSIDE, "--pin-stdin"],
                         input="13572468\n").exit_code == 1  # not an on-call provider of the practice
    with pytest.raises(PinRejected):
        services.page_links.set_pin("lakeside", DR_RIVERA, "13572468")
    assert runner.invoke(main, ["oncall", "pin", "northside", DR_RIVERA, "--clear"]).exit_code == 0
    assert rows(services, OnCallPin) == []
    assert [(row.action, row.via, row.subject_id, row.details) for row in audit_rows(services, "oncall.")] == [
        ("oncall.pin-set", "cli", DR_RIVERA, {"practice": "northside"}),
        ("oncall.pin-clear", "cli", DR_RIVERA, {"practice": "northside"})]  # the refused ones wrote nothing


def test_given_redis_down_then_the_right_pin_answers_503_costs_no_try_and_shows_nothing(
        paged, config, services):  # noqa: F811 - config: the after-hours one, with the REST stand-in
    path, _ = paged
    down = create_app(Config(**{**config.__dict__, "REDIS_URL": REDIS_NOWHERE}))
    down.extensions["careline"].clock = services.clock
    try:
        client = down.test_client()
        assert client.get(path).status_code == 200  # the PIN form needs no Redis
        answer = client.post(path, data={"pin": PIN})
        assert answer.status_code == 503 and "Set-Cookie" not in answer.headers
        assert CALLER not in page_text(answer) and WORDS not in page_text(answer)
        client.set_cookie("careline_page_link", "x" * 32, path=path)
        assert client.get(path).status_code == 503
    finally:
        down.extensions["careline"].close()
    (link,) = rows(services, PageLink)
    assert link.failed_pins == 0  # the right PIN gave its try back
