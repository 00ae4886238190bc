"""How fast each channel may send: the providers' rate limits, from the settings.

The local channel (files in the outbox folder) has no limit. The live channel's limits come from the
settings (``sms_per_second`` per sending number, ``voice_per_second``, ``email_per_second``).
"""

from __future__ import annotations

from typing import Protocol


class Pace(Protocol):
    def acquire(self, channel: str) -> None:
        """Block until one more request on ``channel`` stays within its limit."""


class Unlimited:
    """No limit (the local channel, tests that count outcomes rather than time)."""

    def acquire(self, channel: str) -> None:
        return None
