"""Where a lead lives, as far as the clock goes: state, zip and area code to an IANA time zone.

Pure lookups over static tables and the ``phonenumbers`` library's geocoder and
time-zone data, plus the normal forms of phone numbers and zips they key on.
Nothing here reads the clock or the network.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from phonenumbers import timezone as phone_tz
from phonenumbers.tzdata import TIMEZONE_DATA

DEFAULT_TIMEZONE = "America/New_York"

_ET, _CT, _MT, _PT = "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"

# fmt: off
# Two-letter code -> (name, zone most of the state's people live in).
STATES: dict[str, tuple[str, str]] = {
    "AL": ("Alabama", _CT), "AK": ("Alaska", "America/Anchorage"), "AZ": ("Arizona", "America/Phoenix"),
    "AR": ("Arkansas", _CT), "CA": ("California", _PT), "CO": ("Colorado", _MT), "CT": ("Connecticut", _ET),
    "DE": ("Delaware", _ET), "DC": ("District of Columbia", _ET), "FL": ("Florida", _ET),
    "GA": ("Georgia", _ET), "HI": ("Hawaii", "Pacific/Honolulu"), "ID": ("Idaho", "America/Boise"),
    "IL": ("Illinois", _CT), "IN": ("Indiana", "America/Indiana/Indianapolis"), "IA": ("Iowa", _CT),
    "KS": ("Kansas", _CT), "KY": ("Kentucky", _ET), "LA": ("Louisiana", _CT), "ME": ("Maine", _ET),
    "MD": ("Maryland", _ET), "MA": ("Massachusetts", _ET), "MI": ("Michigan", "America/Detroit"),
    "MN": ("Minnesota", _CT), "MS": ("Mississippi", _CT), "MO": ("Missouri", _CT), "MT": ("Montana", _MT),
    "NE": ("Nebraska", _CT), "NV": ("Nevada", _PT), "NH": ("New Hampshire", _ET), "NJ": ("New Jersey", _ET),
    "NM": ("New Mexico", _MT), "NY": ("New York", _ET), "NC": ("North Carolina", _ET),
    "ND": ("North Dakota", _CT), "OH": ("Ohio", _ET), "OK": ("Oklahoma", _CT), "OR": ("Oregon", _PT),
    "PA": ("Pennsylvania", _ET), "RI": ("Rhode Island", _ET), "SC": ("South Carolina", _ET),
    "SD": ("South Dakota", _CT), "TN": ("Tennessee", _CT), "TX": ("Texas", _CT), "UT": ("Utah", _MT),
    "VT": ("Vermont", _ET), "VA": ("Virginia", _ET), "WA": ("Washington", _PT), "WV": ("West Virginia", _ET),
    "WI": ("Wisconsin", _CT), "WY": ("Wyoming", _MT), "PR": ("Puerto Rico", "America/Puerto_Rico"),
    "VI": ("U.S. Virgin Islands", "America/St_Thomas"), "GU": ("Guam", "Pacific/Guam"),
    "AS": ("American Samoa", "Pacific/Pago_Pago"), "MP": ("Northern Mariana Islands", "Pacific/Saipan"),
}
_BY_NAME = {name.lower(): code for code, (name, _) in STATES.items()} | {
    "washington state": "WA", "washington d.c.": "DC", "washington dc": "DC", "us virgin islands": "VI",
}

# States whose people live in more than one zone.
SPLIT_STATES = frozenset({"AK", "FL", "ID", "IN", "KS", "KY", "MI", "ND", "NE", "OR", "SD", "TN", "TX"})

# Three-digit zip prefixes that sit outside their state's main zone.
ZIP3_TIMEZONES: dict[str, tuple[str, str]] = {
    "324": ("FL", _CT), "325": ("FL", _CT),  # Panama City, Pensacola
    "373": ("TN", _ET), "374": ("TN", _ET), "376": ("TN", _ET), "377": ("TN", _ET), "378": ("TN", _ET),
    "379": ("TN", _ET),  # Chattanooga, Johnson City, Knoxville
    "420": ("KY", _CT), "421": ("KY", _CT), "422": ("KY", _CT), "423": ("KY", _CT),
    "424": ("KY", _CT),  # Paducah, Bowling Green, Owensboro, Henderson
    "463": ("IN", _CT), "464": ("IN", _CT), "476": ("IN", _CT), "477": ("IN", _CT),  # Gary, Evansville
    "577": ("SD", _MT),  # Rapid City
    "586": ("ND", _MT),  # Dickinson
    "693": ("NE", _MT),  # Scottsbluff, Alliance
    "798": ("TX", _MT), "799": ("TX", _MT), "885": ("TX", _MT),  # El Paso
    "835": ("ID", _PT), "838": ("ID", _PT),  # Lewiston, Coeur d'Alene
    "979": ("OR", "America/Boise"),  # Ontario
}
# fmt: on
_PUNCTUATION = re.compile(r"[\s().\-]")
_ZIP = re.compile(r"(\d{3,5})(?:-(\d{4}))?")


def state_code(value: str | None) -> str | None:
    """A two-letter code for a state code or name (any case), or None when it is not a US state."""
    if not value:
        return None
    text = value.strip()
    if text.upper() in STATES:
        return text.upper()
    return _BY_NAME.get(" ".join(text.lower().split()))


def normalize_zip(text: str) -> str:
    """ZIP or ZIP+4 with leading zeros restored (spreadsheets drop them). Raises ``ValueError``."""
    match = _ZIP.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a ZIP or ZIP+4")
    five = match.group(1).zfill(5)
    return f"{five}-{match.group(2)}" if match.group(2) else five


def normalize_phone(phone: str, *, region: str = "US") -> str:
    """E.164 form of a valid number. Raises ``ValueError`` when it is not one."""
    plain = _PUNCTUATION.sub("", phone)  # a plain US number needs no full parse, only validation
    if plain[:1] == "+":
        plain = plain[2:] if plain[:2] == "+1" else ""
    elif len(plain) == 11 and plain[0] == "1":
        plain = plain[1:]
    try:
        if region == "US" and len(plain) == 10 and plain.isdigit():
            number = phonenumbers.PhoneNumber(country_code=1, national_number=int(plain))
        else:
            number = phonenumbers.parse(phone, region)
        if not phonenumbers.is_valid_number(number):
            raise ValueError
    except (phonenumbers.NumberParseException, ValueError):
        raise ValueError(f"{phone!r} is not a valid {region} phone number") from None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def zip_timezone(zip: str | None, *, state: str | None = None) -> str | None:
    """The zone of a zip code whose prefix is in a split state's minority zone, else None.

    With ``state`` given, a prefix that belongs to another state is ignored.
    """
    if not zip or len(zip) < 3:
        return None
    hit = ZIP3_TIMEZONES.get(zip[:3])
    if hit is None or (state is not None and hit[0] != state):
        return None
    return hit[1]


@dataclass(frozen=True, slots=True)
class PhoneArea:
    """What a number's prefix says about where it was issued."""

    state: str | None  # two-letter US code, None outside the US or when unknown
    timezones: tuple[str, ...]

    @property
    def timezone(self) -> str | None:
        """The zone when the prefix names exactly one."""
        return self.timezones[0] if len(self.timezones) == 1 else None


_E164_NANP = re.compile(r"\+1\d{10}")
# Area codes whose zone data goes down to the exchange; every other area code has one answer.
_EXCHANGE_LEVEL = frozenset(k[:4] for k in TIMEZONE_DATA if k.startswith("1") and len(k) > 4)
_NANP_LONGEST = max(len(k) for k in TIMEZONE_DATA if k.startswith("1"))
_NANP_ZONES: dict[str, tuple[str, ...]] = {}


def phone_area(phone: str | None) -> PhoneArea | None:
    """The state and zones of a phone number's prefix (any format, US default), or None if unusable."""
    if not phone:
        return None
    if _E164_NANP.fullmatch(phone):
        number = phonenumbers.PhoneNumber(country_code=1, national_number=int(phone[2:]))
    else:
        try:
            number = phonenumbers.parse(phone, "US")
        except phonenumbers.NumberParseException:
            return None
        if not phonenumbers.is_possible_number(number):
            return None
    if number.country_code != 1:
        return PhoneArea(state=None, timezones=_zones(number))
    digits = f"1{number.national_number}"
    npa = digits[:4]
    key = digits[:_NANP_LONGEST] if npa in _EXCHANGE_LEVEL else npa
    zones = _NANP_ZONES.get(key)
    if zones is None:
        zones = _zones(number)
        if zones:  # an unassigned number knows nothing; it must not answer for its neighbours
            _NANP_ZONES[key] = zones
    return PhoneArea(state=_area_code_state(int(npa[1:])), timezones=zones)


@lru_cache(maxsize=1024)
def _area_code_state(npa: int) -> str | None:
    """Area codes never cross a state line, so one number speaks for all: NPA-555-1234, never issued."""
    from phonenumbers import geocoder  # its data takes ~0.4 s to load: only when a number is looked up

    sample = phonenumbers.PhoneNumber(country_code=1, national_number=npa * 10_000_000 + 5_551_234)
    return _state_of(geocoder.description_for_valid_number(sample, "en"))


def _zones(number: phonenumbers.PhoneNumber) -> tuple[str, ...]:
    return tuple(z for z in phone_tz.time_zones_for_number(number) if z != phone_tz.UNKNOWN_TIMEZONE)


def _state_of(description: str) -> str | None:
    """The state in a geocoder description: "Florida" or "Miami, FL"."""
    place, _, code = description.rpartition(", ")
    if place and code in STATES:
        return code
    return state_code(description)


def phone_state(phone: str | None) -> str | None:
    """The US state a number's area code belongs to, or None."""
    area = phone_area(phone)
    return area.state if area else None


def lead_timezone(*, state: str | None, zip: str | None, phone: str | None) -> str:
    """The IANA zone of the lead's local calendar.

    Precedence, first that answers wins:

    1. the zip prefix, when it falls in a split state's minority zone (and in
       ``state``, if one is given);
    2. the phone's zone, when ``state`` is a split state, no zip is given, and
       the area code belongs to that same state and names a single zone;
    3. the main zone of ``state``;
    4. the phone's zone when the area code names a single zone (no usable state);
    5. :data:`DEFAULT_TIMEZONE` (America/New_York).

    The address wins over the area code because numbers move with people; the
    area code only refines a split state or stands in for a missing address.
    """
    code = state_code(state)
    by_zip = zip_timezone(zip, state=code)
    if by_zip:
        return by_zip
    area = phone_area(phone)
    if code is not None:
        if code in SPLIT_STATES and not zip and area is not None and area.state == code and area.timezone:
            return area.timezone
        return STATES[code][1]
    if area is not None and area.timezone:
        return area.timezone
    return DEFAULT_TIMEZONE
