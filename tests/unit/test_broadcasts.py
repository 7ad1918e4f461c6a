"""Broadcast rules as pure functions: the audience, the template check, the estimate, the
lifecycle, message ids and the progress/report arithmetic."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from chalicelib.adapters.config_file import load_municipality_file
from chalicelib.domain.bot.config_loader import ConfigError, load_definition
from chalicelib.domain.bot.definition import BroadcastPolicy
from chalicelib.domain.broadcasts import (
    Broadcast,
    BroadcastRuleError,
    BroadcastStateError,
    BroadcastStatus,
    MessageState,
    Progress,
    Segment,
    broadcast_message_id,
    broadcast_template,
    budget_hours,
    budget_used,
    days_needed,
    estimate,
    grant,
    in_audience,
    progress,
    report,
    send_language,
    tally,
    total_segments,
)
from chalicelib.domain.messages import DeliveryStatus as S
from chalicelib.domain.residents import ConsentState
from chalicelib.settings import BUNDLED_CONFIG
from tests.broadcast_support import resident

TOWN = load_municipality_file(BUNDLED_CONFIG)
NOW = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)
WASTE = Segment(topic="waste")


# --- the audience ---------------------------------------------------------------------------


def test_the_audience_is_consented_subscribed_not_stopped_and_reachable_by_phone() -> None:
    assert in_audience(resident("351910000001"), WASTE, "pt")
    assert not in_audience(resident("351910000002", subscribed=False), WASTE, "pt")
    assert not in_audience(resident("351910000003", unsubscribed=True), WASTE, "pt")
    assert not in_audience(resident("351910000004", opted_out=True), WASTE, "pt")
    assert not in_audience(resident("351910000005", consent=ConsentState.DECLINED), WASTE, "pt")
    assert not in_audience(resident("351910000006", wa_id=None), WASTE, "pt")
    assert not in_audience(resident("351910000007", topic="roadworks"), WASTE, "pt")


def test_segment_filters_language_tags_and_custom_fields_all_must_match() -> None:
    centro = resident(
        "351910000010",
        language=None,
        tags=("senior", "volunteer"),
        custom_fields={"neighbourhood": "Centro"},
    )
    assert in_audience(centro, dataclasses.replace(WASTE, languages=("pt",)), "pt")  # default
    assert not in_audience(centro, dataclasses.replace(WASTE, languages=("en",)), "pt")
    assert in_audience(centro, dataclasses.replace(WASTE, tags=("senior",)), "pt")
    assert not in_audience(centro, dataclasses.replace(WASTE, tags=("senior", "other")), "pt")
    fields = {"neighbourhood": "Centro"}
    assert in_audience(centro, dataclasses.replace(WASTE, custom_fields=fields), "pt")
    other = {"neighbourhood": "Ribeira"}
    assert not in_audience(centro, dataclasses.replace(WASTE, custom_fields=other), "pt")


def test_a_message_goes_out_in_the_residents_language_when_the_template_has_it() -> None:
    festival = TOWN.templates["summer_festival"]  # pt, es, en
    assert send_language(resident("351910000020", language="es"), festival, "pt") == "es"
    assert send_language(resident("351910000021", language="ar"), festival, "pt") == "pt"
    assert send_language(resident("351910000022", language=None), festival, "pt") == "pt"


# --- the template -------------------------------------------------------------------------------


def test_marketing_templates_are_refused_unless_the_config_allows_them() -> None:
    with pytest.raises(BroadcastRuleError) as refused:
        broadcast_template(TOWN, "summer_festival")
    assert (refused.value.field, refused.value.code) == ("template", "marketing_not_allowed")
    assert "broadcasts.allow_marketing" in refused.value.reason
    allowed = dataclasses.replace(
        TOWN, broadcasts=dataclasses.replace(TOWN.broadcasts, allow_marketing=True)
    )
    assert broadcast_template(allowed, "summer_festival").category == "marketing"


def test_the_template_must_be_configured_and_approved_in_each_chosen_language() -> None:
    with pytest.raises(BroadcastRuleError) as unknown:
        broadcast_template(TOWN, "no_such_template")
    assert (unknown.value.field, unknown.value.code) == ("template", "unknown_template")
    with pytest.raises(BroadcastRuleError) as language:
        broadcast_template(TOWN, "payment_due", ["pt", "ar"])  # payment_due: pt, es, en
    assert (language.value.field, language.value.code) == ("languages", "template_not_approved")
    assert broadcast_template(TOWN, "town_news", ["pt", "ar"]).name == "town_news"


# --- the estimate -------------------------------------------------------------------------------


def test_the_estimate_prices_the_audience_by_category_and_spreads_it_over_days() -> None:
    policy = BroadcastPolicy(
        daily_limit=250,
        currency="EUR",
        prices={"utility": Decimal("0.0300"), "marketing": Decimal("0.0500")},
    )
    figures = estimate(TOWN.templates["town_news"], policy, {"pt": 600, "en": 290})
    assert figures.audience == 890
    assert figures.estimated_cost == Decimal("26.7000")
    assert (figures.category, figures.price_per_message) == ("utility", Decimal("0.0300"))
    assert (figures.daily_limit, figures.days_needed) == (250, 4)
    assert dict(figures.by_language) == {"en": 290, "pt": 600}
    assert days_needed(0, 250) == 0 and days_needed(10, None) == 1


def test_scan_segments_hold_about_a_hundred_of_the_audience() -> None:
    assert total_segments(0, 0) == 1
    assert total_segments(890, 1000) == 9
    assert total_segments(10, 50_000) == 10  # a sparse audience still scans in steps
    assert total_segments(10**9, 0) == 10_000


# --- the config -------------------------------------------------------------------------------


def _with(section: object) -> dict:
    import yaml

    data = yaml.safe_load(BUNDLED_CONFIG.read_text())
    data["broadcasts"] = section
    return data


def test_the_bundled_town_configures_broadcasts() -> None:
    policy = TOWN.broadcasts
    assert policy is not None
    assert (policy.daily_limit, policy.allow_marketing, policy.currency) == (2000, False, "EUR")
    assert dict(policy.prices) == {"utility": Decimal("0.03"), "marketing": Decimal("0.05")}


def test_broadcasts_config_problems_name_the_setting() -> None:
    with pytest.raises(ConfigError) as error:
        load_definition(
            _with(
                {
                    "daily_limit": 0,
                    "allow_marketing": "yes",
                    "prices": {"currency": "euro", "utility": -1, "extra": 1},
                }
            )
        )
    paths = {problem.path for problem in error.value.problems}
    assert {
        "broadcasts.daily_limit",
        "broadcasts.allow_marketing",
        "broadcasts.prices.currency",
        "broadcasts.prices.utility",
        "broadcasts.prices.marketing",
        "broadcasts.prices.extra",
    } <= paths
    unlimited = load_definition(
        _with(
            {
                "daily_limit": "unlimited",
                "prices": {"currency": "EUR", "utility": 0, "marketing": 1},
            }
        )
    )
    assert unlimited.broadcasts.daily_limit is None


# --- lifecycle and messages ------------------------------------------------------------------


def _broadcast(**changes: object) -> Broadcast:
    base = Broadcast(
        id="b1",
        name="Collection changes",
        template="town_news",
        category="utility",
        params=("Friday",),
        segment=WASTE,
        status=BroadcastStatus.SCHEDULED,
        send_at=NOW,
        created_by="agent:ana@example.org",
        created_at=NOW,
        estimate=estimate(TOWN.templates["town_news"], TOWN.broadcasts, {"pt": 3}),
        total_segments=1,
    )
    return dataclasses.replace(base, **changes)


def test_a_broadcast_runs_then_completes_or_is_cancelled_and_not_the_other_way() -> None:
    running = _broadcast().started(NOW)
    assert running.status is BroadcastStatus.RUNNING and running.started_at == NOW
    cancelled = running.cancelled(NOW + timedelta(minutes=1), "apikey:events")
    assert (cancelled.status, cancelled.cancelled_by) == (
        BroadcastStatus.CANCELLED,
        "apikey:events",
    )
    assert cancelled.settling  # until its report is written
    with pytest.raises(BroadcastStateError):
        cancelled.cancelled(NOW, "apikey:events")
    with pytest.raises(BroadcastStateError):
        cancelled.started(NOW)
    counts = tally([MessageState(S.DELIVERED)])
    done = running.completed(report(counts, Decimal("0.03"), "EUR"), progress(counts, 1), NOW)
    assert done.status is BroadcastStatus.COMPLETED and not done.settling
    with pytest.raises(BroadcastStateError):
        done.cancelled(NOW, "agent:ana@example.org")


def test_message_ids_are_stable_per_resident_and_hide_the_phone_number() -> None:
    first = broadcast_message_id("b1", "wa:351912345678")
    assert first == broadcast_message_id("b1", "wa:351912345678")
    assert first != broadcast_message_id("b1", "wa:351912345679")
    assert first != broadcast_message_id("b2", "wa:351912345678")
    assert "351912345678" not in first and first.startswith("bc|b1|")


# --- progress and report --------------------------------------------------------------------


def test_progress_partitions_the_messages_and_the_report_counts_what_reached_whom() -> None:
    states = (
        [MessageState(S.QUEUED)] * 2
        + [MessageState(S.SENDING)]
        + [MessageState(S.SENT)] * 3
        + [MessageState(S.DELIVERED)] * 4
        + [MessageState(S.READ)] * 5
        + [MessageState(S.FAILED, 131026, "undeliverable")] * 2
        + [MessageState(S.FAILED, 131048, "limit")]
        + [MessageState(S.SKIPPED, None, "opted_out"), MessageState(S.SKIPPED, None, "cancelled")]
    )
    counts = tally(states)
    assert progress(counts, 30) == Progress(
        audience=30, queued=3, sent=3, delivered=4, read=5, failed=3, skipped=2
    )
    assert progress(counts, 0).audience == 20  # never fewer than stored
    final = report(counts, Decimal("0.0300"), "EUR")
    assert (final.reached, final.delivered, final.read, final.failed) == (12, 9, 5, 3)
    assert dict(final.failed_by_error) == {"131026": 2, "131048": 1}
    assert dict(final.skipped_by_reason) == {"cancelled": 1, "opted_out": 1}
    assert final.cost == Decimal("0.2700")


# --- the daily limit ------------------------------------------------------------------------------


def test_the_daily_budget_counts_this_hour_and_the_24_before_it() -> None:
    hours = budget_hours(datetime(2026, 11, 23, 10, 59, tzinfo=UTC))
    assert len(hours) == 26
    assert (hours[0], hours[-2], hours[-1]) == ("2026-11-23T10", "2026-11-22T10", "2026-11-23T11")
    used = {"2026-11-23T10": 3, "2026-11-22T10": 4, "2026-11-22T09": 100}  # 09: out already
    assert budget_used(used, datetime(2026, 11, 23, 10, 59, tzinfo=UTC)) == 7
    assert grant(100, 250, 200) == 50
    assert grant(100, 250, 300) == 0
    assert grant(10, 250, 0) == 10


# --- the simulator's messaging limit --------------------------------------------------------------

DAY = 24 * 60 * 60


def test_the_simulators_messaging_limit_counts_unique_recipients_in_a_moving_24_hours() -> None:
    from chalicelib.simulator.limits import MessagingLimit

    limit = MessagingLimit(2)
    assert limit.allows("ana", 0.0)
    limit.record("ana", 0.0)
    limit.record("rui", 10.0)
    assert not limit.allows("eva", 20.0)  # a third resident is over the limit
    assert limit.allows("ana", 20.0)  # reaching one already reached costs nothing more
    limit.record("ana", 3600.0)
    assert limit.used(3600.0) == 2
    # Rui leaves the count 24 h after he was reached; Ana 24 h after she was last reached.
    assert limit.used(10.0 + DAY) == 1
    limit.record("eva", 10.0 + DAY)
    assert not limit.allows("zoe", 3599.0 + DAY)  # Ana and Eva count until then
    assert limit.allows("zoe", 3600.0 + DAY) and limit.used(3600.0 + DAY) == 1
    assert MessagingLimit(None).allows("anyone", 0.0)
    with pytest.raises(ValueError):
        MessagingLimit(0)
