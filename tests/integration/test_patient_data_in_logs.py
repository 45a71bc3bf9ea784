"""No patient data in logs nor in what RQ keeps of a failed job: tracebacks keep their frames and withhold every
exception's text, SQL errors carry no parameters, RQ's own handlers give way to Careline's, and a failed job is kept
7 days, its stored traceback redacted."""
from __future__ import annotations

import logging
import time

import pytest
import sqlalchemy as sa
from rq.job import Job
from rq.results import Result

from careline.worker import FAILED_JOB_TTL_SECONDS, CarelineWorker
from core.logs import careline_handler
from models import CallbackTask
from tests.integration.conftest import OPEN_TIME
from tests.integration.test_patient_data_at_rest import redis_contents

CALLER = "+13125550199"
DIGITS = "3125550199"
WORDS = "my daughter has a fever of one hundred and three"


def fail_with_patient_data(services, message_id: int) -> None:
    """A job (ids in, as every Careline job) whose failure quotes a caller's number and words, as a careless
    exception might; chained, so both exceptions' texts are at stake."""
    try:
        raise KeyError(f"caller {CALLER}")
    except KeyError as exc:
        raise ValueError(f"message {message_id} from {CALLER} could not be saved: {WORDS!r}") from exc


def formatted_by_careline(records: list[logging.LogRecord]) -> str:
    """The records as Careline's own handler (core.logs.configure_logging) writes them: its filter, its formatter."""
    handler = careline_handler()
    assert handler is not None, "create_app configured Careline's logging"
    lines = []
    for record in records:
        assert handler.filter(record)
        lines.append(handler.format(record))
    return "\n".join(lines)


def test_given_a_failing_job_then_its_logged_traceback_and_stored_failure_hold_no_patient_data(
        services, redis_url, caplog):
    caplog.set_level(logging.INFO)
    job = services.jobs.enqueue(fail_with_patient_data, 42)
    CarelineWorker([services.jobs], connection=services.jobs.connection, services=services).work(burst=True)

    failed = [r for r in caplog.records if r.exc_info and r.name.startswith("rq.worker")]
    assert failed, "the worker logged the failure with its traceback"
    written = formatted_by_careline(caplog.records)
    assert "fail_with_patient_data" in written and "ValueError: [withheld]" in written  # still a usable traceback
    assert "KeyError: [withheld]" in written and 'test_patient_data_in_logs.py", line' in written
    assert DIGITS not in written and "fever" not in written

    # What RQ keeps in Redis: the job (its exc_info), its failure Result; kept 7 days, not a year.
    job = Job.fetch(job.id, connection=services.jobs.connection)
    assert job.get_status() == "failed"
    result = job.latest_result()
    assert result.type == Result.Type.FAILED
    assert "ValueError: [withheld]" in result.exc_string
    assert DIGITS not in result.exc_string and "fever" not in result.exc_string
    stored = redis_contents(redis_url)  # every key, RQ's compressed job data decompressed
    assert DIGITS not in stored and "fever" not in stored
    expires_at = services.jobs.failed_job_registry.connection.zscore(services.jobs.failed_job_registry.key, job.id)
    assert FAILED_JOB_TTL_SECONDS == 7 * 24 * 3600
    assert expires_at - time.time() == pytest.approx(FAILED_JOB_TTL_SECONDS, abs=60)
    assert 0 < services.jobs.connection.ttl(job.key) <= FAILED_JOB_TTL_SECONDS


def test_given_a_job_asking_for_rqs_year_then_its_failure_is_kept_7_days(services):
    job = services.jobs.enqueue(fail_with_patient_data, 7, failure_ttl=365 * 24 * 3600)
    CarelineWorker([services.jobs], connection=services.jobs.connection, services=services).work(burst=True)
    expires_at = services.jobs.connection.zscore(services.jobs.failed_job_registry.key, job.id)
    assert expires_at - time.time() == pytest.approx(FAILED_JOB_TTL_SECONDS, abs=60)


def test_given_rq_workers_own_handlers_then_careline_worker_routes_rq_logs_through_careline(services):
    rq_log = logging.getLogger("rq.worker")
    own = logging.StreamHandler()  # what `rq worker` (rq.logutils.setup_loghandlers) installs, unredacted
    rq_log.addHandler(own)
    rq_log.propagate = False
    try:
        CarelineWorker([services.jobs], connection=services.jobs.connection, services=services)
        assert own not in rq_log.handlers and rq_log.propagate
    finally:
        rq_log.removeHandler(own)
        rq_log.propagate = True


def test_given_a_statement_that_fails_then_its_error_text_holds_no_parameters(services, caplog):
    with services.session_factory() as session:
        session.add(CallbackTask(practice_id=999_999, callback_number=CALLER, status="open", opened_at=OPEN_TIME,
                                 last_call_at=OPEN_TIME, close_note=WORDS))
        with pytest.raises(sa.exc.IntegrityError) as refused:
            session.commit()
    assert "hide_parameters=True" in str(refused.value)
    assert DIGITS not in str(refused.value)

    logging.getLogger("careline.test").error("saving failed", exc_info=refused.value)
    written = formatted_by_careline([r for r in caplog.records if r.name == "careline.test"])
    assert "IntegrityError: [withheld]" in written and DIGITS not in written
