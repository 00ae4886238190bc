"""The one settings class. Every value can come from the environment (prefix ``DRIPLINE_``) or a .env file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from channels.render import shipped_templates

PLACEHOLDERS = {"", "changeme", "change-me", "placeholder", "xxx", "todo", "secret"}
# The shipped values that let the demo and the local channel run: public, so none may reach a real recipient.
DEV_SIGNING_KEY = "dev-only-signing-key"
MIN_SIGNING_KEY_CHARS = 32
EXAMPLE_DOMAINS = ("example.com", "example.org", "example.net")
LIVE_KEYS = ("twilio_account_sid", "twilio_auth_token", "twilio_from_number", "sendgrid_api_key", "sendgrid_from_email")


def shipped(name: str) -> Path:
    """A data folder that ships with dripline (cadences, compliance, guidelines): beside the packages in a
    checkout, or inside this package in an installed wheel (pyproject maps it there)."""
    here = Path(__file__).resolve().parent
    installed = here / "_shipped" / name
    return installed if installed.is_dir() else here.parent / name


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DRIPLINE_", env_file=".env", extra="ignore")

    environment: Literal["development", "production"] = Field(
        "development", description="production refuses the local channel (the live one refuses placeholders anywhere)"
    )
    database_url: str = Field("sqlite:///./dripline.db", description="SQLAlchemy URL of dripline's own database")
    cadence_file: Path = Field(shipped("cadences") / "default.yaml", description="the cadence marketing ops edit")
    templates_dir: Path = Field(shipped_templates(), description="Jinja2 templates for email, SMS and calls")
    reengage_cadence_file: Path = Field(
        shipped("cadences") / "reengage.yaml",
        description="the sequence an aged lead gets when a lender's guidelines change in its favour",
    )
    referral_cadence_file: Path = Field(
        shipped("cadences") / "referral.yaml",
        description="the referral asks a borrower gets when the loan funds (email and a loan officer's call)",
    )
    documents_cadence_file: Path = Field(
        shipped("cadences") / "documents.yaml",
        description="the checklist and deadline reminders a borrower gets after the education call",
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
    task_handover_minutes: int = Field(
        60,
        ge=0,
        le=24 * 60,
        description="a cadence call task still unworked this many minutes before its window closes goes to the next "
        "eligible loan officer (or the unassigned queue), once; 0 turns this off",
    )
    dispatch_concurrency: int = Field(
        32, ge=1, le=512, description="provider requests in flight at once, per channel, in one dispatcher"
    )
    lease_seconds: int = Field(
        600, ge=10, description="how long a dispatcher's claim on a batch lasts before another may settle it"
    )
    alert_reminder_minutes: int = Field(
        30,
        ge=1,
        le=24 * 60,
        description="a priority call task (a reply, a hand-off, a re-engagement) still open this many minutes after "
        "its officer's alert went gets one reminder",
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
    twilio_api_base: str = Field(
        "", description="staging or tests only: send Twilio's API requests here instead (empty: Twilio itself)"
    )
    sendgrid_api_host: str = Field(
        "", description="staging or tests only: send SendGrid's API requests here instead (empty: SendGrid itself)"
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
        "https://example.com/unsubscribe",
        description="the unsubscribe page the links point at (?token= is appended); when not set, "
        "public_base_url + /unsubscribe",
    )

    signing_key: SecretStr = Field(
        SecretStr(DEV_SIGNING_KEY),
        description=f"signs unsubscribe links; live needs a random value of {MIN_SIGNING_KEY_CHARS}+ characters",
    )
    twilio_account_sid: str = Field("", description="Twilio account SID (live channel)")
    twilio_auth_token: SecretStr = Field(SecretStr(""), description="Twilio auth token (live channel)")
    twilio_from_number: str = Field("", description="E.164 number texts and voicemail drops come from")
    twilio_voicemail_twiml_url: str = Field(
        "", description="URL of your own TwiML for the breakup voicemail, when DRIPLINE_TWILIO_VOICE_URL is not set"
    )
    twilio_status_callback_url: str = Field(
        "", description="where Twilio reports each text's and call's fate (the touch key is added as ?touch=)"
    )
    twilio_voice_url: str = Field(
        "",
        description="where Twilio fetches the breakup voicemail's TwiML once answering-machine detection has decided "
        "(PUBLIC_BASE_URL/twilio/voice; the touch key is added): a machine gets the script after the beep, a person "
        "a short line and their officer a call task. Empty: the script plays after detection whoever answers",
    )
    twilio_next_auth_token: SecretStr = Field(
        SecretStr(""),
        description="during a rotation of the Twilio auth token, the new one: webhooks signed with either are "
        "accepted (empty: only DRIPLINE_TWILIO_AUTH_TOKEN)",
    )
    twilio_answers_keywords: bool = Field(
        True,
        description="Twilio answers STOP, START, HELP and its other keywords itself (its opt-out handling or Advanced "
        "Opt-Out): dripline records and honours them but does not answer them too. Off: dripline answers them",
    )
    twilio_unreachable_repeats: int = Field(
        3,
        ge=1,
        description="texts failing with 30003/30005 in a row (no delivery between) before a number is "
        "treated as one that cannot take texts, like a landline (30006)",
    )
    twilio_bridge_caller_id: str = Field(
        "",
        description="click-to-call: the company number (E.164, a number of the Twilio account or one verified with "
        "it) that rings the officer and that the borrower sees; empty: DRIPLINE_TWILIO_FROM_NUMBER. Click-to-call "
        "needs it (or that) with DRIPLINE_TWILIO_ACCOUNT_SID and DRIPLINE_TWILIO_AUTH_TOKEN, whatever the channel",
    )
    twilio_bridge_timeout_seconds: float = Field(
        10.0,
        ge=1,
        le=60,
        description="click-to-call: how long the officer's click waits for Twilio's API; past it the call is recorded "
        "as unknown (it may still ring) and the officer is told so",
    )
    twilio_bridge_ring_seconds: int = Field(
        25, ge=5, le=120, description="click-to-call: how long the borrower's phone rings before it is a no-answer"
    )
    sendgrid_api_key: SecretStr = Field(SecretStr(""), description="SendGrid API key (live channel)")
    sendgrid_from_email: str = Field("", description="verified sender address for email")
    sendgrid_reply_to: str = Field(
        "", description="Reply-To of every email: an address at the domain SendGrid Inbound Parse receives for"
    )
    sendgrid_webhook_public_key: str = Field(
        "", description="the Event Webhook's verification key (base64, from SendGrid); empty: every event is refused"
    )
    sendgrid_webhook_max_age_seconds: int = Field(
        300, ge=10, description="a signed Event Webhook request older (or further ahead) than this is refused"
    )
    sendgrid_inbound_secret: SecretStr = Field(
        SecretStr(""),
        description="the secret ?secret= of the Inbound Parse URL (SendGrid does not sign Inbound Parse); "
        "empty: the endpoint is off",
    )
    sendgrid_inbound_max_bytes: int = Field(
        30_000_000,
        ge=1024,
        description="the largest Inbound Parse post read (SendGrid's own limit is 30 MB with attachments): a reply "
        "that asks to stop must not be lost to the general body limit",
    )
    previous_signing_keys: SecretStr = Field(
        SecretStr(""),
        description="former DRIPLINE_SIGNING_KEY values, space-separated, whose unsubscribe links still work; keep "
        "each for months after a rotation: links in old emails must keep working",
    )
    unsubscribe_token_days: int = Field(
        90, ge=1, description="an unsubscribe link older than this asks for a confirmation click before it acts"
    )
    public_base_url: str = Field(
        "http://127.0.0.1:8000",
        description="the web app's address as Twilio and SendGrid reach it (signatures are checked against it)",
    )
    web_host: str = Field("127.0.0.1", description="where `dripline web` listens")
    web_port: int = Field(8000, ge=1, le=65535, description="the port `dripline web` listens on")
    web_workers: int = Field(1, ge=1, le=64, description="processes `dripline web` serves its port with")
    web_max_body_bytes: int = Field(
        1_000_000, ge=1024, description="the largest request body the web app reads (a larger one gets 413)"
    )
    web_rate_per_minute: int = Field(
        6000, ge=0, description="requests per minute from one client address before 429 (0: no limit)"
    )

    @model_validator(mode="after")
    def _refuse_placeholders(self) -> Settings:
        if self.environment == "production" and self.channel != "live":
            raise ValueError("production needs DRIPLINE_CHANNEL=live")
        if self.channel == "live" and (problems := live_problems(self)):
            raise ValueError(
                "the live channel sends to real people, so it needs real settings (in development mode too): "
                + "; ".join(problems)
            )
        return self


def live_problems(settings: Settings) -> list[str]:
    """Every setting that keeps ``settings`` from sending to real people, each naming the variable to set and why.

    Empty when none does. Checked whatever the environment: a development machine on the live channel reaches real
    phones and inboxes just the same.
    """
    problems = []
    key = settings.signing_key.get_secret_value()
    if key == DEV_SIGNING_KEY or key.strip().lower() in PLACEHOLDERS:
        problems.append("DRIPLINE_SIGNING_KEY is the public development default, which anyone can forge unsubscribe "
                        f"links with: set a random value of at least {MIN_SIGNING_KEY_CHARS} characters")  # fmt: skip
    elif len(key) < MIN_SIGNING_KEY_CHARS:
        problems.append(f"DRIPLINE_SIGNING_KEY is {len(key)} characters: set a random value of at least "
                        f"{MIN_SIGNING_KEY_CHARS}")  # fmt: skip
    if any(k in (DEV_SIGNING_KEY, *PLACEHOLDERS) for k in settings.previous_signing_keys.get_secret_value().split()):
        problems.append("DRIPLINE_PREVIOUS_SIGNING_KEYS holds the public development default or a placeholder, "
                        "which anyone can forge unsubscribe links with: remove it")  # fmt: skip
    nmls = settings.company_nmls_id.strip()
    if not nmls.isdigit() or not nmls.strip("0"):
        problems.append(f"DRIPLINE_COMPANY_NMLS_ID is {nmls!r}, not an NMLS ID: set the company's")
    address = settings.company_address.strip().lower()
    if address in PLACEHOLDERS or "example" in address:
        problems.append("DRIPLINE_COMPANY_ADDRESS is the shipped example: set the company's postal address")
    for name, what in (("support_email", "support address"), ("unsubscribe_base_url", "unsubscribe endpoint")):
        if _example_domain(getattr(settings, name)):
            problems.append(f"DRIPLINE_{name.upper()} is on an example domain: set the company's {what}")
    for name in LIVE_KEYS:
        value = getattr(settings, name)
        text = value if isinstance(value, str) else value.get_secret_value()
        if text.strip().lower() in PLACEHOLDERS:
            problems.append(f"DRIPLINE_{name.upper()} is {'not set' if not text.strip() else 'a placeholder'}")
    return problems


def _example_domain(value: str) -> bool:
    """True for an address or URL on a domain reserved for examples (RFC 2606), or for no value at all."""
    host = value.strip().lower().split("@")[-1].split("//")[-1].split("/")[0].split(":")[0]
    return not host or host in EXAMPLE_DOMAINS or host.endswith(tuple("." + d for d in (*EXAMPLE_DOMAINS, "example")))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
