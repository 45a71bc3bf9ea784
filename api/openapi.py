"""The JSON API described: an OpenAPI 3.1 document built from the code (`GET /api/openapi.json`) and a reference
page that renders it (`GET /api/docs`, Swagger UI from npm's swagger-ui-dist, installed by `make install`).

apispec writes the document: the paths come from the app's own routes (`app.url_map`), each operation's summary
from its view's docstring, its request and answer bodies from `api/schemas.py` (marshmallow, declared once), and its
errors from the one table of errors (`web/problems.py`) and `api/errors.py`, so an `error_id` is never written here.
What apispec cannot read from a view (which schema it answers with, which statuses) is `OPERATIONS` below, one line
per endpoint; a test (tests/integration/test_openapi.py) fails when a route under /api has none.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask, current_app, jsonify, send_file
from marshmallow import Schema
from werkzeug.exceptions import BadRequest, NotFound

from api import ID_MAX, bp, errors as api_errors, schemas
from core.config import ROOT
from web.problems import TABLE

TITLE = "Careline API"
API_VERSION = "1"
SWAGGER_UI = ROOT / "node_modules" / "swagger-ui-dist"
SWAGGER_FILES = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css"}
DOCS_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
               "connect-src 'self'; font-src 'self' data:; base-uri 'none'; form-action 'none'; "
               "frame-ancestors 'none'")
SESSION_COOKIE = "careline_console"  # console/__init__.py's SESSION_COOKIE_NAME
ALWAYS = (401, 503)  # every operation: no valid token or session; a dependency (database, Redis) down
# werkzeug's own errors an /api request may meet before a view runs (a path that names nothing, e.g. a negative id);
# the app answers them as JSON, their error_id the error's name in kebab case (careline/app.py `_http_error`).
HTTP_ERRORS = (BadRequest, NotFound)
INT_PARAMETER = re.compile(r"<int:(\w+)>")
PARAMETER = re.compile(r"<(?:\w+:)?(\w+)>")


@dataclass(frozen=True)
class Operation:
    """What one endpoint answers: its success status and schema (None: no JSON body), its error statuses, the
    JSON body it takes, its query parameters (name -> JSON schema) and the media type of a non-JSON success."""

    ok: int
    answer: type[Schema] | None
    errors: tuple[int, ...] = ()
    body: type[Schema] | None = None
    query: dict = field(default_factory=dict)
    media: str = "application/json"
    roles: tuple[str, ...] = ()  # only these roles (else every signed-in one)
    # OpenAPI links from the success answer: link name -> (operationId, path parameter, runtime expression): a
    # client (and schemathesis's stateful run) follows a listed id to the operations on that thing.
    links: dict = field(default_factory=dict)


def _follow(first: str, parameter: str, *operation_ids: str) -> dict:
    """Links from an answer's `first` id (a runtime expression) to each operation taking it as `parameter`."""
    return {operation_id: (operation_id, parameter, first) for operation_id in operation_ids}


_STRING = {"type": "string"}
_FLAG = {"type": "string", "enum": ["true", "false", "1", "0"]}
_COUNT = {"type": "integer", "minimum": 0}
_DAY = {"type": "string", "format": "date"}
_MANAGERS = ("manager", "admin")
_STAFFING = {"practice": _STRING, "week": {"type": "string", "pattern": r"^\d{4}-W\d{2}$"},
             "weeks": {"type": "integer", "minimum": 1, "maximum": 12}}

OPERATIONS: dict[str, Operation] = {
    "api.me": Operation(200, schemas.User, links=_follow("$response.body#/id", "agent_id", "agent")),
    "api.agent": Operation(200, schemas.User, (403, 404)),
    "api.set_my_status": Operation(200, schemas.StatusChanged, (400, 404), body=schemas.StatusRequest),
    "api.my_status": Operation(200, schemas.MyStatus),
    "api.my_day": Operation(200, schemas.MyDay),
    "api.set_agent_status": Operation(200, schemas.StatusChanged, (400, 403, 404), body=schemas.StatusRequest),
    "api.list_agents": Operation(200, schemas.AgentList, (403,), roles=_MANAGERS, links=_follow(
        "$response.body#/agents/0/id", "agent_id", "agent", "set_agent_status")),
    "api.audit_events": Operation(200, schemas.AuditPage, (400, 403, 404), roles=("admin",), query={
        "from": {"type": "string", "format": "date-time"}, "to": {"type": "string", "format": "date-time"},
        "agent": {"type": "integer", "minimum": 1}, "action": _STRING, "practice": _STRING,
        "limit": {"type": "integer", "minimum": 1, "maximum": 1000}, "offset": _COUNT}),
    "api.list_callbacks": Operation(200, schemas.CallbackList, (400, 403, 404), query={
        "practice": _STRING, "status": {"type": "string", "enum": ["open", "closed"]}, "urgent": _FLAG,
        "overdue": _FLAG, "mine": _FLAG, "limit": {"type": "integer", "minimum": 1, "maximum": 100},
        "offset": _COUNT}, links=_follow("$response.body#/callbacks/0/id", "task_id", "get_callback", "claim_callback",
                                         "record_callback_attempt", "reassign_callback", "close_callback")),
    "api.get_callback": Operation(200, schemas.CallbackTask, (403, 404)),
    "api.claim_callback": Operation(200, schemas.CallbackTask, (403, 404, 409)),
    "api.call_callback": Operation(202, schemas.CallStarted, (403, 404, 409, 502)),
    "api.record_callback_attempt": Operation(200, schemas.CallbackTask, (400, 403, 404, 409),
                                             body=schemas.AttemptRequest),
    "api.reassign_callback": Operation(200, schemas.CallbackTask, (400, 403, 404, 409), body=schemas.ReassignRequest),
    "api.close_callback": Operation(200, schemas.CallbackTask, (400, 403, 404, 409), body=schemas.CloseRequest),
    "api.patch_on_call": Operation(202, schemas.OnCallPatched, (400, 403, 409, 502)),
    "api.my_voice_token": Operation(200, schemas.VoiceToken, (404, 409)),
    "api.my_events": Operation(200, None, (), media="text/event-stream", query={"last_event_id": _STRING}),
    "api.take_message": Operation(201, schemas.MessageTaken, (400, 403, 409), body=schemas.MessageForm,
                                  links=_follow("$response.body#/id", "message_id", "read_message")),
    "api.save_message_draft": Operation(204, None, (400, 403, 409), body=schemas.MessageForm),
    "api.message_draft": Operation(200, schemas.MessageDraft, (400, 403, 404)),
    "api.my_message_drafts": Operation(200, schemas.DraftList),
    "api.list_messages": Operation(200, schemas.MessageList, (400, 403, 404), query={
        "practice": _STRING, "urgent": _FLAG, "since": {"type": "string", "format": "date-time"},
        "limit": {"type": "integer", "minimum": 1, "maximum": 200},
        "status": {"type": "string", "enum": ["new", "handled"]}, "date": _DAY, "from": _DAY, "to": _DAY},
        links=_follow("$response.body#/messages/0/id", "message_id", "read_message", "mark_message_handled")),
    "api.read_message": Operation(200, schemas.Message, (403, 404)),
    "api.unread_message_count": Operation(200, schemas.UnreadCount),
    "api.mark_message_handled": Operation(200, schemas.Message, (400, 403, 404, 409), body=schemas.HandledRequest),
    "api.message_recording": Operation(200, None, (403, 404, 410, 416, 502), media="audio/*"),
    "api.metrics_summary": Operation(200, schemas.MetricsSummary, (400, 403, 404), roles=_MANAGERS, query={
        "practice": _STRING, "from": _DAY, "to": _DAY}),
    "api.metrics_csv": Operation(200, None, (400, 403, 404), media="text/csv", roles=_MANAGERS, query={
        "practice": _STRING, "from": _DAY, "to": _DAY}),
    "api.staffing_advice": Operation(200, schemas.StaffingAdvice, (400, 403, 404), roles=_MANAGERS, query=_STAFFING),
    "api.staffing_csv": Operation(200, None, (400, 403, 404), media="text/csv", roles=_MANAGERS, query=_STAFFING),
    "api.list_pages": Operation(200, schemas.PageList, (400, 403, 404), query={
        "practice": _STRING, "status": {"type": "string", "enum": ["open", "acknowledged", "exhausted"]}},
        links=_follow("$response.body#/pages/0/id", "page_id", "acknowledge_page")),
    "api.acknowledge_page": Operation(200, schemas.PageAcknowledged, (403, 404)),
    "api.queue_view": Operation(200, schemas.QueueView, (403, 404), query={"practice": _STRING}),
    "api.list_complaints": Operation(200, schemas.ComplaintList, (400, 403, 404), query={
        "practice": _STRING, "state": _STRING, "overdue": _FLAG},
        links=_follow("$response.body#/complaints/0/id", "complaint_id", "get_complaint", "move_complaint")),
    "api.get_complaint": Operation(200, schemas.Complaint, (403, 404)),
    "api.move_complaint": Operation(200, schemas.Complaint, (400, 403, 404, 409), body=schemas.ComplaintStateRequest),
}
# The document's own routes: public, described by what they serve.
DOCUMENT_ENDPOINTS = ("api.openapi_document", "api.reference_page", "api.reference_file")
REQUIRED_QUERY = {"api.metrics_summary": ("from", "to"), "api.metrics_csv": ("from", "to")}


def error_ids_by_status() -> dict[int, list[str]]:
    """Every `error_id` the API may answer, by HTTP status: the one table's (`web/problems.py`) and the API's own
    (`api/errors.py`)."""
    found: dict[int, set[str]] = {}
    for row in TABLE.values():
        found.setdefault(row.status, set()).add(row.error_id)
    for cls in vars(api_errors).values():
        if isinstance(cls, type) and issubclass(cls, api_errors.ApiError):
            found.setdefault(cls.status, set()).add(cls.error_id)
    for http_error in HTTP_ERRORS:
        found.setdefault(http_error.code, set()).add(http_error().name.lower().replace(" ", "-"))
    return {status: sorted(ids) for status, ids in sorted(found.items())}


def _path(rule: str) -> str:
    return PARAMETER.sub(r"{\1}", rule)


def _path_parameters(rule: str) -> list[dict]:
    integers = set(INT_PARAMETER.findall(rule))
    parameters = []
    for name in PARAMETER.findall(rule):
        schema = {"type": "integer", "minimum": 0, "maximum": ID_MAX} if name in integers else {"type": "string"}
        if name == "call_sid":
            schema = {"type": "string", "pattern": "^CA[0-9a-f]{32}$"}
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
    return parameters


def _error_response(status: int, ids: list[str]) -> dict:
    return {"description": "Error ids: " + ", ".join(f"`{error_id}`" for error_id in ids),
            "content": {"application/json": {"schema": {
                "allOf": [{"$ref": "#/components/schemas/Error"}],
                "properties": {"error_id": {"type": "string", "enum": ids}}}}}}


def _operation(endpoint: str, path: str, view, operation: Operation, ids_by_status: dict[int, list[str]]) -> dict:
    doc = (view.__doc__ or "").strip()
    summary = doc.split(". ")[0].split("\n")[0].rstrip(".")
    success: dict = {"description": "OK"}
    if operation.answer is not None:
        success["content"] = {"application/json": {"schema": operation.answer}}
    elif operation.ok != 204:
        success["content"] = {operation.media: {"schema": {"type": "string"}}}
    if operation.links:
        success["links"] = {name: {"operationId": target, "parameters": {parameter: expression}}
                             for name, (target, parameter, expression) in operation.links.items()}
    responses = {str(operation.ok): success}
    if endpoint == "api.message_recording":
        responses["206"] = {"description": "Part of the recording (Range)",
                            "content": {operation.media: {"schema": {"type": "string"}}}}
    routing = (404,) if "{" in path else ()  # a path whose parameter fits no route: werkzeug's not-found
    for status in sorted({*operation.errors, *ALWAYS, *routing, 403 if operation.roles else 401}):
        responses[str(status)] = _error_response(status, ids_by_status[status])
    required = REQUIRED_QUERY.get(endpoint, ())
    parameters = [{"name": name, "in": "query", "required": name in required, "schema": schema}
                  for name, schema in operation.query.items()]
    described = {"summary": summary, "description": doc, "operationId": endpoint.removeprefix("api."),
                 "responses": responses, "security": [{"bearerToken": []}, {"consoleSession": []}],
                 "tags": [endpoint.removeprefix("api.").split("_")[-1]]}
    if operation.roles:
        described["x-roles"] = list(operation.roles)
    if parameters:
        described["parameters"] = parameters
    if operation.body is not None:
        described["requestBody"] = {"required": True, "content": {"application/json": {"schema": operation.body}}}
    return described


def build_document(app: Flask) -> dict:
    """The OpenAPI 3.1 document of every route under /api that `OPERATIONS` describes."""
    spec = APISpec(title=TITLE, version=API_VERSION, openapi_version="3.1.0", plugins=[MarshmallowPlugin()],
                   info={"description": "Careline's JSON API. Authenticate with `Authorization: Bearer TOKEN` "
                                        "(`careline token create EMAIL`), or the console's session cookie (a "
                                        "change also sends the page's CSRF token as `X-CSRFToken`). Every error is "
                                        "`{\"error_id\", \"details\"}`."})
    spec.components.security_scheme("bearerToken", {"type": "http", "scheme": "bearer",
                                                    "description": "An API token: careline token create EMAIL"})
    spec.components.security_scheme("consoleSession", {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE,
                                                       "description": "The console's session (the desk)"})
    spec.components.schema("Error", schema=schemas.Error)
    ids_by_status = error_ids_by_status()
    paths: dict[str, dict] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith("/api/") or rule.endpoint in DOCUMENT_ENDPOINTS:
            continue
        operation = OPERATIONS.get(rule.endpoint)
        if operation is None:
            continue  # undescribed: tests/integration/test_openapi.py fails on a product route left out
        view = app.view_functions[rule.endpoint]
        methods = sorted(rule.methods - {"HEAD", "OPTIONS"})
        entry = paths.setdefault(_path(rule.rule), {"parameters": _path_parameters(rule.rule), "operations": {}})
        for method in methods:
            entry["operations"][method.lower()] = _operation(rule.endpoint, _path(rule.rule), view, operation,
                                                             ids_by_status)
    for path, entry in paths.items():
        spec.path(path=path, operations=entry["operations"], parameters=entry["parameters"] or None)
    return spec.to_dict()


def document() -> dict:
    """This app's document (built once per app: its routes do not change once it serves)."""
    app = current_app._get_current_object()
    if "careline.openapi" not in app.extensions:
        app.extensions["careline.openapi"] = build_document(app)
    return app.extensions["careline.openapi"]


@bp.get("/openapi.json")
def openapi_document():
    """The OpenAPI 3.1 document of the JSON API (public: it describes, it holds no data)."""
    return jsonify(document())


REFERENCE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Careline API reference</title>
<link rel="stylesheet" href="docs/swagger-ui.css"></head>
<body><main id="reference" data-spec-url="openapi.json"><noscript>The reference needs JavaScript; the document
itself is <a href="openapi.json">openapi.json</a>.</noscript></main>
<script src="docs/swagger-ui-bundle.js"></script><script src="docs/init.js"></script></body></html>
"""
INIT_SCRIPT = """window.addEventListener("load", function () {
  var node = document.getElementById("reference");
  window.ui = SwaggerUIBundle({url: node.dataset.specUrl, domNode: node, deepLinking: true});
});
"""


def _with_policy(response):
    response.headers["Content-Security-Policy"] = DOCS_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get("/docs")
def reference_page():
    """The API's reference page: Swagger UI rendering /api/openapi.json."""
    response = current_app.response_class(REFERENCE_PAGE.replace('href="docs/', 'href="/api/docs/')
                                          .replace('src="docs/', 'src="/api/docs/')
                                          .replace('"openapi.json"', '"/api/openapi.json"'), mimetype="text/html")
    return _with_policy(response)


@bp.get("/docs/<name>")
def reference_file(name: str):
    """The reference page's files: Swagger UI's (node_modules/swagger-ui-dist, `make install`) and its start."""
    if name == "init.js":
        return _with_policy(current_app.response_class(INIT_SCRIPT, mimetype="text/javascript"))
    if name not in SWAGGER_FILES or not (SWAGGER_UI / name).is_file():
        raise NotFound()
    return _with_policy(send_file(SWAGGER_UI / name, mimetype=SWAGGER_FILES[name], conditional=True))
