"""Each practice its own menu and voice (issue 16): [[practices.menu]] walked through the simulator, its load-time
refusals, `careline menu show`, `careline simulate --press`, and the recorded greeting and text-to-speech voice."""
from __future__ import annotations

import struct
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from callsim import Caller
from careline.cli import main
from models import Call, CallbackTask, CallEvent, Message
from practices.errors import ConfigInvalid
from practices.loader import load_config_text
from tests.integration.conftest import (CALLER, CLOSED_TIME, NORTHSIDE, PRACTICES_TOML, bearer, console_password,
                                        console_sign_in, load_practices)
from tests.integration.test_simulate_cli import live_url, simulate  # noqa: F401 - fixtures used below

CLINIC = "+13125550300"
BILLING = "+13125550150"
NURSE_AGENT = "+13125550133"


def wav_bytes(seconds: float = 0.5) -> bytes:
    """A short silent WAV (8 kHz, 8-bit mono)."""
    frames = int(8000 * seconds)
    fmt = struct.pack("<IHHIIHH", 16, 1, 1, 8000, 8000, 1, 8)
    header = b"RIFF" + struct.pack("<I", 36 + frames) + b"WAVEfmt " + fmt + b"data" + struct.pack("<I", frames)
    return header + b"\x80" * frames


def clinic_toml(greeting: Path | None = None, voice: str | None = "Polly.Joanna", menu: str | None = None,
                agents: str | None = None) -> str:
    voice_table = ""
    if voice or greeting:
        voice_table = "\n[practices.voice.en]\n" + (f'voice = "{voice}"\n' if voice else "") + \
            (f'greeting = "{greeting}"\n' if greeting else "")
    return PRACTICES_TOML + """
[[practices]]
slug = "clinic"
name = "Riverside Clinic"
numbers = ["+13125550300"]
timezone = "America/Chicago"
languages = ["en"]
ring_budget_seconds = 15

[practices.hours]
mon = "08:00-17:00"
tue = "08:00-17:00"
wed = "08:00-17:00"
thu = "08:00-17:00"
fri = "08:00-17:00"
""" + voice_table + (MENU if menu is None else menu) + (NURSE if agents is None else agents)


MENU = """
[[practices.menu]]
key = "1"
action = "queue"
skill = "nurse"
urgent = true
prompt = { en = "For the nurse, press 1." }

[[practices.menu]]
key = "2"
action = "message"
mailbox = "refills"
urgent = false
due_minutes = 60
prompt = { en = "For prescription refills, press 2." }

[[practices.menu]]
key = "3"
action = "forward"
number = "+13125550150"
mailbox = "billing"
prompt = { en = "For billing, press 3." }

[[practices.menu]]
key = "4"
action = "submenu"
prompt = { en = "For test results and other questions, press 4." }

  [[practices.menu.menu]]
  key = "1"
  action = "message"
  mailbox = "results"
  urgent = "ask"
  prompt = { en = "For test results, press 1." }

  [[practices.menu.menu]]
  key = "2"
  action = "say"
  text = { en = "Flu shots are given every weekday morning." }
  prompt = { en = "For flu shots, press 2." }

[[practices.menu]]
key = "5"
action = "hours"
prompt = { en = "For our hours, press 5." }

[[practices.menu]]
key = "6"
action = "callback"
prompt = { en = "To have us call you back, press 6." }

[[practices.menu]]
key = "9"
action = "complaint"
prompt = { en = "To tell us about a problem, press 9." }

[[practices.menu]]
key = "*"
action = "repeat"
prompt = { en = "To hear these options again, press star." }
"""
NURSE = """
[[agents]]
email = "nina@answering.example"
name = "Nina Nurse"
phone = "+13125550133"
skills = ["nurse"]
practices = ["clinic"]

[[agents]]
email = "rita@clinic.example"
name = "Rita Manager"
practices = ["clinic"]
role = "manager"
"""
MANAGER = "rita@clinic.example"


def bilingual(toml: str) -> str:
    """The clinic in English and Spanish (the other practices keep their languages)."""
    clinic = toml.index('slug = "clinic"')
    return toml[:clinic] + toml[clinic:].replace('languages = ["en"]', 'languages = ["en", "es"]', 1)


@pytest.fixture
def greeting(tmp_path) -> Path:
    path = tmp_path / "greeting.wav"
    path.write_bytes(wav_bytes())
    return path


@pytest.fixture
def people(services, greeting):
    load_practices(services, clinic_toml(greeting=greeting))


def events(session_factory, call_sid: str) -> list[CallEvent]:
    with session_factory() as session:
        return list(session.scalars(select(CallEvent).where(CallEvent.call_sid == call_sid).order_by(CallEvent.id)))


def one(session_factory, model, **where):
    with session_factory() as session:
        return session.scalars(select(model).filter_by(**where)).one()


def heard(result) -> str:
    return " ".join(result.heard)


# --- the menu, through the simulator ----------------------------------------------------------------------------

def test_refills_key_leaves_a_message_in_the_refills_mailbox_due_within_its_own_minutes(
        sim, people, drain, session_factory):
    result = sim.call(to=CLINIC, from_=CALLER, caller=Caller().press("2").speak(8, then="#"))
    assert "For prescription refills, press 2." in result.heard
    assert "If your message is urgent" not in heard(result)  # urgent = false: not asked
    drain()
    message = one(session_factory, Message, call_sid=result.call_sid)
    assert (message.mailbox, message.urgent, message.kind) == ("refills", False, "message")
    task = one(session_factory, CallbackTask)
    assert task.due_at - task.opened_at == timedelta(minutes=60)
    (menu,) = [e for e in events(session_factory, result.call_sid) if e.kind == "menu"]
    assert (menu.data["digits"], menu.data["choice"], menu.data["target"]) == ("2", "message", "refills")


def test_billing_forward_answered_ends_there_within_the_ring_budget(sim, people, drain, session_factory):
    result = sim.call(to=CLINIC, from_=CALLER, dial={BILLING: "answered"}, caller=Caller().press("3"))
    (forward,) = [d for d in result.documents if "<Dial" in d.text]
    assert f"<Number>{BILLING}</Number>" in forward.text and 'timeout="10"' in forward.text  # 15 s budget - 5
    drain()
    call = one(session_factory, Call, call_sid=result.call_sid)
    assert call.outcome == "answered"
    with session_factory() as session:
        assert session.scalars(select(CallbackTask)).all() == []


@pytest.mark.parametrize("status", ["no-answer", "busy", "failed"])
def test_billing_forward_not_answered_takes_a_message_for_billing(sim, people, drain, session_factory, status):
    result = sim.call(to=CLINIC, from_=CALLER, dial={BILLING: status}, caller=Caller().press("3").speak(8, then="#"))
    assert "Sorry, no one could take your call there right now, so I will take a message." in result.heard
    drain()
    assert one(session_factory, Message, call_sid=result.call_sid).mailbox == "billing"
    kinds = [e.kind for e in events(session_factory, result.call_sid)]
    assert "menu-forward-dial" in kinds and "menu-forward-result" in kinds


def test_submenu_results_mailbox_asks_if_urgent(sim, people, drain, session_factory):
    result = sim.call(to=CLINIC, from_=CALLER, caller=Caller().press("4").press("1").speak(8, then="#").press("1"))
    assert "For test results, press 1." in result.heard
    assert "If your message is urgent, press 1. Otherwise, you can hang up now." in result.heard
    drain()
    message = one(session_factory, Message, call_sid=result.call_sid)
    assert (message.mailbox, message.urgent) == ("results", True)
    menu = [e.data["digits"] for e in events(session_factory, result.call_sid) if e.kind == "menu"]
    assert menu == ["4", "41"]


def test_say_announces_then_back_to_its_menu_level(sim, people):
    result = sim.call(to=CLINIC, from_=CALLER, caller=Caller().press("4").press("2").hang_up())
    said = result.heard
    at = said.index("Flu shots are given every weekday morning.")
    assert said[at + 1] == "For test results, press 1."  # the submenu again, not the top


def test_hours_and_repeat(sim, people):
    result = sim.call(to=CLINIC, from_=CALLER, caller=Caller().press("5").press("*").hang_up())
    assert any(text.startswith("Our office hours are:") for text in result.heard)
    assert result.heard.count("For the nurse, press 1.") == 3  # first, after the hours, after repeat


def test_callback_key_requests_a_callback(sim, people, drain, session_factory):
    result = sim.call(to=CLINIC, from_=CALLER, caller=Caller().press("6"))
    assert "We will call you back at the number you are calling from" in heard(result)
    drain()
    assert one(session_factory, Call, call_sid=result.call_sid).outcome == "callback"
    assert one(session_factory, CallbackTask).status == "open"


def test_complaint_key_takes_a_message_of_kind_complaint(sim, people, drain, session_factory):
    result = sim.call(to=CLINIC, from_=CALLER, caller=Caller().press("9").speak(8, then="#").silence())
    drain()
    message = one(session_factory, Message, call_sid=result.call_sid)
    assert (message.mailbox, message.kind) == ("complaints", "complaint")


def test_nurse_queue_with_its_skill_and_urgent(sim, people, drain, session_factory):
    """Nobody on duty: an urgent caller goes straight to an urgent message; the menu asked for the nurse skill."""
    result = sim.call(to=CLINIC, from_=CALLER, caller=Caller().press("1").speak(8, then="#"))
    drain()
    menu = [e for e in events(session_factory, result.call_sid) if e.kind == "menu"]
    assert (menu[0].data["choice"], menu[0].data["target"], menu[0].data["urgent"]) == ("queue", "nurse", True)
    assert one(session_factory, Message, call_sid=result.call_sid).urgent is True


def test_two_practices_with_different_menus_on_one_careline(sim, people, clock):
    own = sim.call(to=CLINIC, from_=CALLER, caller=Caller().hang_up())
    builtin = sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller().hang_up())
    assert "For the nurse, press 1." in own.heard and "To speak with someone, press 1." not in own.heard
    assert "To speak with someone, press 1." in builtin.heard and "For the nurse, press 1." not in builtin.heard


def test_dashboard_and_metrics_count_calls_by_menu_choice(sim, people, drain, services, client, clock, tokens):
    """Two refills callers, one results caller (through the submenu), one who only heard the hours: each call is
    counted once, under its last choice."""
    for caller in (Caller().press("2").speak(8, then="#"), Caller().press("2").speak(8, then="#"),
                   Caller().press("4").press("1").speak(8, then="#").silence(), Caller().press("5").hang_up()):
        sim.call(to=CLINIC, from_=CALLER, caller=caller)
    drain()
    day = clock.now.date().isoformat()
    token = tokens.issue_token(MANAGER, None).token
    figures = client.get(f"/api/metrics?practice=clinic&from={day}&to={day}", headers=bearer(token)).get_json()
    counts = {(r["digits"], r["choice"], r["target"]): r["calls"] for r in figures["by_menu_choice"]}
    assert counts == {("2", "message", "refills"): 2, ("41", "message", "results"): 1, ("5", "hours", None): 1}
    console_password(services, [MANAGER], "a long console password 1")
    assert console_sign_in(client, MANAGER, "a long console password 1").status_code == 303
    page = client.get("/console/").get_data(as_text=True)
    section = page.split('id="menu-choices-title"')[1].split("</section>")[0]
    assert "Calls by menu choice" in page and 'data-menu-choice="2"' in section
    row = section.split('data-menu-choice="2"')[1].split("</tr>")[0]
    assert "refills" in row and '<td class="num">2</td>' in row
    assert "4 then 1" in section


BILINGUAL_MENU = """
[[practices.menu]]
key = "1"
action = "message"
mailbox = "refills"
prompt = { en = "For refills, press 1.", es = "Para recetas, oprima 1." }

[[practices.menu]]
key = "2"
action = "say"
text = { en = "We are at 12 Main Street.", es = "Estamos en la calle Main 12." }
prompt = { en = "For our address, press 2.", es = "Para nuestra dirección, oprima 2." }
"""


def test_a_bilingual_practice_speaks_its_menu_in_the_callers_language(services, client, clock):
    from tests.integration.conftest import simulator

    load_practices(services, bilingual(clinic_toml(voice=None, menu=BILINGUAL_MENU)))
    result = simulator(client, clock).call(to=CLINIC, from_=CALLER, caller=Caller().press("2").press("2").hang_up())
    assert "Para recetas, oprima 1." in result.heard and "Estamos en la calle Main 12." in result.heard
    assert "For refills, press 1." not in result.heard


# --- the practice's own voice ------------------------------------------------------------------------------------

def test_recorded_greeting_is_played_and_served_with_caching_headers(sim, people, client, greeting):
    result = sim.call(to=CLINIC, from_=CALLER, caller=Caller().hang_up())
    first = result.documents[0].text
    assert "<Play>/voice/audio/" in first and "Thank you for calling" not in first
    url = first.split("<Play>")[1].split("</Play>")[0]
    assert url.endswith(".wav")
    answer = client.get(url)
    assert answer.status_code == 200 and answer.data == greeting.read_bytes()
    assert answer.mimetype == "audio/wav"
    assert "public" in answer.headers["Cache-Control"] and "max-age=" in answer.headers["Cache-Control"]
    again = client.get(url, headers={"If-None-Match": answer.headers["ETag"]})
    assert again.status_code == 304


def test_after_hours_the_recorded_greeting_is_followed_by_closed_and_the_reopening(sim, people, clock):
    clock.now = CLOSED_TIME
    result = sim.call(to=CLINIC, from_=CALLER, caller=Caller().hang_up())
    first = result.documents[0].text
    assert first.index("<Play>") < first.index("Our office is closed right now.")
    assert "We open again tomorrow at 8 AM." in result.heard


def test_recorded_greeting_and_menu_prompt_by_https_url_are_played_as_they_are(services, client, clock):
    from tests.integration.conftest import simulator

    toml = clinic_toml(voice=None).replace('[[practices.menu]]\nkey = "1"', '[practices.voice.en]\n'
                                            'greeting = "https://media.clinic.example/hello.mp3"\n'
                                            'menu_prompt = "https://media.clinic.example/menu.mp3"\n\n'
                                            '[[practices.menu]]\nkey = "1"', 1)
    load_practices(services, toml)
    result = simulator(client, clock).call(to=CLINIC, from_=CALLER, caller=Caller().press("4").hang_up())
    first, submenu = result.documents[0].text, result.documents[1].text
    assert "<Play>https://media.clinic.example/hello.mp3</Play>" in first
    assert "<Play>https://media.clinic.example/menu.mp3</Play></Gather>" in first
    assert "For the nurse, press 1." not in result.heard  # the recording says the top menu's options
    assert "For test results, press 1." in submenu  # a submenu is spoken


def test_text_to_speech_voice_is_used_for_every_say(sim, people):
    result = sim.call(to=CLINIC, from_=CALLER, caller=Caller().press("5").hang_up())
    says = [d.text for d in result.documents if "<Say" in d.text]
    assert says and all('voice="Polly.Joanna"' in text for text in says)
    assert all(text.count("<Say") == text.count('voice="Polly.Joanna"') for text in says)


# --- refusals at load, each naming its entry ---------------------------------------------------------------------

def refused(toml: str) -> str:
    with pytest.raises(ConfigInvalid) as caught:
        load_config_text(toml)
    return "\n".join(caught.value.problems if hasattr(caught.value, "problems") else [str(caught.value)])


def test_refuses_a_key_used_twice():
    menu = MENU.replace('key = "5"', 'key = "2"')
    assert 'practices[clinic].menu[4] (key "2").key' in refused(clinic_toml(menu=menu))


def test_refuses_a_queue_to_a_skill_no_agent_has():
    problems = refused(clinic_toml(agents=NURSE.replace('"nurse"]', '"refills"]')))
    assert 'practices[clinic].menu[0] (key "1").skill' in problems and "nurse" in problems


def test_refuses_an_unknown_action():
    problems = refused(clinic_toml(menu=MENU.replace('action = "hours"', 'action = "dance"')))
    assert 'practices[clinic].menu[4] (key "5").action' in problems


def test_refuses_a_field_that_does_not_apply_to_the_action():
    problems = refused(clinic_toml(menu=MENU.replace('mailbox = "refills"', 'mailbox = "refills"\nskill = "nurse"')))
    assert 'practices[clinic].menu[1] (key "2").skill: does not apply to a message' in problems


def test_refuses_a_forward_number_not_e164():
    problems = refused(clinic_toml(menu=MENU.replace('number = "+13125550150"', 'number = "555-0150"')))
    assert 'practices[clinic].menu[2] (key "3").number' in problems


def test_refuses_a_menu_deeper_than_three_levels():
    deep = """
[[practices.menu]]
key = "1"
action = "submenu"
prompt = { en = "One." }
  [[practices.menu.menu]]
  key = "1"
  action = "submenu"
  prompt = { en = "Two." }
    [[practices.menu.menu.menu]]
    key = "1"
    action = "submenu"
    prompt = { en = "Three." }
      [[practices.menu.menu.menu.menu]]
      key = "1"
      action = "repeat"
      prompt = { en = "Four." }
"""
    problems = refused(clinic_toml(menu=deep))
    assert 'practices[clinic].menu[0].menu[0].menu[0] (key "1").menu' in problems and "too deep" in problems


def test_refuses_a_prompt_missing_a_language_of_the_practice():
    problems = refused(bilingual(clinic_toml()))
    assert 'practices[clinic].menu[0] (key "1").prompt: has no text in es' in problems


def test_refuses_a_voice_twilio_does_not_have_and_one_of_another_language(greeting):
    assert "practices[clinic].voice.en.voice" in refused(clinic_toml(voice="Polly.Nobody"))
    assert "speaks es" in refused(clinic_toml(voice="Google.es-ES-Standard-A"))


def test_refuses_a_greeting_that_is_missing_or_not_audio(tmp_path):
    assert "no such file" in refused(clinic_toml(greeting=tmp_path / "missing.wav"))
    text = tmp_path / "greeting.wav"
    text.write_text("not a sound")
    assert "is not a WAV or MP3 file" in refused(clinic_toml(greeting=text))


def test_greeting_path_is_relative_to_the_configuration_file(tmp_path, greeting):
    from practices.loader import load_config_file

    config = tmp_path / "careline.toml"
    config.write_text(clinic_toml(greeting=Path("greeting.wav")))
    (spec,) = [p for p in load_config_file(config).practices if p.slug == "clinic"]
    assert spec.voice["en"].greeting.sha256 and spec.audio_files[0].data == greeting.read_bytes()


def test_loading_the_same_menu_and_voice_again_changes_nothing(services, greeting):
    from core.db import session_scope
    from practices.store import apply_config

    toml = clinic_toml(greeting=greeting)
    for expected in ("created", "unchanged"):
        with session_scope(services.session_factory) as session:
            report = apply_config(session, load_config_text(toml), services.now)
        assert "practice clinic" in getattr(report, expected)
    assert "agent nina@answering.example" in report.unchanged


# --- menu show, simulate --press ---------------------------------------------------------------------------------

def test_menu_show_prints_the_tree(people, cli_env):
    result = CliRunner().invoke(main, ["menu", "show", "clinic"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("1  queue") and "nurse" in line and "For the nurse, press 1." in line
               for line in lines)
    assert any(line.startswith("    1  message") and "results" in line for line in lines)  # the submenu, indented
    assert any(line.startswith("3  forward") and BILLING in line for line in lines)
    builtin = CliRunner().invoke(main, ["menu", "show", "northside"])
    assert "built-in menu" in builtin.output


def test_simulate_press_walks_the_submenu(simulate):  # noqa: F811 - the fixture imported above
    result = simulate("--to", CLINIC, "--press", "4,2", "--hang-up-after", "3")
    assert "For test results, press 1." in result.stdout
    assert "Flu shots are given every weekday morning." in result.stdout
