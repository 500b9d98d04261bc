"""One simulated workload: population + funnels + injected duplicates and malformed records.

The same `WorkloadConfig` (seed included) always yields the same records, byte for byte. The
simulated period ends at a fixed instant by default (not "now"), so a seed reproduces a run on
any day; `period_end_ms` moves it.
"""

from __future__ import annotations

import datetime as dt
import gc
import random
from dataclasses import dataclass, field

from simulator.funnels import ActivityMix, FunnelGenerator, FunnelRates, GeneratedEvent
from simulator.injection import MALFORMED_KINDS, StreamRecord, inject, malformed
from simulator.population import Population, PopulationConfig, build_population
from simulator.successor import (
    SUCCESSOR_MALFORMED_KINDS,
    SuccessorGenerator,
    SuccessorMix,
    SuccessorRates,
    successor_malformed,
)

DEFAULT_PERIOD_END_MS = int(dt.datetime(2025, 11, 1, tzinfo=dt.UTC).timestamp() * 1000)
# "successor": SES, End User Messaging SMS and custom app events (simulator/successor.py);
# "pinpoint": the Pinpoint event-stream funnels (simulator/funnels.py). Both: half the records each.
FORMATS = ("successor", "pinpoint")


@dataclass(frozen=True, slots=True)
class WorkloadConfig:
    users: int = 2000
    events: int = 20000
    seed: int = 1
    duplicate_rate: float = 0.0
    malformed_rate: float = 0.0
    period_days: int = 30
    period_end_ms: int = DEFAULT_PERIOD_END_MS
    rates: FunnelRates = field(default_factory=FunnelRates)
    mix: ActivityMix = field(default_factory=ActivityMix)
    engagement_spread: float = 0.6
    app_id: str | None = None  # Pinpoint application id carried by the records (default: from the seed)
    formats: tuple[str, ...] = ("successor",)
    successor_rates: SuccessorRates = field(default_factory=SuccessorRates)
    successor_mix: SuccessorMix = field(default_factory=SuccessorMix)
    # Machine engagement in the successor workload (shares of the e-mail users; docs/scoring.md, "The
    # simulator's machines"). Privacy-proxy readers: derived from Litmus's 52.7% of opens that Apple Mail
    # Privacy Protection made in July 2022 (https://www.litmus.com/apple-mail-privacy-protection-resources),
    # whose readers "open" every delivered message while the others open ses_open (0.35) of theirs:
    # x / (x + 0.35 (1 - x)) = 0.527 gives x = 0.28. Scanner-protected corporate addresses: no published
    # share was found, so 0.05 is an assumption.
    privacy_proxy_share: float = 0.28
    scanner_share: float = 0.05


@dataclass(slots=True)
class Workload:
    config: WorkloadConfig
    population: Population
    records: list[StreamRecord]

    @property
    def events(self) -> int:
        return sum(1 for r in self.records if r.kind == "event")


def generate(config: WorkloadConfig) -> Workload:
    if config.users < 1 or config.events < 0 or config.period_days < 1:
        raise ValueError("need at least one user, a non-negative event count and a period of >= 1 day")
    shares = (config.privacy_proxy_share, config.scanner_share)
    if not all(0 <= share <= 1 for share in shares) or sum(shares) > 1:
        raise ValueError("privacy_proxy_share and scanner_share must be within [0, 1] and sum to at most 1")
    if (
        not config.formats
        or set(config.formats) - set(FORMATS)
        or len(set(config.formats)) < len(config.formats)
    ):
        raise ValueError(f"formats must be distinct names out of {', '.join(FORMATS)}")
    population = build_population(
        PopulationConfig(users=config.users, engagement_spread=config.engagement_spread), config.seed
    )
    app_id = config.app_id or f"{random.Random(f'{config.seed}:app').getrandbits(128):032x}"
    # Only acyclic objects are made here: the cyclic collector would re-scan the growing lists
    # again and again for nothing (about a fifth of the time), so it pauses meanwhile.
    collecting = gc.isenabled()
    gc.disable()
    try:
        counts = _split(config.events, len(config.formats))
        events: list[GeneratedEvent] = []
        for name, count in zip(config.formats, counts, strict=True):
            if name == "pinpoint":
                events += FunnelGenerator(
                    population,
                    seed=config.seed,
                    period_end_ms=config.period_end_ms,
                    period_days=config.period_days,
                    rates=config.rates,
                    mix=config.mix,
                    app_id=app_id,
                ).generate(count)
            else:
                events += SuccessorGenerator(
                    population,
                    seed=config.seed,
                    period_end_ms=config.period_end_ms,
                    period_days=config.period_days,
                    rates=config.successor_rates,
                    mix=config.successor_mix,
                    privacy_proxy_share=config.privacy_proxy_share,
                    scanner_share=config.scanner_share,
                ).generate(count)
        if len(config.formats) > 1:
            events.sort(key=lambda e: e.timestamp)
        pinpoint_only = config.formats == ("pinpoint",)
        records = inject(
            events,
            duplicate_rate=config.duplicate_rate,
            malformed_rate=config.malformed_rate,
            seed=config.seed,
            kinds=MALFORMED_KINDS if pinpoint_only else SUCCESSOR_MALFORMED_KINDS,
            malform=malformed if pinpoint_only else successor_malformed,
        )
    finally:
        if collecting:
            gc.enable()
    return Workload(config, population, records)


def _split(total: int, parts: int) -> list[int]:
    """`total` as `parts` near-equal shares, the first ones larger."""
    return [total // parts + (i < total % parts) for i in range(parts)]
