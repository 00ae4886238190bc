"""A fake provider that keeps its ledger in a file shared by every process: what each dispatcher handed it
(the fault tests and the reliability benchmark, ``bench/faults.py``).

Each accepted message is one line appended with a single ``write`` on an ``O_APPEND`` descriptor (atomic
for lines this short), written before the send returns: a dispatcher killed after that line is one whose
message "may have been delivered". ``sent_between`` answers the reconciler from the same ledger, as
Twilio's message list would.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from channels.messages import EmailMessage, Message, SendResult, SmsMessage, VoicemailMessage


@dataclass(frozen=True, slots=True)
class Record:
    provider_id: str
    to: str
    status: str
    created_at: datetime
    body: str | None
    subject: str | None


class LedgerSender:
    name = "ledger"

    def __init__(self, path: Path, *, latency: float = 0.0) -> None:
        self.path = Path(path)
        self.latency = latency

    def send(self, message: Message, *, key: str) -> SendResult:
        if self.latency:
            time.sleep(self.latency)
        if isinstance(message, EmailMessage):
            kind, body, subject = "email", message.text, message.subject
        elif isinstance(message, SmsMessage):
            kind, body, subject = "sms", message.body, None
        else:
            assert isinstance(message, VoicemailMessage)
            kind, body, subject = "voicemail", message.script, None
        line = {"key": key, "kind": kind, "to": message.to, "body": body, "subject": subject, "pid": os.getpid()}
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (json.dumps(line) + "\n").encode())
        finally:
            os.close(fd)
        return SendResult(provider=self.name, provider_id=f"L-{key}")

    def sent_between(self, to: str, since: datetime, until: datetime, kind: str) -> list[Record]:
        return [
            Record(f"L-{r['key']}", r["to"], "delivered", since, r["body"], r["subject"])
            for r in entries(self.path)
            if r["to"] == to and r["kind"] == kind
        ]


def entries(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def duplicates(path: Path) -> dict[str, int]:
    """Touch keys the provider accepted more than once."""
    return {k: n for k, n in Counter(r["key"] for r in entries(path)).items() if n > 1}


def now_utc() -> datetime:
    return datetime.now(UTC)
