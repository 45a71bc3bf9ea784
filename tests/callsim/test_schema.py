"""TwiML validation: element, attribute and value checks, and Twilio's rules."""
from __future__ import annotations

import pytest

from callsim import Response, TwimlSchema, check_http


@pytest.fixture(scope="module")
def schema() -> TwimlSchema:
    return TwimlSchema.load()


def problems(schema, body: str) -> list[str]:
    return [str(p) for p in schema.validate(f"<Response>{body}</Response>")]


def test_valid_document_has_no_problems(schema):
    body = ('<Say language="en-US" voice="Polly.Joanna">Hello <say-as interpret-as="digits">12</say-as></Say>'
            '<Gather numDigits="1" input="dtmf speech" action="/menu" timeout="5"><Say>Press 1.</Say>'
            '<Pause length="1"/></Gather><Dial timeout="20" action="/done" record="record-from-answer">'
            '<Number url="/whisper" statusCallbackEvent="initiated answered">+13125550111</Number></Dial>')
    assert problems(schema, body) == []


@pytest.mark.parametrize("body, expected", [
    ('<Gather numDigitz="1"/>', "unknown attribute 'numDigitz'"),
    ('<Say language="xx">Hi</Say>', "'xx' is not one of Twilio's values"),
    ('<Record playBeep="yes"/>', "must be true or false"),
    ('<Pause length="a while"/>', "must be a number"),
    ('<Gather input="dtmf keypad"/>', "'keypad' is not one of"),
    ('<Gather method="PUT"/>', "must be GET or POST"),
    ('<Record><Say>Hi</Say></Record>', "<Say> is not allowed inside <Record>"),
    ('<Gather><Dial>+13125550111</Dial></Gather>', "<Dial> is not allowed inside <Gather>"),
    ('<say>Hi</say>', "<say> is not allowed inside <Response>"),
    ('<Redirect>/next</Redirect><Say>Never heard</Say>', "<Say> after <Redirect> can never run"),
    ('<Hangup/><Say>Never heard</Say>', "after <Hangup> can never run"),
    ('<Dial action="/done">+13125550111</Dial><Say>Never</Say>', "after <Dial> can never run"),
    ('<Dial timeout="3">+13125550111</Dial>', "must be 5..600"),
    ('<Dial><Number>312-555-0111</Number></Dial>', "is not E.164"),
    ('<Say>  </Say>', "<Say> has no text"),
    ('<Record transcribeCallback="/t"/>', "transcribeCallback without transcribe"),
])
def test_problems_are_reported(schema, body, expected):
    found = problems(schema, body)
    assert any(expected in problem for problem in found), found


def test_verbs_after_gather_and_dial_without_action_are_reachable(schema):
    """Gather falls through on no input; Dial without action continues the document."""
    assert problems(schema, '<Gather action="/m"><Say>Hi</Say></Gather><Say>Bye</Say>'
                            '<Dial>+13125550111</Dial><Say>After</Say>') == []


def test_root_and_xml_errors(schema):
    assert "must be <Response>" in str(schema.validate("<Respond/>")[0])
    assert "not well-formed" in str(schema.validate("<Response>")[0])


def test_http_checks():
    assert check_http(Response(200, {"Content-Type": "text/xml; charset=utf-8"})) == []
    assert check_http(Response(200, {"Content-Type": "application/xml"})) == []
    assert "text/plain" in str(check_http(Response(200, {"Content-Type": "text/plain"}))[0])
    assert "HTTP 502" in str(check_http(Response(502, {}))[0])
