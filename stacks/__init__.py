"""Environment profiles: the defaults a stack starts from before its Pulumi config.

Each profile is plain data in the same camelCase shape as the stack's config,
so `Pulumi.<stack>.yaml` overrides it key by key (objects merge, lists and
scalars replace). `profile(env)` returns a fresh copy.
"""

from __future__ import annotations

import copy
from typing import Any

from stacks import base, dev, prod, staging

PROFILES: dict[str, dict[str, Any]] = {
    "dev": dev.PROFILE,
    "staging": staging.PROFILE,
    "prod": prod.PROFILE,
}


def deep_merge(lower: dict[str, Any], upper: dict[str, Any]) -> dict[str, Any]:
    """`upper` over `lower`: nested objects merge, everything else replaces."""
    merged = copy.deepcopy(lower)
    for key, value in upper.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def profile(environment: str) -> dict[str, Any]:
    """The full profile of an environment: the shared base with the environment's changes."""
    return deep_merge(base.PROFILE, PROFILES[environment])
