"""The rendered Loki config, checked against the spec and Loki 3.5's configuration reference.

Loki is AGPL-3.0 and never run here, so its `-verify-config` is replaced by two checks: every
key is a documented field of its block with a value of the right kind (tests/loki_schema.py),
and the settings that matter follow from the spec: retention and the compactor that enforces
it, storage per kind, the limits OTLP ingestion needs, the bound address, and the OTLP route
the collector posts to. The golden copies (test_render.py) pin the whole file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from infra import conventions as cv
from infra import endpoints as ep
from infra.components import services
from infra.config import ROOT, StackConfig, load_spec
from infra.render import render_all
from infra.render.telemetry import LOKI_DATA, S3_ACCESS_KEY_ENV, S3_SECRET_KEY_ENV, loki_config
from infra.spec import PlatformSpec
from infra.units import duration_seconds
from tests import loki_schema
from tests.conftest import stack_spec

C = cv.Component
# Where Loki 3.x ingests OTLP logs: the otlphttp exporter appends /v1/logs to its endpoint.
LOKI_OTLP_ROUTE = "/otlp/v1/logs"


def _yaml(folder: Path, name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((folder / name).read_text()))


def _loki(spec: PlatformSpec, endpoints: ep.Endpoints | None = None) -> dict[str, Any]:
    files = render_all(spec, endpoints or ep.for_spec(spec))
    return dict(yaml.safe_load(files[cv.LOKI_CONFIG]))


def _s3_spec() -> PlatformSpec:
    doc = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())["config"]
    storage = {
        "kind": "s3",
        "bucket": "mlops-logs",
        "endpoint": "s3.eu-west-1.amazonaws.com",
        "accessKeyIdSecret": "lokiS3KeyId",
        "secretAccessKeySecret": "lokiS3Key",
    }
    values = dict(doc) | {"mlops:loki": {"storage": storage}}
    return load_spec(
        StackConfig("prod", values, frozenset({"mlops:lokiS3KeyId", "mlops:lokiS3Key"}))
    )


def test_every_key_is_a_loki_3_5_field_with_a_value_of_its_kind(
    stack: str, rendered: dict[str, Path]
) -> None:
    assert list(loki_schema.problems(_yaml(rendered[stack], cv.LOKI_CONFIG))) == []
    assert list(loki_schema.problems(_loki(_s3_spec()))) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda c: c["compactor"].update(retention_enable=True),
         "compactor.retention_enable: not a field of this block in Loki 3.5"),
        (lambda c: c["limits_config"].update(retention_period="30 days"),
         "limits_config.retention_period: '30 days' is not a duration"),
        (lambda c: c["server"].update(http_listen_port="3100"),
         "server.http_listen_port: '3100' is not a int"),
        (lambda c: c["common"]["storage"]["filesystem"].update(chunk_directory="/loki/c"),
         "common.storage.filesystem.chunk_directory: not a field of this block in Loki 3.5"),
        (lambda c: c["schema_config"]["configs"][0].update({"from": "2025/01/01"}),
         "schema_config.configs[0].from: '2025/01/01' is not a date"),
        (lambda c: c.update(limits={}), "limits: not a field of this block in Loki 3.5"),
    ],
)  # fmt: skip
def test_the_schema_check_finds_a_mistake(change: Any, problem: str) -> None:
    """The check above can fail: each mistake is named with its path."""
    config = _loki(stack_spec("prod"))
    change(config)
    assert list(loki_schema.problems(config)) == [problem]


def test_retention_is_the_spec_s_in_whole_days_and_the_compactor_enforces_it(
    stack: str, rendered: dict[str, Path]
) -> None:
    spec = stack_spec(stack)
    loki = _yaml(rendered[stack], cv.LOKI_CONFIG)
    days = duration_seconds(spec.loki.retention) / 86400
    assert days == int(days) >= 1
    assert loki["limits_config"]["retention_period"] == f"{int(days)}d"
    compactor = loki["compactor"]
    # Without retention_enabled the compactor only compacts and logs are kept forever; with it,
    # Loki refuses to start unless deletes have a store of the index's kind.
    assert compactor["retention_enabled"] is True
    assert compactor["delete_request_store"] == spec.loki.storage.kind
    assert compactor["working_directory"].startswith(f"{loki['common']['path_prefix']}/")


def test_filesystem_storage_keeps_chunks_rules_and_index_on_the_data_volume(
    stack: str, rendered: dict[str, Path]
) -> None:
    spec = stack_spec(stack)
    assert spec.loki.storage.kind == "filesystem"
    loki = _yaml(rendered[stack], cv.LOKI_CONFIG)
    storage = loki["common"]["storage"]
    assert set(storage) == {"filesystem"}
    assert loki["common"]["path_prefix"] == LOKI_DATA
    workload = services.loki(_inputs(spec))
    assert workload.data_path == LOKI_DATA  # the volume, so a restart keeps the logs
    for path in storage["filesystem"].values():
        assert path.startswith(f"{LOKI_DATA}/")
    (schema,) = loki["schema_config"]["configs"]
    assert schema["object_store"] == "filesystem"


def test_s3_storage_names_the_bucket_and_takes_keys_from_the_environment_only() -> None:
    spec = _s3_spec()
    loki = _loki(spec)
    storage = loki["common"]["storage"]
    assert set(storage) == {"s3"}
    s3 = storage["s3"]
    assert s3["bucketnames"] == spec.loki.storage.bucket == "mlops-logs"
    assert s3["endpoint"] == spec.loki.storage.endpoint
    assert s3["access_key_id"] == f"${{{S3_ACCESS_KEY_ENV}}}"
    assert s3["secret_access_key"] == f"${{{S3_SECRET_KEY_ENV}}}"
    assert s3["s3forcepathstyle"] is True
    (schema,) = loki["schema_config"]["configs"]
    assert schema["object_store"] == "s3"
    assert loki["compactor"]["delete_request_store"] == "s3"
    # Loki expands ${VAR} only when told to; the program tells it, and fills the variables.
    workload = services.loki(_inputs(spec))
    assert "-config.expand-env=true" in workload.args
    assert set(workload.secret_env) == {S3_ACCESS_KEY_ENV, S3_SECRET_KEY_ENV}


def test_otlp_ingestion_is_allowed_structured_metadata_on_a_v13_tsdb_schema(
    stack: str, rendered: dict[str, Path]
) -> None:
    """OTLP logs keep their trace context and attributes as structured metadata: Loki rejects
    the whole push as malformed without it, and only schema v13 on tsdb stores it."""
    loki = _yaml(rendered[stack], cv.LOKI_CONFIG)
    assert loki["limits_config"]["allow_structured_metadata"] is True
    assert loki["limits_config"]["volume_enabled"] is True  # Grafana's log volume histogram
    (schema,) = loki["schema_config"]["configs"]
    assert (schema["schema"], schema["store"], schema["index"]["period"]) == ("v13", "tsdb", "24h")
    assert loki["auth_enabled"] is False  # one tenant: the collector sends no X-Scope-OrgID


def test_loki_listens_where_the_stack_s_clients_reach_it(
    stack: str, rendered: dict[str, Path]
) -> None:
    loki = _yaml(rendered[stack], cv.LOKI_CONFIG)
    server = loki["server"]
    assert (server["http_listen_address"], server["http_listen_port"]) == (
        "0.0.0.0",
        cv.PORTS[C.LOKI]["http"],
    )
    assert server["grpc_listen_port"] == cv.PORTS[C.LOKI]["grpc"]
    assert "instance_addr" not in loki["common"]  # in a container its interface is right


def test_bound_to_one_address_loki_listens_and_advertises_only_there() -> None:
    local = ep.local({C.LOKI: {"http": 23100, "grpc": 29095}}, {})
    loki = yaml.safe_load(loki_config(stack_spec("dev"), local))
    server = loki["server"]
    assert server["http_listen_address"] == server["grpc_listen_address"] == "127.0.0.1"
    assert (server["http_listen_port"], server["grpc_listen_port"]) == (23100, 29095)
    # Its ring otherwise advertises the network interface's address, which nothing serves.
    assert loki["common"]["instance_addr"] == "127.0.0.1"


def test_the_collector_posts_logs_to_loki_s_otlp_route_on_its_http_port(
    stack: str, rendered: dict[str, Path]
) -> None:
    spec = stack_spec(stack)
    loki = _yaml(rendered[stack], cv.LOKI_CONFIG)
    otel = _yaml(rendered[stack], cv.OTEL_COLLECTOR_CONFIG)
    exporter = otel["exporters"]["otlphttp/loki"]
    url = urlsplit(exporter["endpoint"])
    assert url.scheme == "http"
    assert url.hostname == ep.for_spec(spec)[C.LOKI].host
    assert url.port == loki["server"]["http_listen_port"]
    assert f"{url.path}/v1/logs" == LOKI_OTLP_ROUTE
    assert "logs_endpoint" not in exporter  # which would replace the route
    assert otel["service"]["pipelines"]["logs"]["exporters"] == ["otlphttp/loki"]


def _inputs(spec: PlatformSpec) -> services.Inputs:
    secrets: dict[str, Any] = {}
    storage = spec.loki.storage
    for key in (storage.access_key_id_secret, storage.secret_access_key_secret):
        if key:
            secrets[key] = object()  # an Output in the program; never read here
    return services.Inputs(
        spec, ep.for_spec(spec), render_all(spec, ep.for_spec(spec)), secrets, ROOT
    )
