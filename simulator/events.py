"""The record factory: Amazon Pinpoint event-stream records, one JSON object per Kinesis record.

Shapes follow AWS's "Streaming Amazon Pinpoint events" pages (email, SMS, campaign, journey and
application events; see ../shared/docs/domain.md): top-level `event_type`, `event_timestamp` and
`arrival_timestamp` (epoch ms), `event_version`, `application`, `client`, `device`, `session`,
`attributes` (strings), `metrics` (numbers), `awsAccountId`; e-mail events add
`facets.email_channel.mail_event`. Campaign, journey and app events carry the endpoint as a
top-level `endpoint` object (`Id`, `ChannelType`, `Address`, `User.UserId`, ...), so the engine
can read the user id without calling Pinpoint.

Speed matters (the benchmark wants >= 50,000 events/s on one core): the parts that do not change
between the events of one endpoint or one message (`application`, `device`, `endpoint`, the
e-mail `mail` object, campaign attributes) are encoded to JSON once and shared; each record is
assembled from those fragments.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii
from typing import Any

from simulator.population import Endpoint, User

ACCOUNT_ID = "123456789012"
EVENT_VERSION = "3.1"
SERVER_DEVICE_JSON = '{"platform":{}}'
EMPTY_JSON = "{}"

dumps = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode
quote = encode_basestring_ascii
_TAIL = f',"awsAccountId":"{ACCOUNT_ID}"'


@dataclass(slots=True)
class EndpointContext:
    """What every record about one endpoint shares, pre-encoded as JSON once per endpoint."""

    client_id: str
    user_key: str
    channel_type: str
    endpoint_json: str  # the top-level `endpoint` object of campaign/journey/app events
    device_json: str  # app events: the handset
    sdk_application_json: str  # `application` of app events (SDK fields filled)


def endpoint_context(user: User, endpoint: Endpoint, app_id: str, effective_date: str) -> EndpointContext:
    demographic: dict[str, Any] = {"Timezone": user.time_zone, "Locale": user.country.locale}
    if endpoint.platform:
        demographic.update(
            Make=endpoint.make,
            Model=endpoint.model,
            Platform=endpoint.platform,
            PlatformVersion=endpoint.os_version,
        )
    user_part: dict[str, Any] = {}
    if user.user_id is not None:
        user_part = {"UserId": user.user_id, "UserAttributes": {"FirstName": [user.first_name]}}
    endpoint_object = {
        "Id": endpoint.endpoint_id,
        "ChannelType": endpoint.channel_type,
        "Address": endpoint.address,
        "EndpointStatus": "ACTIVE",
        "OptOut": "NONE",
        "EffectiveDate": effective_date,
        "Demographic": demographic,
        "Location": {"Country": user.country.iso_code},
        "User": user_part,
    }
    device_json = SERVER_DEVICE_JSON
    if endpoint.platform:
        device_json = _device_json(
            user.country.locale,
            user.country.iso_code,
            endpoint.make,
            endpoint.model,
            endpoint.platform,
            endpoint.os_version,
        )
    return EndpointContext(
        endpoint.endpoint_id,
        user.user_key,
        endpoint.channel_type,
        dumps(endpoint_object),
        device_json,
        _application_json(app_id, endpoint.platform),
    )


@functools.cache
def _device_json(locale: str, country: str, make: str, model: str, platform: str, version: str) -> str:
    return dumps(
        {
            "locale": {"code": locale, "country": country, "language": locale[:2]},
            "make": make,
            "model": model,
            "platform": {"name": platform, "version": version},
        }
    )


@functools.cache
def _application_json(app_id: str, platform: str) -> str:
    """`application` of app events (SDK fields filled); server-side events (no platform) leave sdk empty."""
    if not platform:
        return dumps({"app_id": app_id, "sdk": {}})
    sdk_name = "aws-amplify-android" if platform == "android" else "aws-amplify-swift"
    return dumps(
        {
            "app_id": app_id,
            "package_name": "com.example.shop",
            "version_name": "4.2.0",
            "version_code": "420",
            "title": "Example Shop",
            "sdk": {"name": sdk_name, "version": "2.16.0"},
        }
    )


def record(
    event_type: str,
    timestamp: int,
    arrival: int,
    application_json: str,
    client_id: str,
    *,
    device_json: str = SERVER_DEVICE_JSON,
    session_json: str = EMPTY_JSON,
    attributes_json: str = EMPTY_JSON,
    metrics_json: str | None = None,
    endpoint_json: str | None = None,
    facets_json: str | None = None,
) -> bytes:
    """One Pinpoint event-stream record (the common envelope), as the bytes sent to Kinesis.

    The record is assembled from JSON fragments (each made by the json encoder), which is
    several times faster than encoding one big dict per event.
    """
    out = (
        f'{{"event_type":{quote(event_type)},"event_timestamp":{timestamp},"arrival_timestamp":{arrival},'
        f'"event_version":"{EVENT_VERSION}","application":{application_json},'
        f'"client":{{"client_id":{quote(client_id)}}},"device":{device_json},"session":{session_json},'
        f'"attributes":{attributes_json}'
    )
    if metrics_json is not None:
        out += f',"metrics":{metrics_json}'
    if endpoint_json is not None:
        out += f',"endpoint":{endpoint_json}'
    out += _TAIL
    if facets_json is not None:
        out += f',"facets":{facets_json}'
    return (out + "}").encode()


def mail_object(
    message_id: str, send_timestamp: int, sender: str, recipient: str, subject: str
) -> dict[str, Any]:
    """The `mail` part shared by every event of one e-mail message."""
    return {
        "message_id": message_id,
        "message_send_timestamp": send_timestamp,
        "from_address": sender,
        "destination": [recipient],
        "headers_truncated": False,
        "headers": [
            {"name": "From", "value": sender},
            {"name": "To", "value": recipient},
            {"name": "Subject", "value": subject},
            {"name": "MIME-Version", "value": "1.0"},
            {"name": "Content-Type", "value": "multipart/alternative"},
        ],
        "common_headers": {"from": sender, "to": [recipient], "subject": subject},
    }


# e-mail event type -> key of its detail object in `mail_event`
EMAIL_DETAIL_KEY = {
    "_email.send": "send",
    "_email.delivered": "delivery",
    "_email.rejected": "reject",
    "_email.hardbounce": "bounce",
    "_email.softbounce": "bounce",
    "_email.complaint": "complaint",
    "_email.open": "open",
    "_email.click": "click",
    "_email.unsubscribe": "unsubscribe",
    "_email.rendering_failure": "rendering_failure",
}


def email_facets_json(mail_json: str, event_type: str, detail_json: str) -> str:
    """`facets.email_channel.mail_event` with the shared `mail` part and this event's detail."""
    key = EMAIL_DETAIL_KEY[event_type]
    return f'{{"email_channel":{{"mail_event":{{"mail":{mail_json},"{key}":{detail_json}}}}}}}'


def sms_attributes_prefix(
    base: dict[str, Any], message_id: str, destination: str, origination: str, iso: str
) -> str:
    """SMS attributes of one message without their closing brace: the campaign/journey attributes
    plus the SMS delivery fields; `sms_attributes_json` adds the per-event `record_status`."""
    attributes = {
        **base,
        "sender_request_id": message_id[:36],
        "origination_phone_number": origination,
        "destination_phone_number": destination,
        "iso_country_code": iso,
        "number_of_message_parts": "1",
        "message_id": message_id,
        "message_type": "Promotional",
    }
    return dumps(attributes)[:-1]


def sms_attributes_json(prefix: str, record_status: str) -> str:
    return f'{prefix},"record_status":{quote(record_status)}}}'
