"""The floor: the least a voice webhook can do, a fixed greeting and menu, served like Careline.

It does no signature check, no Redis and no database work, so Careline's figures over these show what
its own work costs on top of Flask + gunicorn on the same machine.
"""
from __future__ import annotations

from flask import Flask, Response
from twilio.twiml.voice_response import VoiceResponse


def _greeting_and_menu() -> str:
    """A Say greeting and a Gather menu, the shape of Careline's answer to an open practice."""
    response = VoiceResponse()
    response.say("Thank you for calling Bench Family Medicine.", language="en-US")
    gather = response.gather(num_digits=1, action="/voice/menu?s=1", method="POST", timeout=5)
    gather.say("To leave a message for the practice, press 1. For urgent matters, press 2.", language="en-US")
    response.redirect("/voice/menu?s=1&timeout=1", method="POST")
    return str(response)


TWIML = _greeting_and_menu().encode()

app = Flask(__name__)


@app.post("/voice/incoming")
def incoming():
    """The fixed greeting and menu. 200 TwiML."""
    return Response(TWIML, status=200, mimetype="application/xml")


@app.post("/voice/status")
def status():
    """Accept a status callback and drop it. 204."""
    return "", 204
