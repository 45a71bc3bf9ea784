"""The `careline` command: Flask's CLI with Careline's own groups (db, config, calllog, simulate)."""
from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from careline import migrate
from careline.app import create_app
from careline.db import session_scope


@click.group(cls=FlaskGroup, create_app=lambda: create_app(), add_default_commands=True)
def main() -> None:
    """Careline: the answering service for medical practices."""


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@with_appcontext
def db_upgrade(revision: str) -> None:
    """Apply the migrations to DATABASE_URL."""
    migrate.upgrade(current_app.extensions["careline"].config.database_url, revision)
    click.echo(f"database at {revision}")


@db.command("downgrade")
@click.option("--revision", default="-1", show_default=True)
@with_appcontext
def db_downgrade(revision: str) -> None:
    """Undo migrations (default: the last one)."""
    migrate.downgrade(current_app.extensions["careline"].config.database_url, revision)
    click.echo(f"database at {revision}")


@main.group()
def config() -> None:
    """Practices and agents from a configuration file."""


@config.command("load")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@with_appcontext
def config_load(path: str) -> None:
    """Validate FILE and write its practices and agents; an invalid file writes nothing."""
    from practices.errors import ConfigInvalid
    from practices.loader import load_config_file
    from practices.publish import publish_config_change
    from practices.store import apply_config

    services = current_app.extensions["careline"]
    try:
        spec = load_config_file(path)
        with session_scope(services.session_factory) as session:
            report = apply_config(session, spec)
    except ConfigInvalid as exc:
        click.echo(f"{path}: not loaded, nothing was written:", err=True)
        for problem in exc.problems:
            click.echo(f"  - {problem}", err=True)
        sys.exit(1)
    publish_config_change(services.redis)
    services.directory.invalidate()
    for label, names in (("created", report.created), ("updated", report.updated),
                         ("unchanged", report.unchanged)):
        if names:
            click.echo(f"{label}: {', '.join(names)}")


@main.group()
def calllog() -> None:
    """The call log."""


@calllog.command("drain")
@with_appcontext
def calllog_drain() -> None:
    """Move waiting call events from Redis into the database now."""
    handled = current_app.extensions["careline"].calllog_writer.drain()
    click.echo(f"{handled} events written")


@main.command("simulate")
@click.option("--to", "to_number", required=True, help="The practice number to call (E.164).")
@click.option("--from", "from_number", default="+13125550199", show_default=True, help="The caller's number.")
@click.option("--press", default="", help="Keys pressed at each menu, in order; '-' is silence at one menu.")
@click.option("--url", default="http://127.0.0.1:5000", show_default=True, help="Where Careline runs.")
@click.option("--message-seconds", default=8, show_default=True, help="How long the caller speaks at a beep.")
@with_appcontext
def simulate(to_number: str, from_number: str, press: str, url: str, message_seconds: int) -> None:
    """Play a call against a running Careline and print what the caller hears; no Twilio account needed."""
    from callsim import CallerScriptError, CallSimulator, HttpTransport

    services = current_app.extensions["careline"]
    token = services.config.TWILIO_AUTH_TOKEN
    if not token and not services.config.TWILIO_SIGNATURE_CHECK_DISABLED:
        raise click.UsageError("TWILIO_AUTH_TOKEN must be set (the simulator signs as Twilio does)")
    try:
        caller = _operator_caller(press, message_seconds)
    except CallerScriptError as exc:
        raise click.BadParameter(str(exc), param_hint="--press") from exc
    base_url = services.config.PUBLIC_BASE_URL or url
    simulator = CallSimulator(HttpTransport(url), token or "unsigned", base_url=base_url, strict=False)
    try:
        result = simulator.call(to=to_number, from_=from_number, caller=caller)
    except OSError as exc:  # requests' ConnectionError is an OSError
        raise click.ClickException(f"Careline does not answer at {url} ({type(exc).__name__})") from exc
    click.echo(result.text())
    for problem in result.problems:
        click.echo(f"PROBLEM: {problem}", err=True)


def _operator_caller(press: str, message_seconds: int):
    """A caller who presses `press` ('-' = silence) at the menus, and speaks at any beep, then presses #."""
    from callsim import Caller, speak

    class OperatorCaller(Caller):
        def at_record(self):
            if self.intents and self.intents[0].kind in ("speak", "hangup"):
                return self.intents.pop(0)
            return speak(message_seconds, then="#")

    caller = OperatorCaller()
    for key in press:
        caller.silence() if key == "-" else caller.press(key)
    return caller
