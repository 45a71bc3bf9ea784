"""Loading the configuration into the database: idempotent, updated in place, all or nothing."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from core.db import session_scope
from callsim import Caller
from models import Agent, OnCallProvider, Practice, PracticeNumber
from practices.directory import PracticeDirectory
from practices.errors import ConfigInvalid
from practices.loader import load_config_text
from practices.publish import publish_config_change
from practices.store import apply_config
from tests.integration.conftest import CALLER, NORTHSIDE, OPEN_TIME, PRACTICES_TOML, load_practices

AGENTS = """
[[agents]]
email = "Ana@Answering.example"
name = "Ana Lopez"
phone = "+13125550133"
languages = ["en", "es"]
practices = ["*"]

[[agents]]
email = "mo@lakeside.example"
name = "Mo Chen"
practices = ["lakeside"]
role = "manager"
"""


def load(session_factory, text: str):
    with session_scope(session_factory) as session:
        return apply_config(session, load_config_text(text), lambda: OPEN_TIME)


def practices_by_slug(session_factory) -> dict[str, Practice]:
    with session_factory() as session:
        return {p.slug: p for p in session.scalars(select(Practice))}


def test_given_a_file_when_loaded_then_practices_numbers_and_agents_written(session_factory):
    report = load(session_factory, PRACTICES_TOML + AGENTS)
    assert report.created == ["practice lakeside", "practice northside", "agent ana@answering.example",
                              "agent mo@lakeside.example"]
    with session_factory() as session:
        numbers = {n.e164: n.practice.slug for n in session.scalars(select(PracticeNumber))}
        ana = session.scalars(select(Agent).where(Agent.email == "ana@answering.example")).one()
        mo = session.scalars(select(Agent).where(Agent.role == "manager")).one()
        assert numbers == {"+13125550100": "lakeside", "+16175550200": "northside"}
        assert ana.all_practices and [p.slug for p in ana.practices] == ["lakeside", "northside"]
        assert [p.slug for p in mo.practices] == ["lakeside"] and mo.phone is None


def test_given_the_same_file_twice_then_second_load_changes_nothing(session_factory):
    load(session_factory, PRACTICES_TOML + AGENTS)
    before = {slug: (p.id, p.updated_at) for slug, p in practices_by_slug(session_factory).items()}
    report = load(session_factory, PRACTICES_TOML + AGENTS)
    assert report.created == [] and report.updated == []
    assert len(report.unchanged) == 4
    assert {slug: (p.id, p.updated_at) for slug, p in practices_by_slug(session_factory).items()} == before


def test_given_a_changed_file_then_updated_in_place(session_factory):
    load(session_factory, PRACTICES_TOML + AGENTS)
    ids = {slug: p.id for slug, p in practices_by_slug(session_factory).items()}
    changed = (PRACTICES_TOML
               .replace('name = "Northside Pediatrics"', 'name = "Northside Children\'s Clinic"')
               .replace('numbers = ["+16175550200"]', 'numbers = ["+16175550200", "+16175550201"]')
               .replace("ring_budget_seconds = 12", "ring_budget_seconds = 12\n"
                        "[[practices.on_call]]\nname = \"Dr. Ng\"\nphone = \"+16175550222\""))
    report = load(session_factory, changed + AGENTS)
    assert report.updated == ["practice northside"] and "practice lakeside" in report.unchanged
    northside = practices_by_slug(session_factory)["northside"]
    assert northside.id == ids["northside"] and northside.name == "Northside Children's Clinic"
    with session_factory() as session:
        assert session.scalars(select(PracticeNumber.e164).where(
            PracticeNumber.practice_id == northside.id).order_by(PracticeNumber.e164)).all() == [
            "+16175550200", "+16175550201"]
        assert [(p.position, p.name) for p in session.scalars(select(OnCallProvider))] == [(0, "Dr. Ng")]


def test_given_on_call_order_changed_then_positions_follow_the_file(session_factory):
    providers = ('[[practices.on_call]]\nname = "{}"\nphone = "+16175550222"\n'
                 '[[practices.on_call]]\nname = "{}"\nphone = "+16175550223"\n')
    load(session_factory, PRACTICES_TOML + providers.format("Dr. A", "Dr. B"))
    load(session_factory, PRACTICES_TOML + providers.format("Dr. B", "Dr. A"))
    with session_factory() as session:
        assert session.scalars(select(OnCallProvider.name).order_by(OnCallProvider.position)).all() == [
            "Dr. B", "Dr. A"]


def test_given_a_number_moved_between_practices_in_one_file_then_moved(session_factory):
    load(session_factory, PRACTICES_TOML)
    moved = (PRACTICES_TOML.replace('numbers = ["+13125550100"]', 'numbers = ["+13125550101"]')
             .replace('numbers = ["+16175550200"]', 'numbers = ["+16175550200", "+13125550100"]'))
    load(session_factory, moved)
    with session_factory() as session:
        owner = session.get(PracticeNumber, "+13125550100").practice.slug
    assert owner == "northside"


def test_given_a_number_of_a_practice_not_in_the_file_then_refused_and_nothing_written(session_factory):
    load(session_factory, PRACTICES_TOML)
    other = """
[[practices]]
slug = "elm"
name = "Elm Street Clinic"
numbers = ["+16175550200"]
timezone = "America/New_York"
"""
    with pytest.raises(ConfigInvalid) as caught:
        load(session_factory, other)
    assert caught.value.problems == ["practices (elm).numbers: +16175550200 already belongs to practice "
                                     "'northside', which this file does not list"]
    assert set(practices_by_slug(session_factory)) == {"lakeside", "northside"}


def test_given_an_invalid_file_then_the_database_is_untouched(session_factory):
    load(session_factory, PRACTICES_TOML)
    before = {slug: (p.name, p.updated_at) for slug, p in practices_by_slug(session_factory).items()}
    with pytest.raises(ConfigInvalid):
        load(session_factory, PRACTICES_TOML.replace('name = "Northside Pediatrics"', 'name = "Renamed"')
             .replace('"America/New_York"', '"America/Nowhere"'))
    assert {slug: (p.name, p.updated_at) for slug, p in practices_by_slug(session_factory).items()} == before


def test_given_a_practice_left_out_of_the_file_then_it_stays(session_factory):
    load(session_factory, PRACTICES_TOML)
    only_lakeside = PRACTICES_TOML.split("[[practices]]")[1]
    load(session_factory, "[[practices]]" + only_lakeside)
    assert set(practices_by_slug(session_factory)) == {"lakeside", "northside"}


def test_given_a_directory_in_another_process_when_config_changes_then_it_sees_the_change(
        session_factory, redis_client):
    load(session_factory, PRACTICES_TOML)
    directory = PracticeDirectory(session_factory, max_age_seconds=3600)  # as a web worker holds it
    version = redis_client.get("careline:config:version")
    assert directory.find_by_number(NORTHSIDE, version).name == "Northside Pediatrics"
    load(session_factory, PRACTICES_TOML.replace("Northside Pediatrics", "Northside Kids"))
    assert directory.find_by_number(NORTHSIDE, version).name == "Northside Pediatrics"  # cached, same version
    publish_config_change(redis_client)
    assert directory.find_by_number(NORTHSIDE, redis_client.get("careline:config:version")).name == \
        "Northside Kids"


def test_given_a_reload_then_the_next_call_hears_the_new_name(sim, services):
    load_practices(services, PRACTICES_TOML.replace("Northside Pediatrics", "Northside Kids"))
    result = sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller().hang_up())
    assert result.heard[0] == "Thank you for calling Northside Kids."


def test_given_config_loaded_by_another_process_then_the_next_call_hears_it(sim, services, session_factory):
    """Another process loads the file and bumps the version; this process's cached practices are not used."""
    sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller().hang_up())  # this process has its snapshot now
    with session_scope(session_factory) as session:
        apply_config(session, load_config_text(PRACTICES_TOML.replace("Northside Pediatrics", "Northside Kids")),
                     services.now)
    publish_config_change(services.redis)  # as `careline config load` does; this process's cache is not told
    result = sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller().hang_up())
    assert result.heard[0] == "Thank you for calling Northside Kids."
    again = sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller().hang_up())
    assert again.heard[0] == "Thank you for calling Northside Kids."


def test_given_after_hours_and_callback_settings_then_stored_and_in_the_snapshot_and_a_change_updates_them(
        session_factory):
    rules = ("[practices.after_hours]\nescalation_minutes = 7\n[practices.callbacks]\nurgent_due_minutes = 20\n"
             'next_day_due_by = "09:00"\nretry_minutes = [5, 30, 90]\nmax_attempts = 4\n')
    with session_scope(session_factory) as session:
        apply_config(session, load_config_text(PRACTICES_TOML + rules), lambda: OPEN_TIME)  # binds to northside
    directory = PracticeDirectory(session_factory)
    northside = directory.find_by_number(NORTHSIDE)
    assert northside.escalation_minutes == 7
    settings = northside.callbacks
    assert (settings.urgent_due_minutes, settings.routine_due_minutes, settings.max_attempts) == (20, 120, 4)
    assert settings.next_day_due_by.isoformat() == "09:00:00" and settings.retry_minutes == (5, 30, 90)
    assert [settings.retry_wait_minutes(n) for n in (1, 2, 3, 4)] == [5, 30, 90, 90]
    with session_scope(session_factory) as session:
        report = apply_config(session, load_config_text(PRACTICES_TOML + rules.replace("= 7", "= 12")),
                              lambda: OPEN_TIME)
    assert report.updated == ["practice northside"]
    with session_factory() as session:
        assert session.scalar(select(Practice.escalation_minutes).where(Practice.slug == "northside")) == 12
