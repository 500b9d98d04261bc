"""Campaigns, journeys, transactional sends and app sessions that produce realistic funnels.

Each *activity* picks a user (weighted by the user's engagement) and emits the events of one
funnel: e-mail send -> delivered -> open(s) -> click(s) (or rejected / soft bounce / hard bounce,
complaint, unsubscribe), SMS buffered -> success/failure -> opt-out, push send -> received ->
opened, or an app session (start, sign-up/sign-in, custom events, purchase, stop). Activities
start at a random day of the simulated period, at a waking hour of the user's time zone, and
their events follow at realistic delays, so decay matters when it is switched on.

Uniqueness: the engine's exactly-once key is a hash of the record bytes, so two distinct events
must never have equal bytes. Every emitted event gets an `event_timestamp` no other event of the
run has (a colliding millisecond is bumped by 1 ms), which guarantees it.
"""

from __future__ import annotations

import datetime as dt
import random
from bisect import bisect
from dataclasses import dataclass, fields
from itertools import accumulate
from typing import Any, NamedTuple

from faker import Faker

from simulator.events import (
    EMPTY_JSON,
    EndpointContext,
    dumps,
    email_facets_json,
    endpoint_context,
    mail_object,
    quote,
    record,
    sms_attributes_json,
    sms_attributes_prefix,
)
from simulator.population import EMAIL, PUSH_CHANNELS, SMS, Endpoint, Population, User, new_id

SECOND = 1000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR

# Relative weight of each local hour for the start of an activity (people sleep).
HOUR_WEIGHTS = (1, 1, 1, 1, 1, 2, 4, 7, 9, 10, 10, 10, 11, 10, 9, 9, 9, 10, 11, 12, 12, 10, 6, 3)
CUSTOM_EVENTS = ("product_viewed", "add_to_cart", "article_read", "webinar_attended", "level_completed")
USER_AGENTS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/124.0 Mobile Safari/537.36",
)
USER_AGENTS_JSON = tuple(quote(a) for a in USER_AGENTS)
SMS_METRICS_JSON = '{"price_in_millicents_usd":645.0}'
SMS_FAILURE_STATUSES = ("UNREACHABLE", "CARRIER_UNREACHABLE", "BLOCKED", "INVALID", "TTL_EXPIRED")


@dataclass(frozen=True, slots=True)
class FunnelRates:
    """Funnel probabilities. Open, click, push-open and purchase rates are multiplied by the
    user's engagement factor (mean about 1), then capped at 0.95."""

    email_rejected: float = 0.005
    email_soft_bounce: float = 0.03
    email_hard_bounce: float = 0.02
    email_complaint: float = 0.003  # of delivered
    email_open: float = 0.35  # of delivered
    email_repeat_open: float = 0.3  # chance of each further open of an opened message
    email_click: float = 0.3  # of opened
    email_unsubscribe: float = 0.02  # of opened
    sms_buffered: float = 0.3  # a BUFFERED event before the final status
    sms_failure: float = 0.05
    sms_optout: float = 0.02  # of delivered
    push_received: float = 0.9
    push_foreground: float = 0.3  # of received
    push_open: float = 0.2  # of received
    sign_up: float = 0.5  # first session of an identified user
    sign_in: float = 0.3
    custom_events: float = 1.2  # mean custom events per session
    purchase: float = 0.15  # per session

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


@dataclass(frozen=True, slots=True)
class ActivityMix:
    """Relative frequency of each kind of activity."""

    email_campaign: float = 30
    email_journey: float = 10
    email_transactional: float = 2
    sms_campaign: float = 9
    sms_journey: float = 4
    push_campaign: float = 12
    push_journey: float = 3
    app_session: float = 28
    test_event: float = 0.2


@dataclass(frozen=True, slots=True)
class Message:
    """A campaign or journey message definition: the attributes its records carry."""

    channel: str  # EMAIL | SMS | PUSH
    attribute_sets: tuple[dict[str, str], ...]  # one per (run/activity, treatment)
    sender: str
    subject: str


class GroundTruth(NamedTuple):
    """Who made an event, as the generator intended: a person, or a machine (privacy proxy, link scanner)
    with the machine-engagement reasons the generator meant its record to show."""

    actor: str = "human"  # "human" | "machine"
    reasons: tuple[str, ...] = ()


HUMAN = GroundTruth()


class GeneratedEvent(NamedTuple):
    timestamp: int
    partition_key: str
    data: bytes
    redelivery: bool = False  # the exact bytes of an earlier record again (EventBridge's at-least-once)
    truth: GroundTruth = HUMAN


class FunnelGenerator:
    """Emits the distinct events of a run (no duplicates, no malformed records)."""

    def __init__(
        self,
        population: Population,
        *,
        seed: int,
        period_end_ms: int,
        period_days: int,
        rates: FunnelRates,
        mix: ActivityMix,
        app_id: str,
    ) -> None:
        self.rng = random.Random(f"{seed}:events")
        self.rates = rates
        self.end = period_end_ms
        self.start = period_end_ms - period_days * DAY
        self.days = period_days
        self.app_id = app_id
        self.server_app_json = dumps({"app_id": app_id, "sdk": {}})
        self.json_cache: dict[tuple[int, str], str] = {}
        self.effective_date = dt.datetime.fromtimestamp(self.start / 1000, dt.UTC).isoformat()
        self.used_timestamps: set[int] = set()
        self.signed_up: set[int] = set()
        self.contexts: dict[str, EndpointContext] = {}
        self.out: list[GeneratedEvent] = []
        self.hour_cum = list(accumulate(HOUR_WEIGHTS))
        self._build_audiences(population)
        self._build_messages(seed)
        # An activity whose audience is empty (a small population without SMS users...) never happens.
        kinds = [f.name for f in fields(mix) if self._reachable(f.name)]
        self.activity_kinds = kinds
        self.activity_cum = list(accumulate(getattr(mix, k) for k in kinds))
        self.handlers = {k: getattr(self, f"_{k}") for k in kinds}

    # ---- setup -------------------------------------------------------------------------------
    def _reachable(self, kind: str) -> bool:
        audience = kind.split("_", 1)[0]
        audience = "push" if audience == "app" else audience
        return audience not in self.audiences or bool(self.audiences[audience][0])

    def _build_audiences(self, population: Population) -> None:
        self.audiences: dict[str, tuple[list[User], list[float]]] = {}
        for name, channels in (("email", (EMAIL,)), ("sms", (SMS,)), ("push", PUSH_CHANNELS)):
            users = [u for u in population.users if u.endpoints_on(*channels)]
            self.audiences[name] = (users, list(accumulate(u.engagement for u in users)))

    def _build_messages(self, seed: int) -> None:
        fake = Faker("en_US")
        fake.seed_instance(seed)
        rng = self.rng

        def message(channel: str, journey: bool) -> Message:
            sets: list[dict[str, str]] = []
            top_id = rng.getrandbits(128).to_bytes(16, "big").hex()
            if journey:
                activities = [f"{rng.getrandbits(64):016x}" for _ in range(rng.randint(2, 4))]
                for _ in range(rng.randint(1, 3)):
                    run_id = f"{rng.getrandbits(128):032x}"
                    sets += [
                        {"journey_id": top_id, "journey_run_id": run_id, "journey_activity_id": a}
                        for a in activities
                    ]
            else:
                for _ in range(rng.randint(1, 4)):
                    activity = f"{rng.getrandbits(128):032x}"
                    sets += [
                        {
                            "campaign_id": top_id,
                            "campaign_activity_id": activity,
                            "treatment_id": str(t),
                            "campaign_type": "BATCH",
                            "campaign_send_status": "SUCCESS",
                        }
                        for t in range(rng.randint(1, 2))
                    ]
            # Faker's reserved example.com/.org/.net domains and the fictional +1 NPA 555-01XX numbers:
            # nothing generated resembles a real mailbox or phone.
            sender = fake.safe_email() if channel == EMAIL else "+1" + fake.numerify("###55501##")
            return Message(channel, tuple(sets), sender, fake.catch_phrase())

        self.messages = {
            "email_campaign": [message(EMAIL, False) for _ in range(8)],
            "email_journey": [message(EMAIL, True) for _ in range(3)],
            "sms_campaign": [message(SMS, False) for _ in range(4)],
            "sms_journey": [message(SMS, True) for _ in range(2)],
            "push_campaign": [message("PUSH", False) for _ in range(5)],
            "push_journey": [message("PUSH", True) for _ in range(2)],
        }
        self.transactional_sender = fake.safe_email()

    # ---- driver ------------------------------------------------------------------------------
    def generate(self, events: int) -> list[GeneratedEvent]:
        """Exactly `events` distinct events, sorted by event time (a stream carries them so)."""
        rng, kinds, cum, handlers = self.rng, self.activity_kinds, self.activity_cum, self.handlers
        while len(self.out) < events:
            handlers[kinds[bisect(cum, rng.random() * cum[-1])]]()
        del self.out[events:]  # the tail of the last funnel: a shorter funnel is still a funnel
        self.out.sort(key=lambda e: e.timestamp)
        return self.out

    # ---- helpers -----------------------------------------------------------------------------
    def _pick(self, audience: str) -> User:
        users, cum = self.audiences[audience]
        return users[bisect(cum, self.rng.random() * cum[-1])]

    def _context(self, user: User, endpoint: Endpoint) -> EndpointContext:
        ctx = self.contexts.get(endpoint.endpoint_id)
        if ctx is None:
            ctx = endpoint_context(user, endpoint, self.app_id, self.effective_date)
            self.contexts[endpoint.endpoint_id] = ctx
        return ctx

    def _start_time(self, user: User) -> int:
        rng = self.rng
        hour = bisect(self.hour_cum, rng.random() * self.hour_cum[-1])
        local = hour * HOUR + int(rng.random() * HOUR)
        t = self.start + rng.randrange(self.days) * DAY + local - user.utc_offset_minutes * MINUTE
        if t < self.start:
            t += DAY
        elif t > self.end - 6 * HOUR:
            t -= DAY
        return t

    def _p(self, base: float, user: User) -> float:
        return min(0.95, base * user.engagement)

    def _emit(self, partition_key: str, timestamp: int, data: bytes) -> None:
        self.out.append(GeneratedEvent(timestamp, partition_key, data))

    def _attributes_json(self, attributes: dict[str, str], delivery_type: str = "") -> str:
        """Campaign/journey attributes (plus `delivery_type` for push), encoded once per message."""
        key = (id(attributes), delivery_type)
        cached = self.json_cache.get(key)
        if cached is None:
            extra = {"delivery_type": delivery_type} if delivery_type else {}
            cached = self.json_cache[key] = dumps({**attributes, **extra})
        return cached

    def _stamp(self, t: int) -> int | None:
        """A unique millisecond at or just after `t`; None when `t` is past the simulated period."""
        if t > self.end:
            return None
        used = self.used_timestamps
        while t in used:
            t += 1
        used.add(t)
        return t

    def _arrival(self, t: int) -> int:
        return t + 200 + int(self.rng.random() * 3000)

    # ---- e-mail ------------------------------------------------------------------------------
    def _email_campaign(self) -> None:
        self._email_message("email_campaign")

    def _email_journey(self) -> None:
        self._email_message("email_journey")

    def _email_transactional(self) -> None:
        self._email_message(None)

    def _email_message(self, kind: str | None) -> None:
        rng = self.rng
        user = self._pick("email")
        t0 = self._start_time(user)
        if kind is None:
            targets = [rng.choice(user.endpoints_on(EMAIL))]
            attributes: dict[str, str] = {}
            sender, subject = self.transactional_sender, "Your receipt"
        else:
            msg = rng.choice(self.messages[kind])
            targets = user.endpoints_on(EMAIL)  # a segment includes every endpoint of the user
            attributes = rng.choice(msg.attribute_sets)
            sender, subject = msg.sender, msg.subject
        for endpoint in targets:
            self._email_to(user, endpoint, kind, attributes, sender, subject, t0)

    def _email_to(
        self,
        user: User,
        endpoint: Endpoint,
        kind: str | None,
        attributes: dict[str, str],
        sender: str,
        subject: str,
        t0: int,
    ) -> None:
        rng, rates = self.rng, self.rates
        if kind is None:  # transactional sends: client_id is a random UUID and no endpoint is attached
            client_id = new_id(rng)
            endpoint_json: str | None = None
            key = client_id
        else:
            ctx = self._context(user, endpoint)
            client_id, endpoint_json, key = ctx.client_id, ctx.endpoint_json, ctx.user_key
        message_id = f"0100{rng.getrandbits(60):015x}-{new_id(rng)}-000000"
        mail_json = dumps(mail_object(message_id, t0, sender, endpoint.address, subject))
        app_json = self.server_app_json
        attributes_json = self._attributes_json(attributes) if attributes else EMPTY_JSON

        def emit(event_type: str, t: int, detail: dict[str, Any] | str) -> int | None:
            ts = self._stamp(t)
            if ts is not None:
                data = record(
                    event_type,
                    ts,
                    self._arrival(ts),
                    app_json,
                    client_id,
                    attributes_json=attributes_json,
                    endpoint_json=endpoint_json,
                    facets_json=email_facets_json(
                        mail_json, event_type, detail if isinstance(detail, str) else dumps(detail)
                    ),
                )
                self._emit(key, ts, data)
            return ts

        t = emit("_email.send", t0, EMPTY_JSON)
        if t is None:
            return
        r = rng.random()
        if r < rates.email_rejected:
            emit("_email.rejected", t + 50, {"reason": "Bad content"})
            return
        r -= rates.email_rejected
        if r < rates.email_hard_bounce + rates.email_soft_bounce:
            hard = r < rates.email_hard_bounce
            emit(
                "_email.hardbounce" if hard else "_email.softbounce",
                t + (1 + int(rng.random() * 20)) * SECOND,
                self._bounce(endpoint.address, hard),
            )
            return
        t = emit(
            "_email.delivered",
            t + (1 + int(rng.random() * 30)) * SECOND,
            f'{{"smtp_response":"250 ok","reporting_mta":"a8-70.smtp-out.amazonses.com",'
            f'"recipients":[{quote(endpoint.address)}],'
            f'"processing_time_millis":{300 + int(rng.random() * 2700)}}}',
        )
        if t is None:
            return
        if rng.random() < rates.email_complaint:
            emit(
                "_email.complaint",
                t + int(rng.expovariate(1 / (6 * HOUR))),
                {
                    "complained_recipients": [{"email_address": endpoint.address}],
                    "complaint_feedback_type": "abuse",
                    "feedback_id": new_id(rng),
                    "user_agent": "ExampleFeedbackLoop/1.0",
                },
            )
            return
        if rng.random() >= self._p(rates.email_open, user):
            return
        # Never within 30 s of the send: these funnels have no machines (simulator/successor.py has them),
        # so none of their people is weighed by the default send-time proximity (10 s).
        opened = max(t + int(rng.expovariate(1 / (4 * HOUR))), t0 + 30 * SECOND)
        opens = 1
        while opens < 4 and rng.random() < rates.email_repeat_open:
            opens += 1
        last: int | None = opened
        for _ in range(opens):
            last = emit("_email.open", opened, self._client_detail(rng, None))
            if last is None:
                break
            opened = last + int(rng.expovariate(1 / HOUR))
        if last is None:
            return
        if rng.random() < self._p(rates.email_click, user):
            clicked = last + (5 + int(rng.random() * 596)) * SECOND
            for _ in range(1 + (rng.random() < 0.25)):
                link = f"https://shop.example.com/p/{int(rng.random() * 1000)}?utm_source=email"
                done = emit("_email.click", clicked, self._client_detail(rng, link))
                if done is None:
                    break
                clicked = done + (5 + int(rng.random() * 896)) * SECOND
        if rng.random() < rates.email_unsubscribe:
            detail = self._client_detail(rng, "https://shop.example.com/unsubscribe")
            emit("_email.unsubscribe", last + (5 + int(rng.random() * 596)) * SECOND, detail)

    def _client_detail(self, rng: random.Random, link: str | None) -> str:
        """The JSON of an open/click detail. 203.0.113.0/24 is reserved for documentation."""
        agent = USER_AGENTS_JSON[int(rng.random() * len(USER_AGENTS_JSON))]
        link_part = f',"link":{quote(link)}' if link else ""
        return f'{{"user_agent":{agent},"ip_address":"203.0.113.{1 + int(rng.random() * 254)}"{link_part}}}'

    def _bounce(self, address: str, hard: bool) -> dict[str, Any]:
        status, code = (
            ("5.1.1", "smtp; 550 5.1.1 user unknown") if hard else ("4.2.2", "smtp; 452 mailbox full")
        )
        return {
            "bounce_type": "Permanent" if hard else "Transient",
            "bounce_sub_type": "General" if hard else "MailboxFull",
            "bounced_recipients": [
                {"email_address": address, "action": "failed", "status": status, "diagnostic_code": code}
            ],
            "feedback_id": new_id(self.rng),
            "reporting_mta": "dsn; a8-70.smtp-out.amazonses.com",
        }

    # ---- SMS ---------------------------------------------------------------------------------
    def _sms_campaign(self) -> None:
        self._sms_message("sms_campaign")

    def _sms_journey(self) -> None:
        self._sms_message("sms_journey")

    def _sms_message(self, kind: str) -> None:
        rng = self.rng
        user = self._pick("sms")
        msg = rng.choice(self.messages[kind])
        base = rng.choice(msg.attribute_sets)
        t0 = self._start_time(user)
        for endpoint in user.endpoints_on(SMS):
            self._sms_to(user, endpoint, msg, base, t0)

    def _sms_to(self, user: User, endpoint: Endpoint, msg: Message, base: dict[str, str], t0: int) -> None:
        rng, rates = self.rng, self.rates
        ctx = self._context(user, endpoint)
        message_id = f"{new_id(rng)}-{rng.getrandbits(32):08x}"
        prefix = sms_attributes_prefix(base, message_id, endpoint.address, msg.sender, user.country.iso_code)

        def emit(event_type: str, at: int, status: str) -> int | None:
            ts = self._stamp(at)
            if ts is not None:
                data = record(
                    event_type,
                    ts,
                    self._arrival(ts),
                    self.server_app_json,
                    ctx.client_id,
                    attributes_json=sms_attributes_json(prefix, status),
                    metrics_json=SMS_METRICS_JSON,
                    endpoint_json=ctx.endpoint_json,
                )
                self._emit(ctx.user_key, ts, data)
            return ts

        at = t0
        if rng.random() < rates.sms_buffered:
            buffered = emit("_SMS.BUFFERED", t0, "PENDING")
            if buffered is None:
                return
            at = buffered
        at = at + (1 + int(rng.random() * 60)) * SECOND
        if rng.random() < rates.sms_failure:
            emit("_SMS.FAILURE", at, rng.choice(SMS_FAILURE_STATUSES))
            return
        done = emit("_SMS.SUCCESS", at, "DELIVERED")
        if done is not None and rng.random() < rates.sms_optout:
            emit("_SMS.OPTOUT", done + int(rng.expovariate(1 / HOUR)), "OPTED_OUT")

    # ---- push --------------------------------------------------------------------------------
    def _push_campaign(self) -> None:
        self._push_message("push_campaign", "_campaign.send")

    def _push_journey(self) -> None:
        self._push_message("push_journey", "_journey.send")

    def _push_message(self, kind: str, send_type: str) -> None:
        rng, rates = self.rng, self.rates
        user = self._pick("push")
        msg = rng.choice(self.messages[kind])
        base = rng.choice(msg.attribute_sets)
        t0 = self._start_time(user)
        for endpoint in user.endpoints_on(*PUSH_CHANNELS):
            ctx = self._context(user, endpoint)
            attributes = self._attributes_json(base, endpoint.channel_type)
            ts = self._stamp(t0)
            if ts is None:
                continue
            sent = record(
                send_type,
                ts,
                self._arrival(ts),
                self.server_app_json,
                ctx.client_id,
                attributes_json=attributes,
                endpoint_json=ctx.endpoint_json,
            )
            self._emit(ctx.user_key, ts, sent)
            if send_type != "_campaign.send" or rng.random() >= rates.push_received:
                continue
            foreground = rng.random() < rates.push_foreground
            received_type = "_campaign.received_foreground" if foreground else "_campaign.received_background"
            got = self._app_event(
                ctx, received_type, ts + (1 + int(rng.random() * 30)) * SECOND, EMPTY_JSON, attributes
            )
            if got is not None and rng.random() < self._p(rates.push_open, user):
                opened_at = got + int(rng.expovariate(1 / (2 * HOUR)))
                self._app_event(ctx, "_campaign.opened_notification", opened_at, EMPTY_JSON, attributes)

    # ---- app sessions ------------------------------------------------------------------------
    def _app_event(
        self,
        ctx: EndpointContext,
        event_type: str,
        at: int,
        session_json: str,
        attributes_json: str,
        metrics_json: str | None = None,
    ) -> int | None:
        ts = self._stamp(at)
        if ts is not None:
            data = record(
                event_type,
                ts,
                self._arrival(ts),
                ctx.sdk_application_json,
                ctx.client_id,
                device_json=ctx.device_json,
                session_json=session_json,
                attributes_json=attributes_json,
                metrics_json=metrics_json,
                endpoint_json=ctx.endpoint_json,
            )
            self._emit(ctx.user_key, ts, data)
        return ts

    def _app_session(self) -> None:
        rng, rates = self.rng, self.rates
        user = self._pick("push")
        endpoint = rng.choice(user.endpoints_on(*PUSH_CHANNELS))
        ctx = self._context(user, endpoint)
        started = self._stamp(self._start_time(user))
        if started is None:
            return
        session_id = f"{rng.getrandbits(32):08x}-{started}"
        opened = {"session_id": session_id, "start_timestamp": started}
        session_json = dumps(opened)
        start = record(
            "_session.start",
            started,
            self._arrival(started),
            ctx.sdk_application_json,
            ctx.client_id,
            device_json=ctx.device_json,
            session_json=session_json,
            endpoint_json=ctx.endpoint_json,
        )
        self._emit(ctx.user_key, started, start)
        t: int | None = started
        if user.user_id is not None and user.index not in self.signed_up and rng.random() < rates.sign_up:
            self.signed_up.add(user.index)
            at = started + (10 + int(rng.random() * 111)) * SECOND
            t = self._app_event(ctx, "_userauth.sign_up", at, session_json, EMPTY_JSON)
        elif user.user_id is not None and rng.random() < rates.sign_in:
            at = started + (2 + int(rng.random() * 29)) * SECOND
            t = self._app_event(ctx, "_userauth.sign_in", at, session_json, EMPTY_JSON)
        for _ in range(self._poisson(rates.custom_events * user.engagement)):
            if t is None:
                return
            item = f'{{"item_id":"sku-{int(rng.random() * 500):04d}"}}'
            t = self._app_event(
                ctx, rng.choice(CUSTOM_EVENTS), t + (5 + int(rng.random() * 296)) * SECOND, session_json, item
            )
        if t is not None and rng.random() < self._p(rates.purchase, user):
            store = "GooglePlay" if endpoint.platform == "android" else "AppleAppStore"
            attributes = {
                "_currency": "USD",
                "_product_id": f"sku-{int(rng.random() * 500):04d}",
                "_store": store,
            }
            metrics = {
                "_quantity": float(1 + int(rng.random() * 3)),
                "_item_price": round(rng.uniform(1, 200), 2),
            }
            at = t + (10 + int(rng.random() * 291)) * SECOND
            t = self._app_event(
                ctx, "_monetization.purchase", at, session_json, dumps(attributes), dumps(metrics)
            )
        if t is None:
            return
        stopped = self._stamp(t + (5 + int(rng.random() * 116)) * SECOND)
        if stopped is None:
            return
        closed = dumps({**opened, "stop_timestamp": stopped, "duration": stopped - started})
        data = record(
            "_session.stop",
            stopped,
            self._arrival(stopped),
            ctx.sdk_application_json,
            ctx.client_id,
            device_json=ctx.device_json,
            session_json=closed,
            endpoint_json=ctx.endpoint_json,
        )
        self._emit(ctx.user_key, stopped, data)

    def _poisson(self, mean: float) -> int:
        n, p, threshold = 0, 1.0, 2.718281828459045 ** (-mean)
        while True:
            p *= self.rng.random()
            if p <= threshold:
                return n
            n += 1

    # ---- the event stream test event ---------------------------------------------------------
    def _test_event(self) -> None:
        ts = self._stamp(self.start + self.rng.randrange(self.days * DAY))
        if ts is not None:
            client_id = new_id(self.rng)
            self._emit(
                client_id, ts, record("_test.event_stream", ts, ts + 100, self.server_app_json, client_id)
            )
