"""callsim: a strict Twilio Programmable Voice simulator for testing a Flask voice app over HTTP.

It signs requests as Twilio does, posts the voice webhooks, executes the returned TwiML verb by
verb on a simulated clock (following every action URL), then sends the status callbacks. Example::

    from callsim import CallSimulator, Caller, FlaskClientTransport, press, speak

    sim = CallSimulator(FlaskClientTransport(app.test_client()), auth_token="secret")
    result = sim.call("+13125550100", caller=Caller(press("1"), speak(12, then="#")),
                      dial={"+13125550111": "no-answer"})
    assert result.heard[0].startswith("Thank you for calling")
    assert result.dial_results[0].status == "no-answer"
    print(result.text())

Live calls, as the app sees them on Twilio:

* REST updates: with ``CallSimulator(..., rest=TwilioRestStandin(...))`` (or ``sim.rest = standin``), a
  ``client.calls(sid).update(url=..., twiml=..., status="completed")`` the app sends for a running call stops
  whatever the call is doing (mid-Say, mid-Gather, ringing or talking in a <Dial>) and runs the new TwiML, or
  hangs up; updates for calls that are not live are refused as Twilio refuses them (404 / 21220).
* Timed hooks: ``sim.call(..., at={40: hook})`` calls ``hook(RunInfo)`` when the call has lasted 40 s; the
  verb it interrupts resumes unless the hook redirected or ended the call. A hook may place a nested
  ``info.simulator.call(...)`` (an agent answering, another caller); the outer call waits meanwhile.
* App clock: ``CallSimulator(..., on_time=clock.set)`` is told the call's wall time (start_time + simulated
  seconds) before every request and every hook.
* Hang-ups at a time: ``Caller(press="1").hang_up(at=40)`` hangs up 40 s into the call, wherever it is.
* Calls together: ``CallsTogether(sim, start, on_time=..., background=jobs)`` plays many calls, each placed at
  its start time, on one clock (callsim.together): callers hold at once, a REST update wakes a holding call at
  the current time, and scheduled work runs at its time between the calls' steps.

Nothing ignored silently (each a Problem in result.problems; in strict mode the call fails):

* An element or attribute the simulator does not play (callsim.played.PLAYED lists what it plays) is
  "unsupported": UnsupportedVerb, and the document does not run.
* Caller steps still unused when the call ends are a "script" problem (CallerScriptError); a timed hang-up
  due after the end is not. Dial scripts may name parties that are never dialled.
* A URL on base_url that a document gives Twilio (action, url, callbacks, Redirect, Play) and no route of the
  app serves is a "url" problem (TwimlRejected), requested or not; FlaskClientTransport.serves() tells, and a
  transport without that knowledge (HttpTransport) skips the check.
* A webhook that answers after ``webhook_timeout_seconds`` of real time (Twilio's 15 s by default) has failed
  (error 11205): the Fallback URL is requested if there is one, else the caller hears the application error.
  A slow status/recording/transcription callback is only a "callback" problem.

Calls and messages the app creates:

* Outbound calls: ``sim.run_outbound(standin.requests_for("calls.create")[0], callee=Caller(press="1"),
  dial={PATIENT: "answered"})`` rings To, runs Url on the answering leg (Direction=outbound-api) and sends
  the StatusCallbackEvent callbacks; ``callee="no-answer"`` ends it unanswered.
* Inbound SMS: ``sim.send_sms(PATIENT, PRACTICE, "STOP")`` posts the incoming-message webhook and checks
  that a 200 answer is Messaging TwiML; ``standin.sent_messages()``, ``standin.opt_out(number)`` (21610).
"""
from .caller import Callee, Caller, Intent, hang_up, press, silence, speak
from .errors import (CallerScriptError, CallFailed, CallLoop, SimulationError, TwimlRejected, UnsupportedVerb,
                     WebhookFailed)
from .rest import CallUpdate, RestRequest, TwilioRestStandin
from .result import CallResult, DialResult, Document, Exchange, Step
from .schema import Problem, TwimlSchema, check_http
from .signing import SIGNATURE_HEADER, sign
from .simulator import CallSimulator, new_sid
from .timeline import RunInfo
from .together import CallsTogether, PlacedCall
from .transport import FlaskClientTransport, HttpTransport, Response

__all__ = ["CallFailed", "CallLoop", "CallResult", "CallSimulator", "CallUpdate", "Callee", "Caller",
           "CallerScriptError", "DialResult", "Document", "Exchange", "FlaskClientTransport", "HttpTransport",
           "CallsTogether", "Intent", "PlacedCall", "Problem", "Response", "RestRequest", "RunInfo", "SIGNATURE_HEADER", "SimulationError", "Step",
           "TwilioRestStandin", "TwimlRejected", "TwimlSchema", "UnsupportedVerb", "WebhookFailed", "check_http",
           "hang_up", "new_sid", "press", "sign", "silence", "speak"]
