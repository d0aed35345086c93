"""Fixtures for the email tests.

IMAP (owned with tests/mail/dovecot.py and tests/mail/test_imap.py): `dovecot` is a real
Dovecot on a loopback port for the whole session, `dovecot_basic` one that advertises neither
IDLE nor MOVE nor UIDPLUS (for the clients' fallbacks), `dovecot_tls` one with STARTTLS and
implicit TLS, `imap_account` a fresh user with an empty INBOX on `dovecot`, and `imap_mailbox` a
kefu Mailbox that reads that account (`make_imap_mailbox` makes more). Without the dovecot
binary these tests are skipped, or fail when CI is set.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.mail.dovecot import DovecotServer, ImapAccount, find_dovecot, running_dovecot

# -- IMAP: Dovecot ----------------------------------------------------------------------------

DOVECOT_BASIC_CAPABILITIES = "IMAP4rev1 LITERAL+ SASL-IR ID ENABLE NAMESPACE CHILDREN"


def _require_dovecot() -> None:
    if find_dovecot() is None:
        reason = "Dovecot is not installed (apt-get install dovecot-imapd); .ci/run installs it"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(scope="session")
def dovecot() -> Iterator[DovecotServer]:
    """A real Dovecot IMAP server (IDLE, MOVE, UIDPLUS) on 127.0.0.1, for the session."""
    _require_dovecot()
    with running_dovecot() as server:
        yield server


@pytest.fixture(scope="session")
def dovecot_basic() -> Iterator[DovecotServer]:
    """A Dovecot that advertises only plain IMAP4rev1: no IDLE, MOVE or UIDPLUS."""
    _require_dovecot()
    with running_dovecot(imap_capability=DOVECOT_BASIC_CAPABILITIES) as server:
        yield server


@pytest.fixture
def imap_account(dovecot: DovecotServer) -> ImapAccount:
    """A fresh user on `dovecot`, with an empty INBOX."""
    return dovecot.new_account()


def make_imap_mailbox(account: ImapAccount, **fields):
    from kefu.mail.models import Mailbox

    defaults = {
        "name": f"Support {account.user}",
        "address": f"support-{account.user}@kefu.test",
        "imap_host": account.host,
        "imap_port": account.port,
        "imap_security": "none",
        "imap_user": account.user,
        "imap_password": account.password,
        "imap_folder": "INBOX",
    }
    return Mailbox.objects.create(**{**defaults, **fields})


@pytest.fixture
def imap_mailbox(imap_account: ImapAccount, transactional_db):
    """A kefu Mailbox reading `imap_account`'s INBOX over plain IMAP on loopback."""
    return make_imap_mailbox(imap_account)


@pytest.fixture(scope="session")
def dovecot_tls() -> Iterator[DovecotServer]:
    """A Dovecot with STARTTLS on `port` and implicit TLS on `tls_port` (self-signed certificate
    for 127.0.0.1 in `ca_file`: trust it with SSL_CERT_FILE)."""
    _require_dovecot()
    with running_dovecot(tls=True) as server:
        yield server
