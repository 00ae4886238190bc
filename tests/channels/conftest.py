"""The loopback Twilio and SendGrid (``bench.fake_providers``), with no proxy from the environment in between."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.fake_providers import FakeProviders


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProviders]:
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)  # urllib (SendGrid's SDK) would send loopback through them
    with FakeProviders() as f:
        yield f
