from datetime import time, timedelta
from pathlib import Path

import pytest

from nurture.actions import Channel
from nurture.cadence import CadenceError, load_cadence, parse_duration

DEFAULT = Path(__file__).resolve().parents[2] / "cadences" / "default.yaml"


def test_default_cadence_loads():
    c = load_cadence(DEFAULT.read_text())
    assert (c.name, c.version) == ("aged-nonqm", 1)
    channels = [s.channel for s in c.steps]
    assert channels.count(Channel.CALL) == 3 and channels.count(Channel.SMS) == 2
    assert c.steps[c.contact_phase_end].id == "d6-voicemail"
    evening = c.steps[c.index_of("d2-call")]
    assert (evening.window.start, evening.window.end) == (time(17), time(20))
    assert c.steps[-1].repeats and c.steps[-1].every_days == 30


def _body(steps: str, header: str = "name: t\nversion: 1\n") -> str:
    return header + "steps:\n" + steps


GOOD_STEP = "  - {id: a, day: 0, channel: sms, template: intro, window: ['09:00', '20:00']}\n"


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ("  - {id: a, day: 0, channel: fax, template: x, window: ['09:00', '20:00']}\n", "channel: 'fax'"),
        (
            GOOD_STEP + "  - {id: b, after: zz, channel: sms, template: x, window: ['09:00', '20:00']}\n",
            "after: 'zz' is not an earlier step",
        ),
        ("  - {id: a, day: 0, channel: sms, template: x, window: ['20:00', '09:00']}\n", "must come before"),
        (
            GOOD_STEP + "  - {id: b, day: 0, at: '08:00', channel: sms, template: x, window: ['07:00', '20:00']}\n",
            "order they fall due",
        ),
        (GOOD_STEP + GOOD_STEP, "used twice"),
        (
            "  - {id: a, day: 0, channel: sms, template: x, window: ['09:00', '20:00'], colour: red}\n",
            "steps[0] (a): colour: unknown field",
        ),
        (
            "  - {id: a, day: 0, after: a, channel: sms, template: x, window: ['09:00', '20:00']}\n",
            "exactly one of 'day' or 'after'",
        ),
        ("  - {id: a, day: 0, channel: sms, window: ['09:00', '20:00']}\n", "template"),
        ("  - {id: a, day: 0, channel: sms, template: x, window: ['09:00', '20:00'], every_days: 0}\n", "every_days"),
    ],
)
def test_mistakes_fail_at_load_naming_step_and_field(steps, message):
    with pytest.raises(CadenceError) as err:
        load_cadence(_body(steps), source="c.yaml")
    assert message in str(err.value)
    assert "c.yaml: steps[" in str(err.value)


def test_missing_version_is_reported():
    with pytest.raises(CadenceError, match="missing 'version'"):
        load_cadence("name: t\nsteps: []\n")


def test_durations():
    assert parse_duration("2h") == timedelta(hours=2)
    assert parse_duration("90m") == timedelta(minutes=90)
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("2 hours")


def test_every_mistake_of_a_file_is_listed_one_per_line():
    steps = (
        "  - {id: a, day: -1, channel: fax, template: x, window: ['09:00', '20:00']}\n"
        "  - {id: b, after: a, at: '10:00', channel: sms, template: x, window: ['09:00', '20:00']}\n"
    )
    with pytest.raises(CadenceError) as err:
        load_cadence(_body(steps, header="name: t\nversion: 0\nstale_after: 2 hours\n"), source="c.yaml")
    assert str(err.value).splitlines() == [
        "c.yaml: version: 0: Input should be greater than or equal to 1",
        "c.yaml: stale_after: '2 hours' is not a duration like 30m, 2h or 1d",
        "c.yaml: steps[0] (a): channel: 'fax' is not one of 'call', 'sms', 'email' or 'voicemail'",
        "c.yaml: steps[0] (a): day: -1: Input should be greater than or equal to 0",
        "c.yaml: steps[1] (b): at: only applies with 'day'; a step placed 'after' another takes a 'delay'",
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("- a\n", "c.yaml: expected a mapping with name, version and steps"),
        ("name: t\nversion: 1\nstepz: []\n", "c.yaml: stepz: unknown field (did you mean steps?)"),
        (_body("  - 7\n"), "c.yaml: steps[0]: expected a mapping"),
        (_body(GOOD_STEP.replace("day: 0", "day: 0, delay: 1h")), "c.yaml: steps[0] (a): delay: only applies with"),
        (_body(GOOD_STEP.replace("template: intro", "templates: [a, b]")), "only apply with every_days"),
        (_body(GOOD_STEP.replace("window: ['09:00', '20:00']", "window: ['09:00']")), "window: expected [start, end]"),
        (
            _body(GOOD_STEP + "  - {id: b, day: 1, channel: sms, template: x, window: ['25:00', '26:00']}\n"),
            "c.yaml: steps[1] (b): window: '25:00' is not a time like 09:30",
        ),
        (_body(GOOD_STEP, header="name: t\nversion: 1\ncontact_phase_ends_after: zz\n"), "unknown step 'zz'"),
    ],
)
def test_file_level_and_step_level_mistakes_are_named(body, message):
    with pytest.raises(CadenceError) as err:
        load_cadence(body, source="c.yaml")
    assert message in str(err.value)
