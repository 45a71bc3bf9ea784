"""Every answer of the JSON API that a test sees, checked against the OpenAPI document (`api/openapi.py`): the
integration suite's Flask test client (`tests/integration/conftest.py` makes it every app's) validates each /api
answer's status, media type and JSON body, and a mismatch fails the test that made the request."""
from __future__ import annotations

from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from werkzeug.exceptions import HTTPException

from api.openapi import DOCUMENT_ENDPOINTS, OPERATIONS, build_document


class ApiMismatch(AssertionError):
    """An /api answer the document does not describe."""


def _document(app) -> dict:
    if "careline.openapi" not in app.extensions:
        app.extensions["careline.openapi"] = build_document(app)
    return app.extensions["careline.openapi"]


def _operation(app, document: dict, path: str, method: str) -> dict | None:
    """The document's operation for this request, or None when no /api route matches (Flask's own 404/405)."""
    try:
        rule, _ = app.url_map.bind("localhost").match(path, method, return_rule=True)
    except HTTPException:
        return None
    if rule.endpoint in DOCUMENT_ENDPOINTS or not rule.endpoint.startswith("api."):
        return None
    if rule.endpoint not in OPERATIONS:
        return None  # a route a test added (the document test checks the product's are all described)
    templated = rule.rule
    for converter_part in [part for part in templated.split("/") if part.startswith("<")]:
        name = converter_part.strip("<>").split(":")[-1]
        templated = templated.replace(converter_part, "{" + name + "}")
    return document["paths"][templated][method.lower()]


def check_answer(app, method: str, path: str, response) -> None:
    """ApiMismatch unless the document describes this answer of `method path` (status, media type, JSON body)."""
    if not path.startswith("/api/") or method in ("HEAD", "OPTIONS"):
        return
    document = _document(app)
    operation = _operation(app, document, path, method)
    if operation is None:
        return
    described = operation["responses"].get(str(response.status_code))
    where = f"{method} {path} answered {response.status_code}"
    if described is None:
        raise ApiMismatch(f"{where}: the document has no such status for {operation['operationId']} "
                          f"(it has {', '.join(operation['responses'])})")
    content = described.get("content")
    if not content:
        if response.status_code != 204 and response.get_data():
            raise ApiMismatch(f"{where}: the document says no body")
        return
    media = response.mimetype
    if media not in content and not any(key.endswith("/*") and media.startswith(key[:-1]) for key in content):
        raise ApiMismatch(f"{where} as {media}: the document says {', '.join(content)}")
    if media != "application/json" or "application/json" not in content:
        return
    schema = {**content["application/json"]["schema"], "components": document["components"]}
    errors = sorted(Draft202012Validator(schema).iter_errors(response.get_json()), key=lambda e: list(e.path))
    if errors:
        first = errors[0]
        raise ApiMismatch(f"{where}: the body does not match its schema at {'/'.join(map(str, first.path))}: "
                          f"{first.message}")


class ValidatingClient(FlaskClient):
    """Flask's test client, checking each /api answer against the document (`check_answer`)."""

    def open(self, *args, **kwargs):
        response = super().open(*args, **kwargs)
        request = response.request
        check_answer(self.application, request.method, request.path, response)
        return response
