"""The guarded automatic rollback (service.rollback): whether the stack runs it, which alerts
may cause a rollback, and its guards.

Off by default: moving a served model's alias with no human step is a decision a stack
takes on purpose. Which alert names are allowed needs the whole spec (the SLOs' page
alerts), so that check is the platform's (infra.spec.platform).
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from infra import conventions as cv
from infra.spec.base import Duration, Spec
from infra.spec.components import Resources
from infra.spec.secret_refs import SecretRef

# The alerts a rollback may follow: they fire per model and version (labels `model` and
# `model_version`), on what the model does rather than on the service around it.
COOLDOWN = "kept in the registry as the registered model's mlops.last_rollback_at tag"
ACCURACY_ALERTS = (
    cv.Alert.SERVING_LOW_ACCURACY.value,
    cv.Alert.SERVING_LOW_ESTIMATED_ACCURACY.value,
)


class Rollback(Spec):
    enabled: bool = Field(
        default=False,
        description="Run the rollback service and route the rollback alerts to it.",
    )
    alerts: tuple[str, ...] = Field(
        default=ACCURACY_ALERTS,
        min_length=1,
        description="Alerts that may roll a model back: the measured and estimated accuracy "
        "alerts, or an SLO's page alert; each must carry model and model_version labels.",
    )
    promoted_within: Duration = Field(
        default="24h",
        description="Only a version promoted this recently is rolled back; an older champion "
        "was trusted long enough that a human decides.",
    )
    cooldown: Duration = Field(
        default="6h", description=f"Least time between two rollbacks of one model ({COOLDOWN})."
    )
    token_secret: SecretRef | None = Field(
        default=None,
        description="Secret config key holding the bearer token Alertmanager sends to the "
        "rollback service; required when enabled.",
    )
    resources: Resources = Field(
        default_factory=lambda: Resources(
            cpu_request="50m", memory_request="128Mi", memory_limit="256Mi"
        ),
        description="Requests and limits of the rollback service.",
    )

    @model_validator(mode="after")
    def _token_when_enabled(self) -> Self:
        if self.enabled and self.token_secret is None:
            raise ValueError(
                "rollback.tokenSecret: the rollback service refuses unauthenticated "
                "notifications; name the secret config key holding its token"
            )
        return self
