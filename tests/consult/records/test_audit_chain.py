"""The audit trail is hash-chained; tampering in SQL is detected and named."""

from __future__ import annotations

import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from consult.records.audit import audit_chain_verify, audit_event_record
from consult.records.context import AccessContext
from consult.records.models import AuditEvent

CTX = AccessContext(channel="test", ip="127.0.0.1")


def _write(n: int) -> list[AuditEvent]:
    return [
        audit_event_record(
            actor=None, action="read", ctx=CTX, object_type="patient", object_id=str(i)
        )
        for i in range(n)
    ]


def _sql(statement: str, params: list[object]) -> None:
    """Run SQL as a database superuser would, bypassing the append-only trigger."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE records_auditevent DISABLE TRIGGER USER")
        cursor.execute(statement, params)
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE records_auditevent ENABLE TRIGGER USER")


@pytest.mark.django_db
def test_intact_chain_verifies() -> None:
    """An untouched chain verifies end to end."""
    _write(5)
    report = audit_chain_verify()
    assert (report.ok, report.checked) == (True, 5)


@pytest.mark.django_db
def test_events_link_to_their_predecessor() -> None:
    """Each event holds the previous event's hash and the next sequence number."""
    first, second = _write(2)
    assert (second.prev_hash, second.seq) == (first.hash, first.seq + 1)


@pytest.mark.django_db
def test_altered_event_is_named() -> None:
    """Changing one column of one row in SQL names that row as altered."""
    events = _write(5)
    _sql(
        "UPDATE records_auditevent SET object_id = %s WHERE id = %s",
        ["999", events[2].pk],
    )
    problem = audit_chain_verify().problem
    assert (problem.kind, problem.event_id) == ("altered", events[2].pk)


@pytest.mark.django_db
def test_deleted_event_is_named() -> None:
    """Deleting a row names the event after the gap, with the missing sequence."""
    events = _write(5)
    _sql("DELETE FROM records_auditevent WHERE id = %s", [events[2].pk])
    problem = audit_chain_verify().problem
    assert (problem.kind, problem.event_id, problem.seq) == ("deleted", events[3].pk, 4)


@pytest.mark.django_db
def test_inserted_event_is_named() -> None:
    """A row inserted into the middle of the chain is named as inserted."""
    events = _write(4)
    forged = events[1]
    _sql(
        "INSERT INTO records_auditevent (seq, at, actor_username, action, "
        "object_type, object_id, outcome, channel, ip, user_agent, extra, "
        "prev_hash, hash, explanation) "
        "VALUES (%s, %s, '', 'read', 'patient', 'x', 'allowed', 'test', '', '', "
        "'{}', %s, %s, '')",
        [forged.seq + 1000, forged.at, forged.hash, "f" * 64],
    )
    _sql(
        "UPDATE records_auditevent SET seq = seq + 2000 WHERE id > %s AND seq < 1000",
        [forged.pk],
    )
    _sql(
        "UPDATE records_auditevent SET seq = %s WHERE seq = %s",
        [forged.seq + 1, forged.seq + 1000],
    )
    _sql("UPDATE records_auditevent SET seq = seq - 1999 WHERE seq > 2000", [])
    problem = audit_chain_verify().problem
    assert problem.kind == "inserted"
    assert AuditEvent.objects.get(pk=problem.event_id).hash == "f" * 64


@pytest.mark.django_db
def test_verify_command_fails_and_names_the_event() -> None:
    """``manage.py audit_verify`` exits with an error naming the altered row."""
    events = _write(3)
    _sql(
        "UPDATE records_auditevent SET action = 'export' WHERE id = %s", [events[1].pk]
    )
    with pytest.raises(CommandError, match=f"altered event id={events[1].pk}"):
        call_command("audit_verify")


@pytest.mark.django_db
def test_verify_command_reports_an_intact_chain(capsys) -> None:
    """``manage.py audit_verify`` prints the count and head of a good chain."""
    _write(2)
    call_command("audit_verify")
    assert "audit chain intact: 2 event(s)" in capsys.readouterr().out


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize(
    "statement",
    ["UPDATE records_auditevent SET action = 'x'", "DELETE FROM records_auditevent"],
)
def test_database_refuses_update_and_delete(statement: str) -> None:
    """On PostgreSQL, a trigger makes the table append-only even for raw SQL."""
    _write(1)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(statement)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_keep_one_chain() -> None:
    """Eight threads writing 50 events each leave one gapless, verifying chain."""
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for i in range(50):
                with transaction.atomic():
                    audit_event_record(
                        actor=None, action="read", ctx=CTX, object_id=str(i)
                    )
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report = audit_chain_verify()
    assert (errors, report.ok, report.checked) == ([], True, 400)
