"""The morning report's settings: `[practices.report]` in the configuration file, and SMTP_URL."""
from __future__ import annotations

import pytest

from core.config import ConfigError
from practices.errors import ConfigInvalid
from practices.loader import load_config_text
from reports.mail import parse_smtp_url
from tests.integration.conftest import PRACTICES_TOML


def test_given_a_bad_report_table_when_loading_then_every_problem_names_its_field():
    bad = PRACTICES_TOML + '\n[practices.report]\nat = "8am"\nto = ["office", "a@b.example", "a@b.example"]\ncc = 1\n'
    with pytest.raises(ConfigInvalid) as refused:
        load_config_text(bad)
    problems = refused.value.problems
    assert "practices[1] (northside).report.at: '8am' is not a local time like \"08:00\"" in problems
    assert "practices[1] (northside).report.to: 'office' is not an e-mail address" in problems
    assert "practices[1] (northside).report.to: lists the same address twice" in problems
    assert any(p.startswith("practices[1] (northside).report.cc: unknown key") for p in problems)
    with pytest.raises(ConfigInvalid) as missing:
        load_config_text(PRACTICES_TOML + '\n[practices.report]\nat = "07:30"\n')
    assert missing.value.problems[0].startswith("practices[1] (northside).report.to: is required")
    spec = load_config_text(PRACTICES_TOML + '\n[practices.report]\nto = ["office@northside.example"]\n')
    assert spec.practices[1].report.at.isoformat() == "08:00:00" and spec.practices[0].report is None


def test_given_smtp_urls_then_parsed_with_tls_unless_turned_off():
    starttls = parse_smtp_url("smtp://me%40x.org:p%3Ass@mail.example.org", 30)
    assert (starttls.host, starttls.port, starttls.security, starttls.username, starttls.password) == (
        "mail.example.org", 587, "starttls", "me@x.org", "p:ss")
    assert "p:ss" not in repr(starttls)
    assert parse_smtp_url("smtps://mail.example.org", 30).security == "tls"
    assert parse_smtp_url("smtps://mail.example.org", 30).port == 465
    assert parse_smtp_url("smtp://localhost:25?tls=off", 30).security == "none"
    assert parse_smtp_url("", 30) is None
    for bad in ("http://mail.example.org", "smtp://", "smtps://h?tls=off", "smtp://h?tls=maybe", "smtp://h?x=1",
                "smtp://h:99999"):
        with pytest.raises(ConfigError):
            parse_smtp_url(bad, 30)
