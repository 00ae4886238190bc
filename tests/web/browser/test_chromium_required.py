"""Without Chromium the browser tests fail under CI and are skipped elsewhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.web.browser.conftest import require_chromium


def test_a_missing_chromium_fails_under_ci_and_skips_elsewhere(tmp_path: Path) -> None:
    missing = tmp_path / "chromium"
    with pytest.raises(pytest.fail.Exception, match="chromium is missing"):
        require_chromium(missing, ci=True)
    with pytest.raises(pytest.skip.Exception, match="chromium is missing"):
        require_chromium(missing, ci=False)
    present = tmp_path / "present"
    present.touch()
    require_chromium(present, ci=True)
