"""Alerts for loan officers: plan them, then send them through the channels borrowers' messages go through.

``run_alerts`` is the one implementation the dispatch flow and ``dripline alerts run`` call. It settles the
leases of dead senders, plans what fell due (``storage.alert_plans``), then claims the due alerts under a
lease and sends each: its send is stamped begun (and its sign-in link made) right before the provider request,
and the answer is mapped to sent, failed, a retry or unknown by the same table dispatch uses
(``service.dispatch.send_once``). Nothing here reads the clock: ``now`` comes from the caller.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from channels.base import flush
from channels.messages import EmailMessage, Message, SmsMessage
from nurture.actions import Channel, TouchStatus
from nurture.alerts import email_html
from service.dispatch import DispatchStats, dispatch, send_once, worker_id
from service.pipeline import Pipeline
from service.steps import Runner, inline
from storage.alert_plans import PlanStats, plan_alerts
from storage.alerts import AlertResult, Began, ClaimedAlert, begin_alert_send, claim_alerts, expire_alert_leases
from storage.alerts import record_alert_results as record


@dataclass
class AlertStats:
    planned: int = 0  # alerts of single priority tasks
    digests: int = 0
    reminders: int = 0
    notices: int = 0  # managers' notices of unassigned work
    skipped: int = 0  # the officer cannot be reached on the channel, or nothing was left to say
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    retried: int = 0
    unknown: int = 0
    lost: int = 0  # claimed, then the lease ran out before the send began
    deferred: int = 0  # due inside the officer's quiet hours: moved to their end
    expired: int = 0  # leases of dead senders settled at the start of the run

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def message_for(alert: ClaimedAlert, began: Began) -> Message:
    if alert.channel == Channel.SMS.value:
        return SmsMessage(to=alert.to_address, body=began.text)
    return EmailMessage(
        to=alert.to_address, subject=began.subject or "", text=began.text, html=email_html(began.text, began.link)
    )


def send_alerts(p: Pipeline, *, now: datetime, worker: str, batch_size: int) -> AlertStats:
    """Claim one batch of due alerts and send them. Each answer is recorded with the batch's."""
    claim = claim_alerts(
        p.engine, now=now, limit=batch_size, worker=worker, lease=timedelta(seconds=p.settings.lease_seconds)
    )
    stats = AlertStats(claimed=len(claim.alerts), deferred=claim.deferred, skipped=claim.skipped)
    results: list[AlertResult] = []
    try:
        for alert in claim.alerts:
            began = begin_alert_send(
                p.engine,
                alert=alert,
                worker=worker,
                now=now,
                base_url=p.settings.public_base_url,
                brand=p.settings.company_name,
            )
            if isinstance(began, str):
                if began.startswith("skipped"):
                    stats.skipped += 1
                else:
                    stats.lost += 1
                continue
            message = message_for(alert, began)
            p.pace.acquire(message)
            o = send_once(p.sender, message, key=alert.key, attempts=alert.attempts, now=now)
            results.append(AlertResult(alert.id, o.status, o.reason, o.provider_id, o.retry_at))
            _count(stats, o.status)
    finally:
        flush(p.sender)  # a channel that writes behind: stored before it is recorded as sent
        record(p.engine, results=results, now=now, worker=worker)
    return stats


def _count(stats: AlertStats, status: TouchStatus) -> None:
    if status is TouchStatus.SENT:
        stats.sent += 1
    elif status is TouchStatus.FAILED:
        stats.failed += 1
    elif status is TouchStatus.UNKNOWN:
        stats.unknown += 1
    else:
        stats.retried += 1


def run_alerts(
    p: Pipeline, *, now: datetime, batch_size: int | None = None, worker: str | None = None, run: Runner = inline
) -> AlertStats:
    """Plan every officer alert due at ``now`` and send those whose time has come, each exactly once.

    Planning is safe to run again (every alert has its unique key); a send batch is never retried (it may have
    sent alerts): what it leaves is settled by the leases at the next run."""
    size = batch_size or p.settings.batch_size
    worker = worker or worker_id()
    stats = AlertStats()
    again, unknown = run("expire-alert-leases", expire_alert_leases, p.engine, now=now, retry=True)
    stats.expired = again + unknown
    reminder_after = timedelta(minutes=p.settings.alert_reminder_minutes)
    plan: PlanStats = run(
        "plan-alerts", plan_alerts, p.engine, now=now, reminder_after=reminder_after, limit=size, retry=True
    )
    stats.planned, stats.digests, stats.reminders = plan.due, plan.digests, plan.reminders
    stats.notices, stats.skipped = plan.notices, plan.skipped
    while True:
        batch = run("send-alerts", send_alerts, p, now=now, worker=worker, batch_size=size)
        for name in ("claimed", "sent", "failed", "retried", "unknown", "lost", "deferred", "skipped"):
            setattr(stats, name, getattr(stats, name) + getattr(batch, name))
        if batch.claimed + batch.deferred + batch.skipped < size:
            return stats


@dataclass
class Dispatched:
    """What a dispatch run did: the borrowers' messages, then the officers' alerts."""

    messages: DispatchStats
    alerts: AlertStats

    def as_dict(self) -> dict[str, object]:
        return {**self.messages.as_dict(), "alerts": self.alerts.as_dict()}


def dispatch_and_alert(
    p: Pipeline, *, now: datetime, batch_size: int | None = None, run: Runner = inline
) -> Dispatched:
    """Every dispatch run, in the flow and in ``dripline dispatch`` alike: send the borrowers' messages due at
    ``now``, then the officers' alerts (a reply that came in meanwhile is alerted in the same run)."""
    messages = dispatch(p, now=now, batch_size=batch_size, run=run)
    return Dispatched(messages, run_alerts(p, now=now, batch_size=batch_size, run=run))
