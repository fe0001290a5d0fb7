"""The typed spec of one platform stack: every setting, checked once, frozen.

`PlatformSpec` is what every renderer, dashboard and Pulumi component reads.
It is built by `infra.config.load_spec` from an environment profile (`stacks/`)
merged with the stack's Pulumi config, and validated here, before anything
else runs. Field names are snake_case in Python and camelCase in config, as
Pulumi config keys usually are.

Secrets never live in the spec. A field that needs one (a webhook URL, a
PagerDuty key, a password) holds a `SecretRef`: the name of a config key that
the stack sets with `pulumi config set --secret`. The loader checks that the
key is a secret; the Pulumi program reads its value as a secret Output; the
rendered files only point at where the value is mounted.

The models live in one module per part of the platform; everything is
imported from here, so callers never depend on where a model is kept:

- `base`: the shared model base and the checked string types;
- `secret_refs`: `SecretRef` and the refusal of secrets in plain text;
- `components`: images, resources and the settings of each component;
- `alerting`: receivers, routing, heartbeat, alert thresholds and overrides;
- `saturation`: the resource collectors (node, container, Kubernetes objects, GPUs);
- `slos`: service level objectives and their indicators;
- `rollback`: the guarded automatic rollback and its guards;
- `platform`: `PlatformSpec`, the deploy targets, and the checks across parts.
"""

from infra.spec.alerting import (
    RECEIVER_KINDS,
    Alertmanager,
    AlertOverride,
    AlertThresholds,
    DiscardReceiver,
    EmailReceiver,
    Gossip,
    Heartbeat,
    InhibitRule,
    PagerDutyReceiver,
    Receiver,
    Route,
    SlackReceiver,
    WebhookReceiver,
)
from infra.spec.base import Duration, LabelName, Matcher, Name, Quantity, Spec
from infra.spec.components import (
    ArtifactStore,
    BackendStore,
    Grafana,
    Image,
    Images,
    Loki,
    MLflow,
    ObjectStorage,
    OtelCollector,
    Prometheus,
    Pushgateway,
    RemoteWrite,
    Resources,
    S3Credentials,
    ServedModel,
    Serving,
    Tempo,
)
from infra.spec.platform import ENVIRONMENTS, Docker, Kubernetes, PlatformSpec
from infra.spec.rollback import ACCURACY_ALERTS, Rollback
from infra.spec.saturation import Collector, Kubelet, NodeExporter, Saturation
from infra.spec.secret_refs import SecretRef
from infra.spec.slos import SLI, SLO, EventsSLI, LatencySLI

__all__ = [
    "ACCURACY_ALERTS",
    "ENVIRONMENTS",
    "RECEIVER_KINDS",
    "SLI",
    "SLO",
    "AlertOverride",
    "AlertThresholds",
    "Alertmanager",
    "ArtifactStore",
    "BackendStore",
    "Collector",
    "DiscardReceiver",
    "Docker",
    "Duration",
    "EmailReceiver",
    "EventsSLI",
    "Gossip",
    "Grafana",
    "Heartbeat",
    "Image",
    "Images",
    "InhibitRule",
    "Kubelet",
    "Kubernetes",
    "LabelName",
    "LatencySLI",
    "Loki",
    "MLflow",
    "Matcher",
    "Name",
    "NodeExporter",
    "ObjectStorage",
    "OtelCollector",
    "PagerDutyReceiver",
    "PlatformSpec",
    "Prometheus",
    "Pushgateway",
    "Quantity",
    "Receiver",
    "RemoteWrite",
    "Resources",
    "Rollback",
    "Route",
    "S3Credentials",
    "Saturation",
    "SecretRef",
    "ServedModel",
    "Serving",
    "SlackReceiver",
    "Spec",
    "Tempo",
    "WebhookReceiver",
]
