"""callsim: a strict Twilio Programmable Voice simulator for testing a Flask voice app over HTTP.

It signs requests as Twilio does, posts the voice webhooks, executes the returned TwiML verb by
verb (following every action URL), then sends the status callbacks. Example::

    from callsim import CallSimulator, Caller, FlaskClientTransport, press, speak

    sim = CallSimulator(FlaskClientTransport(app.test_client()), auth_token="secret")
    result = sim.call("+13125550100", caller=Caller(press("1"), speak(12, then="#")),
                      dial={"+13125550111": "no-answer"})
    assert result.heard[0].startswith("Thank you for calling")
    assert result.dial_results[0].status == "no-answer"
    print(result.text())
"""
from .caller import Callee, Caller, Intent, hang_up, press, silence, speak
from .errors import (CallerScriptError, CallFailed, CallLoop, SimulationError, TwimlRejected, UnsupportedVerb,
                     WebhookFailed)
from .rest import RestRequest, TwilioRestStandin
from .result import CallResult, DialResult, Document, Exchange, Step
from .schema import Problem, TwimlSchema, check_http
from .signing import SIGNATURE_HEADER, sign
from .simulator import CallSimulator, new_sid
from .transport import FlaskClientTransport, HttpTransport, Response

__all__ = ["CallFailed", "CallLoop", "CallResult", "CallSimulator", "Callee", "Caller", "CallerScriptError",
           "DialResult", "Document", "Exchange", "FlaskClientTransport", "HttpTransport", "Intent", "Problem",
           "Response", "RestRequest", "SIGNATURE_HEADER", "SimulationError", "Step", "TwilioRestStandin",
           "TwimlRejected", "TwimlSchema", "UnsupportedVerb", "WebhookFailed", "check_http", "hang_up", "new_sid",
           "press", "sign", "silence", "speak"]
