"""Careline: the telephony answering service for medical practices.

`careline.app.create_app` builds the Flask app; `careline.cli` is the `careline` command.
"""
