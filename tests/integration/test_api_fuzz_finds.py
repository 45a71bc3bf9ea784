"""What the fuzzing of the JSON API (tests/integration/test_api_fuzz.py) found, each as a plain test of its own."""
from __future__ import annotations

import pytest

from api import ID_MAX
from tests.integration.conftest import bearer, issue


@pytest.mark.parametrize("path", ["/api/callbacks/{id}/reassign", "/api/callbacks/{id}/claim",
                                  "/api/messages/{id}/handled", "/api/complaints/{id}/state",
                                  "/api/pages/{id}/acknowledge", "/api/agents/{id}/status"])
def test_given_an_id_beyond_any_rows_when_posted_to_then_404_not_a_500(client, tokens, agents, path):
    """Found: POST /api/callbacks/50450234428215547350394863616/reassign overflowed SQLite's INTEGER (a 500)."""
    response = client.post(path.format(id=ID_MAX + 1), json={}, headers=bearer(issue(tokens, "root")))
    assert response.status_code == 404
    assert response.get_json()["error_id"] == "not-found"


@pytest.mark.parametrize("path", ["/api/callbacks/{id}", "/api/messages/{id}", "/api/complaints/{id}",
                                  "/api/agents/{id}"])
def test_given_a_huge_id_when_read_then_404_not_a_500(client, tokens, agents, path):
    response = client.get(path.format(id=50450234428215547350394863616), headers=bearer(issue(tokens, "root")))
    assert response.status_code == 404
    assert response.get_json()["error_id"] == "not-found"


def test_given_the_largest_id_when_read_then_the_usual_not_found(client, tokens, agents):
    """ID_MAX itself is an id a row could have: the route runs and says which thing was not found."""
    response = client.get(f"/api/callbacks/{ID_MAX}", headers=bearer(issue(tokens, "root")))
    assert response.status_code == 404
    assert response.get_json()["error_id"] == "task-not-found"


@pytest.mark.parametrize("query", ["practice=lake%00side", "since=0001-01-01T00:00:00%2B23:59",
                                   "since=9999-12-31T23:59:59-23:59"])
def test_given_a_message_filter_the_database_cannot_hold_then_400_not_a_500(client, tokens, agents, query):
    """schemathesis, on PostgreSQL: a NUL in the practice's slug (PostgreSQL refuses it in a string) and a
    `since` that leaves Python's dates once put in UTC answered 500."""
    answer = client.get(f"/api/messages?{query}", headers=bearer(issue(tokens, "root")))
    assert answer.status_code == 400 and answer.get_json()["error_id"] == "invalid-field"
