"""Simulated call time: what each verb costs, in seconds, with no real sleeping."""
from __future__ import annotations

WORDS_PER_SECOND = 2.5
PLAY_SECONDS = 5.0  # length assumed for audio the test did not describe
PAUSE_SECONDS = 1.0  # <Pause length> default
GATHER_TIMEOUT_SECONDS = 5.0  # <Gather timeout> default
KEY_SECONDS = 0.5  # time to press one key
RECORD_TIMEOUT_SECONDS = 5.0  # <Record timeout> default (silence that ends it)
RECORD_MAX_SECONDS = 3600.0  # <Record maxLength> default
TRANSCRIBE_MAX_SECONDS = 120.0  # <Record maxLength> default when transcribe="true"
BEEP_SECONDS = 0.5
DIAL_TIMEOUT_SECONDS = 30.0  # <Dial timeout> default
# Twilio rings this much past a Dial's timeout: "Twilio always adds a five-second timeout buffer to your
# <Dial>, so if you enter a timeout value of 10 seconds, you will see an actual timeout closer to 15 seconds"
# (twilio.com/docs/voice/twiml/dial#timeout). The Call resource says the same of calls.create's Timeout ("for
# some call flows, we will add a 5-second buffer"). Tests judge Careline's ring budgets against this figure
# only, never against the product's own DIAL_RING_OVERHEAD_SECONDS setting.
DIAL_RING_BUFFER_SECONDS = 5.0
REST_CALL_TIMEOUT_SECONDS = 60.0  # calls.create Timeout default: ring time before no-answer
ANSWER_SECONDS = 3.0  # how long a scripted party lets its phone ring before answering
BUSY_SECONDS = 1.0
FAILED_SECONDS = 0.5
MAX_LOOPS = 1000  # loop="0" repeats "indefinitely"; Twilio caps it at 1000
CALL_LIMIT_SECONDS = 4 * 3600.0  # Twilio's maximum call length


def loops(value: str | None) -> int:
    """How many times a loop attribute plays its content (0 means Twilio's maximum)."""
    count = int(float(value)) if value else 1
    return MAX_LOOPS if count <= 0 else count


def say_seconds(text: str, loop: str | None = None) -> float:
    """How long Twilio takes to speak `text`, at 2.5 words per second."""
    return max(len(text.split()), 1) / WORDS_PER_SECOND * loops(loop)


class CallClock:
    """Seconds since the call started."""

    def __init__(self) -> None:
        self.now = 0.0

    def advance(self, seconds: float) -> float:
        """Move time forward and return the new time."""
        self.now += max(seconds, 0.0)
        return self.now

    @property
    def expired(self) -> bool:
        """True once the call has run past Twilio's maximum call length."""
        return self.now > CALL_LIMIT_SECONDS
