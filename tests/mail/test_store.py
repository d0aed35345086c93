"""Storing a raw message (`kefu.mail.ingest.store`), the step before anything else: its own
file writing and INSERT (the storage API and the ORM cost more than the work), checked
against what `FieldFile.save` and `Model.save` would have made, and on real failures."""

from __future__ import annotations

import hashlib
import resource

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, default_storage
from django.db import connection

from kefu.mail import ingest as ingest_module
from kefu.mail.ingest import StorageError, store
from kefu.mail.models import InboundEmail, Mailbox
from tests.mail.builders import raw_email


@pytest.fixture
def mailbox(db):
    return Mailbox.objects.create(name="Support", address="support@kefu.test")


def _files(settings) -> list[str]:
    root = settings.MEDIA_ROOT
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def _as_the_orm_would(raw: bytes, mailbox: Mailbox) -> InboundEmail:
    digest = hashlib.sha256(raw).hexdigest()
    record = InboundEmail(sha256=digest, size=len(raw), source="pipe", mailbox=mailbox)
    record.raw.save(f"{digest}.eml", ContentFile(raw), save=False)
    record.save(force_insert=True)
    return record


FIELDS = [f.attname for f in InboundEmail._meta.concrete_fields if not f.primary_key]


@pytest.mark.django_db
def test_stored_as_the_storage_and_the_orm_would_store_it(mailbox, settings):
    settings.FILE_UPLOAD_PERMISSIONS = 0o640
    raw = raw_email(subject="存一下")
    record, created = store(raw, mailbox=mailbox, source="pipe")
    assert created and record.pk and not record._state.adding
    digest = hashlib.sha256(raw).hexdigest()
    assert record.raw.name.startswith("mail/raw/") and record.raw.name.endswith(f"/{digest}.eml")
    assert record.raw.read() == raw
    assert (settings.MEDIA_ROOT / record.raw.name).stat().st_mode & 0o777 == 0o640
    saved = InboundEmail.objects.get(pk=record.pk)
    reference = _as_the_orm_would(raw_email(subject="参照"), mailbox)
    reference.refresh_from_db()
    for name in FIELDS:
        if name in ("sha256", "raw", "size", "received_at"):
            continue
        assert getattr(saved, name) == getattr(reference, name), name
    assert saved.raw.name == record.raw.name and saved.size == len(raw) and saved.sha256 == digest
    assert saved.state == InboundEmail.State.STORED and saved.received_at is not None
    assert saved.received_at == record.received_at


@pytest.mark.django_db
def test_the_same_bytes_again_are_found_without_writing(mailbox, settings):
    raw = raw_email()
    first, created = store(raw, mailbox=mailbox, source="pipe")
    again, created_again = store(raw, mailbox=mailbox, source="smtp")
    assert created and not created_again and again.pk == first.pk
    assert _files(settings) == [first.raw.name]
    assert InboundEmail.objects.count() == 1


@pytest.mark.django_db
def test_a_file_left_by_a_crash_before_the_insert_does_not_block_the_message(mailbox, settings):
    raw = raw_email(subject="崩溃之后")
    first, _created = store(raw, mailbox=mailbox, source="pipe")
    InboundEmail.objects.filter(pk=first.pk).delete()  # as if the INSERT never happened
    assert _files(settings) == [first.raw.name]
    record, created = store(raw, mailbox=mailbox, source="pipe")
    assert created and record.raw.read() == raw
    assert InboundEmail.objects.get().pk == record.pk


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("in_transaction", [False, True])
def test_a_row_already_there_wins_and_the_new_file_goes(in_transaction, settings):
    """Two processes given the same bytes at once: the second INSERT meets the unique hash.
    Alone (autocommit, as the pipe and the listener run) or inside a transaction (a savepoint),
    the row there is returned and the file just written is removed."""
    from django.db import transaction

    mailbox = Mailbox.objects.create(name="Support", address="support@kefu.test")
    raw = raw_email(subject="同时到达")
    digest = hashlib.sha256(raw).hexdigest()
    other = InboundEmail.objects.create(sha256=digest, size=len(raw), raw="mail/raw/x/other.eml")
    if in_transaction:
        with transaction.atomic():
            record, created = store(raw, mailbox=mailbox, source="pipe")
            assert InboundEmail.objects.count() == 1  # the transaction is still usable
    else:
        assert connection.get_autocommit()
        record, created = store(raw, mailbox=mailbox, source="pipe")
    assert not created and record.pk == other.pk
    assert _files(settings) == []


@pytest.mark.django_db
def test_a_folder_that_cannot_be_written_raises_storage_error(mailbox, settings, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_bytes(b"")
    settings.MEDIA_ROOT = blocker / "media"
    with pytest.raises(StorageError):
        store(raw_email(), mailbox=mailbox, source="pipe")
    assert InboundEmail.objects.count() == 0


@pytest.mark.django_db
def test_a_write_cut_short_raises_and_leaves_no_file_and_no_row(mailbox, settings):
    """A real short write: the file size limit (the process ignores SIGXFSZ, so the write
    fails with EFBIG as on a full disk)."""
    store(raw_email(subject="先建好目录"), mailbox=mailbox, source="pipe")
    before = _files(settings)
    raw = raw_email(body="很长的一封信。" * 2000)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))
    try:
        with pytest.raises(StorageError):
            store(raw, mailbox=mailbox, source="pipe")
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert _files(settings) == before
    assert InboundEmail.objects.count() == 1


@pytest.mark.django_db
def test_a_customised_storage_is_honoured(mailbox, monkeypatch):
    """Anything that changes how the storage saves (a subclass, a patched instance) is used
    as it is: only Django's own file system storage gets the direct writes."""
    assert ingest_module._plain_file_system(default_storage)
    saved: list[str] = []
    original = FileSystemStorage.save

    def recording_save(self, name, content, *args, **kwargs):
        saved.append(name)
        return original(self, name, content, *args, **kwargs)

    monkeypatch.setattr(FileSystemStorage, "save", recording_save)
    assert not ingest_module._plain_file_system(default_storage)
    record, created = store(raw_email(), mailbox=mailbox, source="pipe")
    assert created and saved == [record.raw.name]
