"""The publication threshold (core/publication.py): hand-computed cases."""

from decimal import Decimal

import pytest
from engagement_scoring.core.publication import (
    Published,
    next_publication,
    published_from_image,
    should_publish,
)

D = Decimal


@pytest.mark.parametrize(
    ("last", "score", "tier", "min_delta", "rules_changed", "expected"),
    [
        (None, D(0), None, D(10), False, True),  # never published
        (Published(D(100), "warm"), D(100), "warm", D(0), False, False),  # nothing moved
        (Published(D(100), "warm"), D(102), "warm", D(0), False, True),  # threshold 0: any move
        (Published(D(100), "warm"), D("109.99"), "warm", D(10), False, False),  # below the threshold
        (Published(D(100), "warm"), D(110), "warm", D(10), False, True),  # exactly the threshold
        (Published(D(100), "warm"), D(90), "warm", D(10), False, True),  # a drop counts too
        (Published(D(100), "warm"), D(101), "hot", D(10), False, True),  # tier change always
        (Published(D(100), None), D(101), None, D(10), True, True),  # rules change always
        (Published(D(100), "warm"), D(101), None, D(10), False, True),  # tiers turned off
    ],
)
def test_should_publish(last, score, tier, min_delta, rules_changed, expected):
    assert should_publish(last, score, tier, min_delta=min_delta, rules_changed=rules_changed) is expected


def test_published_from_image():
    assert published_from_image({"s": D("12.5"), "t": "hot"}) == Published(D("12.5"), "hot")
    assert published_from_image({"s": D("3")}) == Published(D(3), None)
    assert published_from_image(None) is None
    assert published_from_image({"s": "12"}) is None
    assert published_from_image({"s": D("NaN")}) is None


def test_next_publication_is_the_new_state_or_none():
    last = Published(D(100), "warm")
    assert next_publication(last, D(105), "warm", min_delta=D(10)) is None
    assert next_publication(last, D(110), "warm", min_delta=D(10)) == Published(D(110), "warm")
    # a new Pinpoint endpoint must get the score now, whatever the threshold
    assert next_publication(last, D(101), "warm", min_delta=D(10), endpoints_added=True) == Published(
        D(101), "warm"
    )
