"""The simulated population: users with Pinpoint endpoints on the email, SMS and push channels.

Faker (seeded) makes pools of names, user names and (reserved example.*) mail domains per locale;
a `random.Random` with the same seed combines them into people, endpoints and phone numbers, so a
seed always yields the same population, and 100,000 users take about a second. Addresses and
phone numbers live only in memory and in the Kinesis records (Pinpoint records carry them): the
dataclasses keep them out of `repr`, and nothing in the simulator prints, logs or reports them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from faker import Faker

EMAIL = "EMAIL"
SMS = "SMS"
GCM = "GCM"
APNS = "APNS"
PUSH_CHANNELS = (GCM, APNS)


@dataclass(frozen=True, slots=True)
class Country:
    locale: str
    iso_code: str
    phone_prefix: str
    # (IANA zone, standard UTC offset in minutes): a fixed offset keeps generation deterministic and fast.
    time_zones: tuple[tuple[str, int], ...]
    weight: float


COUNTRIES: tuple[Country, ...] = (
    Country(
        "en_US",
        "US",
        "+1",
        (
            ("America/New_York", -300),
            ("America/Chicago", -360),
            ("America/Denver", -420),
            ("America/Los_Angeles", -480),
        ),
        50,
    ),
    Country("en_GB", "GB", "+44", (("Europe/London", 0),), 10),
    Country("de_DE", "DE", "+49", (("Europe/Berlin", 60),), 10),
    Country("fr_FR", "FR", "+33", (("Europe/Paris", 60),), 8),
    Country("es_MX", "MX", "+52", (("America/Mexico_City", -360),), 7),
    Country("en_IN", "IN", "+91", (("Asia/Kolkata", 330),), 8),
    Country("ja_JP", "JP", "+81", (("Asia/Tokyo", 540),), 7),
)

ANDROID_DEVICES = (("Google", "Pixel 8", "14"), ("Samsung", "SM-S918B", "14"), ("OnePlus", "CPH2449", "13"))
IOS_DEVICES = (
    ("Apple", "iPhone15,2", "17.4"),
    ("Apple", "iPhone16,1", "17.5"),
    ("Apple", "iPhone14,5", "16.7"),
)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One Pinpoint endpoint. `address` is an e-mail address, a phone number or a device token."""

    endpoint_id: str
    channel_type: str
    address: str = field(repr=False)
    platform: str = ""  # push endpoints: "android" or "ios"
    make: str = ""
    model: str = ""
    os_version: str = ""


@dataclass(slots=True)
class User:
    """A person (or, when `user_id` is None, an anonymous device) with one or more endpoints."""

    index: int
    user_id: str | None
    first_name: str = field(repr=False)
    last_name: str = field(repr=False)
    country: Country = field(repr=False)
    time_zone: str
    utc_offset_minutes: int
    engagement: float  # multiplies open/click/purchase propensities and activity frequency
    endpoints: list[Endpoint] = field(repr=False)

    @property
    def user_key(self) -> str:
        """The key the engine uses in `auto` mode: User.UserId, else the endpoint (client) id."""
        return self.user_id if self.user_id is not None else self.endpoints[0].endpoint_id

    def endpoints_on(self, *channel_types: str) -> list[Endpoint]:
        return [e for e in self.endpoints if e.channel_type in channel_types]


@dataclass(frozen=True, slots=True)
class PopulationConfig:
    users: int = 2000
    email_share: float = 0.85
    sms_share: float = 0.45
    push_share: float = 0.6
    second_email_share: float = 0.06  # users with a second e-mail endpoint (work + personal)
    second_device_share: float = 0.12  # push users with a second device
    anonymous_share: float = 0.05  # app-only devices without a User.UserId
    engagement_spread: float = 0.6  # sigma of the log-normal engagement factor (0 = everyone alike)


@dataclass(slots=True)
class Population:
    users: list[User]

    def endpoint_owner(self) -> dict[str, User]:
        return {e.endpoint_id: u for u in self.users for e in u.endpoints}


def new_id(rng: random.Random) -> str:
    """A UUID4 string drawn from `rng` (reproducible, unlike uuid.uuid4)."""
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


# Faker draws per locale (user names are slow to make, so fewer); people are combined from the pools
# with the seeded Random: fast, and still varied (an address also gets a number, see _email_address).
POOL_SIZE = 200
USER_NAME_POOL_SIZE = 50


@dataclass(slots=True)
class _NamePool:
    first_names: list[str]
    last_names: list[str]
    user_names: list[str]
    domains: list[str]


def _name_pools(seed: int) -> dict[str, _NamePool]:
    fake = Faker([c.locale for c in COUNTRIES])
    fake.seed_instance(seed)
    pools: dict[str, _NamePool] = {}
    for country in COUNTRIES:
        local = fake[country.locale]
        pools[country.locale] = _NamePool(
            [local.first_name() for _ in range(POOL_SIZE)],
            [local.last_name() for _ in range(POOL_SIZE)],
            [local.user_name() for _ in range(USER_NAME_POOL_SIZE)],
            # safe_domain_name(): example.com/.org/.net only, so no real mailbox is ever addressed
            sorted({local.safe_domain_name() for _ in range(20)}),
        )
    return pools


def build_population(config: PopulationConfig, seed: int) -> Population:
    rng = random.Random(f"{seed}:population")
    pools = _name_pools(seed)
    weights = [c.weight for c in COUNTRIES]
    users: list[User] = []
    for index in range(config.users):
        country = rng.choices(COUNTRIES, weights)[0]
        pool = pools[country.locale]
        time_zone, offset = rng.choice(country.time_zones)
        engagement = rng.lognormvariate(0.0, config.engagement_spread) if config.engagement_spread else 1.0
        first_name, last_name = rng.choice(pool.first_names), rng.choice(pool.last_names)

        endpoints: list[Endpoint] = []
        anonymous = rng.random() < config.anonymous_share
        if anonymous:
            endpoints.append(_push_endpoint(rng))
        else:
            if rng.random() < config.email_share:
                endpoints.append(Endpoint(new_id(rng), EMAIL, _email_address(rng, pool)))
                if rng.random() < config.second_email_share:
                    endpoints.append(Endpoint(new_id(rng), EMAIL, _email_address(rng, pool)))
            if rng.random() < config.sms_share:
                phone = f"{country.phone_prefix}{rng.randrange(10**8, 10**10)}"
                endpoints.append(Endpoint(new_id(rng), SMS, phone))
            if rng.random() < config.push_share or not endpoints:
                endpoints.append(_push_endpoint(rng))
                if rng.random() < config.second_device_share:
                    endpoints.append(_push_endpoint(rng))
        user_id = None if anonymous else f"user-{rng.getrandbits(40):010x}"
        users.append(
            User(index, user_id, first_name, last_name, country, time_zone, offset, engagement, endpoints)
        )
    return Population(users)


def _email_address(rng: random.Random, pool: _NamePool) -> str:
    return f"{rng.choice(pool.user_names)}{rng.randrange(10000)}@{rng.choice(pool.domains)}"


def _push_endpoint(rng: random.Random) -> Endpoint:
    if rng.random() < 0.55:
        make, model, version = rng.choice(ANDROID_DEVICES)
        token = f"{rng.getrandbits(64):016x}:APA91b{rng.getrandbits(256):064x}"
        return Endpoint(new_id(rng), GCM, token, "android", make, model, version)
    make, model, version = rng.choice(IOS_DEVICES)
    return Endpoint(new_id(rng), APNS, f"{rng.getrandbits(256):064x}", "ios", make, model, version)
