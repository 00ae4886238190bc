"""Template checks the service runs before anything is sent: the compliance lint with our brand, every
cadence template present as a file, and the settings every solicitation depends on."""

from __future__ import annotations

from collections.abc import Iterable

from channels.lint import Finding, lint_templates
from channels.render import template_names
from nurture.cadence import Cadence
from service.senders import brand
from service.settings import Settings


def lint(settings: Settings, cadence: Cadence) -> list[Finding]:
    """Every template in the configured folder, for every product, against every compliance rule."""
    return lint_templates(
        templates_dir=settings.templates_dir,
        cadence=cadence,
        brand=brand(settings),
        unsubscribe_base_url=settings.unsubscribe_base_url,
    )


def missing_templates(settings: Settings, *cadences: Cadence) -> list[str]:
    """``channel/name`` of every template a cadence step names that has no file in the templates folder."""
    names = template_names(settings.templates_dir)
    wanted = {(channel.value, t) for cadence in cadences for channel, t in cadence.templates}
    return sorted(f"{channel}/{t}" for channel, t in wanted if t not in names.get(channel, ()))


def missing_compliance_settings(settings: Settings, officers: Iterable[tuple[str, str | None]]) -> list[str]:
    """What a solicitation needs that is not set, one sentence each; empty when nothing is missing.

    ``officers`` are the active loan officers as (name, NMLS ID). Every email shows the
    company's postal address, the company's NMLS ID and the officer's; texts name the company.
    """
    problems = [
        f"the {what} is empty: set {variable}"
        for value, what, variable in (
            (settings.company_name, "company name", "DRIPLINE_COMPANY_NAME"),
            (settings.company_address, "company postal address", "DRIPLINE_COMPANY_ADDRESS"),
            (settings.company_nmls_id, "company NMLS ID", "DRIPLINE_COMPANY_NMLS_ID"),
        )
        if not value.strip()
    ]
    problems.extend(
        f"loan officer {name.strip() or '(no name)'} has no NMLS ID"
        for name, nmls_id in officers
        if not (nmls_id or "").strip()
    )
    return problems
