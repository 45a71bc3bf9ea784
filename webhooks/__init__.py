"""Twilio-facing HTTP endpoints: parse and check the request, hand it to the IVR, render TwiML."""
