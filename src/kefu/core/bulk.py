"""``bulk_create`` for hot paths: the same rows, one prepared multi-row ``INSERT`` per batch.

Django's ``bulk_create`` compiles every value of every row into SQL (``prepare_value``,
``field_as_sql``, …), which on mail ingestion cost more than executing the statements. For
plain rows — no expressions as values, no conflicts handling, no defaults computed by the
database, one table — :func:`insert` writes the same columns with the same values (each
field's ``pre_save`` and ``get_db_prep_save``, as the ORM does), sets the primary keys the
database returns, and marks the instances saved. Anything else goes to ``bulk_create``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from django.db.models.fields import NOT_PROVIDED

_plans: dict[tuple[str, type[models.Model], bool], tuple[str, str, list[Any]]] = {}


def insert(objs: Sequence[models.Model], using: str = DEFAULT_DB_ALIAS) -> None:
    """``type(objs[0]).objects.bulk_create(objs)``, faster for plain rows (see the module)."""
    if not objs:
        return
    model = type(objs[0])
    db = connections[using]
    if not _plain(model, objs, db):
        model._default_manager.using(using).bulk_create(objs)
        return
    meta = model._meta
    pk = meta.pk
    assert pk is not None
    for obj in objs:
        if obj.pk is None:
            obj.pk = pk.get_pk_value_on_save(obj)  # a UUID or other default; None if automatic
        obj._prepare_related_fields_for_save(operation_name="bulk_create")  # type: ignore[attr-defined]
    with_pk = [obj for obj in objs if obj.pk is not None]
    without_pk = [obj for obj in objs if obj.pk is None]
    with transaction.atomic(using=using, savepoint=False):
        for group, returning in ((with_pk, False), (without_pk, True)):
            if not group:
                continue
            head, row, fields = _plan(model, db, returning)
            plain = _plain_types(fields, db)
            values = [
                [
                    v if type(v) in kinds else f.get_db_prep_save(v, db)
                    for f, kinds in zip(fields, plain, strict=True)
                    for v in (f.pre_save(obj, True),)
                ]
                for obj in group
            ]
            if any(hasattr(v, "resolve_expression") for vs in values for v in vs):
                model._default_manager.using(using).bulk_create(group)  # an expression: the ORM
                continue
            size = max(db.ops.bulk_batch_size(fields, group), 1)
            with db.cursor() as cursor:
                for start in range(0, len(group), size):
                    chunk = values[start : start + size]
                    cursor.execute(
                        head
                        + ", ".join([row] * len(chunk))
                        + (_returning(db, meta) if returning else ""),
                        [v for vs in chunk for v in vs],
                    )
                    if returning:
                        ids = cursor.fetchall()
                        if len(ids) != len(chunk):
                            raise RuntimeError(f"{len(ids)} ids returned for {len(chunk)} rows")
                        for obj, (pk_value,) in zip(group[start : start + size], ids, strict=True):
                            obj.pk = pk_value
            for obj in group:
                obj._state.adding = False
                obj._state.db = using


def _plain(model: type[models.Model], objs: Sequence[models.Model], db: Any) -> bool:
    """True when :func:`insert` writes these rows exactly as ``bulk_create`` would."""
    meta = model._meta
    if (
        meta.parents
        or meta.pk is None
        or not db.features.can_return_rows_from_bulk_insert
        or any(type(obj) is not model for obj in objs)
    ):
        return False
    for field in meta.concrete_fields:
        if field.generated or field.db_default is not NOT_PROVIDED:
            return False
    # Only the primary key comes back from the database (no generated or database-default
    # columns to read back).
    return list(meta.db_returning_fields) in ([meta.pk], [])


def _plan(model: type[models.Model], db: Any, returning: bool) -> tuple[str, str, list[Any]]:
    """``INSERT INTO t (columns) VALUES``, one row's placeholders, the fields written."""
    key = (db.alias, model, returning)
    if key not in _plans:
        meta = model._meta
        fields = [
            f
            for f in meta.concrete_fields
            if not f.generated and not (returning and isinstance(f, models.AutoField))
        ]
        quote = db.ops.quote_name
        # Only the model's own table and column names go into the text; values are parameters.
        head = (
            f"INSERT INTO {quote(meta.db_table)} "  # noqa: S608
            f"({', '.join(quote(str(f.column)) for f in fields)}) VALUES "
        )
        _plans[key] = (head, f"({', '.join(['%s'] * len(fields))})", fields)
    return _plans[key]


def _returning(db: Any, meta: Any) -> str:
    return f" RETURNING {db.ops.quote_name(str(meta.pk.column))}"


_TEXT_FIELDS = (
    models.CharField,
    models.TextField,
    models.EmailField,
    models.SlugField,
    models.URLField,
)


def _plain_types(fields: list[Any], db: Any) -> list[tuple[type, ...]]:
    """For each field, the value types ``get_db_prep_save`` returns unchanged (so need not be
    called): ``str`` or None for Django's own text fields (``to_python`` returns a ``str`` as
    it is), ``int`` or None for a foreign key to an automatic primary key where the backend
    does not check such keys, None for dates and times."""
    from django.db.backends.base.operations import BaseDatabaseOperations
    from django.db.models.fields import AutoFieldMixin

    plain_keys = type(db.ops).validate_autopk_value is BaseDatabaseOperations.validate_autopk_value
    kinds: list[tuple[type, ...]] = []
    for field in fields:
        if type(field) in _TEXT_FIELDS:
            kinds.append((str, type(None)))
        elif (
            type(field) is models.ForeignKey
            and isinstance(field.target_field, AutoFieldMixin)
            and plain_keys
        ):
            kinds.append((int, type(None)))
        elif type(field) in (models.DateTimeField, models.DateField):
            kinds.append((type(None),))
        else:
            kinds.append(())
    return kinds
