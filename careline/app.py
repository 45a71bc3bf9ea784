"""The Flask app factory: `create_app(config)` wires the services and registers the blueprints."""
from __future__ import annotations

import logging

import redis
from flask import Flask, current_app, jsonify
from sqlalchemy import text
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from api import bp as api_bp
from careline.health import process_health
from careline.prometheus import bp as metrics_bp
from careline.services import Services
from console import CACHED_ENDPOINTS
from console import bp as console_bp
from console.page_links import bp as page_link_bp
from core.config import INSTANCE_DIR, Config
from core.logs import configure_logging
from web.headers import security_headers
from web.request_log import bind_request_context, echo_request_id, reset_request_context
from web.session_store import ServerSessionInterface
from webhooks.callback_calls import bp as callback_calls_bp
from webhooks.sms import bp as sms_bp
from webhooks.timing import webhook_timer_start, webhook_timer_stop
from webhooks.voice import bp as voice_bp

log = logging.getLogger(__name__)

WEBHOOK_PREFIXES = ("/voice/", "/sms/")
STATUS_PATH = "/status"  # GET: the health of Careline's dependencies and processes (`careline doctor` asks it too)


def create_app(config: Config | None = None, services: Services | None = None) -> Flask:
    """Build Careline's web app from `config` (default: the environment) on `services` (default: built here,
    once: a web process builds them with its app; the RQ worker builds its own and an app for their URLs)."""
    config = services.config if services is not None else config or Config.from_env()
    config.check()
    configure_logging(config.LOG_LEVEL, config.LOG_FORMAT)
    app = Flask(__name__, instance_path=str(INSTANCE_DIR))
    app.config.update(SECRET_KEY=config.SECRET_KEY or None, MAX_CONTENT_LENGTH=config.MAX_WEBHOOK_BYTES)
    if config.TRUSTED_PROXIES:
        # The client's address (the sign-in throttle counts by it) is the one the nearest trusted proxy saw.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=config.TRUSTED_PROXIES)
    services = services or Services.build(config)
    app.extensions["careline"] = services
    # The console's sessions live in Redis on Careline's clock (web/session_store.py); Twilio's webhooks carry
    # no cookie and get none (reading it was a tenth of a webhook's cost, bench/).
    app.session_interface = ServerSessionInterface(services.redis, services.now, skip_prefixes=WEBHOOK_PREFIXES,
                                                   on_a_call=services.agent_status.on_a_call)
    if config.TWILIO_SIGNATURE_CHECK_DISABLED:
        log.warning("!!! TWILIO_SIGNATURE_CHECK_DISABLED is on: webhooks accept UNSIGNED requests. "
                    "Development only; never in production. !!!")

    # Every log line of a request carries its id (echoed in X-Request-ID) and, on a webhook, the CallSid.
    app.before_request(bind_request_context(WEBHOOK_PREFIXES))
    app.after_request(echo_request_id)
    app.teardown_request(reset_request_context)
    app.register_blueprint(voice_bp)
    app.register_blueprint(callback_calls_bp)
    app.register_blueprint(sms_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(page_link_bp)
    app.register_blueprint(console_bp)  # last: it exempts the blueprints above from CSRF checks
    app.add_url_rule(STATUS_PATH, "status", _status)
    app.register_blueprint(metrics_bp)
    # Every answer to Twilio is timed, by route and outcome (core/telemetry.py).
    app.before_request(webhook_timer_start)
    app.after_request(webhook_timer_stop)
    # Patient data is kept by no cache (Cache-Control: no-store but on code), and https is sticky (HSTS).
    app.after_request(security_headers(CACHED_ENDPOINTS, config.PUBLIC_BASE_URL))
    app.register_error_handler(HTTPException, _http_error)
    services.links.bind(app.url_map)
    return app


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
