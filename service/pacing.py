"""How fast each channel may send: the providers' rate limits, from the settings.

The local channel (files in the outbox folder) has no limit. The live channel's limits come from the
settings (``sms_per_second`` per sending number, ``voice_per_second``, ``email_per_second``) and are kept
by ``channels.ratelimit.RateLimitedSender``, whose ``acquire`` dispatch calls before each send begins.
"""

from __future__ import annotations

from typing import Protocol

from channels.messages import Message


class Pace(Protocol):
    def acquire(self, message: Message) -> None:
        """Block until sending ``message`` now stays within its channel's limit."""


class Unlimited:
    """No limit (the local channel, tests that count outcomes rather than time)."""

    def acquire(self, message: Message) -> None:
        return None
