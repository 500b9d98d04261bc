"""A local stand-in for Amazon Connect Customer Profiles, which moto does not implement.

Serves on 127.0.0.1 what the score sync calls (PutProfileObject, GetProfileObjectType,
PutProfileObjectType), what the Terraform AWS provider calls for `aws_customerprofiles_domain`
(CreateDomain, GetDomain, UpdateDomain, DeleteDomain, TagResource, UntagResource, ListTagsForResource),
and what a reader needs to find the objects again (SearchProfiles, ListProfileObjects, CreateProfile,
DeleteProfileObjectType, ListProfileObjectTypes). Route a client to it with `endpoint_url=` or the SDK
setting AWS_ENDPOINT_URL_CUSTOMER_PROFILES.

Every request is validated against botocore's `customer-profiles` model first (rest_json.py), so a
request the real service would refuse for its shape is refused here with the model's error shape. Beyond
the shape, the stand-in enforces what the service documents:
- an unknown domain, object type or profile is a ResourceNotFoundException;
- an object type has at least one key, exactly one UNIQUE key, keys name defined fields, sources read
  `_source`, targets write a field of the standard profile (`_profile.EmailAddress`,
  `_profile.Attributes.<name>`, ...), its name does not start with `_` (reserved for standard types), and
  TemplateId excludes Fields, Keys, AllowProfileCreation and SourceLastUpdatedTimestampFormat;
- an object that is not a JSON object, or lacks a field of its type's UNIQUE key, is a BadRequestException;
  an object with the same UNIQUE value replaces the previous one;
- the object is tied to a profile by its PROFILE keys (keys without SECONDARY first, then SECONDARY ones);
  when none matches, a new profile is created if the type allows it (AllowProfileCreation). Its PROFILE
  keys are then associated with that profile (LOOKUP_ONLY ones never, NEW_ONLY ones for a new profile
  only), and fields with a Target are copied into the standard profile, which indexes its e-mail, phone
  and account fields under `_email`, `_phone` and `_account`, as the service's standard keys do.
Choices where AWS documents less, kept simple: a NUMBER field must hold a number (or a numeric string);
e-mail keys match case-insensitively and phone keys on their digits; an object that matches no profile
while its type forbids creating one is kept unattached (listed by `objects()`, by no profile); profiles
are never merged. Templates (TemplateId) are not known here: a type that names one is refused.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from simulator.local_cloud.rest_json import FaultInjection, Handler, RestJsonStandIn, ServiceError

NOT_FOUND = "ResourceNotFoundException"
BAD_REQUEST = "BadRequestException"
DEFAULT_ACCOUNT = "123456789012"  # moto's default account, so ARNs agree with the rest of the cloud
DEFAULT_REGION = "us-east-1"
LIST_PAGE = 100
# Fields of the standard profile a Target may write (the "Standard profile definition" page).
PROFILE_FIELDS = frozenset(
    {
        "AccountNumber",
        "AdditionalInformation",
        "PartyType",
        "BusinessName",
        "FirstName",
        "MiddleName",
        "LastName",
        "BirthDate",
        "Gender",
        "PhoneNumber",
        "MobilePhoneNumber",
        "HomePhoneNumber",
        "BusinessPhoneNumber",
        "EmailAddress",
        "PersonalEmailAddress",
        "BusinessEmailAddress",
    }
)
ADDRESS_FIELDS = frozenset({"Address", "ShippingAddress", "MailingAddress", "BillingAddress"})
ADDRESS_PARTS = frozenset(
    {"Address1", "Address2", "Address3", "Address4", "City", "County", "State", "Province", "Country"}
    | {"PostalCode"}
)
# The standard profile's own keys: index name -> the profile fields it covers.
STANDARD_KEYS = {
    "_email": ("EmailAddress", "PersonalEmailAddress", "BusinessEmailAddress"),
    "_phone": ("PhoneNumber", "MobilePhoneNumber", "HomePhoneNumber", "BusinessPhoneNumber"),
    "_account": ("AccountNumber",),
}
TEMPLATE_EXCLUDES = ("Fields", "Keys", "AllowProfileCreation", "SourceLastUpdatedTimestampFormat")
DOMAIN_SETTINGS = (
    "DefaultExpirationDays",
    "DefaultEncryptionKey",
    "DeadLetterQueueUrl",
    "Matching",
    "RuleBasedMatching",
    "DataStore",
)
_PLACEHOLDER = re.compile(r"\{\{\s*([^}]+?)\s*\}\}")


def _now() -> dt.datetime:
    return dt.datetime.now(tz=dt.UTC)


def _normalized(value: str, content_type: str) -> str:
    if content_type == "EMAIL_ADDRESS":
        return value.strip().lower()
    if content_type == "PHONE_NUMBER":
        return ("+" if value.strip().startswith("+") else "") + re.sub(r"\D", "", value)
    return value


def _read_source(source: str, document: dict[str, Any]) -> Any:
    """The value a field's Source names in the object: a `_source.a.b` accessor or a `{{...}}` template."""
    if "{{" in source:
        parts = [_read_source(name, document) for name in _PLACEHOLDER.findall(source)]
        if all(part is None for part in parts):
            return None
        values = iter("" if part is None else _text(part) for part in parts)
        return _PLACEHOLDER.sub(lambda _: next(values), source)
    value: Any = document
    for step in source.split(".")[1:]:
        if not isinstance(value, dict) or step not in value:
            return None
        value = value[step]
    return value


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


@dataclass
class Profile:
    profile_id: str
    fields: dict[str, Any] = field(default_factory=dict)  # standard profile fields, Attributes included
    keys: dict[str, set[str]] = field(default_factory=dict)  # key name -> normalized values

    def answer(self) -> dict[str, Any]:
        return {"ProfileId": self.profile_id, **copy.deepcopy(self.fields)}


@dataclass
class StoredObject:
    object_type: str
    unique_key: str  # ProfileObjectUniqueKey
    unique_value: str
    body: str  # the Object string as sent
    profile_id: str | None
    key_values: dict[str, str]  # key name -> normalized value, for ObjectFilter


@dataclass
class Domain:
    name: str
    arn: str
    created_at: dt.datetime
    updated_at: dt.datetime
    settings: dict[str, Any]
    object_types: dict[str, dict[str, Any]] = field(default_factory=dict)
    profiles: dict[str, Profile] = field(default_factory=dict)
    key_index: dict[tuple[str, str], str] = field(default_factory=dict)  # (key, value) -> profile id
    objects: dict[tuple[str, str], StoredObject] = field(default_factory=dict)  # (type, unique value)


class CustomerProfilesStandIn(RestJsonStandIn):
    """The HTTP server; a context manager. `objects()`, `profiles()` and `calls` are for inspection."""

    service_name = "customer-profiles"
    thread_name = "customer-profiles-standin"

    def __init__(
        self,
        port: int = 0,
        faults: FaultInjection | None = None,
        *,
        region: str = DEFAULT_REGION,
        account_id: str = DEFAULT_ACCOUNT,
    ) -> None:
        self.region = region
        self.account_id = account_id
        self._lock = threading.Lock()
        self._domains: dict[str, Domain] = {}
        self._tags: dict[str, dict[str, str]] = {}  # ARN -> tags
        super().__init__(port, faults)

    def handlers(self) -> dict[str, Handler]:
        return {
            "CreateDomain": self._create_domain,
            "GetDomain": self._get_domain,
            "UpdateDomain": self._update_domain,
            "DeleteDomain": self._delete_domain,
            "TagResource": self._tag_resource,
            "UntagResource": self._untag_resource,
            "ListTagsForResource": self._list_tags,
            "PutProfileObjectType": self._put_object_type,
            "GetProfileObjectType": self._get_object_type,
            "DeleteProfileObjectType": self._delete_object_type,
            "ListProfileObjectTypes": self._list_object_types,
            "PutProfileObject": self._put_object,
            "ListProfileObjects": self._list_objects,
            "SearchProfiles": self._search_profiles,
            "CreateProfile": self._create_profile,
        }

    # inspection ------------------------------------------------------------------------------------------
    def domain_names(self) -> list[str]:
        with self._lock:
            return sorted(self._domains)

    def objects(self, domain: str, object_type: str | None = None) -> dict[str, dict[str, Any]]:
        """Every stored object of the domain (of one type, or of all), parsed, by its UNIQUE key value."""
        with self._lock:
            stored = self._domain(domain).objects.values()
            return {
                item.unique_value: json.loads(item.body)
                for item in stored
                if object_type is None or item.object_type == object_type
            }

    def profiles(self, domain: str) -> dict[str, dict[str, Any]]:
        """Every profile of the domain by id: its standard fields and its keys."""
        with self._lock:
            return {
                profile_id: {**profile.answer(), "Keys": {k: sorted(v) for k, v in profile.keys.items()}}
                for profile_id, profile in self._domain(domain).profiles.items()
            }

    # domains ---------------------------------------------------------------------------------------------
    def _domain(self, name: str) -> Domain:
        domain = self._domains.get(name)
        if domain is None:
            raise ServiceError(NOT_FOUND, "Domain not found")
        return domain

    def _domain_answer(self, domain: Domain) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "DomainName": domain.name,
            **copy.deepcopy(domain.settings),
            "CreatedAt": domain.created_at,
            "LastUpdatedAt": domain.updated_at,
        }
        tags = self._tags.get(domain.arn)
        if tags:
            answer["Tags"] = dict(tags)
        return answer

    def _domain_arn(self, name: str) -> str:
        return f"arn:aws:profile:{self.region}:{self.account_id}:domains/{name}"

    def _create_domain(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["DomainName"]
        with self._lock:
            if name in self._domains:
                raise ServiceError(BAD_REQUEST, "A domain with this name already exists")
            now = _now()
            domain = Domain(
                name,
                self._domain_arn(name),
                now,
                now,
                {key: copy.deepcopy(params[key]) for key in DOMAIN_SETTINGS if key in params},
            )
            self._domains[name] = domain
            if params.get("Tags"):
                self._tags[domain.arn] = dict(params["Tags"])
            return self._domain_answer(domain)

    def _get_domain(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            return self._domain_answer(self._domain(params["DomainName"]))

    def _update_domain(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            domain = self._domain(params["DomainName"])
            for key in DOMAIN_SETTINGS:
                if key in params:
                    domain.settings[key] = copy.deepcopy(params[key])
            if params.get("Tags"):
                self._tags.setdefault(domain.arn, {}).update(params["Tags"])
            domain.updated_at = _now()
            return self._domain_answer(domain)

    def _delete_domain(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            domain = self._domain(params["DomainName"])
            del self._domains[domain.name]
            for arn in [arn for arn in self._tags if arn == domain.arn or arn.startswith(domain.arn + "/")]:
                del self._tags[arn]
            return {"Message": "Domain deleted"}

    # tags ------------------------------------------------------------------------------------------------
    def _resource(self, arn: str) -> str:
        prefix = f"arn:aws:profile:{self.region}:{self.account_id}:domains/"
        name, _, rest = arn.removeprefix(prefix).partition("/")
        domain = self._domains.get(name) if arn.startswith(prefix) else None
        if domain is None:
            raise ServiceError(NOT_FOUND, "Resource not found")
        if rest:
            kind, _, type_name = rest.partition("/")
            if kind != "object-types" or type_name not in domain.object_types:
                raise ServiceError(NOT_FOUND, "Resource not found")
        return arn

    def _tag_resource(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._tags.setdefault(self._resource(params["resourceArn"]), {}).update(params["tags"])
            return {}

    def _untag_resource(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            tags = self._tags.setdefault(self._resource(params["resourceArn"]), {})
            for key in params["tagKeys"]:
                tags.pop(key, None)
            return {}

    def _list_tags(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            tags = self._tags.get(self._resource(params["resourceArn"]))
            return {"tags": dict(tags)} if tags else {}

    # object types ----------------------------------------------------------------------------------------
    @staticmethod
    def _check_object_type(params: dict[str, Any]) -> None:
        """What the service documents beyond the request shape; raises BadRequestException."""
        if params["ObjectTypeName"].startswith("_"):
            raise ServiceError(BAD_REQUEST, "Object type names starting with _ are reserved")
        if "TemplateId" in params:
            if any(key in params for key in TEMPLATE_EXCLUDES):
                raise ServiceError(BAD_REQUEST, "TemplateId excludes " + ", ".join(TEMPLATE_EXCLUDES))
            raise ServiceError(BAD_REQUEST, "Object type templates are not served by the local stand-in")
        fields: dict[str, Any] = params.get("Fields") or {}
        keys: dict[str, list[dict[str, Any]]] = params.get("Keys") or {}
        if not keys:
            raise ServiceError(BAD_REQUEST, "An object type needs at least one key")
        unique = [
            key
            for entries in keys.values()
            for key in entries
            if "UNIQUE" in key.get("StandardIdentifiers", [])
        ]
        if len(unique) != 1:
            raise ServiceError(BAD_REQUEST, "Exactly one key must have the UNIQUE identifier")
        for entries in keys.values():
            for key in entries:
                names = key.get("FieldNames") or []
                if not names or any(name not in fields for name in names):
                    raise ServiceError(BAD_REQUEST, "Every key must name fields defined in Fields")
        for definition in fields.values():
            source, target = definition.get("Source"), definition.get("Target")
            if not isinstance(source, str) or not (source.startswith("_source") or "{{" in source):
                raise ServiceError(BAD_REQUEST, "A field's Source must read _source")
            if target is not None and not _valid_target(target):
                raise ServiceError(BAD_REQUEST, "A field's Target must be a field of the standard profile")

    def _object_type_arn(self, domain: str, name: str) -> str:
        return f"{self._domain_arn(domain)}/object-types/{name}"

    def _object_type_answer(self, domain: Domain, name: str) -> dict[str, Any]:
        answer = copy.deepcopy(domain.object_types[name])
        tags = self._tags.get(self._object_type_arn(domain.name, name))
        if tags:
            answer["Tags"] = dict(tags)
        return answer

    def _put_object_type(self, params: dict[str, Any]) -> dict[str, Any]:
        self._check_object_type(params)
        with self._lock:
            domain = self._domain(params["DomainName"])
            name = params["ObjectTypeName"]
            now = _now()
            created = domain.object_types.get(name, {}).get("CreatedAt", now)
            definition = {k: copy.deepcopy(v) for k, v in params.items() if k not in ("DomainName", "Tags")}
            definition.setdefault("AllowProfileCreation", False)
            domain.object_types[name] = {**definition, "CreatedAt": created, "LastUpdatedAt": now}
            if params.get("Tags"):
                self._tags[self._object_type_arn(domain.name, name)] = dict(params["Tags"])
            return self._object_type_answer(domain, name)

    def _get_object_type(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            domain = self._domain(params["DomainName"])
            if params["ObjectTypeName"] not in domain.object_types:
                raise ServiceError(NOT_FOUND, "Object type not found")
            return self._object_type_answer(domain, params["ObjectTypeName"])

    def _delete_object_type(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            domain = self._domain(params["DomainName"])
            name = params["ObjectTypeName"]
            if domain.object_types.pop(name, None) is None:
                raise ServiceError(NOT_FOUND, "Object type not found")
            self._tags.pop(self._object_type_arn(domain.name, name), None)
            for key in [key for key in domain.objects if key[0] == name]:
                del domain.objects[key]
            return {"Message": "Object type deleted"}

    def _list_object_types(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            domain = self._domain(params["DomainName"])
            items = [
                {
                    "ObjectTypeName": name,
                    "Description": definition["Description"],
                    "CreatedAt": definition["CreatedAt"],
                    "LastUpdatedAt": definition["LastUpdatedAt"],
                }
                for name, definition in sorted(domain.object_types.items())
            ]
            return _page(items, params)

    # profile objects -------------------------------------------------------------------------------------
    def _put_object(self, params: dict[str, Any]) -> dict[str, Any]:
        try:
            document = json.loads(params["Object"])
        except ValueError as exc:
            raise ServiceError(BAD_REQUEST, "Object is not JSON") from exc
        if not isinstance(document, dict):
            raise ServiceError(BAD_REQUEST, "Object must be a JSON object")
        with self._lock:
            domain = self._domain(params["DomainName"])
            type_name = params["ObjectTypeName"]
            definition = domain.object_types.get(type_name)
            if definition is None:
                raise ServiceError(NOT_FOUND, "Object type not found")
            values = self._field_values(definition, document)
            keys = self._key_values(definition, values)
            unique = [name for name, key in keys.items() if "UNIQUE" in key[0]]
            if not unique or keys[unique[0]][1] is None:
                raise ServiceError(BAD_REQUEST, "The object lacks a field of the object type's UNIQUE key")
            unique_value = str(keys[unique[0]][1])
            profile, created = self._match_profile(domain, definition, keys)
            if profile is not None:
                self._associate(domain, profile, keys, created)
                self._apply_targets(domain, profile, definition, values)
            unique_key = hashlib.blake2b(
                f"{type_name}\0{unique_value}".encode(), digest_size=16, key=domain.name.encode()
            ).hexdigest()
            domain.objects[(type_name, unique_value)] = StoredObject(
                object_type=type_name,
                unique_key=unique_key,
                unique_value=unique_value,
                body=params["Object"],
                profile_id=profile.profile_id if profile is not None else None,
                key_values={name: value for name, (_, value) in keys.items() if value is not None},
            )
            return {"ProfileObjectUniqueKey": unique_key}

    @staticmethod
    def _field_values(definition: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, spec in (definition.get("Fields") or {}).items():
            value = _read_source(spec["Source"], document)
            if value is None or value == "":
                continue
            if spec.get("ContentType") == "NUMBER" and not _is_number(value):
                raise ServiceError(BAD_REQUEST, f"Field {name} must hold a number")
            values[name] = value
        return values

    @staticmethod
    def _key_values(
        definition: dict[str, Any], values: dict[str, Any]
    ) -> dict[str, tuple[list[str], str | None]]:
        """Key name -> (its standard identifiers, its normalized value or None when a field is absent)."""
        fields = definition.get("Fields") or {}
        keys: dict[str, tuple[list[str], str | None]] = {}
        for key_name, entries in (definition.get("Keys") or {}).items():
            for entry in entries:
                names = entry.get("FieldNames") or []
                parts = [
                    _normalized(_text(values[name]), fields[name].get("ContentType", "STRING"))
                    for name in names
                    if name in values
                ]
                keys[key_name] = (
                    list(entry.get("StandardIdentifiers") or []),
                    "_".join(parts) if len(parts) == len(names) else None,
                )
        return keys

    @staticmethod
    def _match_profile(
        domain: Domain, definition: dict[str, Any], keys: dict[str, tuple[list[str], str | None]]
    ) -> tuple[Profile | None, bool]:
        profile_keys = [
            (name, identifiers, value)
            for name, (identifiers, value) in keys.items()
            if "PROFILE" in identifiers and value is not None
        ]
        for secondary in (False, True):
            for name, identifiers, value in profile_keys:
                if ("SECONDARY" in identifiers) != secondary or value is None:
                    continue
                profile_id = domain.key_index.get((name, value))
                if profile_id is not None and profile_id in domain.profiles:
                    return domain.profiles[profile_id], False
        if not definition.get("AllowProfileCreation"):
            return None, False
        profile = Profile(uuid.uuid4().hex)
        domain.profiles[profile.profile_id] = profile
        profile.keys["_profileId"] = {profile.profile_id}
        domain.key_index[("_profileId", profile.profile_id)] = profile.profile_id
        return profile, True

    @staticmethod
    def _associate(
        domain: Domain, profile: Profile, keys: dict[str, tuple[list[str], str | None]], created: bool
    ) -> None:
        for name, (identifiers, value) in keys.items():
            if value is None or "PROFILE" not in identifiers or "LOOKUP_ONLY" in identifiers:
                continue
            if "NEW_ONLY" in identifiers and not created:
                continue
            owner = domain.key_index.setdefault((name, value), profile.profile_id)
            if owner == profile.profile_id:
                profile.keys.setdefault(name, set()).add(value)

    @staticmethod
    def _apply_targets(
        domain: Domain, profile: Profile, definition: dict[str, Any], values: dict[str, Any]
    ) -> None:
        for name, spec in (definition.get("Fields") or {}).items():
            target = spec.get("Target")
            if target is None or name not in values:
                continue
            path = target.split(".")[1:]
            holder = profile.fields
            for step in path[:-1]:
                holder = holder.setdefault(step, {})
            holder[path[-1]] = _text(values[name])
        _index_standard_keys(domain, profile)

    def _list_objects(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            domain = self._domain(params["DomainName"])
            type_name = params["ObjectTypeName"]
            if type_name not in domain.object_types:
                raise ServiceError(NOT_FOUND, "Object type not found")
            if params["ProfileId"] not in domain.profiles:
                raise ServiceError(NOT_FOUND, "Profile not found")
            wanted = params.get("ObjectFilter")
            items = []
            for stored in domain.objects.values():
                if stored.object_type != type_name or stored.profile_id != params["ProfileId"]:
                    continue
                if wanted is not None and stored.key_values.get(wanted["KeyName"]) not in wanted["Values"]:
                    continue
                items.append(
                    {
                        "ObjectTypeName": type_name,
                        "ProfileObjectUniqueKey": stored.unique_key,
                        "Object": stored.body,
                    }
                )
            return _page(items, params)

    # profiles --------------------------------------------------------------------------------------------
    def _search_profiles(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("AdditionalSearchKeys"):
            raise ServiceError(BAD_REQUEST, "AdditionalSearchKeys are not served by the local stand-in")
        with self._lock:
            domain = self._domain(params["DomainName"])
            key_name = params["KeyName"]
            found: dict[str, Profile] = {}
            for value in params["Values"]:
                for candidate in {value, value.strip().lower(), _normalized(value, "PHONE_NUMBER")}:
                    profile_id = domain.key_index.get((key_name, candidate))
                    if profile_id is not None and profile_id in domain.profiles:
                        found[profile_id] = domain.profiles[profile_id]
            return _page([profile.answer() for profile in found.values()], params)

    def _create_profile(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            domain = self._domain(params["DomainName"])
            profile = Profile(
                uuid.uuid4().hex, {k: copy.deepcopy(v) for k, v in params.items() if k != "DomainName"}
            )
            domain.profiles[profile.profile_id] = profile
            profile.keys["_profileId"] = {profile.profile_id}
            domain.key_index[("_profileId", profile.profile_id)] = profile.profile_id
            _index_standard_keys(domain, profile)
            return {"ProfileId": profile.profile_id}


def _valid_target(target: str) -> bool:
    parts = target.split(".")
    if parts[0] != "_profile" or len(parts) < 2:
        return False
    if len(parts) == 2:
        return parts[1] in PROFILE_FIELDS
    if parts[1] == "Attributes":
        return len(parts) == 3 and bool(parts[2])
    return len(parts) == 3 and parts[1] in ADDRESS_FIELDS and parts[2] in ADDRESS_PARTS


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _index_standard_keys(domain: Domain, profile: Profile) -> None:
    for key_name, field_names in STANDARD_KEYS.items():
        content_type = {"_email": "EMAIL_ADDRESS", "_phone": "PHONE_NUMBER"}.get(key_name, "STRING")
        for field_name in field_names:
            value = profile.fields.get(field_name)
            if isinstance(value, str) and value:
                normalized = _normalized(value, content_type)
                if (
                    domain.key_index.setdefault((key_name, normalized), profile.profile_id)
                    == profile.profile_id
                ):
                    profile.keys.setdefault(key_name, set()).add(normalized)


def _page(items: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    """One page of `items` by MaxResults and NextToken (an offset)."""
    size = int(params.get("MaxResults") or LIST_PAGE)
    token = params.get("NextToken")
    try:
        start = int(token) if token is not None else 0
    except ValueError as exc:
        raise ServiceError(BAD_REQUEST, "NextToken is not valid") from exc
    answer: dict[str, Any] = {"Items": items[start : start + size]}
    if start + size < len(items):
        answer["NextToken"] = str(start + size)
    return answer
