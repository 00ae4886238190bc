"""The choice of channel and the brand messages carry, from the settings (channels never read settings)."""

from __future__ import annotations

from pathlib import Path

from channels.base import RoutingSender, Sender
from channels.messages import Message, PermanentSendError, SendResult
from channels.render import Brand
from service.pacing import Pace, Unlimited
from service.settings import LIVE_KEYS, Settings

LIVE_REQUIRED = LIVE_KEYS


class ChannelConfigError(ValueError):
    """The chosen channel lacks settings it needs."""


def brand(settings: Settings) -> Brand:
    """Who every message says it is from, and the facts the law wants in it."""
    return Brand(
        company_name=settings.company_name,
        company_nmls_id=settings.company_nmls_id,
        company_address=settings.company_address,
        company_phone=settings.company_phone,
        support_email=settings.support_email,
    )


def _secret_or_str(settings: Settings, name: str) -> str:
    value = getattr(settings, name)
    return value if isinstance(value, str) else value.get_secret_value()


def make_sender(settings: Settings, *, outbox_dir: Path | None = None) -> Sender:
    """The sender ``settings.channel`` selects; ``outbox_dir`` overrides ``settings.outbox_dir``."""
    if settings.channel == "local":
        from channels.local import LocalOutbox

        return LocalOutbox(outbox_dir or settings.outbox_dir, write_behind=True)

    values = {name: _secret_or_str(settings, name).strip() for name in LIVE_REQUIRED}
    missing = [f"DRIPLINE_{name.upper()}" for name, value in values.items() if not value]
    if missing:
        raise ChannelConfigError("the live channel needs " + ", ".join(missing))

    from channels.sendgrid_channel import DEFAULT_HOST, SendGridSender
    from channels.twilio_channel import RedirectedHttpClient, TwilioSender

    base = settings.twilio_api_base.strip()
    twilio = TwilioSender(
        account_sid=values["twilio_account_sid"],
        auth_token=values["twilio_auth_token"],
        from_number=values["twilio_from_number"],
        voicemail_twiml_url=settings.twilio_voicemail_twiml_url,
        status_callback_url=settings.twilio_status_callback_url,
        http_client_factory=(lambda: RedirectedHttpClient(base)) if base else None,
        voice_url=settings.twilio_voice_url,
    )
    sendgrid = SendGridSender(
        api_key=values["sendgrid_api_key"],
        from_email=values["sendgrid_from_email"],
        from_name=settings.company_name,
        reply_to=settings.sendgrid_reply_to.strip() or None,
        host=settings.sendgrid_api_host.strip() or DEFAULT_HOST,
    )
    return RoutingSender(sms=twilio, voicemail=twilio, email=sendgrid)


def make_pace(settings: Settings) -> Pace:
    """The rate limits the chosen channel's providers set (none for the local channel). The limiter only
    paces: dispatch waits on it, then sends through the sender itself."""
    if settings.channel == "local":
        return Unlimited()
    from channels.ratelimit import RateLimitedSender

    return RateLimitedSender(
        _NoSend(),
        sms_per_second=settings.sms_per_second,
        voice_per_second=settings.voice_per_second,
        email_per_second=settings.email_per_second,
    )


class _NoSend:
    """Nothing to send through: the pace's limiter is only ever asked to wait."""

    name = "pace"

    def send(self, message: Message, *, key: str) -> SendResult:
        raise PermanentSendError("the pace does not send")
