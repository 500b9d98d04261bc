"""The oracle's own reading of the machine-engagement policy (docs/scoring.md, "Machine engagement").

Written from the documentation, never imported from lambda_src: the scorer's MACHINE_ENGAGEMENT JSON (the
module's `machine_engagement` input, every attribute filled in by Terraform) gives a weight per reason and
the signals; an SES or Pinpoint e-mail open or click gets the reasons its record shows, and its points are
multiplied by the lowest weight of them (1 without reasons). Weight 0: the event is not counted at all and
keeps the once-per-message slot free.

Burst (several distinct links of one message clicked by one user within the window) is found here over the
whole stream; the scorer sees only the clicks of one batch. The two agree on the weight whenever a burst
click has another reason whose weight is not above the burst weight (docs/scoring.md, "The simulator").
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
        """Of distinct clicks (key, user, message, time, link), the keys of those in a burst: at least
        `burst_min_links` distinct links of one message and user within `burst_window_ms`."""
        if self.burst_window_ms <= 0:
            return set()
        grouped: dict[tuple[str, str], list[tuple[int, str, Any]]] = {}
        for key, user, message, at, link in clicks:
            grouped.setdefault((user, message), []).append((at, link, key))
        found: set[Any] = set()
        for group in grouped.values():
            group.sort(key=lambda c: c[0])
            for i, (start, _, _) in enumerate(group):
                window = [c for c in group[i:] if c[0] - start <= self.burst_window_ms]
                if len({link for _, link, _ in window}) >= self.burst_min_links:
                    found.update(key for _, _, key in window)
        return found


def _within(ip: str, networks: tuple[Network, ...]) -> bool:
    if not networks or not ip:
        return False
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return False
    return any(address.version == n.version and address in n for n in networks)
