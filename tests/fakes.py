"""Recording fakes injected where the real collaborators go."""

from __future__ import annotations

from dataclasses import dataclass, field

from channels.messages import Message, SendResult, TransientSendError


@dataclass
class RecordingSender:
    """Accepts every message and remembers it; can be told to fail the next N sends."""

    name: str = "recording"
    sent: list[tuple[str, Message]] = field(default_factory=list)
    fail_next: int = 0

    def send(self, message: Message, *, key: str) -> SendResult:
        if self.fail_next:
            self.fail_next -= 1
            raise TransientSendError("provider busy (fake)")
        self.sent.append((key, message))
        return SendResult(provider="fake", provider_id=f"fake-{len(self.sent)}")

    def sent_keys(self) -> list[str]:
        return [k for k, _ in self.sent]
