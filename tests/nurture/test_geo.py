"""A lead's time zone from address and area code, and the normal forms they key on."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nurture.geo import (
    DEFAULT_TIMEZONE,
    STATES,
    lead_timezone,
    normalize_phone,
    normalize_zip,
    phone_area,
    phone_state,
    state_code,
)


@pytest.mark.parametrize(
    ("state", "zip", "phone", "zone"),
    [
        (None, None, "(305) 456-7890", "America/New_York"),  # Miami area code alone
        ("AZ", "85001", None, "America/Phoenix"),  # no daylight saving time
        ("Arizona", None, "+12124567890", "America/Phoenix"),  # the address beats a New York number
        ("CA", None, "212-456-7890", "America/Los_Angeles"),
        ("TX", "79901", None, "America/Denver"),  # El Paso
        ("TX", "75201", None, "America/Chicago"),  # Dallas
        ("TX", None, "915-456-7890", "America/Denver"),  # split state, its own area code refines it
        ("TX", "75201", "915-456-7890", "America/Chicago"),  # the zip is the better address
        ("FL", "32501", None, "America/Chicago"),  # Pensacola
        ("FL", "32501", "305-456-7890", "America/Chicago"),
        ("TN", "37902", None, "America/New_York"),  # Knoxville
        ("TN", None, None, "America/Chicago"),
        ("IN", "47708", None, "America/Chicago"),  # Evansville
        ("IN", "46204", None, "America/Indiana/Indianapolis"),
        ("ID", "83814", None, "America/Los_Angeles"),  # Coeur d'Alene
        ("OR", "97914", None, "America/Boise"),
        ("NE", None, "308-632-1234", "America/Denver"),  # Scottsbluff exchange
        ("GA", "32501", None, "America/New_York"),  # a Florida zip does not move Georgia
        ("HI", None, None, "Pacific/Honolulu"),
        ("ak", None, None, "America/Anchorage"),
        (None, None, "808-456-7890", "Pacific/Honolulu"),
        (None, "79901", None, "America/Denver"),  # a split-zone zip needs no state
        ("ZZ", None, "602-456-1234", "America/Phoenix"),  # an unknown state falls through to the phone
        (None, None, "+44 20 7946 0958", "Europe/London"),
        (None, None, "800-456-7890", DEFAULT_TIMEZONE),  # toll-free: no single zone
        (None, None, "not a phone", DEFAULT_TIMEZONE),
        (None, None, None, "America/New_York"),
    ],
)
def test_lead_timezone(state, zip, phone, zone):
    assert lead_timezone(state=state, zip=zip, phone=phone) == zone


@given(
    state=st.none() | st.sampled_from(sorted(STATES)) | st.text(max_size=20),
    zip=st.none() | st.from_regex(r"\d{5}", fullmatch=True) | st.text(max_size=12),
    phone=st.none() | st.from_regex(r"\+1[2-9]\d{2}[2-9]\d{6}", fullmatch=True) | st.text(max_size=20),
)
def test_lead_timezone_always_names_a_real_zone(state, zip, phone):
    ZoneInfo(lead_timezone(state=state, zip=zip, phone=phone))


def test_every_state_zone_is_a_real_zone():
    for code, (_, zone) in STATES.items():
        assert ZoneInfo(zone), code


@pytest.mark.parametrize(
    ("phone", "state"),
    [
        ("305-456-7890", "FL"),
        ("+18504561234", "FL"),
        ("405-456-1234", "OK"),
        ("410-456-1234", "MD"),
        ("206-456-1234", "WA"),
        ("202-456-1234", "DC"),
        ("416-456-1234", None),  # Toronto
        ("800-456-7890", None),
        ("", None),
    ],
)
def test_phone_state_is_the_area_code_state(phone, state):
    assert phone_state(phone) == state


def test_an_area_code_split_across_zones_answers_by_exchange():
    assert phone_area("+16052091234").timezones == ("America/Denver",)  # Rapid City side of 605
    assert phone_area("+16052011234").timezones == ("America/Chicago",)
    assert phone_area("+18004567890").timezone is None


@pytest.mark.parametrize(
    ("text", "e164"),
    [
        ("(305) 456-7890", "+13054567890"),
        ("305.456.7890", "+13054567890"),
        ("1-305-456-7890", "+13054567890"),
        ("+1 305 456 7890", "+13054567890"),
        ("305-456-7890 x12", "+13054567890"),
        ("+44 20 7946 0958", "+442079460958"),
    ],
)
def test_normalize_phone(text, e164):
    assert normalize_phone(text) == e164


@pytest.mark.parametrize("text", ["555-0100", "(011) 278-4037", "12345", "", "call me", "+1 305 456 789"])
def test_normalize_phone_refuses_what_is_not_a_valid_number(text):
    with pytest.raises(ValueError, match="is not a valid US phone number"):
        normalize_phone(text)


def test_normalize_zip_and_state_code():
    zips = ("33101", "2139", "02139-1234", " 501 ")
    assert [normalize_zip(z) for z in zips] == ["33101", "02139", "02139-1234", "00501"]
    with pytest.raises(ValueError, match="not a ZIP"):
        normalize_zip("331O1")
    states = ("fl", " Florida ", "new  york", "Washington State", "Ontario", None)
    assert [state_code(s) for s in states] == ["FL", "FL", "NY", "WA", None, None]
