"""The successor workload: SES e-mail, End User Messaging SMS and app events, in the shapes AWS delivers.

Record builders (shapes from the samples in tests/events/ses, sms and envelopes, which follow AWS's pages
listed in ../shared/docs/domain.md):

- SES event publishing records, all ten `eventType`s, `mail.tags` carrying the user-key tag and the
  campaign tag (tag values are lists), bare or wrapped as the default-bus rule delivers them to a
  Kinesis target (the whole event JSON: `version`, `id`, `detail-type`, `source` aws.ses, `detail`);
- End User Messaging SMS event records (TEXT_*, `context` with the user key and campaign), carried in a
  CloudWatch Logs subscription DATA_MESSAGE (gzip, several log events per record), as the SMS path's log
  group and subscription filter deliver them; AWS's own EventBridge SMS events (no destination number, no
  context: always `no_user_key`);
- inbound two-way STOP payloads as SNS -> SQS -> EventBridge Pipes hands them to Kinesis (the SQS message
  with the SNS notification as its `body`);
- custom-format app events (`engagement.event/1`): push received/opened, sessions, sign-ups, purchases.

Addresses come from the population (Faker's reserved example.com/.org/.net domains); phone numbers are
the reserved fictional +1 NPA 555-01XX numbers, one per user (`reserved_phone`), so nothing resembles a
real person's contact data.

Uniqueness: every event gets a millisecond no other event of the run has (`_stamp`), so two distinct
events never share what the engine identifies them by (type, message id, time, user). The only repeats
are deliberate: EventBridge redeliveries (`redelivery=True`, the exact bytes again) and the second
status of an SMS message (TEXT_SUCCESSFUL, then TEXT_DELIVERED: one `_SMS.SUCCESS`).

Partition keys: the user key where the record carries one, else a digest of the recipient address (so a
user keyed by address, with RECIPIENT_USER_KEY opted in, still has one shard), else the message id;
never an address itself.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import random
from bisect import bisect
from dataclasses import dataclass, fields
from itertools import accumulate
from typing import Any

from faker import Faker

from simulator.funnels import DAY, HOUR, HOUR_WEIGHTS, HUMAN, MINUTE, SECOND, GeneratedEvent, GroundTruth
from simulator.population import EMAIL, PUSH_CHANNELS, SMS, Population, User, new_id

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
CONFIGURATION_SET = "engagement-scoring"
USER_KEY_TAG = "user_key"
CAMPAIGN_TAG = "campaign"
CUSTOM_SCHEMA = "engagement.event/1"
SMS_LOG_GROUP = "/aws/sms-voice/engagement-events"
SMS_SUBSCRIPTION_FILTER = "engagement-scoring"
INBOUND_TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:engagement-inbound-sms"
INBOUND_QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:engagement-inbound-sms"
# The reserved fictional numbers: 555-0100 to 555-0199 in every North American area code.
_AREA_CODE_LIST = (
    "201 202 203 205 206 207 208 209 210 212 213 214 215 216 217 218 219 224 225 228 229 231 234 239 "
    "240 248 251 252 253 254 256 260 262 267 269 270 276 281 301 302 303 304 305 307 308 309 310 312 "
    "313 314 315 316 317 318 319 320 321 323 325 330 331 334 336 337 339 347 351 352 360 361 385 386 "
    "401 402 404 405 406 407 408 409 410 412 413 414 415 417 419 423 424 425 "
)
AREA_CODES = tuple(_AREA_CODE_LIST.split())
ORIGINATION_NUMBER = "+12065550100"
SES_DETAIL_TYPES = {
    "Send": "Email Sent",
    "Delivery": "Email Delivered",
    "Open": "Email Opened",
    "Click": "Email Clicked",
    "Bounce": "Email Bounced",
    "Complaint": "Email Complaint Received",
    "Reject": "Email Rejected",
    "Rendering Failure": "Email Rendering Failed",
    "DeliveryDelay": "Email Delivery Delayed",
    "Subscription": "Email Subscribed",
}
# eventType -> the key of its own object in the record
SES_TYPE_OBJECTS = {
    "Send": "send",
    "Delivery": "delivery",
    "Open": "open",
    "Click": "click",
    "Bounce": "bounce",
    "Complaint": "complaint",
    "Reject": "reject",
    "Rendering Failure": "failure",
    "DeliveryDelay": "deliveryDelay",
    "Subscription": "subscription",
}
SMS_FAILURES = ("TEXT_BLOCKED", "TEXT_INVALID", "TEXT_UNREACHABLE", "TEXT_CARRIER_UNREACHABLE", "TEXT_SPAM")
SMS_STATUS = {
    "TEXT_QUEUED": ("QUEUED", "Message is queued for delivery", False),
    "TEXT_SUCCESSFUL": ("SUCCESSFUL", "Message has been accepted by phone carrier", True),
    "TEXT_DELIVERED": ("DELIVERED", "Message has been accepted by phone", True),
    "TEXT_BLOCKED": ("BLOCKED", "Message has been blocked by the carrier", True),
    "TEXT_INVALID": ("INVALID", "Invalid destination phone number", True),
    "TEXT_UNREACHABLE": ("UNREACHABLE", "The destination phone number is unreachable", True),
    "TEXT_CARRIER_UNREACHABLE": ("CARRIER_UNREACHABLE", "The carrier is unreachable", True),
    "TEXT_SPAM": ("SPAM", "The message was flagged as spam by the carrier", True),
}
USER_AGENTS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Version/17.4 Safari/605.1.15",
)
CUSTOM_APP_EVENTS = ("product_viewed", "add_to_cart", "article_read", "level_completed")

# Machine engagement (docs/scoring.md, "The simulator's machines"). A privacy-proxy reader's mail app
# fetches every delivered message through Apple's proxy, with this bare user agent, and the person's own
# opens come through the proxy too; a scanner-protected address has every link of a message followed by the
# security gateway seconds after delivery, all within SCANNER_SPREAD. The scanner's agent is on the
# scanner list examples/local gives the scorer: burst flags a click only with an earlier one of the message
# (stream order), so the scanner's first click of a message is caught by the list (and send-time proximity).
PROXY_USER_AGENT = "Mozilla/5.0"
SCANNER_USER_AGENT = "ExampleLinkScanner/2.0 (+https://scanner.example.net/about)"
SCANNER_SPREAD = 800  # ms from a scanner's first click of a message to its last (under the 1 s burst window)
PROXY_OPEN = GroundTruth("machine", ("privacy_proxy_open",))
SCANNER_CLICK = GroundTruth("machine", ("scanner_list", "burst"))
# A scanner's first click of a message has no earlier click with it in stream order: burst cannot catch it
# (docs/scoring.md, "Burst"); the scanner list does.
SCANNER_FIRST_CLICK = GroundTruth("machine", ("scanner_list",))
PRIVACY_PROXY = "privacy_proxy"
SCANNER = "scanner"

_dumps = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


def iso_ms(ms: int) -> str:
    """SES's timestamps: ISO 8601 in UTC with milliseconds (`2017-08-05T00:41:02.669Z`)."""
    moment = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def iso_s(ms: int) -> str:
    """EventBridge's `time`: to the second."""
    return dt.datetime.fromtimestamp(ms // 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def reserved_phone(index: int) -> str:
    """A reserved fictional North American number (+1 NPA 555-01XX), distinct for the first 9,000 users."""
    area = AREA_CODES[(index // 100) % len(AREA_CODES)]
    return f"+1{area}55501{index % 100:02d}"


def address_partition_key(kind: str, address: str) -> str:
    """A partition key for a record whose user is its recipient: a digest, never the address."""
    return "addr-" + hashlib.sha256(f"{kind}:{address}".encode()).hexdigest()[:32]


# ---- record builders ------------------------------------------------------------------------------


def ses_mail(
    message_id: str,
    sent_ms: int,
    sender: str,
    recipient: str,
    subject: str,
    user_key: str | None,
    campaign: str | None,
) -> dict[str, Any]:
    """The `mail` object every event of one SES message shares; tags as SES publishes them (lists)."""
    tags: dict[str, list[str]] = {
        "ses:configuration-set": [CONFIGURATION_SET],
        "ses:source-ip": ["192.0.2.10"],
        "ses:from-domain": [sender.rpartition("@")[2]],
        "ses:caller-identity": ["engagement-sender"],
    }
    if user_key is not None:
        tags[USER_KEY_TAG] = [user_key]
    if campaign is not None:
        tags[CAMPAIGN_TAG] = [campaign]
    return {
        "timestamp": iso_ms(sent_ms),
        "source": sender,
        "sourceArn": f"arn:aws:ses:{REGION}:{ACCOUNT_ID}:identity/{sender.rpartition('@')[2]}",
        "sendingAccountId": ACCOUNT_ID,
        "messageId": message_id,
        "destination": [recipient],
        "headersTruncated": False,
        "headers": [
            {"name": "From", "value": sender},
            {"name": "To", "value": recipient},
            {"name": "Subject", "value": subject},
            {"name": "MIME-Version", "value": "1.0"},
            {"name": "Content-Type", "value": "multipart/alternative"},
        ],
        "commonHeaders": {"from": [sender], "to": [recipient], "messageId": message_id, "subject": subject},
        "tags": tags,
    }


def ses_record(event_type: str, mail: dict[str, Any], detail: dict[str, Any]) -> dict[str, Any]:
    """One SES event publishing record: `eventType`, `mail`, and the type's own object."""
    return {"eventType": event_type, "mail": mail, SES_TYPE_OBJECTS[event_type]: detail}


def eventbridge_event(
    source: str, detail_type: str, detail: dict[str, Any], event_id: str, at_ms: int, resources: list[str]
) -> dict[str, Any]:
    """An event as an EventBridge rule delivers it to a Kinesis target without input transformation."""
    return {
        "version": "0",
        "id": event_id,
        "detail-type": detail_type,
        "source": source,
        "account": ACCOUNT_ID,
        "time": iso_s(at_ms),
        "region": REGION,
        "resources": resources,
        "detail": detail,
    }


def ses_eventbridge_event(record: dict[str, Any], event_id: str, at_ms: int) -> dict[str, Any]:
    arn = f"arn:aws:ses:{REGION}:{ACCOUNT_ID}:configuration-set/{CONFIGURATION_SET}"
    return eventbridge_event("aws.ses", SES_DETAIL_TYPES[record["eventType"]], record, event_id, at_ms, [arn])


def sms_record(
    event_type: str,
    at_ms: int,
    message_id: str,
    requested_ms: int,
    destination: str | None,
    context: dict[str, str] | None,
) -> dict[str, Any]:
    """One End User Messaging SMS event record (destination and context absent on its EventBridge events)."""
    status, description, final = SMS_STATUS[event_type]
    record: dict[str, Any] = {
        "eventType": event_type,
        "eventVersion": "1.0",
        "eventTimestamp": at_ms,
        "isFinal": final,
        "originationPhoneNumber": ORIGINATION_NUMBER,
    }
    if destination is not None:
        record["destinationPhoneNumber"] = destination
    record.update(
        isoCountryCode="US",
        mcc="310",
        mnc="800",
        messageId=message_id,
        messageRequestTimestamp=requested_ms,
        messageEncoding="GSM",
        messageType="PROMOTIONAL",
        messageStatus=status,
        messageStatusDescription=description,
    )
    if context is not None:
        record["context"] = context
    record.update(totalMessageParts=1, totalMessagePrice=0.00581, totalCarrierFee=0.003)
    return record


def cloudwatch_logs_record(log_events: list[tuple[str, int, str]], log_stream: str) -> bytes:
    """A CloudWatch Logs subscription DATA_MESSAGE as the stream carries it (gzip, fixed mtime so a seed
    gives the same bytes); `log_events` = (id, ingestion time ms, message)."""
    envelope = {
        "owner": ACCOUNT_ID,
        "logGroup": SMS_LOG_GROUP,
        "logStream": log_stream,
        "subscriptionFilters": [SMS_SUBSCRIPTION_FILTER],
        "messageType": "DATA_MESSAGE",
        "logEvents": [{"id": i, "timestamp": t, "message": m} for i, t, m in log_events],
    }
    return gzip.compress(_dumps(envelope).encode(), mtime=0)


def inbound_sms_payload(origination: str, keyword: str, inbound_id: str, replied_to: str) -> dict[str, Any]:
    """A two-way SMS payload as End User Messaging publishes it to SNS."""
    return {
        "originationNumber": origination,
        "destinationNumber": ORIGINATION_NUMBER,
        "messageKeyword": keyword,
        "messageBody": keyword,
        "inboundMessageId": inbound_id,
        "previousPublishedMessageId": replied_to,
    }


def sqs_pipes_record(payload: dict[str, Any], sns_id: str, sqs_id: str, at_ms: int) -> dict[str, Any]:
    """The inbound payload after SNS -> SQS -> EventBridge Pipes (no input template): the SQS message, whose
    `body` is the SNS notification, whose `Message` is the payload."""
    notification = {
        "Type": "Notification",
        "MessageId": sns_id,
        "TopicArn": INBOUND_TOPIC_ARN,
        "Message": _dumps(payload),
        "Timestamp": iso_ms(at_ms),
        "SignatureVersion": "1",
        "Signature": "EXAMPLE",
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-example.pem",
        "UnsubscribeURL": f"https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={INBOUND_TOPIC_ARN}:example",
    }
    return {
        "messageId": sqs_id,
        "receiptHandle": "AQEBexample",
        "body": _dumps(notification),
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": str(at_ms + 40),
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": str(at_ms + 90),
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(_dumps(notification).encode(), usedforsecurity=False).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": INBOUND_QUEUE_ARN,
        "awsRegion": REGION,
    }


def custom_event(
    event_type: str,
    user_key: str,
    at_ms: int,
    *,
    iso: bool = False,
    message_id: str | None = None,
    channel: str | None = None,
    campaign: str | None = None,
    metrics: dict[str, float] | None = None,
) -> dict[str, Any]:
    """An app event in the custom format (docs/formats.md)."""
    event: dict[str, Any] = {
        "schema": CUSTOM_SCHEMA,
        "event_type": event_type,
        "user_key": user_key,
        "timestamp": iso_ms(at_ms) if iso else at_ms,
    }
    if message_id is not None:
        event["message_id"] = message_id
    if channel is not None:
        event["channel"] = channel
    if campaign is not None:
        event["campaign"] = campaign
    if metrics is not None:
        event["metrics"] = metrics
    return event


# ---- the funnels ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SuccessorRates:
    """Funnel probabilities; open, click, push-open and purchase rates are multiplied by the user's
    engagement factor, then capped at 0.95."""

    ses_wrapped: float = 0.75  # SES records in the EventBridge envelope (else bare)
    eventbridge_redelivery: float = 0.03  # a wrapped record delivered twice (same id, same detail)
    ses_reject: float = 0.005
    ses_rendering_failure: float = 0.003
    ses_hard_bounce: float = 0.02
    ses_soft_bounce: float = 0.03
    ses_delivery_delay: float = 0.03  # of sent: a delay before the delivery
    ses_complaint: float = 0.003  # of delivered
    ses_open: float = 0.35  # of delivered
    ses_repeat_open: float = 0.3
    ses_click: float = 0.3  # of opened
    ses_unsubscribe: float = 0.03  # of opened: a Subscription event unsubscribing from all
    ses_subscription_change: float = 0.01  # of opened: a Subscription event that is no unsubscribe
    sms_queued: float = 0.3  # a TEXT_QUEUED before the final status
    sms_failure: float = 0.05
    sms_double_status: float = 0.4  # TEXT_SUCCESSFUL then TEXT_DELIVERED for one message
    sms_stop: float = 0.03  # of delivered: the recipient replies STOP
    push_received: float = 0.9
    push_open: float = 0.2  # of received
    sign_up: float = 0.5  # first session of an identified user
    custom_events: float = 1.2  # mean custom events per session
    purchase: float = 0.15  # per session
    # Campaign attribution (#11), off by default (so default workloads stay as they were): of clicked
    # campaign mails, a purchase (`_item_price` x `_quantity`) after an exponential delay of mean 72 h
    # (about 1 in 10 past the default 168 h window); of those, the click reaching the stream only after
    # the purchase (a late touch, never applied to it).
    campaign_purchase: float = 0.0
    late_touch: float = 0.0

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


@dataclass(frozen=True, slots=True)
class SuccessorMix:
    """Relative frequency of each kind of activity."""

    ses_campaign: float = 40
    ses_untagged: float = 3  # transactional mail without the user-key tag: `no_user_key`
    sms_campaign: float = 14
    sms_untagged: float = 1  # SMS sent without the user key in its context: `no_user_key`
    sms_eventbridge: float = 1  # AWS's own SMS EventBridge events: no context, `no_user_key`
    push_notification: float = 12
    app_session: float = 28


# Who each activity picks from.
ACTIVITY_AUDIENCES = {
    "ses_campaign": "email",
    "ses_untagged": "email",
    "sms_campaign": "sms",
    "sms_untagged": "sms",
    "sms_eventbridge": "sms",
    "push_notification": "app",
    "app_session": "app",
}


class SuccessorGenerator:
    """Emits the records of a successor workload, sorted by time; see the module docstring."""

    def __init__(
        self,
        population: Population,
        *,
        seed: int,
        period_end_ms: int,
        period_days: int,
        rates: SuccessorRates,
        mix: SuccessorMix,
        privacy_proxy_share: float = 0.0,
        scanner_share: float = 0.0,
    ) -> None:
        self.rng = random.Random(f"{seed}:successor")
        # Which e-mail users read through a privacy proxy or sit behind a link scanner: their own draw, so
        # the shares leave everything else of a seed's workload as it was.
        protection_rng = random.Random(f"{seed}:mail-protection")
        self.mail_protection: dict[int, str] = {}
        for user in population.users:
            if user.endpoints_on(EMAIL):
                r = protection_rng.random()
                if r < privacy_proxy_share:
                    self.mail_protection[user.index] = PRIVACY_PROXY
                elif r < privacy_proxy_share + scanner_share:
                    self.mail_protection[user.index] = SCANNER
        self.rates = rates
        self.end = period_end_ms
        self.start = period_end_ms - period_days * DAY
        self.days = period_days
        self.used_timestamps: set[int] = set()
        self.signed_up: set[int] = set()
        self.out: list[GeneratedEvent] = []
        self.hour_cum = list(accumulate(HOUR_WEIGHTS))
        self.log_event_ids = 10**55
        fake = Faker("en_US")
        fake.seed_instance(seed)
        self.campaigns = [f"{fake.word()}-{fake.word()}-{i}" for i in range(8)]
        self.subjects = [fake.catch_phrase() for _ in range(8)]
        self.sender = f"news@{fake.safe_domain_name()}"
        self.transactional_sender = f"receipts@{fake.safe_domain_name()}"
        self.audiences: dict[str, tuple[list[User], list[float]]] = {}
        for name, channels in (("email", (EMAIL,)), ("sms", (SMS,)), ("app", PUSH_CHANNELS)):
            users = [u for u in population.users if u.endpoints_on(*channels)]
            self.audiences[name] = (users, list(accumulate(u.engagement for u in users)))
        # An activity whose audience is empty (a small population without SMS users...) never happens.
        kinds = [f.name for f in fields(mix) if self.audiences[ACTIVITY_AUDIENCES[f.name]][0]]
        if not kinds or not any(getattr(mix, k) > 0 for k in kinds):
            raise ValueError("no activity of the mix has anyone to reach in this population")
        self.kinds = kinds
        self.kind_cum = list(accumulate(getattr(mix, k) for k in kinds))
        self.handlers = {k: getattr(self, f"_{k}") for k in kinds}

    def generate(self, records: int) -> list[GeneratedEvent]:
        """Exactly `records` records (redeliveries included), sorted by time."""
        rng, kinds, cum, handlers = self.rng, self.kinds, self.kind_cum, self.handlers
        while len(self.out) < records:
            handlers[kinds[bisect(cum, rng.random() * cum[-1])]]()
        del self.out[records:]
        self.out.sort(key=lambda e: e.timestamp)
        return self.out

    # ---- helpers --------------------------------------------------------------------------------
    def _pick(self, audience: str) -> User:
        users, cum = self.audiences[audience]
        return users[bisect(cum, self.rng.random() * cum[-1])]

    def _start_time(self, user: User) -> int:
        rng = self.rng
        hour = bisect(self.hour_cum, rng.random() * self.hour_cum[-1])
        t = self.start + rng.randrange(self.days) * DAY + hour * HOUR + int(rng.random() * HOUR)
        t -= user.utc_offset_minutes * MINUTE
        if t < self.start:
            t += DAY
        elif t > self.end - 6 * HOUR:
            t -= DAY
        return t

    def _stamp(self, t: int) -> int | None:
        if t > self.end:
            return None
        while t in self.used_timestamps:
            t += 1
        self.used_timestamps.add(t)
        return t

    def _p(self, base: float, user: User) -> float:
        return min(0.95, base * user.engagement)

    def _emit(
        self, partition_key: str, at: int, data: bytes, redelivery: bool = False, truth: GroundTruth = HUMAN
    ) -> None:
        self.out.append(GeneratedEvent(at, partition_key, data, redelivery, truth))

    def _id(self) -> str:
        return new_id(self.rng)

    # ---- SES ------------------------------------------------------------------------------------
    def _ses_campaign(self) -> None:
        self._ses_message(tagged=True)

    def _ses_untagged(self) -> None:
        self._ses_message(tagged=False)

    def _ses_message(self, tagged: bool) -> None:
        rng, rates = self.rng, self.rates
        user = self._pick("email")
        endpoint = rng.choice(user.endpoints_on(EMAIL))
        address = endpoint.address
        message_id = f"0100{rng.getrandbits(60):015x}-{self._id()}-000000"
        sent = self._stamp(self._start_time(user))
        if sent is None:
            return
        if tagged:
            pick = rng.randrange(len(self.campaigns))
            campaign: str | None = self.campaigns[pick]
            mail = ses_mail(
                message_id, sent, self.sender, address, self.subjects[pick], user.user_key, campaign
            )
            key = user.user_key
        else:
            mail = ses_mail(message_id, sent, self.transactional_sender, address, "Your receipt", None, None)
            key = address_partition_key("email", address.lower())

        def emit(
            event_type: str,
            at: int | None,
            detail: dict[str, Any],
            timed: bool = True,
            truth: GroundTruth = HUMAN,
        ) -> int | None:
            """One SES record at `at` (a fresh unique ms); Send/Reject/Rendering Failure carry no time."""
            ts = at if not timed else (self._stamp(at) if at is not None else None)
            if ts is None:
                return None
            if timed:
                detail = {**detail, "timestamp": iso_ms(ts)}
            record = ses_record(event_type, mail, detail)
            if rng.random() < rates.ses_wrapped:
                delivered = ts + 200 + int(rng.random() * 2000)
                data = _dumps(ses_eventbridge_event(record, self._id(), delivered)).encode()
                self._emit(key, ts, data, truth=truth)
                if rng.random() < rates.eventbridge_redelivery:
                    self._emit(key, ts + 1000 + int(rng.random() * 60_000), data, True, truth)
            else:
                self._emit(key, ts, _dumps(record).encode(), truth=truth)
            return ts

        emit("Send", sent, {}, timed=False)
        r = rng.random()
        if r < rates.ses_reject:
            emit("Reject", sent, {"reason": "Bad content"}, timed=False)
            return
        r -= rates.ses_reject
        if r < rates.ses_rendering_failure:
            failure = {
                "errorMessage": "Attribute 'name' is not present in the rendering data.",
                "templateName": "Welcome",
            }
            emit("Rendering Failure", sent, failure, timed=False)
            return
        r -= rates.ses_rendering_failure
        t = sent
        if r < rates.ses_hard_bounce + rates.ses_soft_bounce:
            hard = r < rates.ses_hard_bounce
            status, code = (
                ("5.1.1", "smtp; 550 5.1.1 user unknown")
                if hard
                else ("4.2.2", "smtp; 452 4.2.2 mailbox full")
            )
            emit(
                "Bounce",
                t + (1 + int(rng.random() * 20)) * SECOND,
                {
                    "bounceType": "Permanent" if hard else "Transient",
                    "bounceSubType": "General" if hard else "MailboxFull",
                    "bouncedRecipients": [
                        {
                            "emailAddress": address,
                            "action": "failed",
                            "status": status,
                            "diagnosticCode": code,
                        }
                    ],
                    "feedbackId": f"0100{rng.getrandbits(60):015x}-{self._id()}-000000",
                    "reportingMTA": "dsn; a8-70.smtp-out.amazonses.com",
                },
            )
            return
        if rng.random() < rates.ses_delivery_delay:
            delayed = emit(
                "DeliveryDelay",
                t + (30 + int(rng.random() * 300)) * SECOND,
                {
                    "delayType": "TransientCommunicationFailure",
                    "expirationTime": iso_ms(t + DAY),
                    "delayedRecipients": [
                        {
                            "emailAddress": address,
                            "status": "4.4.1",
                            "diagnosticCode": "smtp; 421 4.4.1 Unable to connect to remote host",
                        }
                    ],
                },
            )
            if delayed is None:
                return
            t = delayed
        delivered = emit(
            "Delivery",
            t + (1 + int(rng.random() * 30)) * SECOND,
            {
                "processingTimeMillis": 300 + int(rng.random() * 2700),
                "recipients": [address],
                "smtpResponse": "250 2.6.0 Message received",
                "reportingMTA": "a8-70.smtp-out.amazonses.com",
            },
        )
        if delivered is None:
            return
        protection = self.mail_protection.get(user.index)
        human_after = delivered  # the person's first open comes later than any machine's activity
        if protection == PRIVACY_PROXY:  # the mail app fetches the message (and its pixel) on delivery
            emit("Open", delivered + (1 + int(rng.random() * 60)) * SECOND, self._proxy(), truth=PROXY_OPEN)
        elif protection == SCANNER:  # the gateway follows every link of the message seconds after delivery
            at: int | None = delivered + (1 + int(rng.random() * 4)) * SECOND
            first = at
            for number in rng.sample(range(1000), 2 + int(rng.random() * 3)):
                assert at is not None and first is not None
                link = f"https://shop.example.com/p/{number}?utm_source=email"
                truth = SCANNER_FIRST_CLICK if at == first else SCANNER_CLICK
                at = emit("Click", min(at, first + SCANNER_SPREAD), self._scanner(link), truth=truth)
                if at is None:
                    break
                human_after = at
                at += 50 + int(rng.random() * 200)
        if rng.random() < rates.ses_complaint:
            emit(
                "Complaint",
                delivered + int(rng.expovariate(1 / (6 * HOUR))),
                {
                    "complainedRecipients": [{"emailAddress": address}],
                    "feedbackId": f"0100{rng.getrandbits(60):015x}-{self._id()}-000000",
                    "userAgent": "ExampleFeedbackLoop/1.0",
                    "complaintFeedbackType": "abuse",
                },
            )
            return
        if rng.random() >= self._p(rates.ses_open, user):
            return
        # A quick reader can open within the policy's send-time window: the oracle weighs that as the scorer
        # does (a human event flagged). After a scanner's clicks, by more than any burst window.
        opened_at = max(delivered + int(rng.expovariate(1 / (4 * HOUR))), human_after + 2 * SECOND)
        proxied = protection == PRIVACY_PROXY  # the person's own opens come through the proxy too
        opens = 1
        while opens < 4 and rng.random() < rates.ses_repeat_open:
            opens += 1
        last: int | None = None
        for _ in range(opens):
            last = emit("Open", opened_at, self._proxy() if proxied else self._client(None))
            if last is None:
                return
            opened_at = last + int(rng.expovariate(1 / HOUR))
        assert last is not None
        if rng.random() < self._p(rates.ses_click, user):
            clicked: int | None = last + (5 + int(rng.random() * 596)) * SECOND
            first_record, first_click = len(self.out), clicked
            for _ in range(1 + (rng.random() < 0.25)):
                link = f"https://shop.example.com/p/{int(rng.random() * 1000)}?utm_source=email"
                assert clicked is not None
                done = emit("Click", clicked, self._client(link))
                if done is None:
                    break
                clicked = done + (5 + int(rng.random() * 896)) * SECOND
            if tagged and rates.campaign_purchase and first_click is not None:
                self._campaign_purchase(user, first_click, first_record)
        r = rng.random()
        if r < rates.ses_unsubscribe + rates.ses_subscription_change:
            unsubscribe = r < rates.ses_unsubscribe
            newsletter = [{"topicName": "Newsletter", "subscriptionStatus": "OptIn"}]
            old = {"unsubscribeAll": False, "topicSubscriptionStatus": newsletter}
            new = (
                {"unsubscribeAll": True, "topicSubscriptionStatus": old["topicSubscriptionStatus"]}
                if unsubscribe
                else {
                    "unsubscribeAll": False,
                    "topicSubscriptionStatus": [{"topicName": "Offers", "subscriptionStatus": "OptIn"}],
                }
            )
            emit(
                "Subscription",
                last + (5 + int(rng.random() * 596)) * SECOND,
                {
                    "contactList": "Customers",
                    "source": "UnsubscribeHeader" if unsubscribe else "ListManagement",
                    "newTopicPreferences": new,
                    "oldTopicPreferences": old,
                },
            )

    def _campaign_purchase(self, user: User, clicked: int, first_record: int) -> None:
        """Maybe a purchase after a campaign click (#11); maybe the clicks (records from `first_record`)
        then reach the stream after it."""
        rng, rates = self.rng, self.rates
        if rng.random() >= rates.campaign_purchase:
            return
        clicks_end = len(self.out)
        bought = self._custom(
            user,
            "_monetization.purchase",
            clicked + int(rng.expovariate(1 / (72 * HOUR))),
            metrics={
                "_item_price": round(rng.uniform(5, 300), 2),
                "_quantity": float(1 + int(rng.random() * 3)),
            },
        )
        if bought is not None and rates.late_touch and rng.random() < rates.late_touch:
            for index in range(first_record, clicks_end):
                self.out[index] = self.out[index]._replace(
                    timestamp=bought + (1 + int(rng.random() * 3600)) * SECOND
                )

    def _proxy(self) -> dict[str, Any]:
        """A privacy-proxy image fetch: the bare agent, an address of the proxy (198.51.100.0/24 is
        reserved for documentation)."""
        return {"ipAddress": f"198.51.100.{1 + int(self.rng.random() * 254)}", "userAgent": PROXY_USER_AGENT}

    def _scanner(self, link: str) -> dict[str, Any]:
        """A link scanner's click (192.0.2.0/24: documentation addresses)."""
        return {
            "ipAddress": f"192.0.2.{100 + int(self.rng.random() * 100)}",
            "userAgent": SCANNER_USER_AGENT,
            "link": link,
            "linkTags": {"placement": ["hero"]},
        }

    def _client(self, link: str | None) -> dict[str, Any]:
        """An open's or click's details; 203.0.113.0/24 is reserved for documentation."""
        rng = self.rng
        detail: dict[str, Any] = {
            "ipAddress": f"203.0.113.{1 + int(rng.random() * 254)}",
            "userAgent": USER_AGENTS[int(rng.random() * len(USER_AGENTS))],
        }
        if link is not None:
            detail["link"] = link
            detail["linkTags"] = {"placement": ["hero"]}
        return detail

    # ---- SMS ------------------------------------------------------------------------------------
    def _sms_campaign(self) -> None:
        self._sms_message(tagged=True)

    def _sms_untagged(self) -> None:
        self._sms_message(tagged=False)

    def _sms_message(self, tagged: bool) -> None:
        """One text message's status events in one CloudWatch Logs record, and maybe a STOP reply."""
        rng, rates = self.rng, self.rates
        user = self._pick("sms")
        phone = reserved_phone(user.index)
        campaign = self.campaigns[rng.randrange(len(self.campaigns))]
        context = {CAMPAIGN_TAG: campaign}
        if tagged:
            context = {USER_KEY_TAG: user.user_key, **context}
            key = user.user_key
        else:
            key = address_partition_key("sms", phone)
        message_id = self._id()
        requested = self._start_time(user)
        statuses: list[str] = []
        if rng.random() < rates.sms_queued:
            statuses.append("TEXT_QUEUED")
        if rng.random() < rates.sms_failure:
            statuses.append(SMS_FAILURES[int(rng.random() * len(SMS_FAILURES))])
        else:
            statuses.append("TEXT_SUCCESSFUL")
            if rng.random() < rates.sms_double_status:
                statuses.append("TEXT_DELIVERED")
        log_events: list[tuple[str, int, str]] = []
        t = requested
        last: int | None = None
        for status in statuses:
            at = self._stamp(t + 100 + int(rng.random() * 3000))
            if at is None:
                break
            record = sms_record(status, at, message_id, requested, phone, context)
            self.log_event_ids += 1
            log_events.append((str(self.log_event_ids), at + 30, _dumps(record)))
            t = last = at
        if last is None:
            return
        self._emit(key, last, cloudwatch_logs_record(log_events, f"sms-{message_id[:8]}"))
        if statuses[-1] in ("TEXT_SUCCESSFUL", "TEXT_DELIVERED") and rng.random() < rates.sms_stop:
            replied = self._stamp(last + int(rng.expovariate(1 / HOUR)))
            if replied is not None:
                payload = inbound_sms_payload(phone, "STOP", self._id(), message_id)
                record = sqs_pipes_record(payload, self._id(), self._id(), replied)
                self._emit(address_partition_key("sms", phone), replied, _dumps(record).encode())

    def _sms_eventbridge(self) -> None:
        """AWS's own SMS EventBridge event: neither the destination number nor the context."""
        rng = self.rng
        user = self._pick("sms")
        message_id = self._id()
        requested = self._start_time(user)
        at = self._stamp(requested + 1000 + int(rng.random() * 3000))
        if at is None:
            return
        record = sms_record("TEXT_DELIVERED", at, message_id, requested, None, None)
        event = eventbridge_event(
            "aws.sms-voice", "Text Message Delivery Status Updated", record, self._id(), at + 500, []
        )
        self._emit(message_id, at, _dumps(event).encode())

    # ---- app events (custom format) -------------------------------------------------------------
    def _custom(self, user: User, event_type: str, at: int, **fields_: Any) -> int | None:
        ts = self._stamp(at)
        if ts is not None:
            iso = self.rng.random() < 0.2
            event = custom_event(event_type, user.user_key, ts, iso=iso, **fields_)
            self._emit(user.user_key, ts, _dumps(event).encode())
        return ts

    def _push_notification(self) -> None:
        rng, rates = self.rng, self.rates
        user = self._pick("app")
        campaign = self.campaigns[rng.randrange(len(self.campaigns))]
        message_id = f"push-{rng.getrandbits(48):012x}"
        t = self._start_time(user)
        if rng.random() >= rates.push_received:
            return
        foreground = rng.random() < 0.3
        received_type = "_campaign.received_foreground" if foreground else "_campaign.received_background"
        got = self._custom(user, received_type, t, message_id=message_id, campaign=campaign)
        if got is not None and rng.random() < self._p(rates.push_open, user):
            self._custom(
                user,
                "_campaign.opened_notification",
                got + int(rng.expovariate(1 / (2 * HOUR))),
                message_id=message_id,
                channel="push",
                campaign=campaign,
            )

    def _app_session(self) -> None:
        rng, rates = self.rng, self.rates
        user = self._pick("app")
        t = self._custom(user, "_session.start", self._start_time(user))
        if t is None:
            return
        if user.user_id is not None and user.index not in self.signed_up and rng.random() < rates.sign_up:
            self.signed_up.add(user.index)
            t = self._custom(user, "_userauth.sign_up", t + (10 + int(rng.random() * 111)) * SECOND)
        n, p, threshold = 0, 1.0, 2.718281828459045 ** (-rates.custom_events * user.engagement)
        while True:
            p *= rng.random()
            if p <= threshold:
                break
            n += 1
        for _ in range(n):
            if t is None:
                return
            name = CUSTOM_APP_EVENTS[int(rng.random() * len(CUSTOM_APP_EVENTS))]
            t = self._custom(user, name, t + (5 + int(rng.random() * 296)) * SECOND, channel="in_app")
        if t is not None and rng.random() < self._p(rates.purchase, user):
            value = round(rng.uniform(1, 200), 2)
            t = self._custom(
                user,
                "_monetization.purchase",
                t + (10 + int(rng.random() * 291)) * SECOND,
                metrics={"order_value_usd": value, "items": float(1 + int(rng.random() * 3))},
            )
        if t is not None:
            self._custom(user, "_session.stop", t + (5 + int(rng.random() * 116)) * SECOND)


# ---- malformed records of the successor workload -----------------------------------------------

# Each kind is chosen so that any engine following the contract rejects it (docs/formats.md).
SUCCESSOR_MALFORMED_KINDS = (
    "not_json",
    "binary",
    "empty",
    "truncated",  # the first part of a real record (gzip: a truncated member)
    "json_array",  # a real payload wrapped in [...]
    "json_scalar",
    "bad_timestamp",  # a real payload, bare, with its time replaced by a word (inbound: no time at all)
    "bad_envelope",  # an EventBridge event whose `detail` is a string
    "unknown_schema_version",
)


def innermost_payload(data: bytes) -> dict[str, Any]:
    """The payload inside a generated record's envelopes (the first log event of a CloudWatch Logs record)."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    value: Any = json.loads(data)
    while True:
        if "logEvents" in value:
            value = json.loads(value["logEvents"][0]["message"])
        elif "detail-type" in value:
            value = value["detail"]
        elif value.get("eventSource") == "aws:sqs":
            value = json.loads(value["body"])
        elif value.get("Type") == "Notification":
            value = json.loads(value["Message"])
        else:
            return dict(value)


def successor_malformed(kind: str, base: bytes, rng: random.Random) -> bytes:
    """Bytes of one malformed record of `kind`, derived from a generated record's bytes `base`."""
    if kind == "not_json":
        return f"eventType=Open&seq={rng.getrandbits(32)}".encode()
    if kind == "binary":
        return b"\xff\xfe\x00" + bytes(b for b in rng.randbytes(48) if b not in (0x0A, 0x0D))
    if kind == "empty":
        return b""
    if kind == "truncated":  # of the JSON itself: a cut gzip member could hold a line break
        text = gzip.decompress(base) if base[:2] == b"\x1f\x8b" else base
        return text[: rng.randrange(1, len(text) - 1)]
    if kind == "json_scalar":
        return rng.choice((b'"Open"', b"42", b"null", b"true"))
    payload = innermost_payload(base)
    if kind == "json_array":
        return b"[" + _dumps(payload).encode() + b"]"
    if kind == "bad_envelope":
        event = eventbridge_event("aws.ses", "Email Opened", {}, new_id(rng), 0, [])
        event["detail"] = _dumps(payload)
        return _dumps(event).encode()
    if kind == "unknown_schema_version":
        return _dumps(
            {
                "schema": "engagement.event/99",
                "event_type": "_email.click",
                "user_key": "u-malformed",
                "timestamp": 1_760_000_000_000,
            }
        ).encode()
    if kind == "bad_timestamp":
        if "mail" in payload:  # SES: the type's own time and the mail's
            payload["mail"] = {**payload["mail"], "timestamp": "yesterday"}
            sub = SES_TYPE_OBJECTS.get(payload.get("eventType", ""), "")
            if isinstance(payload.get(sub), dict) and "timestamp" in payload[sub]:
                payload[sub] = {**payload[sub], "timestamp": "yesterday"}
        elif "eventTimestamp" in payload:
            payload["eventTimestamp"] = "yesterday"
        elif "schema" in payload:
            payload["timestamp"] = "yesterday"
        elif "event_timestamp" in payload:  # Pinpoint, in a mixed workload
            payload["event_timestamp"] = "yesterday"
        # an inbound payload outside its SNS/SQS envelopes has no time at all
        return _dumps(payload).encode()
    raise ValueError(f"unknown malformed kind {kind!r}")
