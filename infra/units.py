"""Parsing of the two unit systems the spec speaks: Prometheus durations and Kubernetes quantities."""

from __future__ import annotations

import re
from decimal import Decimal

_DURATION_RE = re.compile(
    r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$"
)
_DURATION_UNITS: tuple[Decimal, ...] = tuple(
    Decimal(u) for u in (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, "0.001")
)

_QUANTITY_RE = re.compile(r"^(\d+(?:\.\d+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_QUANTITY_SUFFIX: dict[str, Decimal] = {
    "": Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
    "P": Decimal(10**15),
    "E": Decimal(10**18),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}


def duration_seconds(text: str) -> Decimal:
    """Seconds in a Prometheus duration such as `90s`, `1h30m` or `30d`; ValueError otherwise."""
    match = _DURATION_RE.match(text)
    if not text or match is None:
        raise ValueError(
            f"{text!r} is not a duration: use a positive Prometheus duration such as 30s, 5m, 1h30m or 15d"
        )
    total = sum(
        (
            Decimal(int(v)) * unit
            for v, unit in zip(match.groups(), _DURATION_UNITS, strict=True)
            if v
        ),
        Decimal(0),
    )
    if total <= 0:
        raise ValueError(f"{text!r} must be longer than zero")
    return total


def format_duration(seconds: Decimal | int) -> str:
    """The shortest Prometheus duration for a whole number of seconds: 3600 -> `1h`, 5400 -> `1h30m`."""
    remaining = int(seconds)
    if remaining <= 0 or remaining != seconds:
        raise ValueError(f"{seconds} is not a positive whole number of seconds")
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def quantity(text: str) -> Decimal:
    """Value of a Kubernetes quantity such as `500m`, `2`, `512Mi` or `10Gi`; ValueError otherwise."""
    match = _QUANTITY_RE.match(text)
    if match is None:
        raise ValueError(
            f"{text!r} is not a Kubernetes quantity: use a number with an optional suffix, "
            "such as 250m, 1, 512Mi or 10Gi"
        )
    value = Decimal(match.group(1)) * _QUANTITY_SUFFIX[match.group(2) or ""]
    if value <= 0:
        raise ValueError(f"{text!r} must be greater than zero")
    return value
