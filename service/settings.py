"""The one settings class. Every value can come from the environment (prefix ``DRIPLINE_``) or a .env file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from channels.render import shipped_templates

PLACEHOLDERS = {"", "changeme", "change-me", "placeholder", "xxx", "todo", "secret"}


def shipped(name: str) -> Path:
    """A data folder that ships with dripline (cadences, compliance, guidelines): beside the packages in a
    checkout, or inside this package in an installed wheel (pyproject maps it there)."""
    here = Path(__file__).resolve().parent
    installed = here / "_shipped" / name
    return installed if installed.is_dir() else here.parent / name


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DRIPLINE_", env_file=".env", extra="ignore")

    environment: Literal["development", "production"] = Field(
        "development", description="production refuses placeholder secrets and the local channel"
    )
    database_url: str = Field("sqlite:///./dripline.db", description="SQLAlchemy URL of dripline's own database")
    cadence_file: Path = Field(shipped("cadences") / "default.yaml", description="the cadence marketing ops edit")
    templates_dir: Path = Field(shipped_templates(), description="Jinja2 templates for email, SMS and calls")
    reengage_cadence_file: Path = Field(
        shipped("cadences") / "reengage.yaml",
        description="the sequence an aged lead gets when a lender's guidelines change in its favour",
    )
    compliance_file: Path = Field(
        shipped("compliance") / "us.yaml", description="the compliance rule table every contact is checked against"
    )
    texas_sms_registered: bool = Field(
        False, description="true when the sender is registered (or exempt) for marketing texts to Texas"
    )
    consent_sellers: list[str] = Field(
        default_factory=list,
        description="other names a consent record may give for us (a DBA, a former name), besides company_name",
    )
    outbox_dir: Path = Field(
        Path("./outbox"), description="where the local channel writes each message as a readable file"
    )
    channel: Literal["local", "live"] = Field(
        "local", description="local: record messages in the outbox folder; live: Twilio and SendGrid"
    )
    batch_size: int = Field(2000, ge=1, le=50_000, description="leads or touches per Prefect task batch")
    dispatch_concurrency: int = Field(
        32, ge=1, le=512, description="provider requests in flight at once, per channel, in one dispatcher"
    )
    lease_seconds: int = Field(
        600, ge=10, description="how long a dispatcher's claim on a batch lasts before another may settle it"
    )
    sms_per_second: float = Field(10.0, gt=0, description="texts per second per sending number (Twilio's limit)")
    voice_per_second: float = Field(1.0, gt=0, description="voicemail calls started per second (Twilio's CPS)")
    email_per_second: float = Field(100.0, gt=0, description="SendGrid mail/send requests per second")
    reconcile_after_seconds: int = Field(
        120, ge=0, description="how long after a send began its provider's records are asked about it"
    )
    reconcile_for_hours: int = Field(
        72, ge=1, description="after this, an unknown touch is left to a person (`dripline outbox settle`)"
    )

    company_name: str = Field("Dripline Demo Mortgage", description="legal name shown in messages")
    company_nmls_id: str = Field("000000", description="company NMLS ID required in solicitations")
    company_address: str = Field(
        "100 Example Street, Suite 1, Springfield, IL 62701",
        description="physical postal address printed in every email (CAN-SPAM)",
    )
    company_phone: str = Field("+18005550100", description="callback number in voicemails and texts")
    support_email: str = Field("support@example.com", description="where HELP replies point")
    unsubscribe_base_url: str = Field(
        "https://example.com/unsubscribe", description="one-click unsubscribe endpoint; the token is appended"
    )

    signing_key: SecretStr = Field(
        SecretStr("dev-only-signing-key"), description="signs unsubscribe links; set a long random value in production"
    )
    twilio_account_sid: str = Field("", description="Twilio account SID (live channel)")
    twilio_auth_token: SecretStr = Field(SecretStr(""), description="Twilio auth token (live channel)")
    twilio_from_number: str = Field("", description="E.164 number texts and voicemail drops come from")
    twilio_voicemail_twiml_url: str = Field("", description="URL of TwiML that plays the breakup voicemail")
    twilio_status_callback_url: str = Field(
        "", description="where Twilio reports each text's and call's fate (the touch key is added as ?touch=)"
    )
    sendgrid_api_key: SecretStr = Field(SecretStr(""), description="SendGrid API key (live channel)")
    sendgrid_from_email: str = Field("", description="verified sender address for email")

    @model_validator(mode="after")
    def _refuse_placeholders(self) -> Settings:
        if self.environment == "production":
            if self.channel != "live":
                raise ValueError("production needs DRIPLINE_CHANNEL=live")
            if self.signing_key.get_secret_value() == "dev-only-signing-key":
                raise ValueError("DRIPLINE_SIGNING_KEY is the development default")
            for name in ("twilio_auth_token", "sendgrid_api_key"):
                if getattr(self, name).get_secret_value().strip().lower() in PLACEHOLDERS:
                    raise ValueError(f"DRIPLINE_{name.upper()} is empty or a placeholder")
            if self.company_nmls_id == "000000" or "example" in self.company_address.lower():
                raise ValueError("set the real company NMLS ID and postal address before going live")
        if self.channel == "live":
            missing = [
                n for n in ("twilio_account_sid", "twilio_from_number", "sendgrid_from_email") if not getattr(self, n)
            ]
            if missing:
                raise ValueError("the live channel needs " + ", ".join(f"DRIPLINE_{m.upper()}" for m in missing))
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
