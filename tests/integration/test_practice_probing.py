"""An unknown practice and another's practice answer alike (the same 403, the same body but for the slug echoed),
on every endpoint and page that takes a practice, so slugs cannot be probed; only one who sees every practice
(an admin, an agent of "*") is told a slug is unknown (404), having nothing to probe.
"""
from __future__ import annotations

import re

import pytest

from tests.integration.conftest import EMAILS, bearer, issue
from tests.integration.test_console import passwords, sign_in  # noqa: F401 - passwords: a fixture

PERIOD = "from=2026-11-01&to=2026-11-02"
# (who asks, the path with {practice}): Ben and Nia are agents of Lakeside and Northside, Mo Lakeside's manager.
API_ENDPOINTS = [
    ("ben", "/api/messages?practice={practice}"),
    ("ben", "/api/callbacks?practice={practice}"),
    ("ben", "/api/pages?practice={practice}"),
    ("ben", "/api/queue?practice={practice}"),
    ("mo", "/api/metrics?practice={practice}&" + PERIOD),
    ("mo", "/api/metrics.csv?practice={practice}&" + PERIOD),
    ("mo", "/api/complaints?practice={practice}"),
    ("mo", "/api/staffing?practice={practice}"),
]
CONSOLE_PAGES = [
    ("mo", "/console/?practice={practice}"),
    ("mo", "/console/queue.json?practice={practice}"),
    ("mo", "/console/reports?practice={practice}"),
    ("mo", "/console/messages?practice={practice}"),
    ("mo", "/console/callbacks?practice={practice}"),
    ("mo", "/console/pages?practice={practice}"),
    ("mo", "/console/complaints?practice={practice}"),
    ("nia", "/console/messages?practice={practice}"),
    ("nia", "/console/callbacks?practice={practice}"),
    ("nia", "/console/pages?practice={practice}"),
]
FOREIGN = {"ben": "northside", "mo": "northside", "nia": "lakeside"}
UNKNOWN = "riverside"
CSRF = re.compile(r'(name="csrf_token" value=")[^"]*(")|(name="csrf-token" content=")[^"]*(")')


def _same_but_slug(body: str, slug: str) -> str:
    """The body with the slug asked for and the page's CSRF token left out (each answer has its own)."""
    return CSRF.sub(r"\1\3\2\4", body.replace(slug, "SLUG"))


@pytest.mark.parametrize("who, path", API_ENDPOINTS)
def test_given_an_unknown_practice_then_the_api_answers_as_for_another_practice(client, agents, tokens, who, path):
    token = issue(tokens, who)
    foreign = client.get(path.format(practice=FOREIGN[who]), headers=bearer(token))
    unknown = client.get(path.format(practice=UNKNOWN), headers=bearer(token))
    assert (foreign.status_code, foreign.get_json()["error_id"]) == (403, "forbidden")
    assert unknown.status_code == foreign.status_code
    assert unknown.get_json() == {**foreign.get_json(), "details": {
        **foreign.get_json()["details"], "practice": UNKNOWN}}
    assert unknown.headers.get("Content-Type") == foreign.headers.get("Content-Type")


@pytest.mark.parametrize("who, path", CONSOLE_PAGES)
def test_given_an_unknown_practice_then_the_console_answers_as_for_another_practice(
        client, passwords, who, path):  # noqa: F811 - passwords: the console's people
    assert sign_in(client, EMAILS[who]).status_code == 303
    foreign = client.get(path.format(practice=FOREIGN[who]))
    unknown = client.get(path.format(practice=UNKNOWN))
    assert foreign.status_code == 403
    assert unknown.status_code == foreign.status_code
    assert _same_but_slug(unknown.get_data(as_text=True), UNKNOWN) == \
        _same_but_slug(foreign.get_data(as_text=True), FOREIGN[who])


@pytest.mark.parametrize("path", [path for _, path in API_ENDPOINTS])
def test_given_someone_who_sees_every_practice_then_an_unknown_slug_is_404(client, agents, tokens, path):
    answer = client.get(path.format(practice=UNKNOWN), headers=bearer(issue(tokens, "root")))
    assert (answer.status_code, answer.get_json()["error_id"]) == (404, "practice-not-found")
