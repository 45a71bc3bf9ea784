"""Each live call's IVR state, kept in Redis so any gunicorn worker can take the call's next webhook."""
from __future__ import annotations

from dataclasses import dataclass, fields

from calllog.events import Event, write_events
from ivr.flow import State

CALL_KEY = "careline:call:{call_sid}"
CALL_TTL_SECONDS = 6 * 3600  # seconds; longer than any call, so retried webhooks still find the state


@dataclass
class CallState:
    """Where one call is in the flow; `step` counts the webhooks answered, `reply` caches the last answer."""

    call_sid: str
    practice_id: int | None = None
    state: State = State.NEW
    language: str = "en"
    misses: int = 0
    urgent: bool = False
    after_hours: bool = False
    step: int = 0
    message_tries: int = 0
    recording_sid: str = ""
    reply_step: int = -1
    reply: str = ""

    def to_redis(self) -> dict[str, str]:
        """The state as a Redis hash."""
        out = {}
        for name in _FIELD_NAMES:
            value = getattr(self, name)
            if isinstance(value, bool):
                value = "1" if value else "0"
            out[name] = "" if value is None else str(value)
        return out

    @classmethod
    def from_redis(cls, call_sid: str, raw: dict[str, str]) -> "CallState":
        """Rebuild a state from its Redis hash."""
        state = cls(call_sid=call_sid)
        for f in fields(cls):
            if f.name not in raw or f.name == "call_sid":
                continue
            text = raw[f.name]
            if f.name == "state":
                value = State(text)
            elif f.type in ("bool",):
                value = text == "1"
            elif f.type in ("int",):
                value = int(text)
            elif f.type == "int | None":
                value = int(text) if text else None
            else:
                value = text
            setattr(state, f.name, value)
        return state


_FIELD_NAMES = tuple(f.name for f in fields(CallState))


def call_key(call_sid: str) -> str:
    """The Redis key of a call's state."""
    return CALL_KEY.format(call_sid=call_sid)


def save_call_state(client, state: CallState, events: list[Event]) -> bool:
    """Store `state` and append `events` to the call log, atomically; True when a drain should be scheduled."""
    return write_events(client, events, call_key(state.call_sid), state.to_redis(), CALL_TTL_SECONDS)
