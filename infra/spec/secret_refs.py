"""Secret references: settings name secret config keys and never hold a secret themselves.

A field that needs a secret (a webhook URL, a PagerDuty key, a password) holds a
`SecretRef`, the name of a config key the stack sets with `pulumi config set
--secret`; the loader passes what the stack set in the validation context, so a
reference to a plain-text or missing key is refused where it is written. A key
that would carry the secret itself (`password`, `url`...) is refused with the
name of the *Secret field to use instead.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, ValidationInfo

_SECRET_REF_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]*$")


def _check_secret_ref(value: str, info: ValidationInfo) -> str:
    """A secret reference must name a config key that the stack set as a secret."""
    if not _SECRET_REF_RE.match(value):
        raise ValueError(
            "must name a config key (letters, digits and _, starting with a letter), "
            "such as slackWebhookUrl"
        )
    context = info.context or {}
    namespace = context.get("namespace", "mlops")
    key = f"{namespace}:{value}"
    present: set[str] = context.get("present_keys", set())
    secret: set[str] = context.get("secret_keys", set())
    if key in present and key not in secret:
        raise ValueError(
            f"config key {key} is set in plain text; store it encrypted with "
            f"`pulumi config set --secret {value} <value>`"
        )
    if key not in present and context.get("require_secrets", False):
        raise ValueError(
            f"config key {key} is not set; set it with `pulumi config set --secret {value} <value>`"
        )
    return value


SecretRef = Annotated[str, AfterValidator(_check_secret_ref)]

# Field names that would hold a secret in plain text: the spec refuses them and
# points at the *Secret field that names a secret config key instead.
_PLAINTEXT_SECRET_FIELDS = {
    "url": "urlSecret",
    "apiUrl": "urlSecret",
    "routingKey": "routingKeySecret",
    "serviceKey": "routingKeySecret",
    "password": "passwordSecret",
    "authPassword": "authPasswordSecret",
    "adminPassword": "adminPasswordSecret",
    "token": "bearerTokenSecret",
    "bearerToken": "bearerTokenSecret",
    "authToken": "authTokenSecret",
    "secretAccessKey": "secretAccessKeySecret",
}


def refuse_plaintext_secrets(data: Any, fields: tuple[str, ...]) -> Any:
    """The raw config of a model, refused if it sets one of `fields`."""
    if isinstance(data, dict):
        for name in fields:
            if name in data:
                raise ValueError(
                    f"`{name}` would hold a secret in plain text; put the value in a secret "
                    f"config key (`pulumi config set --secret KEY <value>`) and name that key "
                    f"in `{_PLAINTEXT_SECRET_FIELDS[name]}`"
                )
    return data
