"""`kefu mail …`: the email channel's adapters on the command line.

kefu mail ingest [--mailbox ADDRESS] < message.eml   (for Postfix/Exim pipes)
kefu mail smtpd [--host H] [--port N]                 (direct SMTP delivery)
kefu mail poll                                        (poll every IMAP mailbox once)
kefu mail imap                                        (IDLE/poll every IMAP mailbox, forever)
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

EX_TEMPFAIL = 75


class Command(BaseCommand):
    help = "Email channel: ingest from a pipe, run the SMTP listener, poll IMAP."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="what", required=True)
        ingest = sub.add_parser("ingest", help="read one raw message from standard input")
        ingest.add_argument("--mailbox", default="", help="the support address it was sent to")
        smtpd = sub.add_parser("smtpd", help="SMTP listener for direct delivery")
        smtpd.add_argument("--host", default="127.0.0.1")
        smtpd.add_argument("--port", type=int, default=2525)
        sub.add_parser("poll", help="poll every active IMAP mailbox once")
        sub.add_parser("imap", help="watch every active IMAP mailbox (IDLE where offered)")

    def handle(self, *args: Any, **options: Any) -> None:
        what = options["what"]
        if what == "ingest":
            self._ingest(options["mailbox"])
        elif what == "smtpd":
            from kefu.mail.smtpd import serve

            self.stdout.write(f"kefu SMTP listener on {options['host']}:{options['port']}")
            serve(options["host"], options["port"])
        elif what == "poll":
            from kefu.mail.imap import poll_all

            for name, result in poll_all().items():
                self.stdout.write(f"{name}: {result}")
        elif what == "imap":
            self._watch()

    def _ingest(self, address: str) -> None:
        """Exit 0 once the raw message is stored (even if it cannot be parsed); 75
        (EX_TEMPFAIL) when it could not be stored, so the MTA keeps it and retries."""
        from kefu.mail.batch import accept
        from kefu.mail.ingest import IngestError, StorageError
        from kefu.mail.models import Mailbox

        raw = sys.stdin.buffer.read()
        if not raw:
            raise CommandError("no message on standard input")
        mailbox = None
        if address:
            mailbox = Mailbox.objects.filter(address__iexact=address).first()
            if mailbox is None:
                raise CommandError(f"no mailbox with the address {address}")
        try:
            # Stored, then processed by the worker (in batches); with the immediate task
            # backend (tests) at once.
            record = accept(raw, mailbox=mailbox, source="pipe")
            record.refresh_from_db(fields=["state"])
        except StorageError as exc:
            self.stderr.write(f"kefu: could not store the message, try again later: {exc}")
            sys.exit(EX_TEMPFAIL)
        except IngestError as exc:  # stored, but quarantined: the MTA must not retry
            self.stderr.write(f"kefu: stored but quarantined: {exc}")
            return
        self.stdout.write(f"inbound email #{record.pk}: {record.state}")

    def _watch(self) -> None:
        from kefu.mail.imap import idle_loop
        from kefu.mail.models import Mailbox

        stop = threading.Event()
        threads = [
            threading.Thread(
                target=idle_loop, args=(mailbox, stop), daemon=True, name=f"imap-{mailbox.pk}"
            )
            for mailbox in Mailbox.objects.filter(active=True).exclude(imap_host="")
        ]
        if not threads:
            raise CommandError("no active mailbox has an IMAP host")
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                thread.join()
        except KeyboardInterrupt:
            stop.set()
