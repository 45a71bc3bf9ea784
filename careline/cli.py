"""The `careline` command: Flask's CLI with Careline's own groups (db, config, token, user, queue, calllog, demo,
report, recordings, simulate) and the cron process (`careline cron`)."""
from __future__ import annotations

import logging
import sys
from datetime import datetime, timezone
from typing import NoReturn

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from core import migrate
from careline.app import create_app
from careline.cron_process import run_cron
from core.config import Config
from core.db import session_scope
from careline.simulate import simulate
from models.token import TOKEN_LABEL_MAX_LENGTH
from queueing.store import upgrade_keys

log = logging.getLogger(__name__)


@click.group(cls=FlaskGroup, create_app=lambda: create_app(), add_default_commands=True)
def main() -> None:
    """Careline: the answering service for medical practices."""


@main.command("cron")
def cron() -> None:
    """Run the cron scheduler (the Procfile's `cron`): careline/cron.py's jobs, waiting out Redis outages."""
    run_cron(Config.from_env())


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
    from practices.coverage import paging_coverage
    from practices.loader import load_config_file
    from practices.publish import publish_config_change
    from practices.store import apply_config

    services = current_app.extensions["careline"]
    try:
        spec = load_config_file(path)
        with session_scope(services.session_factory) as session:
            report = apply_config(session, spec)
            # Who urgent after-hours messages page: a practice that would page nobody is refused (rolled back).
            coverage = paging_coverage(session, spec)
            if coverage.problems:
                raise ConfigInvalid(coverage.problems)
    except ConfigInvalid as exc:
        click.echo(f"{path}: not loaded, nothing was written:", err=True)
        for problem in exc.problems:
            click.echo(f"  - {problem}", err=True)
        sys.exit(1)
    publish_config_change(services.redis)
    services.directory.invalidate()
    for warning in coverage.warnings:
        log.warning("config load: %s", warning)
        click.echo(f"warning: {warning}", err=True)
    for label, names in (("created", report.created), ("updated", report.updated),
                         ("unchanged", report.unchanged)):
        if names:
            click.echo(f"{label}: {', '.join(names)}")


@main.group()
def token() -> None:
    """API tokens for the JSON API (`Authorization: Bearer TOKEN`)."""


def _token_service():
    from agents.tokens import TokenService

    services = current_app.extensions["careline"]
    return TokenService(services.session_factory, services.clock)


def _unknown_agent(email: str) -> NoReturn:
    click.echo(f"no agent has the email {email!r}; agents come from the configuration file "
               "(careline config load)", err=True)
    sys.exit(1)


@token.command("create")
@click.argument("email")
@click.option("--label", help=f"What the token is for (at most {TOKEN_LABEL_MAX_LENGTH} characters).")
@with_appcontext
def token_create(email: str, label: str | None) -> None:
    """Print a new API token for the agent with EMAIL; it is shown only this once.

    The token is alone on stdout; its prefix and how to revoke it go to stderr."""
    from agents.errors import UnknownAgent

    if label is not None and len(label) > TOKEN_LABEL_MAX_LENGTH:
        raise click.BadParameter(f"at most {TOKEN_LABEL_MAX_LENGTH} characters", param_hint="--label")
    try:
        issued = _token_service().issue_token(email, label)
    except UnknownAgent:
        _unknown_agent(email)
    click.echo(issued.token)
    # The rest goes to stderr, so `TOKEN=$(careline token create EMAIL)` captures the token alone.
    click.echo(f"token {issued.prefix}: keep it now, it cannot be shown again "
               f"(revoke it with: careline token revoke {issued.prefix})", err=True)


@token.command("revoke")
@click.argument("prefix", required=False)
@click.option("--email", help="With --all: the agent whose tokens to revoke.")
@click.option("--all", "all_tokens", is_flag=True, help="Revoke every token of the agent given by --email.")
@with_appcontext
def token_revoke(prefix: str | None, email: str | None, all_tokens: bool) -> None:
    """Revoke a token by its PREFIX, or every token of --email EMAIL --all.

    PREFIX is the first column of `careline token list`."""
    from agents.errors import UnknownAgent, UnknownToken

    if (prefix is None) == (email is None) or bool(email) != all_tokens:
        raise click.UsageError("give either a token PREFIX, or --email EMAIL --all")
    if email is not None:
        try:
            revoked = _token_service().revoke_all_tokens(email)
        except UnknownAgent:
            _unknown_agent(email)
        click.echo(f"revoked {len(revoked)} token(s): {', '.join(t.prefix for t in revoked) or '-'}")
        return
    try:
        info = _token_service().revoke_token(prefix)
    except UnknownToken:
        click.echo(f"no token has the prefix {prefix!r} (careline token list shows them)", err=True)
        sys.exit(1)
    click.echo(f"revoked {info.prefix} ({info.email}) at {_when(info.revoked_at)}")


@token.command("list")
@click.argument("email", required=False)
@with_appcontext
def token_list(email: str | None) -> None:
    """List every token, or those of the agent with EMAIL; never the secrets.

    Columns: prefix, agent, label, created, last used (to the minute), revoked."""
    from agents.errors import UnknownAgent

    try:
        tokens = _token_service().list_tokens(email)
    except UnknownAgent:
        _unknown_agent(email)
    if not tokens:
        click.echo("no tokens")
        return
    rows = [("PREFIX", "AGENT", "LABEL", "CREATED", "LAST USED", "REVOKED")]
    rows += [(t.prefix, t.email, t.label or "-", _when(t.created_at), _when(t.last_used_at), _when(t.revoked_at))
             for t in tokens]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def _when(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment is not None else "-"


@main.group()
def user() -> None:
    """People's sign-in to the managers' console (/console)."""


@user.command("set-password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin (one line) instead of asking.")
@with_appcontext
def user_set_password(email: str, password_stdin: bool) -> None:
    """Set the console password of the agent with EMAIL (asked twice, not shown; at least 12 characters).

    Only a salted hash is stored; the password is never printed or logged."""
    from agents.errors import PasswordRejected, UnknownAgent
    from agents.passwords import PasswordService

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        PasswordService(current_app.extensions["careline"].session_factory).set_password(email, password)
    except PasswordRejected as exc:
        click.echo(f"not set: {exc}", err=True)
        sys.exit(1)
    except UnknownAgent:
        _unknown_agent(email)
    click.echo(f"password set for {email.strip().lower()}; sign in at /console/sign-in")


@main.group()
def queue() -> None:
    """The live call queue in Redis."""


@queue.command("upgrade-keys")
@with_appcontext
def queue_upgrade_keys() -> None:
    """Rename the queue's keys of an earlier layout to today's (the Procfile's release runs it after `db upgrade`)."""
    renamed = upgrade_keys(current_app.extensions["careline"].redis)
    click.echo(f"{renamed} queue keys renamed")


@main.group()
def calllog() -> None:
    """The call log."""


@calllog.command("drain")
@with_appcontext
def calllog_drain() -> None:
    """Move waiting call events from Redis into the database now."""
    handled = current_app.extensions["careline"].calllog_writer.drain()
    click.echo(f"{handled} events written")


@calllog.group("dead-letters")
def calllog_dead_letters() -> None:
    """Call events the writer gave up on (failed 3 drains while the database answered, or unreadable)."""


@calllog_dead_letters.command("list")
@with_appcontext
def calllog_dead_letters_list() -> None:
    """List the dead letters, oldest first: ids and why, never the events' data.

    Columns: id (for replay), when (Careline's clock), the CallSid, the event's kind, tries, why (the
    exception's class)."""
    letters = current_app.extensions["careline"].calllog_writer.dead_letters.list_all()
    if not letters:
        click.echo("no dead letters")
        return
    rows = [("ID", "WHEN", "CALL", "KIND", "TRIES", "WHY")]
    rows += [(d.id, _when(d.failed_at), d.call_sid, d.kind, str(d.tries), d.reason) for d in letters]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


@calllog_dead_letters.command("replay")
@click.argument("ids", nargs=-1)
@click.option("--all", "all_letters", is_flag=True, help="Replay every dead letter.")
@with_appcontext
def calllog_dead_letters_replay(ids: tuple[str, ...], all_letters: bool) -> None:
    """Put the dead letters IDS (or --all) back on the call-log stream; they leave the dead letters and the
    next drain (scheduled now) writes them. Exits 1 when an ID is no dead letter's."""
    if bool(ids) == all_letters:
        raise click.UsageError("give dead-letter IDS (careline calllog dead-letters list), or --all")
    services = current_app.extensions["careline"]
    result = services.calllog_writer.dead_letters.replay(None if all_letters else list(ids))
    if result.replayed:
        services.calllog.schedule_drain()
    click.echo(f"replayed {len(result.replayed)}: {', '.join(result.replayed) or '-'}")
    for letter_id in result.unknown:
        click.echo(f"no dead letter has the id {letter_id!r}", err=True)
    if result.unknown:
        sys.exit(1)


@main.group()
def demo() -> None:
    """Demo data for demos and benchmarks."""


@demo.command("generate")
@click.option("--calls", type=click.IntRange(1, 20_000_000), required=True, help="How many calls to write.")
@click.option("--days", type=click.IntRange(1, 3660), default=90, show_default=True,
              help="Spread over this many days, ending today.")
@click.option("--seed", type=int, default=1, show_default=True, help="The same seed writes the same history.")
@with_appcontext
def demo_generate(calls: int, days: int, seed: int) -> None:
    """Write realistic call history (peaks, abandons, messages, callbacks) for the configured practices."""
    from demo.generate import GenerateOptions, NothingToGenerateFor, generate

    services = current_app.extensions["careline"]
    try:
        report = generate(services.session_factory, GenerateOptions(calls=calls, days=days, seed=seed),
                          now=services.clock, progress=lambda done: click.echo(f"  {done:,} calls", err=True))
    except NothingToGenerateFor as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(f"wrote {report.calls:,} calls, {report.queue_events:,} queue events, {report.messages:,} messages, "
               f"{report.callback_tasks:,} callback tasks, {report.agent_status_changes:,} agent status changes")


@main.group()
def report() -> None:
    """The practices' morning reports ([practices.report], e-mailed through SMTP_URL)."""


@report.command("send")
@click.argument("practice")
@click.option("--date", "day", type=click.DateTime(formats=["%Y-%m-%d"]),
              help="The practice's local day the report covers (YYYY-MM-DD); default: its yesterday.")
@with_appcontext
def report_send(practice: str, day) -> None:
    """E-mail PRACTICE's morning report now (its slug), to the addresses of its [practices.report]; a report
    already sent is sent again. Exits 1 when it could not be sent (the console lists it as failed)."""
    from reports.errors import ReportError

    reports = current_app.extensions["careline"].reports
    try:
        result = reports.send_now(practice, day.date() if day is not None else None)
    except ReportError as exc:
        click.echo(f"not sent: {exc}", err=True)
        sys.exit(1)
    if result.status != "sent":
        click.echo(f"not sent: {result.error} (report_send {result.send_id}; the console lists it as failed)",
                   err=True)
        sys.exit(1)
    click.echo(f"sent: report_send {result.send_id} to {result.recipients} address(es)")


@main.group()
def recordings() -> None:
    """Twilio's recordings of the messages callers leave."""


def _iso_time(ctx, param, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("an ISO 8601 time, e.g. 2026-11-25T02:00:00Z or 2026-11-25") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


@recordings.command("reconcile")
@click.option("--since", callback=_iso_time, metavar="ISO",
              help="Recordings Twilio made from this time on (ISO 8601; UTC when no offset is given). Default: "
                   "since the last run (the cron job's, every RECORDINGS_RECONCILE_SECONDS), less a little overlap.")
@with_appcontext
def recordings_reconcile(since: datetime | None) -> None:
    """Make messages (with their callback tasks and pages) of Twilio's recordings Careline has none for, as the
    cron job does. With --since, the job's own last-run time is left as it was."""
    report = current_app.extensions["careline"].recordings.reconcile(since)
    click.echo(f"since {report.since.isoformat()}: {report.listed} recordings listed, {report.known} already "
               f"messages, {len(report.created)} made messages{': ' if report.created else ''}"
               f"{', '.join(report.created)}; {report.too_short} too short, {report.deferred} left to the next "
               f"run, {report.unmatched} for a number no practice has")


main.add_command(simulate)
