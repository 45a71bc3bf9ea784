"""The messages inbox (issue 13): a practice's messages for its agents and managers, filtered by practice,
urgency, new or handled and days; one message with its recording, fields, transcription and who read it when;
"handled" with a note. The unread count shows beside the top bar's link.

Every role that answers for a practice may open it (`desk_user_required`); which messages a person sees is
`agents.users.answers_for`, applied by `MessageService` (`voicemail.access`), which also writes the audit rows
and the read receipts.
"""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app, redirect, render_template, request, url_for

from agents.users import ApiUser
from console import bp
from console.views import NAV_BADGES, desk_user_required
from models import HANDLED_NOTE_MAX_CHARS
from voicemail.access import LIST_LIMIT_MAX, MessageFilter, MessageService, Reader
from voicemail.errors import FieldInvalid, MessageAlreadyHandled
from web.audit import request_actor
from web.inbox_query import inbox_filters

LIST_SIZE = LIST_LIMIT_MAX  # messages a page shows, newest first
URGENCY_CHOICES = {"": "Any", "true": "Urgent", "false": "Routine"}
STATUS_CHOICES = {"": "Any", "new": "New", "handled": "Handled"}
FORM_FIELDS = ("practice", "urgent", "status", "from", "to")


def _service() -> MessageService:
    return current_app.extensions["careline"].messages


def reader_of(user: ApiUser) -> Reader:
    """The person as a reader of messages: every practice for an admin or `practices = ["*"]`."""
    return Reader(user.id, None if user.role == "admin" or user.all_practices else user.practice_ids,
                  request_actor(user))


def unread_badge(user: ApiUser) -> str | None:
    """The top bar's count beside "Messages": the messages of the person's practices they have not opened."""
    unread = sum(_service().unread_counts(reader_of(user)).values())
    return str(unread) if unread else None


NAV_BADGES["console.messages"] = unread_badge


@bp.app_template_filter("inbox_time")
def inbox_time(moment: datetime | None, timezone: str) -> str:
    """A time in the practice's zone, saying which: "Nov 24, 2026, 20:00 EST"."""
    if moment is None:
        return "—"
    local = moment.astimezone(ZoneInfo(timezone))
    return f"{local:%b} {local.day}, {local:%Y, %H:%M %Z}"


@bp.app_template_filter("inbox_duration")
def inbox_duration(seconds: int | None) -> str:
    """A recording's length: "0:31", "2:05"; "—" without one."""
    if seconds is None:
        return "—"
    return f"{seconds // 60}:{seconds % 60:02d}"


def _form() -> dict[str, str]:
    """The filter form's values as given (blank: any)."""
    return {name: request.args.get(name, "").strip() for name in FORM_FIELDS}


@bp.get("/messages")
@desk_user_required
def messages(user: ApiUser):
    """The inbox: `?practice=SLUG&urgent=true|false&status=new|handled&from=YYYY-MM-DD&to=YYYY-MM-DD` (blank:
    any), newest first. 200; 303 to sign-in; 400 naming a bad field; 403 / 404 for a practice not theirs /
    unknown; 503."""
    form = _form()
    given = {name: value for name, value in form.items() if value}
    if given.get("urgent") not in (None, "true", "false"):
        raise FieldInvalid("urgent", "urgency must be urgent or routine")
    reader = reader_of(user)
    where = MessageFilter(practice_slug=given.get("practice"),
                          urgent=None if "urgent" not in given else given["urgent"] == "true",
                          limit=LIST_SIZE, **inbox_filters(given))
    listed = _service().list_messages(reader, where)
    unread = _service().unread_counts(reader)
    return render_template("inbox.html", user=user, messages=listed, form=form,
                           practices=_service().practices_of(reader), urgency=URGENCY_CHOICES,
                           statuses=STATUS_CHOICES, unread=unread, full=len(listed) == LIST_SIZE)


@bp.get("/messages/<int:message_id>")
@desk_user_required
def message(user: ApiUser, message_id: int):
    """One message, now read by the person (audited "read"): caller, time, duration, recording, transcription,
    the fields an agent took, who read it when, and the handled form or note. 200; 303 to sign-in; 403 for
    another practice's; 404; 503."""
    return _message_page(user, message_id)


@bp.post("/messages/<int:message_id>/handled")
@desk_user_required
def message_handled(user: ApiUser, message_id: int):
    """Mark the message handled with the form's `note` (required). 303 back to the message; 400 naming the
    note; 403; 404; 409 when someone handled it already (their note shown); 400 without the CSRF token."""
    note = request.form.get("note", "")
    try:
        _service().mark_handled(reader_of(user), message_id, note)
    except FieldInvalid as exc:
        return _message_page(user, message_id, error=str(exc), note=note, status=400)
    except MessageAlreadyHandled:
        return _message_page(user, message_id, error="Someone marked this message handled already; their note "
                                                    "is shown below.", status=409)
    return redirect(url_for("console.message", message_id=message_id, _anchor="handled"), 303)


def _message_page(user: ApiUser, message_id: int, error: str | None = None, note: str = "", status: int = 200):
    shown = _service().read_message(reader_of(user), message_id)
    return render_template("inbox_message.html", user=user, message=shown, error=error, note=note,
                           note_max=HANDLED_NOTE_MAX_CHARS), status
