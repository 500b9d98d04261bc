"""The oracle's own reading of the machine-engagement policy (docs/scoring.md, "Machine engagement").

Written from the documentation, never imported from lambda_src: the scorer's MACHINE_ENGAGEMENT JSON (the
module's `machine_engagement` input, every attribute filled in by Terraform) gives a weight per reason and
the signals; an SES or Pinpoint e-mail open or click gets the reasons its record shows, and its points are
multiplied by the lowest weight of them (1 without reasons). Weight 0: the event is not counted at all and
keeps the once-per-message slot free.

Burst (docs/scoring.md, "Burst"): a click is a burst click when it and the distinct clicks of the same user
and message sent before it in stream order cover `burst_min_links` distinct links within a span of
`burst_window_ms` that holds the click. Of the user's earlier clicks only those the scorer's bounded memory
keeps count: clicked no earlier than the window before the newest of them, and of those the newest
`RC_CAPACITY` (or `burst_min_links` - 1 when that is more) by click time (ties: the earlier sent). Found
here over the whole stream per user, from that definition, with no batches: the scorer folds the same rule
click by click through the user item's `rc`. A re-sent copy of a click takes no place of its own: only the
first copy counts here.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

PRIVACY_PROXY_OPEN = "privacy_proxy_open"
SEND_TIME_PROXIMITY = "send_time_proximity"
SCANNER_LIST = "scanner_list"
BURST = "burst"
MACHINE_REASONS = (PRIVACY_PROXY_OPEN, SEND_TIME_PROXIMITY, SCANNER_LIST, BURST)
# The scorer's `rc` remembers at most this many clicks per user (docs/architecture.md, `rc`).
RC_CAPACITY = 20
OPEN_EVENT = "_email.open"
CLICK_EVENT = "_email.click"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Signals:
    """What an open's or click's record shows: user agent, address, link, the message's send time."""

    user_agent: str = ""
    ip: str = ""
    link: str | None = None
    sent_ms: int | None = None


def _documented_weights() -> dict[str, Decimal]:
    return {
        PRIVACY_PROXY_OPEN: Decimal(0),
        SEND_TIME_PROXIMITY: Decimal("0.5"),
        SCANNER_LIST: Decimal(0),
        BURST: Decimal(0),
    }


@dataclass(frozen=True, slots=True)
class MachineSettings:
    weights: Mapping[str, Decimal] = field(default_factory=_documented_weights)
    proxy_user_agents: frozenset[str] = frozenset({"Mozilla/5.0"})
    proxy_networks: tuple[Network, ...] = ()
    scanner_user_agents: tuple[str, ...] = ()  # lower case; matched as substrings
    scanner_networks: tuple[Network, ...] = ()
    send_time_proximity_ms: int = 10_000
    burst_window_ms: int = 1000
    burst_min_links: int = 2

    @classmethod
    def from_json(cls, text: str | None) -> MachineSettings:
        """From the scorer's MACHINE_ENGAGEMENT (empty: the documented defaults)."""
        if not text or not text.strip():
            return cls()
        value: dict[str, Any] = json.loads(text)
        weights = _documented_weights()
        for name, weight in (value.get("weights") or {}).items():
            if name not in weights:
                raise ValueError(f"MACHINE_ENGAGEMENT names an unknown reason {name!r}")
            if weight is not None:
                weights[name] = Decimal(str(weight))

        def networks(name: str) -> tuple[Network, ...]:
            return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in value.get(name) or [])

        def whole(name: str, default: int) -> int:
            got = value.get(name)
            return default if got is None else int(got)

        agents = value.get("privacy_proxy_user_agents")
        return cls(
            weights=weights,
            proxy_user_agents=frozenset(["Mozilla/5.0"] if agents is None else agents),
            proxy_networks=networks("privacy_proxy_cidrs"),
            scanner_user_agents=tuple(a.lower() for a in value.get("scanner_user_agents") or []),
            scanner_networks=networks("scanner_cidrs"),
            send_time_proximity_ms=1000 * whole("send_time_proximity_seconds", 10),
            burst_window_ms=whole("burst_window_ms", 1000),
            burst_min_links=whole("burst_min_links", 2),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "weights": {k: float(v) for k, v in self.weights.items()},
            "privacy_proxy_user_agents": sorted(self.proxy_user_agents),
            "scanner_user_agents": list(self.scanner_user_agents),
            "send_time_proximity_seconds": self.send_time_proximity_ms // 1000,
            "burst_window_ms": self.burst_window_ms,
            "burst_min_links": self.burst_min_links,
        }

    def reasons(self, event_type: str, timestamp: int, signals: Signals, burst: bool) -> tuple[str, ...]:
        """The reasons of one open or click, in MACHINE_REASONS order."""
        found = []
        agent = signals.user_agent
        if event_type == OPEN_EVENT and (
            agent.strip() in self.proxy_user_agents or _within(signals.ip, self.proxy_networks)
        ):
            found.append(PRIVACY_PROXY_OPEN)
        if (
            self.send_time_proximity_ms
            and signals.sent_ms is not None
            and timestamp - signals.sent_ms <= self.send_time_proximity_ms
        ):
            found.append(SEND_TIME_PROXIMITY)
        if any(part in agent.lower() for part in self.scanner_user_agents) or _within(
            signals.ip, self.scanner_networks
        ):
            found.append(SCANNER_LIST)
        if burst:
            found.append(BURST)
        return tuple(found)

    def weight(self, reasons: Iterable[str]) -> Decimal:
        """The lowest weight of `reasons`; 1 without any."""
        return min((self.weights[r] for r in reasons), default=Decimal(1))

    def bursts(self, clicks: Iterable[tuple[Any, str, str, int, str]]) -> set[Any]:
        """Of distinct clicks (key, user, message, time, link) in stream order, the keys of the burst
        clicks (module docstring)."""
        if self.burst_window_ms <= 0:
            return set()
        window = self.burst_window_ms
        capacity = max(RC_CAPACITY, self.burst_min_links - 1)
        by_user: dict[str, list[tuple[Any, str, int, str]]] = {}
        for key, user, message, at, link in clicks:
            by_user.setdefault(user, []).append((key, message, at, link))
        found: set[Any] = set()
        for stream in by_user.values():
            for i, (key, message, at, link) in enumerate(stream):
                if i == 0:
                    continue
                newest = max(c[2] for c in stream[:i])
                recent = [(-c[2], j) for j, c in enumerate(stream[:i]) if c[2] >= newest - window]
                remembered = [stream[j] for _, j in sorted(recent)[:capacity]]
                near = [(c[2], c[3]) for c in remembered if c[1] == message and abs(c[2] - at) <= window]
                # a span that holds the click can start at the click or at an earlier nearby click
                for start in sorted({at} | {t for t, _ in near if t <= at}):
                    links = {link} | {other for t, other in near if start <= t <= start + window}
                    if len(links) >= self.burst_min_links:
                        found.add(key)
                        break
        return found


def _within(ip: str, networks: tuple[Network, ...]) -> bool:
    if not networks or not ip:
        return False
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return False
    return any(address.version == n.version and address in n for n in networks)
