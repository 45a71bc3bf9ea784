"""The caller's receipt promises a callback time it can keep: whole minutes rounded up, one minute singular."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ivr.prompts import prompts_for
from models import CallbackTask
from voicemail.receipts import _when

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=timezone.utc)


def urgent_due_in(seconds: float) -> CallbackTask:
    return CallbackTask(urgent=True, due_at=NOW + timedelta(seconds=seconds))


@pytest.mark.parametrize(("left", "language", "said"), [
    (14.4 * 60, "en", "within 15 minutes"),  # never a promise earlier than the due time
    (14 * 60, "en", "within 14 minutes"),
    (90, "en", "within 2 minutes"),
    (60, "en", "within a minute"),
    (20, "en", "within a minute"),
    (20, "es", "dentro de un minuto"),
    (14.4 * 60, "es", "dentro de 15 minutos"),
])
def test_given_an_urgent_task_then_the_receipt_promises_the_minutes_left_rounded_up(left, language, said):
    assert _when(prompts_for(language), None, urgent_due_in(left), NOW) == said


def test_given_a_task_already_due_then_as_soon_as_we_can():
    assert _when(prompts_for("en"), None, urgent_due_in(0), NOW) == prompts_for("en").text("sms_soon")
