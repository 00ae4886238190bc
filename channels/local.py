"""The embedded channel: each message becomes a readable file in an outbox folder, not a real delivery.

Layout: ``<folder>/<channel>/<safe-key>.txt`` (headers, a blank line, the body); email also writes
``<safe-key>.html``. One key is one delivery: sending a key again replaces its files, returns the same
provider id, logs a warning, is counted in ``LocalOutbox.resends`` and gets a line in ``<folder>/resends.log``
(also when another process sent it first: the file is put in place only if none is there yet, atomically).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from channels.base import unsupported
from channels.messages import (
    EmailMessage,
    Message,
    PermanentSendError,
    SendError,
    SendResult,
    SmsMessage,
    TransientSendError,
    VoicemailMessage,
)

log = logging.getLogger(__name__)
RESENDS_LOG = "resends.log"  # one line per message sent again under a key already in the outbox

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_STEM = 120


def provider_id(key: str) -> str:
    """The stable id the local channel reports for ``key``."""
    return "local-" + hashlib.sha1(key.encode()).hexdigest()[:16]


def safe_name(key: str) -> str:
    """A file name stem for ``key``; an altered key gets a hash suffix so two keys never share a file."""
    if not _UNSAFE.search(key) and len(key) <= _MAX_STEM and not key.startswith("."):
        return key
    readable = _UNSAFE.sub("_", key).strip("._")[:_MAX_STEM]
    return f"{readable}-{hashlib.sha1(key.encode()).hexdigest()[:10]}"


_FOLDERS: dict[type, str] = {EmailMessage: "email", SmsMessage: "sms", VoicemailMessage: "voicemail"}


def _render(message: Message, *, key: str, pid: str) -> tuple[str, str | None]:
    """(text file content, html file content or None)."""
    head = {"Key": key, "Provider-Id": pid, "To": message.to}
    html = None
    if isinstance(message, EmailMessage):
        head |= {"Subject": message.subject, **message.headers}
        body, html = message.text, message.html
    else:
        body = message.body if isinstance(message, SmsMessage) else message.script
    lines = [f"{name}: {value}" for name, value in head.items()]
    return "\n".join([*lines, "", body, ""]), html


def _write_atomically(path: Path, content: str, *, first: bool = False) -> bool:
    """Write to a temporary name beside ``path``, then rename: a reader never sees half a file.

    The temporary name is this process's and thread's own, so writers never share one. With ``first`` the file
    is linked into place only when no file has that name yet (atomic across processes, where a look before the
    write would race); when one has, it is replaced and False is returned.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(content.encode("utf-8"))
        if first:
            try:
                os.link(tmp, path)
            except FileExistsError:
                os.replace(tmp, path)
                return False
            tmp.unlink()
            return True
        os.replace(tmp, path)
        return True
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class LocalOutbox:
    """Records each message as delivered by writing it under ``folder``. Safe to share between threads: files
    are written under one lock (also the resend count and the folders made), pending writes listed under another.

    With ``write_behind`` the files are written by a background thread (creating thousands of small
    files is mostly waiting on the file system); :meth:`flush` waits for them and raises the first
    write error. The pipeline flushes each dispatch batch before it records the deliveries.
    """

    name = "local"

    def __init__(self, folder: Path, *, write_behind: bool = False) -> None:
        self.folder = Path(folder)
        self.resends: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="outbox-writer") if write_behind else None
        self._pending: list[Future[None]] = []
        self._pending_lock = threading.Lock()
        self._folders: set[Path] = set()  # folders known to exist

    def path_for(self, message: Message, key: str) -> Path:
        """Where the text file for ``key`` is (or would be) written."""
        folder = _FOLDERS.get(type(message))
        if folder is None:
            raise unsupported(self.name, message)
        return self.folder / folder / f"{safe_name(key)}.txt"

    def send(self, message: Message, *, key: str) -> SendResult:
        """Write (or queue) the message's files. A write that fails here is a ``TransientSendError`` (nothing
        was recorded, so writing again is safe); with ``write_behind`` it surfaces from :meth:`flush`."""
        try:
            return self._send(message, key)
        except SendError:
            raise
        except OSError as exc:
            raise TransientSendError(f"local outbox could not write {key}: {exc}") from exc
        except Exception as exc:
            raise PermanentSendError(f"local outbox failed for {key}: {exc!r}") from exc

    def _send(self, message: Message, key: str) -> SendResult:
        target = self.path_for(message, key)
        pid = provider_id(key)
        text, html = _render(message, key=key, pid=pid)
        if self._writer is None:
            self._store(key, target, text, html)
        else:
            future = self._writer.submit(self._store, key, target, text, html)
            with self._pending_lock:
                self._pending.append(future)
        return SendResult(provider=self.name, provider_id=pid)

    def flush(self) -> None:
        """Wait for the files of every message sent so far; raise the first write error."""
        with self._pending_lock:
            pending, self._pending = self._pending, []
        errors = [exc for f in pending if (exc := f.exception()) is not None]
        if errors:
            raise errors[0]

    def _store(self, key: str, target: Path, text: str, html: str | None) -> None:
        with self._lock:
            if target.parent not in self._folders:
                target.parent.mkdir(parents=True, exist_ok=True)
                self._folders.add(target.parent)
            if html is not None:
                _write_atomically(target.with_suffix(".html"), html)
            if not _write_atomically(target, text, first=True):
                self.resends[key] += 1
                log.warning("outbox: key %s sent again; replacing %s", key, target)
                # Kept for anyone checking afterwards, whichever process sent it again (appends of one short
                # line are atomic on a local file system).
                with open(self.folder / RESENDS_LOG, "a", encoding="utf-8") as f:
                    f.write(f"{key}\t{os.getpid()}\n")
