"""The Flask app factory: `create_app(config)` wires the services and registers the blueprints."""
from __future__ import annotations

import logging

import redis
from flask import Flask, current_app, jsonify
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import text
from werkzeug.exceptions import HTTPException

from api import bp as api_bp
from careline.health import process_health
from careline.services import Services
from console import bp as console_bp
from core.config import INSTANCE_DIR, Config
from core.logs import configure_logging
from webhooks.callback_calls import bp as callback_calls_bp
from webhooks.sms import bp as sms_bp
from webhooks.voice import bp as voice_bp

log = logging.getLogger(__name__)

WEBHOOK_PREFIXES = ("/voice/", "/sms/")


def create_app(config: Config | None = None, services: Services | None = None) -> Flask:
    """Build Careline's web app from `config` (default: the environment) on `services` (default: built here,
    once: a web process builds them with its app; the RQ worker builds its own and an app for their URLs)."""
    config = services.config if services is not None else config or Config.from_env()
    config.check()
    configure_logging(config.LOG_LEVEL)
    app = Flask(__name__, instance_path=str(INSTANCE_DIR))
    app.config.update(SECRET_KEY=config.SECRET_KEY or None, MAX_CONTENT_LENGTH=config.MAX_WEBHOOK_BYTES)
    app.session_interface = NoSessionForWebhooks()
    services = services or Services.build(config)
    app.extensions["careline"] = services
    if config.TWILIO_SIGNATURE_CHECK_DISABLED:
        log.warning("!!! TWILIO_SIGNATURE_CHECK_DISABLED is on: webhooks accept UNSIGNED requests. "
                    "Development only; never in production. !!!")

    app.register_blueprint(voice_bp)
    app.register_blueprint(callback_calls_bp)
    app.register_blueprint(sms_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(console_bp)  # last: it exempts the blueprints above from CSRF checks
    app.add_url_rule("/status", "status", _status)
    app.register_error_handler(HTTPException, _http_error)
    services.links.bind(app.url_map)
    return app


class NoSessionForWebhooks(SecureCookieSessionInterface):
    """Flask's cookie session, skipped for Twilio's webhooks: they carry no cookie, and building the
    signer on every request was a tenth of a webhook's cost (bench/)."""

    def open_session(self, app, request):
        if request.path.startswith(WEBHOOK_PREFIXES):
            return self.null_session_class()
        return super().open_session(app, request)


def _status():
    """Health of Careline's dependencies and of its own processes (careline/health.py): 200 when all answer and
    none is past its limit, 503 otherwise."""
    services: Services = current_app.extensions["careline"]
    checks = {}
    try:
        with services.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means "down" here
        checks["database"] = f"down: {type(exc).__name__}"
    try:
        services.redis.ping()
        checks["redis"] = "ok"
    except redis.RedisError as exc:
        checks["redis"] = f"down: {type(exc).__name__}"
    processes, figures = process_health(services.redis, services.now(), services.config)
    checks.update(processes)
    healthy = all(value == "ok" for value in checks.values())
    return jsonify(status="ok" if healthy else "degraded", checks=checks, **figures), 200 if healthy else 503


def _http_error(exc: HTTPException):
    """JSON errors with a stable kebab-case error_id (413 for oversized webhook bodies, 404, 405...)."""
    error_id = (exc.name or "error").lower().replace(" ", "-")
    return jsonify(error_id=error_id, details={"description": exc.description}), exc.code
