"""The `careline` command: Flask's CLI with Careline's own groups (db, config, token, user, audit, oncall, keys, queue,
calllog, demo, report, recordings, retention, simulate), the cron process (`careline cron`) and the deployment's
check (`careline doctor`)."""
from __future__ import annotations

import csv
import hashlib
import json
import logging
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import NoReturn

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from audit.actors import cli_actor
from audit.errors import AuditQueryInvalid
from audit.trail import EXPORT_COLUMNS
from core import migrate
from careline.app import create_app
from careline.cron_process import run_cron
from careline.doctor import Doctor, failed
from core.config import Config, ConfigError
from core.crypto import generate_data_key
from core.db import session_scope
from careline.simulate import simulate
from agents.tokens import DEFAULT_TOKEN_DAYS, IDLE_TOKEN_DAYS, MAX_TOKEN_DAYS
from models.encryption import ROTATE_BATCH_ROWS, rotate_encrypted_values
from models.token import TOKEN_LABEL_MAX_LENGTH
from queueing.store import upgrade_keys

log = logging.getLogger(__name__)


@click.group(cls=FlaskGroup, create_app=lambda: create_app(), add_default_commands=True)
def main() -> None:
    """Careline: the answering service for medical practices."""


@main.command("cron")
def cron() -> None:
    """Run the cron scheduler (the Procfile's `cron`): careline/cron.py's jobs, waiting out Redis outages."""
    settings = Config.from_env()
    settings.check()  # production's refusals, as the web process and the worker make them (create_app)
    run_cron(settings)


@main.command("doctor", with_appcontext=False)
def doctor() -> None:
    """Check this deployment: settings, database, Redis, Twilio, PUBLIC_BASE_URL, each practice number's webhooks.

    One line per check (ok, warn or FAIL, with the fix); reads the environment as web, worker and cron do, and
    changes nothing. Exits 1 when any check FAILs."""
    try:
        settings = Config.from_env()
    except (ConfigError, ValueError) as exc:
        click.echo(f"FAIL  settings: {exc} (fix: correct that setting; README, \"Configuration\")")
        sys.exit(1)
    findings = Doctor(settings).run()
    for finding in findings:
        click.echo(finding.line())
    if failed(findings):
        sys.exit(1)


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
@click.option("--yes", is_flag=True, help="Deactivate the agents FILE no longer lists without asking.")
@with_appcontext
def config_load(path: str, yes: bool) -> None:
    """Validate FILE and write its practices and agents; an invalid file writes nothing.

    FILE is the truth about people: active agents it does not list are deactivated (their tokens and console
    sessions stop at once, their history stays). They are listed first and the load asks before going on
    (--yes: without asking); declined, nothing is written."""
    from practices.errors import ConfigInvalid
    from practices.coverage import paging_coverage
    from practices.loader import load_config_file
    from practices.publish import publish_config_change
    from practices.store import agents_to_deactivate, apply_config

    services = current_app.extensions["careline"]
    try:
        spec = load_config_file(path)
        with services.session_factory() as session:
            leaving = agents_to_deactivate(session, spec)
        if leaving:
            click.echo(f"{path} does not list {len(leaving)} active agent(s); loading it deactivates them:")
            for email in leaving:
                click.echo(f"  - {email}")
            if not yes and not _confirmed("Deactivate them and load the file?"):
                click.echo(f"{path}: not loaded, nothing was written", err=True)
                sys.exit(1)
        with session_scope(services.session_factory) as session:
            report = apply_config(session, spec, services.now)
            # Who urgent after-hours messages page: a practice that would page nobody is refused (rolled back).
            coverage = paging_coverage(session, spec)
            if coverage.problems:
                raise ConfigInvalid(coverage.problems)
            # In the load's transaction: a load is never without its row. The file's hash says which file it was.
            services.audit.append(session, cli_actor(), "config.load", "config", Path(path).name, details={
                "sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest(),
                "created": len(report.created), "updated": len(report.updated),
                "deactivated": list(report.deactivated), "reactivated": list(report.reactivated)})
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
                         ("unchanged", report.unchanged), ("deactivated", report.deactivated),
                         ("reactivated", report.reactivated)):
        if names:
            click.echo(f"{label}: {', '.join(names)}")
    for agent_id in services.accounts.take_offline(report.deactivated_ids):
        click.echo(f"warning: agent {agent_id} is deactivated but could not be set offline in the queue now",
                   err=True)


def _confirmed(question: str) -> bool:
    """Ask `question`; no answer (stdin closed, as in a script) is no."""
    try:
        return click.confirm(question, default=False)
    except click.Abort:
        click.echo("", err=True)
        return False


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
@click.option("--expires", "expires_days", type=click.IntRange(1, MAX_TOKEN_DAYS), default=DEFAULT_TOKEN_DAYS,
              show_default=True, metavar="DAYS", help="Days until the token expires.")
@with_appcontext
def token_create(email: str, label: str | None, expires_days: int) -> None:
    """Print a new API token for the agent with EMAIL; it is shown only this once.

    The token expires after --expires DAYS, and stops sooner when unused for 30 days. The token is alone on
    stdout; its prefix, expiry and how to revoke it go to stderr. A deactivated agent gets none."""
    from agents.errors import AgentDeactivated, UnknownAgent

    if label is not None and len(label) > TOKEN_LABEL_MAX_LENGTH:
        raise click.BadParameter(f"at most {TOKEN_LABEL_MAX_LENGTH} characters", param_hint="--label")
    try:
        issued = _token_service().issue_token(email, label, expires_days)
    except UnknownAgent:
        _unknown_agent(email)
    except AgentDeactivated:
        click.echo(f"{email.strip().lower()} is deactivated: no token (careline user enable EMAIL)", err=True)
        sys.exit(1)
    audit_cli("token.create", "token", issued.prefix, {"agent": email.strip().lower(), "expires_days": expires_days})
    click.echo(issued.token)
    # The rest goes to stderr, so `TOKEN=$(careline token create EMAIL)` captures the token alone.
    click.echo(f"token {issued.prefix}: keep it now, it cannot be shown again; it expires in {expires_days} days, "
               f"or after {IDLE_TOKEN_DAYS} days unused (revoke it with: careline token revoke {issued.prefix})",
               err=True)


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
        audit_cli("token.revoke", "agent", email.strip().lower(), {"tokens": [t.prefix for t in revoked]})
        click.echo(f"revoked {len(revoked)} token(s): {', '.join(t.prefix for t in revoked) or '-'}")
        return
    try:
        info = _token_service().revoke_token(prefix)
    except UnknownToken:
        click.echo(f"no token has the prefix {prefix!r} (careline token list shows them)", err=True)
        sys.exit(1)
    audit_cli("token.revoke", "token", info.prefix, {"agent": info.email})
    click.echo(f"revoked {info.prefix} ({info.email}) at {_when(info.revoked_at)}")


@token.command("list")
@click.argument("email", required=False)
@with_appcontext
def token_list(email: str | None) -> None:
    """List every token, or those of the agent with EMAIL; never the secrets.

    Columns: prefix, agent, label, created, last used (to the minute), expires, revoked, state (live, revoked,
    expired, or idle: unused for 30 days)."""
    from agents.errors import UnknownAgent

    try:
        tokens = _token_service().list_tokens(email)
    except UnknownAgent:
        _unknown_agent(email)
    if not tokens:
        click.echo("no tokens")
        return
    now = current_app.extensions["careline"].now()
    rows = [("PREFIX", "AGENT", "LABEL", "CREATED", "LAST USED", "EXPIRES", "REVOKED", "STATE")]
    rows += [(t.prefix, t.email, t.label or "-", _when(t.created_at), _when(t.last_used_at), _when(t.expires_at),
              _when(t.revoked_at), t.state(now)) for t in tokens]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def audit_cli(action: str, subject_kind: str | None = None, subject_id: str | int | None = None,
              details: dict | None = None) -> None:
    """Write the audit row of an administrative act done at this command (`via` "cli", the operator's login
    in `via_ref`), once the act is done."""
    current_app.extensions["careline"].audit.record(cli_actor(), action, subject_kind, subject_id, details=details)


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
    audit_cli("user.password", "agent", email.strip().lower())
    click.echo(f"password set for {email.strip().lower()}; sign in at /console/sign-in")


@user.command("totp")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Replace the person's second factor without asking, if they have one.")
@with_appcontext
def user_totp(email: str, yes: bool) -> None:
    """Give the agent with EMAIL a second factor for the console and print its otpauth:// URI.

    The URI (alone on stdout) goes into the person's authenticator app, as text or as a QR code (e.g.
    `qrencode -t ansiutf8`); it holds the secret, so hand it over as you would a password. Managers and admins
    cannot sign in to the console without one; an agent who has one is asked for its code too. A new one
    replaces the old (a lost phone): asked first, unless --yes."""
    from agents.errors import UnknownAgent

    factors = current_app.extensions["careline"].second_factors
    try:
        if factors.has_secret(email) and not yes:
            click.confirm(f"{email.strip().lower()} has a second factor already; replace it (their app's current "
                          "entry stops working)?", abort=True)
        uri = factors.enrol(email)
    except UnknownAgent:
        _unknown_agent(email)
    audit_cli("user.totp", "agent", email.strip().lower())
    click.echo(uri)
    click.echo(f"second factor set for {email.strip().lower()}: add this URI to their authenticator app; "
               "it is not shown again", err=True)


@user.command("disable")
@click.argument("email")
@with_appcontext
def user_disable(email: str) -> None:
    """Deactivate the agent with EMAIL: its tokens and console sessions stop at once, the queue sets it offline,
    its history stays. A configuration file that lists it activates it again (or `careline user enable`)."""
    from agents.errors import UnknownAgent

    try:
        changed = current_app.extensions["careline"].accounts.disable(email)
    except UnknownAgent:
        _unknown_agent(email)
    if changed:
        audit_cli("user.disable", "agent", email.strip().lower())
    click.echo(f"{email.strip().lower()} {'deactivated' if changed else 'was already deactivated'}")


@user.command("enable")
@click.argument("email")
@with_appcontext
def user_enable(email: str) -> None:
    """Activate the agent with EMAIL again (its old tokens work again unless they expired or were revoked)."""
    from agents.errors import UnknownAgent

    try:
        changed = current_app.extensions["careline"].accounts.enable(email)
    except UnknownAgent:
        _unknown_agent(email)
    if changed:
        audit_cli("user.enable", "agent", email.strip().lower())
    click.echo(f"{email.strip().lower()} {'activated' if changed else 'was already active'}")


@main.group()
def menu() -> None:
    """A practice's menu ([[practices.menu]] of the configuration file)."""


@menu.command("show")
@click.argument("practice")
@with_appcontext
def menu_show(practice: str) -> None:
    """Print PRACTICE's (its slug) menu as a tree: key, action, target and prompt in its first language."""
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from models import Practice
    from practices.store import snapshot_from_model

    with current_app.extensions["careline"].session_factory() as session:
        row = session.scalar(select(Practice).where(Practice.slug == practice)
                             .options(selectinload(Practice.numbers)))
        if row is None:
            click.echo(f"no practice {practice!r}", err=True)
            sys.exit(1)
        snapshot = snapshot_from_model(row)
    language = snapshot.default_language
    if not snapshot.menu:
        click.echo(f"{snapshot.name} ({snapshot.slug}): the built-in menu (1 someone, 2 message, 3 hours, "
                   f"4 urgent, * repeat)")
        return
    click.echo(f"{snapshot.name} ({snapshot.slug}): its own menu, prompts in {language}")

    def show(entries, depth: int) -> None:
        for entry in entries:
            target = entry.target or ""
            if entry.action in ("queue", "message", "forward") and entry.urgent is not False:
                target += f" (urgent: {str(entry.urgent).lower()})"
            click.echo(f"{'    ' * depth}{entry.key}  {entry.action:<8} {target:<28} {entry.prompt.get(language, '')}")
            if entry.menu:
                show(entry.menu, depth + 1)

    show(snapshot.menu, 0)


@main.group()
def oncall() -> None:
    """The on-call providers' PINs, which open the message behind a page's link."""


@oncall.command("pin")
@click.argument("practice")
@click.argument("phone")
@click.option("--pin-stdin", is_flag=True, help="Read the PIN from stdin (one line) instead of asking.")
@click.option("--clear", is_flag=True, help="Remove the PIN: the provider's links then open nothing.")
@with_appcontext
def oncall_pin(practice: str, phone: str, pin_stdin: bool, clear: bool) -> None:
    """Set the PIN (6 to 12 digits, asked twice, not shown) of the on-call provider at PHONE (E.164) for PRACTICE
    (its slug). Only a salted hash is stored; tell the provider their PIN by voice, never by text."""
    from paging.errors import PinRejected

    page_links = current_app.extensions["careline"].page_links
    try:
        if clear:
            removed = page_links.clear_pin(practice, phone)
            click.echo(f"PIN removed for {phone} at {practice}" if removed else f"{phone} had no PIN at {practice}")
            if removed:
                audit_cli("oncall.pin-clear", "on-call-provider", phone, {"practice": practice})
            return
        pin = sys.stdin.readline().strip() if pin_stdin else click.prompt("PIN", hide_input=True,
                                                                           confirmation_prompt=True)
        page_links.set_pin(practice, phone, pin)
    except (PinRejected, LookupError) as exc:
        click.echo(f"not set: {exc}", err=True)
        sys.exit(1)
    audit_cli("oncall.pin-set", "on-call-provider", phone, {"practice": practice})
    click.echo(f"PIN set for {phone} at {practice}; their page links open with it")


@main.group()
def keys() -> None:
    """The data key (CARELINE_DATA_KEY) that encrypts patient free text at rest."""


@keys.command("generate")
def keys_generate() -> None:
    """Print a new random data key (put it first in CARELINE_DATA_KEY, then run `careline keys rotate`)."""
    click.echo(generate_data_key())


@keys.command("rotate")
@click.option("--batch", "batch_rows", type=click.IntRange(1, 100_000), default=ROTATE_BATCH_ROWS, show_default=True,
              help="rows re-encrypted per transaction")
@with_appcontext
def keys_rotate(batch_rows: int) -> None:
    """Re-encrypt every encrypted value with CARELINE_DATA_KEY's first key; safe to run again. Once it is done, the
    other keys can be taken out of CARELINE_DATA_KEY."""
    services = current_app.extensions["careline"]
    # Transcriptions waiting in the call log's stream are tokens too: written to the database first, they are
    # rotated with the rest (a token left in Redis under a key then removed could not be read).
    try:
        services.calllog_writer.drain()
    except Exception as exc:  # noqa: BLE001 - the rotation is worth doing all the same; say so
        click.echo(f"the call log could not be drained first ({type(exc).__name__}): run `careline keys rotate` "
                   "again before removing an old key", err=True)
    rotated = rotate_encrypted_values(services.engine, services.data_cipher, batch_rows)
    for name, count in rotated.by_column.items():
        click.echo(f"{name}: {count} re-encrypted")
    click.echo(f"{rotated.total} values re-encrypted with the first key")
    audit_cli("keys.rotate", details={"values": rotated.total, "by_column": dict(rotated.by_column)})


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


@main.group()
def retention() -> None:
    """What each practice keeps ([practices.retention]), deleted past its days."""


@retention.command("run")
@with_appcontext
def retention_run() -> None:
    """Delete recordings (at Twilio, then in Careline) and rows past each practice's retention, as the daily cron
    job does; prints what it deleted. Audit rows are never deleted."""
    report = current_app.extensions["careline"].retention.run(cli_actor())
    for name, count in report.counts().items():
        click.echo(f"{name}: {count}")
    if report.recordings_failed:
        click.echo(f"{report.recordings_failed} recordings Twilio did not delete are left to the next run", err=True)


@main.group("audit")
def audit_group() -> None:
    """The audit trail: who read patient data or acted as an administrator (append-only, hash-chained)."""


@audit_group.command("verify")
@with_appcontext
def audit_verify() -> None:
    """Walk the whole chain and check every link; exits 1 naming the first broken one (its row and what is
    wrong), 0 when the chain holds."""
    verified = current_app.extensions["careline"].audit.verify()
    if verified.broken is not None:
        where = f"row {verified.broken.row_id}" if verified.broken.row_id is not None else "the chain's head"
        click.echo(f"broken at {where}: {verified.broken.problem} ({verified.rows} rows before it hold)", err=True)
        sys.exit(1)
    click.echo(f"the chain holds: {verified.rows} rows")


@audit_group.command("export")
@click.option("--from", "since", callback=_iso_time, required=True, metavar="ISO",
              help="The first time exported (ISO 8601; UTC when no offset is given).")
@click.option("--to", "until", callback=_iso_time, required=True, metavar="ISO",
              help="The end, not included (ISO 8601; UTC when no offset is given).")
@click.option("--format", "form", type=click.Choice(["csv", "jsonl"]), default="csv", show_default=True,
              help="CSV with a header, or one JSON object a line.")
@with_appcontext
def audit_export(since: datetime, until: datetime, form: str) -> None:
    """Write the audit rows of [--from, --to) to stdout, oldest first, with their hashes (for a compliance
    officer; `careline audit verify` checks them)."""
    try:
        rows = current_app.extensions["careline"].audit.export(since, until)
    except AuditQueryInvalid as exc:
        raise click.BadParameter(exc.description, param_hint=f"--{exc.field}") from None
    out = sys.stdout
    if form == "jsonl":
        for row in rows:
            out.write(json.dumps(row, sort_keys=True) + "\n")
        return
    writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "details": json.dumps(row["details"], sort_keys=True)
                         if row["details"] is not None else ""})


main.add_command(simulate)
