"""The three errors a sender may raise, Retry-After parsing and the status table (channels/base.py)."""

from __future__ import annotations

import email.utils
import pickle
import time

import pytest

from channels.base import MAX_RETRY_AFTER, OptedOutError, http_refusal, retry_after_seconds
from channels.messages import OutcomeUnknownError, PermanentSendError, SendError, TransientSendError


def test_outcome_unknown_is_its_own_kind_of_send_error() -> None:
    assert issubclass(OutcomeUnknownError, SendError)
    assert not issubclass(OutcomeUnknownError, PermanentSendError | TransientSendError)
    assert issubclass(OptedOutError, PermanentSendError)
    assert {PermanentSendError, TransientSendError, OutcomeUnknownError} <= set(SendError.__subclasses__())


def test_a_transient_error_keeps_its_retry_after_through_pickling() -> None:
    error = pickle.loads(pickle.dumps(TransientSendError("busy", retry_after=2.5)))
    assert (str(error), error.retry_after) == ("busy", 2.5)
    assert TransientSendError("busy").retry_after is None


NOW = time.time()
DATE = email.utils.formatdate(NOW, usegmt=True)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "120"}, 120.0),
        ({"retry-after": " 3 "}, 3.0),
        ({"Retry-After": "1.5"}, 1.5),
        ({"Retry-After": "-4"}, 0.0),
        ({"Retry-After": "99999999"}, MAX_RETRY_AFTER),
        ({"Retry-After": email.utils.formatdate(NOW + 90, usegmt=True), "Date": DATE}, 90.0),
        ({"Retry-After": email.utils.formatdate(NOW - 90, usegmt=True), "Date": DATE}, 0.0),
        ({"X-RateLimit-Reset": str(int(NOW) + 30), "Date": email.utils.formatdate(int(NOW), usegmt=True)}, 30.0),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "nan"}, None),
        ({"Retry-After": ""}, None),
        ({}, None),
        (None, None),
    ],
)
def test_retry_after_seconds(headers: dict[str, str] | None, seconds: float | None) -> None:
    got = retry_after_seconds(headers)
    if seconds is None:
        assert got is None
    else:
        assert got == pytest.approx(seconds, abs=1.0)


def test_an_http_date_without_a_date_header_is_measured_from_our_clock() -> None:
    got = retry_after_seconds({"Retry-After": email.utils.formatdate(time.time() + 60, usegmt=True)})
    assert got is not None and 55 <= got <= 61


@pytest.mark.parametrize(
    ("status", "code", "not_accepted", "kind"),
    [
        (429, None, (429,), TransientSendError),
        (503, None, (429,), OutcomeUnknownError),
        (503, None, (429, 503), TransientSendError),
        (500, 20500, (429,), OutcomeUnknownError),
        (504, None, (429, 503), OutcomeUnknownError),
        (400, 21610, (429,), OptedOutError),
        (400, 21211, (429,), PermanentSendError),
        (404, None, (429,), PermanentSendError),
        (302, None, (429,), PermanentSendError),
    ],
)
def test_http_refusal(status: int, code: int | None, not_accepted: tuple[int, ...], kind: type) -> None:
    error = http_refusal("p", status, "detail", code=code, headers={"Retry-After": "4"}, not_accepted=not_accepted)
    assert type(error) is kind
    assert getattr(error, "retry_after", 4.0) == 4.0
