"""Machine engagement: a verdict with reasons for every SES open and click, and the operator's weights.

A reason is a signal that a machine, not a person, produced the event (signals, sources and defaults:
docs/scoring.md, "Machine engagement"). An event's points are multiplied by the lowest weight of its
reasons; an event without reasons has weight 1. Only what the record itself shows is used, plus, for
burst, the user's earlier clicks in stream order: those of this batch and those of earlier batches that the
user item's `rc` remembers (`judge_clicks`, bounded to the burst window and `rc_capacity` entries).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from engagement_scoring.core.aggregation import NOT_COUNTED, PENDING, SCORED, Candidate
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
    by `judge_clicks` over the user's clicks in stream order). Any other event, or one without
    details (every format but SES), is HUMAN."""
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


# `rc` (docs/architecture.md, user item layout v2): the user's recent clicks, for burst detection across
# batches. One entry per distinct click: 4-byte digests of the message id, the link and the click's
# content key, the click time (6 bytes, ms, big-endian) and whether it was judged a burst click (1 byte).
RC_DIGEST_BYTES = 4
RC_ENTRY_BYTES = 3 * RC_DIGEST_BYTES + 6 + 1
# At most this many clicks are remembered (the newest by click time): 20 x 19 = 380 bytes under a flood;
# more only when `burst_min_links` needs them (`rc_capacity`: a burst of N links needs N - 1 earlier clicks).
RC_CAPACITY = 20


def rc_capacity(policy: MachinePolicy) -> int:
    """Entries `rc` keeps at most under this policy: RC_CAPACITY, or `burst_min_links` - 1 when larger."""
    return max(RC_CAPACITY, policy.burst_min_links - 1)


_MAX_MS = (1 << 48) - 1


@dataclass(frozen=True, slots=True)
class RecentClick:
    message: bytes
    link: bytes
    click: bytes  # digest of the click's content key: a repeat of a remembered click is not a new click
    at_ms: int
    burst: bool


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode(), digest_size=RC_DIGEST_BYTES).digest()


def decode_recent_clicks(value: Any) -> tuple[RecentClick, ...]:
    """The entries of a stored `rc` (stream order); anything else, or a torn tail, reads as no entries."""
    if not isinstance(value, bytes | bytearray) or len(value) % RC_ENTRY_BYTES:
        return ()
    size = RC_DIGEST_BYTES
    entries = []
    for start in range(0, len(value), RC_ENTRY_BYTES):
        raw = bytes(value[start : start + RC_ENTRY_BYTES])
        entries.append(
            RecentClick(
                raw[:size],
                raw[size : 2 * size],
                raw[2 * size : 3 * size],
                int.from_bytes(raw[3 * size : 3 * size + 6], "big"),
                raw[-1] == 1,
            )
        )
    return tuple(entries)


def encode_recent_clicks(entries: Sequence[RecentClick]) -> bytes:
    return b"".join(
        entry.message
        + entry.link
        + entry.click
        + min(max(entry.at_ms, 0), _MAX_MS).to_bytes(6, "big")
        + (b"\x01" if entry.burst else b"\x00")
        for entry in entries
    )


def _click(event: NormalizedEvent) -> tuple[bytes, bytes, bytes, int] | None:
    details = event.details
    if event.event_type != CLICK or details is None or event.message_id is None:
        return None
    link = details.get("link")
    if not isinstance(link, str):
        return None
    at_ms = min(max(event.timestamp_ms, 0), _MAX_MS)  # as stored, so a later batch compares the same time
    # The scorer sets the content key before judging; a bare event (explain, tests) falls back on what
    # the content key would hash.
    identity = event.content_key or event.identity or f"{event.message_id}|{link}|{at_ms}"
    return _digest(event.message_id), _digest(link), _digest(identity), at_ms


def _is_burst(
    message: bytes, link: bytes, at_ms: int, known: Sequence[RecentClick], policy: MachinePolicy
) -> bool:
    """Whether this click and the known earlier clicks of its message cover `burst_min_links` distinct
    links within some span of `burst_window_ms` that holds this click."""
    window = policy.burst_window_ms
    near = [(e.at_ms, e.link) for e in known if e.message == message and abs(e.at_ms - at_ms) <= window]
    if len({link, *(other for _, other in near)}) < policy.burst_min_links:
        return False
    for start in {at_ms, *(at for at, _ in near if at <= at_ms)}:
        links = {link, *(other for at, other in near if start <= at <= start + window)}
        if len(links) >= policy.burst_min_links:
            return True
    return False


def _prune(entries: list[RecentClick], window_ms: int, capacity: int) -> list[RecentClick]:
    """Entries within the window of the newest click time, at most `capacity` of them (the newest by
    click time; of equal times, the earlier in stream order), stream order kept.

    Of equal times the earlier stays so that a forgotten click never comes back: a copy of it (a
    redelivery) joins as the latest entry, and whatever pushed the click out (a newer time, or as many
    entries at least as new and earlier) pushes the copy out at once; so copies change no other verdict."""
    newest = max(entry.at_ms for entry in entries)
    kept = [(-entry.at_ms, i) for i, entry in enumerate(entries) if entry.at_ms >= newest - window_ms]
    if len(kept) > capacity:
        kept = sorted(kept)[:capacity]
    return [entries[i] for i in sorted(i for _, i in kept)]


def judge_clicks(
    stored: Sequence[RecentClick], events: Sequence[NormalizedEvent], policy: MachinePolicy
) -> tuple[list[bool], tuple[RecentClick, ...]]:
    """Burst flags for one user's events of a batch (stream order), and the `rc` entries after them.

    A click is a burst click when it and the clicks of the same user and message before it in stream
    order (earlier batches through `stored`, earlier in `events`) cover `burst_min_links` distinct links
    within `burst_window_ms`. Each click is judged against what the entries hold just before it and then
    joins them, so where batches are cut changes no verdict. A click already remembered (its content
    digest is in the entries: a redelivered batch, a re-sent record) keeps its recorded verdict and is
    not added again."""
    flags = [False] * len(events)
    if policy.burst_window_ms <= 0:
        return flags, ()
    entries = list(stored)
    capacity = rc_capacity(policy)
    for index, event in enumerate(events):
        click = _click(event)
        if click is None:
            continue
        message, link, digest, at_ms = click
        remembered = next((entry for entry in entries if entry.click == digest), None)
        if remembered is not None:
            flags[index] = remembered.burst
            continue
        flags[index] = _is_burst(message, link, at_ms, entries, policy)
        entries.append(RecentClick(message, link, digest, at_ms, flags[index]))
        entries = _prune(entries, policy.burst_window_ms, capacity)
    return flags, tuple(entries)


def burst_indexes(events: Sequence[NormalizedEvent], policy: MachinePolicy) -> set[int]:
    """Positions of the burst clicks among `events` taken as a whole stream in this order, starting
    without remembered clicks (`judge_clicks` per user)."""
    by_user: dict[str, list[int]] = {}
    for index, event in enumerate(events):
        by_user.setdefault(event.user_key, []).append(index)
    flagged: set[int] = set()
    for positions in by_user.values():
        flags, _ = judge_clicks((), [events[i] for i in positions], policy)
        flagged.update(i for i, flag in zip(positions, flags, strict=True) if flag)
    return flagged


@dataclass(slots=True)
class MachineCounts:
    """What the policy did to a batch: candidates by reason, and those weighted to 0 (not counted)."""

    flagged: Counter[str] = field(default_factory=Counter)
    not_counted: int = 0


def judge(candidates: Sequence[Candidate], policy: MachinePolicy) -> MachineCounts:
    """Set each candidate's verdict from its own record (no burst: `apply_bursts` adds it per user once
    the user item is read); a weight-0 candidate becomes NOT_COUNTED (never written)."""
    counts = MachineCounts()
    if not any(candidate.event.details is not None for candidate in candidates):
        return counts  # no SES open or click: nothing to do
    for candidate in candidates:
        verdict = classify(candidate.event, policy)
        if not verdict.reasons:
            continue
        candidate.weight, candidate.reasons = verdict.weight, verdict.reasons
        if verdict.weight == 0:
            candidate.status = NOT_COUNTED
    return counts_of(candidates)


def apply_bursts(
    candidates: Sequence[Candidate], stored: Sequence[RecentClick], policy: MachinePolicy
) -> tuple[RecentClick, ...]:
    """Add the burst reason to one user's candidates (stream order) that `judge_clicks` flags; returns the
    user's `rc` entries after them. Run again on a retry round: the verdict follows the item read."""
    flags, entries = judge_clicks(stored, [candidate.event for candidate in candidates], policy)
    for candidate, flag in zip(candidates, flags, strict=True):
        if candidate.status == SCORED:  # counted by an earlier write of this invocation: final
            continue
        verdict = classify(candidate.event, policy, flag)
        candidate.weight, candidate.reasons = verdict.weight, verdict.reasons
        candidate.status = NOT_COUNTED if verdict.reasons and verdict.weight == 0 else PENDING
    return entries


def counts_of(candidates: Sequence[Candidate]) -> MachineCounts:
    """Candidates by reason, and those not counted (weight 0)."""
    counts = MachineCounts()
    for candidate in candidates:
        counts.flagged.update(candidate.reasons)
        if candidate.status == NOT_COUNTED:
            counts.not_counted += 1
    return counts
