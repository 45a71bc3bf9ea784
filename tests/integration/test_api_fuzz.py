"""The JSON API fuzzed by schemathesis from its own OpenAPI document (`/api/openapi.json`): every operation, as an
agent, a manager and an admin (each with an API token) and with no credentials, on two practices that each have
messages, callbacks and pages. No answer is a 5xx, every answer matches the document (status, media type, body),
and an agent or manager of Lakeside never receives anything of Northside's (its slug, its caller's number).

Bounded so `make test` stays short: a fixed number of examples per operation, derandomized (the same cases every
run: a failure replays)."""
from __future__ import annotations

import dataclasses
import json

import pytest
import schemathesis
from schemathesis import GenerationMode
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)
from schemathesis.checks import not_a_server_error

from callsim import Caller
from tests.integration.conftest import LAKESIDE, NORTHSIDE, bearer, issue, with_rest_standin

EXAMPLES_PER_OPERATION = 6
LAKESIDE_CALLER = "+13125550142"
NORTHSIDE_CALLER = "+16175550177"
# Who calls, by role: a Lakeside agent and manager (who must see nothing of Northside), the admin, nobody.
ROLES = {"agent": "ben", "manager": "mo", "admin": "root", "none": None}
# The live event stream never ends by itself: tests/integration/test_desk_events.py tests it with a reader.
NOT_FUZZED = ("my_events",)


@pytest.fixture
def config(config, standin):
    """Twilio is the REST stand-in, and the softphone is set up (voice tokens are issued, not 503)."""
    return dataclasses.replace(with_rest_standin(config, standin), TWILIO_API_KEY_SID="SK" + "1" * 32,
                               TWILIO_API_KEY_SECRET="voice-key-secret-0123456789abcdef")


@pytest.fixture
def seeded(sim, drain, agents):
    """A message (and so a callback task, a page) in each practice, left by a simulated call."""
    # Lakeside asks for a language first (English: 1); then 4 leaves an urgent message, which pages.
    sim.call(to=LAKESIDE, from_=LAKESIDE_CALLER, caller=Caller(press="1").press("4").speak(8, then="#"))
    sim.call(to=NORTHSIDE, from_=NORTHSIDE_CALLER, caller=Caller(press="4").speak(8, then="#"))
    drain()


@pytest.fixture
def api_schema(app, seeded):
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    return schema.exclude(operation_id=list(NOT_FUZZED))


def _strings(value) -> list[str]:
    if isinstance(value, dict):
        return [text for key, item in value.items() for text in (key, *_strings(item))]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return [value] if isinstance(value, str) else []


def lakeside_sees_nothing_of_northside(ctx, response, case):
    """The custom check: nothing of Northside in an answer to one who answers for Lakeside only."""
    media = {name.lower(): values for name, values in response.headers.items()}.get("content-type", [""])
    if "application/json" not in media[0]:
        return None
    texts = _strings(json.loads(response.content or b"null"))
    leaked = [text for text in texts if NORTHSIDE_CALLER in text or NORTHSIDE_CALLER[2:] in text
              or text == "northside"]
    assert not leaked, f"{case.method} {case.formatted_path} leaked Northside's data to Lakeside: {leaked[:3]}"
    return None


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def token_of(tokens, agents):
    """A token for an agent by first name, one per test (hypothesis runs every example of a test in one)."""
    issued: dict[str, str] = {}
    return lambda name: issued.setdefault(name, issue(tokens, name))


FUZZED = settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, deadline=None, database=None,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))


def fuzz(case, role: str, token_of) -> None:
    """One generated request as `role`, checked: no 5xx, as documented, no cross-practice leak."""
    name = ROLES[role]
    headers = bearer(token_of(name)) if name else {}
    checks = CHECKS + ([lakeside_sees_nothing_of_northside] if role in ("agent", "manager") else [])
    case.call_and_validate(headers=headers, checks=checks)


@pytest.mark.parametrize("role", list(ROLES))
def test_every_operation_as_each_role(api_schema, role, token_of):
    """Every operation, as a Lakeside agent (Ben), a Lakeside manager (Mo), the admin (Root) and with no
    credentials, with valid and with invalid input: no 5xx, answers as documented, no cross-practice leak."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 30
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @FUZZED
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case):
                fuzz(case, role, token_of)

            run()


STATEFUL = settings(max_examples=15, stateful_step_count=8, derandomize=True, deadline=None, database=None,
                    phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("role", ["agent", "manager", "admin"])
def test_linked_operations_as_each_role(api_schema, role, token_of):
    """Following the document's links (a list's first id to the operations on it: read, claim, handle, move...),
    as each role: the same checks, now on the things that exist (the seeded messages, callbacks, complaints)."""
    headers = bearer(token_of(ROLES[role]))
    checks = CHECKS + ([lakeside_sees_nothing_of_northside] if role in ("agent", "manager") else [])

    class Linked(api_schema.as_state_machine()):
        def get_call_kwargs(self, case):
            return {"headers": headers}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=checks)

    Linked.run(settings=STATEFUL)
