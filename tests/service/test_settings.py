"""Live means real keys: with the live channel every shipped placeholder is refused, in development mode too, in
one error that names each variable to set (service.settings)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from dripline.cli import app
from service.settings import Settings, get_settings
from tests.factories import LIVE_SETTINGS

EVERY_PROBLEM = [
    "DRIPLINE_SIGNING_KEY is the public development default, which anyone can forge unsubscribe links with: set a "
    "random value of at least 32 characters",
    "DRIPLINE_COMPANY_NMLS_ID is '000000', not an NMLS ID: set the company's",
    "DRIPLINE_COMPANY_ADDRESS is the shipped example: set the company's postal address",
    "DRIPLINE_SUPPORT_EMAIL is on an example domain: set the company's support address",
    "DRIPLINE_UNSUBSCRIBE_BASE_URL is on an example domain: set the company's unsubscribe endpoint",
    "DRIPLINE_TWILIO_ACCOUNT_SID is not set",
    "DRIPLINE_TWILIO_AUTH_TOKEN is not set",
    "DRIPLINE_TWILIO_FROM_NUMBER is not set",
    "DRIPLINE_SENDGRID_API_KEY is not set",
    "DRIPLINE_SENDGRID_FROM_EMAIL is not set",
]


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def refusal(**values: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        settings(**values)
    (error,) = caught.value.errors(include_url=False)
    return str(error["msg"]).removeprefix("Value error, ")


@pytest.mark.parametrize("environment", ["development", "production"])
def test_live_on_the_shipped_defaults_lists_every_problem_in_one_error(environment):
    message = refusal(environment=environment, channel="live")

    head, _, listed = message.partition(": ")
    assert head == "the live channel sends to real people, so it needs real settings (in development mode too)"
    assert listed.split("; ") == EVERY_PROBLEM


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"signing_key": "dev-only-signing-key"}, "DRIPLINE_SIGNING_KEY is the public development default"),
        ({"signing_key": "changeme"}, "DRIPLINE_SIGNING_KEY is the public development default"),
        ({"signing_key": "s3cr3t-but-short"}, "DRIPLINE_SIGNING_KEY is 16 characters: set a random value of at least"),
        ({"company_nmls_id": "000000"}, "DRIPLINE_COMPANY_NMLS_ID is '000000', not an NMLS ID"),
        ({"company_nmls_id": " "}, "DRIPLINE_COMPANY_NMLS_ID is '', not an NMLS ID"),
        ({"company_nmls_id": "NMLS-12"}, "DRIPLINE_COMPANY_NMLS_ID is 'NMLS-12', not an NMLS ID"),
        ({"company_address": "100 Example Street, Suite 1, Springfield, IL 62701"}, "DRIPLINE_COMPANY_ADDRESS is"),
        ({"company_address": "TODO"}, "DRIPLINE_COMPANY_ADDRESS is the shipped example"),
        ({"support_email": "support@example.com"}, "DRIPLINE_SUPPORT_EMAIL is on an example domain"),
        ({"unsubscribe_base_url": "https://mail.example.org/u"}, "DRIPLINE_UNSUBSCRIBE_BASE_URL is on an example"),
        ({"twilio_account_sid": ""}, "DRIPLINE_TWILIO_ACCOUNT_SID is not set"),
        ({"twilio_auth_token": " "}, "DRIPLINE_TWILIO_AUTH_TOKEN is not set"),
        ({"twilio_from_number": ""}, "DRIPLINE_TWILIO_FROM_NUMBER is not set"),
        ({"sendgrid_api_key": "changeme"}, "DRIPLINE_SENDGRID_API_KEY is a placeholder"),
        ({"sendgrid_from_email": ""}, "DRIPLINE_SENDGRID_FROM_EMAIL is not set"),
    ],
)
@pytest.mark.parametrize("environment", ["development", "production"])
def test_each_placeholder_is_refused_with_live_in_every_environment(environment, change, problem):
    message = refusal(**(LIVE_SETTINGS | change), environment=environment)

    assert message.count("DRIPLINE_") == 1 and problem in message


def test_real_settings_go_live_and_the_local_channel_keeps_the_demo_defaults():
    assert settings(**LIVE_SETTINGS).channel == "live"
    assert settings(**LIVE_SETTINGS, environment="production").environment == "production"
    assert settings().channel == "local"  # the demo and the tests run on the shipped values


def test_production_still_refuses_the_local_channel():
    assert refusal(environment="production") == "production needs DRIPLINE_CHANNEL=live"


def test_the_command_refuses_to_start_live_on_placeholders_in_one_line(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no .env file
    for name, value in (LIVE_SETTINGS | {"signing_key": "dev-only-signing-key", "company_nmls_id": "000000"}).items():
        monkeypatch.setenv(f"DRIPLINE_{name.upper()}", value)
    get_settings.cache_clear()

    result = CliRunner().invoke(app, ["--db", f"sqlite:///{tmp_path / 'd.db'}", "init"])

    get_settings.cache_clear()
    assert result.exit_code == 2, result.output
    (line,) = result.output.splitlines()
    assert line.startswith("settings: the live channel sends to real people")
    assert "DRIPLINE_SIGNING_KEY is the public development default" in line
    assert "DRIPLINE_COMPANY_NMLS_ID is '000000'" in line
    assert not (tmp_path / "d.db").exists()
