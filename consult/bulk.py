"""Update many rows, each with its own values, in one round trip.

Django's ``bulk_update`` builds one ``CASE WHEN pk = ... THEN ...`` per
field and row, and resolving those expressions cost more than half of a
vitals flush. A parameterised ``UPDATE ... WHERE pk = %s`` run with
``executemany`` is one statement prepared once; psycopg 3 pipelines it in
one round trip, and SQLite runs it in a loop in C.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection
from django.db.models import Model


def update_rows(objs: Sequence[Model], fields: Sequence[str]) -> None:
    """Write ``fields`` of each of ``objs`` (same model, saved rows) to the database.

    Values go through each field's own ``get_db_prep_save``, as ``save()``
    does (JSON, datetimes); nothing else of the rows is touched and no
    signals are sent, as with ``bulk_update``.
    """
    if not objs:
        return
    meta = type(objs[0])._meta
    columns = [meta.get_field(name) for name in fields]
    quote = connection.ops.quote_name
    # Identifiers come from the model's metadata, quoted; values are parameters.
    sql = (
        f"UPDATE {quote(meta.db_table)} SET "  # noqa: S608
        + ", ".join(f"{quote(field.column)} = %s" for field in columns)
        + f" WHERE {quote(meta.pk.column)} = %s"
    )
    params = [
        [
            field.get_db_prep_save(getattr(obj, field.attname), connection)
            for field in columns
        ]
        + [meta.pk.get_db_prep_save(obj.pk, connection)]
        for obj in objs
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)
