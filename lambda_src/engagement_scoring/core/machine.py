"""Machine engagement: a verdict with reasons for every SES open and click, and the operator's weights.

A reason is a signal that a machine, not a person, produced the event (signals, sources and defaults:
docs/scoring.md, "Machine engagement"). An event's points are multiplied by the lowest weight of its
reasons; an event without reasons has weight 1. Only what the record itself shows is used, plus the
other clicks of the same batch (burst); nothing is read from or written to the user item.
"""

from __future__ import annotations

import ipaddress
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from engagement_scoring.core.aggregation import NOT_COUNTED, Candidate
from engagement_scoring.core.events import NormalizedEvent

PRIVACY_PROXY_OPEN = "privacy_proxy_open"
SEND_TIME_PROXIMITY = "send_time_proximity"
SCANNER_LIST = "scanner_list"
BURST = "burst"
REASONS = (PRIVACY_PROXY_OPEN, SEND_TIME_PROXIMITY, SCANNER_LIST, BURST)

OPEN = "_email.open"
CLICK = "_email.click"
ONE = Decimal(1)

# Apple Mail Privacy Protection fetches images with this bare user agent (docs/scoring.md, sources).
DEFAULT_PROXY_USER_AGENTS = ("Mozilla/5.0",)
DEFAULT_WEIGHTS: Mapping[str, Decimal] = {
    PRIVACY_PROXY_OPEN: Decimal(0),
    SEND_TIME_PROXIMITY: Decimal("0.5"),
    SCANNER_LIST: Decimal(0),
    BURST: Decimal(0),
}
# Bounds that keep the policy small (it travels in one environment variable) and the checks cheap.
MAX_LIST_ITEMS = 100
MAX_USER_AGENT_CHARS = 512

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class InvalidPolicy(ValueError):
    """MACHINE_ENGAGEMENT is not a policy the scorer can apply."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """The weight an event's points are multiplied by, and why (reason codes, in REASONS order)."""

    weight: Decimal = ONE
    reasons: tuple[str, ...] = ()


HUMAN = Verdict()


@dataclass(frozen=True, slots=True)
class MachinePolicy:
    weights: Mapping[str, Decimal] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    # Exact user agents of privacy proxies (opens only: a proxy fetches images, a person clicks).
    proxy_user_agents: frozenset[str] = frozenset(DEFAULT_PROXY_USER_AGENTS)
    proxy_networks: tuple[_Network, ...] = ()
    # Case-insensitive substrings and networks of link scanners (opens and clicks).
    scanner_user_agents: tuple[str, ...] = ()
    scanner_networks: tuple[_Network, ...] = ()
    # An open or click at most this long after the message was sent (0 = off).
    send_time_proximity_ms: int = 10_000
    # Clicks on at least `burst_min_links` distinct links of one message within `burst_window_ms`.
    burst_window_ms: int = 1000
    burst_min_links: int = 2

    def weight(self, reasons: Sequence[str]) -> Decimal:
        """The lowest weight of `reasons`; 1 without reasons."""
        return min((self.weights[reason] for reason in reasons), default=ONE)


DEFAULT_POLICY = MachinePolicy()


def _weight(name: str, value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidPolicy(f"weight {name} must be a number from 0 to 1")
    try:
        weight = Decimal(str(value))
    except InvalidOperation as exc:
        raise InvalidPolicy(f"weight {name} must be a number from 0 to 1") from exc
    if not weight.is_finite() or not 0 <= weight <= 1:
        raise InvalidPolicy(f"weight {name} must be a number from 0 to 1")
    return weight


def _strings(policy: Mapping[str, Any], name: str, default: Sequence[str]) -> tuple[str, ...]:
    value = policy.get(name)
    if value is None:
        return tuple(default)
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise InvalidPolicy(f"{name} must be a list of non-empty strings")
    if len(value) > MAX_LIST_ITEMS or any(len(item) > MAX_USER_AGENT_CHARS for item in value):
        raise InvalidPolicy(f"{name}: at most {MAX_LIST_ITEMS} items of {MAX_USER_AGENT_CHARS} characters")
    return tuple(value)


def _networks(policy: Mapping[str, Any], name: str) -> tuple[_Network, ...]:
    networks = []
    for text in _strings(policy, name, ()):
        try:
            networks.append(ipaddress.ip_network(text.strip(), strict=False))
        except ValueError as exc:
            raise InvalidPolicy(f"{name}: {text!r} is not a CIDR block") from exc
    return tuple(networks)


def _integer(policy: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = policy.get(name, default)
    if value is None:
        return default
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidPolicy(f"{name} must be a whole number from {low} to {high}")
    return value


def parse_policy(text: str) -> MachinePolicy:
    """The policy from the MACHINE_ENGAGEMENT JSON (the module's `machine_engagement` input; empty: the
    defaults). Raises InvalidPolicy with what is wrong."""
    if not text.strip():
        return DEFAULT_POLICY
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InvalidPolicy("MACHINE_ENGAGEMENT is not JSON") from exc
    if not isinstance(value, dict):
        raise InvalidPolicy("MACHINE_ENGAGEMENT must be a JSON object")
    unknown = set(value) - {
        "weights",
        "privacy_proxy_user_agents",
        "privacy_proxy_cidrs",
        "scanner_user_agents",
        "scanner_cidrs",
        "send_time_proximity_seconds",
        "burst_window_ms",
        "burst_min_links",
    }
    if unknown:
        raise InvalidPolicy(f"MACHINE_ENGAGEMENT has unknown keys: {', '.join(sorted(unknown))}")
    weights_in = value.get("weights") or {}
    if not isinstance(weights_in, dict) or set(weights_in) - set(REASONS):
        raise InvalidPolicy(f"weights must be an object with keys among {', '.join(REASONS)}")
    weights = dict(DEFAULT_WEIGHTS)
    for name, weight in weights_in.items():
        if weight is not None:
            weights[name] = _weight(name, weight)
    return MachinePolicy(
        weights=weights,
        proxy_user_agents=frozenset(_strings(value, "privacy_proxy_user_agents", DEFAULT_PROXY_USER_AGENTS)),
        proxy_networks=_networks(value, "privacy_proxy_cidrs"),
        scanner_user_agents=tuple(item.lower() for item in _strings(value, "scanner_user_agents", ())),
        scanner_networks=_networks(value, "scanner_cidrs"),
        send_time_proximity_ms=1000 * _integer(value, "send_time_proximity_seconds", 10, 0, 86_400),
        burst_window_ms=_integer(value, "burst_window_ms", 1000, 0, 60_000),
        burst_min_links=_integer(value, "burst_min_links", 2, 2, 100),
    )


def _in_networks(ip: str, networks: tuple[_Network, ...]) -> bool:
    if not networks:
        return False
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return False
    return any(address.version == network.version and address in network for network in networks)


def classify(event: NormalizedEvent, policy: MachinePolicy, burst: bool = False) -> Verdict:
    """The verdict on one SES open or click from its own record; `burst` adds the burst reason (found
    by `burst_indexes` over the batch). Any other event, or one without details (every format but
    SES), is HUMAN."""
    details = event.details
    if details is None or event.event_type not in (OPEN, CLICK):
        return HUMAN
    user_agent = details.get("user_agent")
    user_agent = user_agent if isinstance(user_agent, str) else ""
    ip = details.get("ip")
    ip = ip if isinstance(ip, str) else ""
    found: list[str] = []
    if event.event_type == OPEN and (
        user_agent.strip() in policy.proxy_user_agents or _in_networks(ip, policy.proxy_networks)
    ):
        found.append(PRIVACY_PROXY_OPEN)
    sent = details.get("send_time_ms")
    if (
        policy.send_time_proximity_ms
        and isinstance(sent, int)
        and event.timestamp_ms - sent <= policy.send_time_proximity_ms
    ):
        found.append(SEND_TIME_PROXIMITY)
    lowered = user_agent.lower()
    if any(part in lowered for part in policy.scanner_user_agents) or _in_networks(
        ip, policy.scanner_networks
    ):
        found.append(SCANNER_LIST)
    if burst:
        found.append(BURST)
    if not found:
        return HUMAN
    return Verdict(policy.weight(found), tuple(found))


def burst_indexes(events: Sequence[NormalizedEvent], policy: MachinePolicy) -> set[int]:
    """Positions of the clicks that belong to a burst: at least `burst_min_links` distinct links of one
    message clicked by one user within `burst_window_ms` (only the clicks of this batch are seen)."""
    if policy.burst_window_ms <= 0:
        return set()
    by_message: dict[tuple[str, str], list[tuple[int, str, int]]] = {}
    for index, event in enumerate(events):
        details = event.details
        if event.event_type != CLICK or details is None or event.message_id is None:
            continue
        link = details.get("link")
        if not isinstance(link, str):
            continue
        by_message.setdefault((event.user_key, event.message_id), []).append(
            (event.timestamp_ms, link, index)
        )
    flagged: set[int] = set()
    for clicks in by_message.values():
        if len(clicks) < policy.burst_min_links:
            continue
        clicks.sort()
        start = 0
        for end in range(len(clicks)):
            while clicks[end][0] - clicks[start][0] > policy.burst_window_ms:
                start += 1
            window = clicks[start : end + 1]
            if len({link for _, link, _ in window}) >= policy.burst_min_links:
                flagged.update(index for _, _, index in window)
    return flagged


@dataclass(slots=True)
class MachineCounts:
    """What the policy did to a batch: candidates by reason, and those weighted to 0 (not counted)."""

    flagged: Counter[str] = field(default_factory=Counter)
    not_counted: int = 0


def judge(candidates: Sequence[Candidate], policy: MachinePolicy) -> MachineCounts:
    """Set each candidate's verdict; a weight-0 candidate becomes NOT_COUNTED (never written)."""
    counts = MachineCounts()
    events = [candidate.event for candidate in candidates]
    if not any(event.details is not None for event in events):  # no SES open or click: nothing to do
        return counts
    bursts = burst_indexes(events, policy)
    for index, candidate in enumerate(candidates):
        verdict = classify(candidate.event, policy, index in bursts)
        if not verdict.reasons:
            continue
        candidate.weight, candidate.reasons = verdict.weight, verdict.reasons
        counts.flagged.update(verdict.reasons)
        if verdict.weight == 0:
            candidate.status = NOT_COUNTED
            counts.not_counted += 1
    return counts
