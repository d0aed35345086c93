"""A real IMAP server for the tests: Dovecot from Debian's packages (`dovecot-imapd`), started
as a child process on a free loopback port with a throwaway configuration and mail store.

    with running_dovecot() as server:
        account = server.new_account()      # a fresh user with an empty INBOX
        uid = account.append(raw_bytes)     # APPEND into INBOX (or any folder)
        account.flags()                     # {uid: {"$KefuProcessed", "\\Seen"}, ...}

Gotchas this works around (Dovecot 2.3.19 as in Debian 12, run as root as CI does; for a
non-root user everything runs as that user):
- running as root, imap-login refuses to run as root ("This process must not be run as
  root"): login processes run as `dovenull` (Debian creates it), falling back to `nobody`;
- mail processes refuse root too ("Mail access not allowed for root"; passwd-file even rejects
  UID 0): the test users' mail is owned by `nobody`, so the store lives in its own
  world-traversable directory under the system temp dir (pytest's tmp dirs are 0700);
- a passwd-file is re-read at most once a second, so users added during a run may not log in:
  a static passdb/userdb (any user name, one password) gives each test a fresh user instead;
- a stopped master must have exited (its pid file gone) before another starts in the same
  base_dir, so the harness waits for the process on teardown;
- after a failed login Dovecot delays the next login from that address by seconds (the "auth
  penalty", kept by anvil): its socket is disabled (mode 0) so a wrong-password test does not
  slow down the tests after it;
- IDLE learns about new mail through inotify, else by checking every 30 s: 1 s here;
- no SSL (`ssl = no`, unless a TLS server is asked for) and plaintext logins allowed
  (`disable_plaintext_auth = no`; Dovecot 2.4 calls it `auth_allow_cleartext`): the tests
  talk to 127.0.0.1 only.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from imapclient import IMAPClient

DOVECOT_CANDIDATES = ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot")


class DovecotMissing(RuntimeError):
    """The dovecot binary is not installed (Debian: apt-get install dovecot-imapd)."""


def find_dovecot() -> str | None:
    found = shutil.which("dovecot")
    if found:
        return found
    for candidate in DOVECOT_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def dovecot_version(binary: str) -> tuple[int, ...]:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True)
    number = out.stdout.split()[0]
    return tuple(int(part) for part in number.split(".")[:3] if part.isdigit())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _user(*names: str) -> pwd.struct_passwd:
    for name in names:
        with suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError(f"none of the users {names} exists")


@dataclass
class ImapAccount:
    """One user on the test server, with helpers that talk real IMAP to it."""

    host: str
    port: int
    user: str
    password: str

    def client(self, folder: str | None = None) -> IMAPClient:
        client = IMAPClient(self.host, self.port, ssl=False, timeout=30)
        client.login(self.user, self.password)
        if folder is not None:
            client.select_folder(folder)
        return client

    @contextmanager
    def session(self, folder: str | None = None) -> Iterator[IMAPClient]:
        client = self.client(folder)
        try:
            yield client
        finally:
            with suppress(Exception):
                client.logout()

    def append(self, raw: bytes, folder: str = "INBOX", flags: Iterable[str] = ()) -> int:
        """APPEND a raw message; returns its UID (Dovecot answers with APPENDUID)."""
        with self.session() as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            response = client.append(folder, raw, flags=tuple(flags))
        # b"[APPENDUID <uidvalidity> <uid>] Append completed."
        text = response.decode() if isinstance(response, bytes) else str(response)
        return int(text.split("]")[0].split()[-1])

    def create_folder(self, folder: str) -> None:
        with self.session() as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)

    def folder_exists(self, folder: str) -> bool:
        with self.session() as client:
            return bool(client.folder_exists(folder))

    def flags(self, folder: str = "INBOX") -> dict[int, set[str]]:
        """Every message's flags and keywords, by UID (an empty folder: {})."""
        with self.session() as client:
            if not client.folder_exists(folder):
                return {}
            client.select_folder(folder, readonly=True)
            uids = client.search("ALL")
            found = client.fetch(uids, ["FLAGS"]) if uids else {}
            return {
                int(uid): {
                    flag.decode() if isinstance(flag, bytes) else str(flag)
                    for flag in data[b"FLAGS"]
                }
                for uid, data in found.items()
            }

    def bodies(self, folder: str = "INBOX") -> dict[int, bytes]:
        with self.session() as client:
            client.select_folder(folder, readonly=True)
            uids = client.search("ALL")
            found = client.fetch(uids, ["BODY.PEEK[]"]) if uids else {}
            return {int(uid): bytes(data[b"BODY[]"]) for uid, data in found.items()}


@dataclass
class DovecotServer:
    """A running Dovecot: `host`, `port`, a default `user`/`password`, and `new_account()`."""

    binary: str
    root: Path
    version: tuple[int, ...]
    host: str = "127.0.0.1"
    port: int = 0
    user: str = "kefu"
    password: str = field(default_factory=lambda: uuid.uuid4().hex)
    imap_capability: str | None = None
    tls: bool = False  # STARTTLS on `port` and implicit TLS on `tls_port`, self-signed
    tls_port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def account(self) -> ImapAccount:
        return ImapAccount(self.host, self.port, self.user, self.password)

    @property
    def log_path(self) -> Path:
        return self.root / "dovecot.log"

    @property
    def ca_file(self) -> Path:
        """The self-signed certificate (for 127.0.0.1 and localhost) a TLS client must trust."""
        return self.root / "cert.pem"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def append(self, raw: bytes, folder: str = "INBOX", flags: Iterable[str] = ()) -> int:
        """APPEND into the default user's `folder`."""
        return self.account.append(raw, folder, flags)

    def new_account(self) -> ImapAccount:
        """A fresh user (an empty INBOX, created at first login), so tests never see each
        other's mail. Every user name logs in with the server's password (static passdb)."""
        return ImapAccount(self.host, self.port, f"t{uuid.uuid4().hex[:12]}", self.password)

    # -- configuration -----------------------------------------------------------------------

    def _write_config(self) -> Path:
        root = self.root
        for sub in ("run", "state", "mail"):
            (root / sub).mkdir(exist_ok=True)
        if os.geteuid() == 0:
            # Dovecot refuses root for login and mail processes: use unprivileged users.
            internal = _user("dovecot", "nobody")
            login = _user("dovenull", "nobody")
            mail_owner = _user("nobody")
            root.chmod(0o755)  # the mail user must reach the store
            os.chown(root / "mail", mail_owner.pw_uid, mail_owner.pw_gid)
        else:
            internal = login = mail_owner = pwd.getpwuid(os.geteuid())
        uid, gid = mail_owner.pw_uid, mail_owner.pw_gid
        plaintext = (
            "auth_allow_cleartext = yes"
            if self.version >= (2, 4)
            else "disable_plaintext_auth = no"
        )
        extra = f"imap_capability = {self.imap_capability}\n" if self.imap_capability else ""
        ssl = f"yes\nssl_cert = <{self.ca_file}\nssl_key = <{root}/key.pem" if self.tls else "no"
        config = f"""\
# kefu test server: throwaway, loopback only.
protocols = imap
listen = {self.host}
base_dir = {root}/run
state_dir = {root}/state
instance_name = kefu-test-{root.name}
log_path = {self.log_path}
ssl = {ssl}
{plaintext}
auth_mechanisms = plain login
auth_failure_delay = 0
default_internal_user = {internal.pw_name}
default_login_user = {login.pw_name}
first_valid_uid = {min(mail_owner.pw_uid, 500) or 1}
first_valid_gid = 0
mail_location = maildir:~/Maildir
mail_fsync = never
mailbox_idle_check_interval = 1 secs
{extra}# Any user name with the one test password: fresh users cost nothing (a passwd-file is
# re-read at most once a second, too slow for a user per test).
passdb {{
  driver = static
  args = password={self.password}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = {self.host}
    port = {self.port}
  }}
  inet_listener imaps {{
    address = {self.host}
    port = {self.tls_port if self.tls else 0}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
  # no auth penalty (seconds of delay for the next login from an address that failed one)
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""
        path = root / "dovecot.conf"
        path.write_text(config)
        return path

    # -- process -----------------------------------------------------------------------------

    def start(self, timeout: float = 20.0) -> None:
        last_error = ""
        if self.tls:
            self._make_certificate()
        for _attempt in range(3):  # a free port can be taken between choosing and binding
            self.port = free_port()
            self.tls_port = free_port() if self.tls else 0
            config = self._write_config()
            self.log_path.unlink(missing_ok=True)
            with (self.root / "stderr.txt").open("wb") as stderr:
                self.process = subprocess.Popen(
                    [self.binary, "-F", "-c", str(config)],
                    stdout=subprocess.DEVNULL,
                    stderr=stderr,
                    stdin=subprocess.DEVNULL,
                )
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    break
                if self._greets():
                    return
                time.sleep(0.05)
            last_error = self._diagnostics()
            self.stop()
        raise RuntimeError(f"Dovecot did not start:\n{last_error}")

    def _make_certificate(self) -> None:
        openssl = shutil.which("openssl")
        if openssl is None:
            raise RuntimeError("openssl is needed for a TLS test server")
        subprocess.run(
            [
                openssl,
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                str(self.root / "key.pem"),
                "-out",
                str(self.ca_file),
                "-addext",
                "subjectAltName=IP:127.0.0.1,DNS:localhost",
            ],
            check=True,
            capture_output=True,
        )

    def _greets(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as s:
                return s.recv(200).startswith(b"* OK")
        except OSError:
            return False

    def _diagnostics(self) -> str:
        stderr = self.root / "stderr.txt"
        text = stderr.read_text(errors="replace") if stderr.exists() else ""
        return f"{text}\n{self.log()}".strip()

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@contextmanager
def running_dovecot(
    *, imap_capability: str | None = None, tls: bool = False
) -> Iterator[DovecotServer]:
    """Start a throwaway Dovecot; stop it and delete its files afterwards.

    `imap_capability` replaces the capabilities Dovecot advertises after login (e.g. without
    IDLE and MOVE, to exercise a client's fallbacks). `tls` adds STARTTLS and an implicit-TLS
    port (`tls_port`) with a self-signed certificate (`ca_file`)."""
    binary = find_dovecot()
    if binary is None:
        raise DovecotMissing("dovecot is not installed (apt-get install dovecot-imapd)")
    root = Path(tempfile.mkdtemp(prefix="kefu-dovecot-"))
    server = DovecotServer(
        binary=binary,
        root=root,
        version=dovecot_version(binary),
        imap_capability=imap_capability,
        tls=tls,
    )
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
