"""Publication threshold: when a score change is worth telling the sinks (docs/architecture.md, `pub`).

Every writer of a user item (the scorer, the refresher) decides here, from the item's `pub` (what the
sinks last saw) and the new score, tier and matched rules, whether this write is a publication. A
publication sets `pub` to the new score and tier in the same write; the sync publishes a user only when
`pub` moved in its batch. A threshold of 0 publishes every score change (the behaviour before `pub`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Published:
    """What the sinks last saw of a user: the score and the tier (None when tiers are off)."""

    score: Decimal
    tier: str | None


def should_publish(
    last: Published | None,
    score: Decimal,
    tier: str | None,
    *,
    min_delta: Decimal,
    rules_changed: bool = False,
) -> bool:
    """True when the sinks must see this state: never published, tier or rules changed, or the score
    moved by at least `min_delta` points since the last publication (any change when `min_delta` is 0)."""
    if last is None or rules_changed or tier != last.tier:
        return True
    moved = abs(score - last.score)
    if min_delta <= ZERO:
        return moved != ZERO
    return moved >= min_delta


def next_publication(
    last: Published | None,
    score: Decimal,
    tier: str | None,
    *,
    min_delta: Decimal,
    rules_changed: bool = False,
    endpoints_added: bool = False,
) -> Published | None:
    """The `pub` a write sets (`should_publish` says so), or None when the write leaves `pub` as it is.

    `endpoints_added`: the write adds a Pinpoint endpoint id to the user, which must get the score now
    rather than at the next publication (rare: an endpoint comes with a user's first events)."""
    if endpoints_added or should_publish(last, score, tier, min_delta=min_delta, rules_changed=rules_changed):
        return Published(score=score, tier=tier)
    return None


def published_from_image(value: Any) -> Published | None:
    """`pub` as the sync and the store read it from a plain image (`{"s": Decimal, "t": str}`); None
    when absent or malformed (such an item is treated as never published)."""
    if not isinstance(value, dict):
        return None
    score = value.get("s")
    if not isinstance(score, Decimal) or not score.is_finite():
        return None
    tier = value.get("t")
    return Published(score=score, tier=tier if isinstance(tier, str) else None)
