"""The OpenAPI document (`/api/openapi.json`, api/openapi.py) and its reference page (`/api/docs`): every route of the
app under /api is described, the document is valid OpenAPI 3.1, errors name their error ids, and the page loads
Swagger UI from the installed npm package. (Every answer the API tests see is checked against the document by the
test client: tests/openapi_support.py.)"""
from __future__ import annotations

import re

import pytest
from jsonschema import Draft202012Validator

from api.openapi import DOCUMENT_ENDPOINTS, error_ids_by_status
from tests.integration.conftest import bearer, issue
from tests.openapi_support import ApiMismatch, check_answer

PARAMETER = re.compile(r"<(?:\w+:)?(\w+)>")


@pytest.fixture
def document(client) -> dict:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def test_given_the_app_when_its_document_is_read_then_every_api_route_and_method_is_in_it(app, document):
    routes = {(PARAMETER.sub(r"{\1}", rule.rule), method.lower())
              for rule in app.url_map.iter_rules()
              if rule.rule.startswith("/api/") and rule.endpoint not in DOCUMENT_ENDPOINTS
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    described = {(path, method) for path, item in document["paths"].items() for method in item
                 if method != "parameters"}
    assert len(routes) >= 35
    assert routes - described == set()
    assert described - routes == set()


def test_given_the_document_then_it_is_openapi_3_1_with_both_security_schemes(document):
    assert document["openapi"] == "3.1.0"
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerToken"] == {"type": "http", "scheme": "bearer",
                                      "description": "An API token: careline token create EMAIL"}
    assert schemes["consoleSession"]["in"] == "cookie" and schemes["consoleSession"]["name"] == "careline_console"
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            assert operation["security"] == [{"bearerToken": []}, {"consoleSession": []}], path
            assert operation["summary"], path
            assert {"401", "503"} <= set(operation["responses"]), path
    # Each component schema is itself a valid JSON Schema (2020-12, OpenAPI 3.1's dialect).
    for name, schema in document["components"]["schemas"].items():
        Draft202012Validator.check_schema(schema)


def test_given_an_operation_then_its_errors_name_their_error_ids_from_the_one_table(document):
    read = document["paths"]["/api/messages/{message_id}"]["get"]["responses"]
    not_found = read["404"]["content"]["application/json"]["schema"]["properties"]["error_id"]["enum"]
    assert "message-not-found" in not_found and "not-found" in not_found
    assert read["403"]["content"]["application/json"]["schema"]["properties"]["error_id"]["enum"][0] == "forbidden"
    assert "`message-not-found`" in read["404"]["description"]
    moved = document["paths"]["/api/complaints/{complaint_id}/state"]["post"]["responses"]
    assert "transition-not-allowed" in moved["409"]["content"]["application/json"]["schema"]["properties"][
        "error_id"]["enum"]
    assert error_ids_by_status()[400] == sorted({"bad-request", "csrf-failed", "invalid-body", "invalid-field"})


def test_given_a_route_with_a_body_then_its_request_schema_is_declared(document):
    body = document["paths"]["/api/messages/{message_id}/handled"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/HandledRequest"}
    assert document["components"]["schemas"]["HandledRequest"]["required"] == ["note"]


def test_given_an_answer_the_document_does_not_describe_then_the_test_client_check_fails(app, client, tokens, agents):
    """The suite-wide check (tests/openapi_support.py) fails on a status or a body the document does not have."""
    response = client.get("/api/me", headers=bearer(issue(tokens, "ben")))
    check_answer(app, "GET", "/api/me", response)  # as documented: no error
    response.status_code = 418
    with pytest.raises(ApiMismatch, match="no such status"):
        check_answer(app, "GET", "/api/me", response)
    response.status_code = 200
    response.set_data(b'{"id": "seven"}')
    with pytest.raises(ApiMismatch, match="does not match its schema"):
        check_answer(app, "GET", "/api/me", response)


def test_given_the_reference_page_then_it_loads_swagger_ui_from_the_npm_package(client):
    page = client.get("/api/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert 'src="/api/docs/swagger-ui-bundle.js"' in html and 'data-spec-url="/api/openapi.json"' in html
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    bundle = client.get("/api/docs/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and bundle.mimetype == "text/javascript"
    assert b"SwaggerUIBundle" in bundle.get_data()
    init = client.get("/api/docs/init.js")
    assert b"SwaggerUIBundle(" in init.get_data()
    assert client.get("/api/docs/package.json").status_code == 404
