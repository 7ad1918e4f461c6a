"""Which team a conversation goes to, and which of the team's agents takes it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from chalicelib.domain.agents import Agent
from chalicelib.domain.bot.definition import MunicipalityDefinition, RoutingRule
from chalicelib.domain.bot.matching import contains_phrase, words

RULE_REASONS = frozenset({"menu", "not_understood"})  # hand-offs the routing rules may redirect
LEAST_BUSY = "least_busy"
ROUND_ROBIN = "round_robin"
_NEVER = datetime.min.replace(tzinfo=UTC)


def _base_language(code: str | None) -> str | None:
    return code.replace("_", "-").split("-")[0].lower() if code else None


def _matches(
    rule: RoutingRule,
    text_words: Sequence[tuple[str, ...]],
    tags: frozenset[str],
    language: str | None,
) -> bool:
    if rule.text_contains:
        phrases = [words(keyword) for keyword in rule.text_contains]
        return any(contains_phrase(said, phrase) for said in text_words for phrase in phrases)
    if rule.contact_tag is not None:
        return rule.contact_tag.casefold() in tags
    if rule.language is not None:
        return language is not None and _base_language(rule.language) == language
    return False


def route_team(
    definition: MunicipalityDefinition,
    *,
    proposed_team: str,
    reason: str,
    texts: Sequence[str],
    tags: Sequence[str],
    language: str | None,
) -> str:
    """The team for a hand-off. A resident who asked for a person from the menu, or whom the
    bot did not understand, goes where the configured rules say (first match wins; keywords
    match whole words or phrases of any one text, ignoring case and accents); other hand-offs
    (a flow's team, a reminder, a ticket) keep `proposed_team`. A team the configuration does
    not know becomes the fallback team."""
    team = proposed_team
    if reason in RULE_REASONS:
        text_words = [words(text) for text in texts if text]
        tag_set = frozenset(tag.casefold() for tag in tags)
        base = _base_language(language)
        team = next(
            (rule.team for rule in definition.routing if _matches(rule, text_words, tag_set, base)),
            proposed_team,
        )
    return team if team in definition.teams else definition.fallback_team.id


def choose_agent(
    members: Sequence[Agent], strategy: str, *, team: str, prefer: str | None = None
) -> Agent | None:
    """The member of `team` with room who should take the next conversation, or None.

    `prefer` (a reopened conversation's last agent) wins when they can take it. least_busy: the
    fewest open conversations, then the longest since their last assignment (never assigned
    first), then by id. round_robin: the longest since their last assignment, then by id. An
    unknown strategy counts as least_busy."""
    eligible = [agent for agent in members if team in agent.teams and agent.has_room()]
    if not eligible:
        return None
    if prefer is not None:
        preferred = next((agent for agent in eligible if agent.id == prefer), None)
        if preferred is not None:
            return preferred

    def waited(agent: Agent) -> datetime:
        return agent.last_assigned_at or _NEVER

    if strategy == ROUND_ROBIN:
        return min(eligible, key=lambda agent: (waited(agent), agent.id))
    return min(eligible, key=lambda agent: (agent.open_count, waited(agent), agent.id))
