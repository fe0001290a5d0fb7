"""The rendered scrape limits and sample-limit alerts, for real: the pinned Prometheus on
127.0.0.1 scrapes a small target this test serves.

The job carries the limits `infra.budgets` renders for a budget of BUDGET series, and the
rule file is the platform's rendered alert rules (the sample-limit alerts' `for` shortened
through the stack's alertOverrides, the way a stack changes it). One target stays within
its budget, one passes the alert's share of its limit, one is over the limit, one carries
a label value longer than the limit: Prometheus must drop the last two, and the alerts
must fire exactly where they should.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import yaml

from infra import budgets
from infra import conventions as cv
from infra.render.rules import platform_rules
from tests import servers, tools
from tests.conftest import spec_with

BUDGET = 20
LIMITS = budgets.limits(budgets.Budget(BUDGET, 2, "this test's target"))
NEAR, OVER = (
    cv.Alert.PROMETHEUS_TARGET_NEAR_SAMPLE_LIMIT,
    cv.Alert.PROMETHEUS_TARGET_OVER_SAMPLE_LIMIT,
)
# Each target's page: its series count and the length of one label value.
TARGETS = {
    "within": (BUDGET, 8),  # 20 of 30: under the alert's share
    "near": (int(LIMITS["sample_limit"] * 0.9), 8),  # 27 of 30
    "over": (LIMITS["sample_limit"] + 5, 8),
    "long": (5, budgets.LABEL_VALUE_LENGTH_LIMIT + 1),
}


class Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        count, length = TARGETS[self.path.rsplit("/", 1)[-1]]
        body = "".join(
            f'demo_series{{n="{i}",value="{"v" * length}"}} {i}\n' for i in range(count)
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def target() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", servers.free_port()), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _config(target: str) -> dict[str, Any]:
    job: dict[str, Any] = {"job_name": "demo", **LIMITS}
    job["static_configs"] = [
        {"targets": [target], "labels": {"case": case, "__metrics_path__": f"/metrics/{case}"}}
        for case in TARGETS
    ]
    return {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [cv.PLATFORM_RULES],
        "scrape_configs": [job],
    }


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory, target: str) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("scrape-limits")
    spec = spec_with("dev", alertOverrides={NEAR.value: {"for": "3s"}, OVER.value: {"for": "3s"}})
    (folder / cv.PLATFORM_RULES).parent.mkdir(parents=True)
    (folder / cv.PLATFORM_RULES).write_text(platform_rules(spec))
    (folder / "prometheus.yml").write_text(yaml.safe_dump(_config(target)))
    port = servers.free_port()
    server = servers.start(
        "prometheus",
        [
            tools.prometheus(),
            f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--enable-feature=extra-scrape-metrics",
        ],
        f"http://127.0.0.1:{port}",
        folder / "prometheus.log",
        cwd=folder,
    )
    with servers.running(server, servers.http_ok(f"{server.url}/-/ready"), timeout=30):
        yield server.url


def _query(url: str, expr: str) -> dict[str, float]:
    answer = httpx.get(f"{url}/api/v1/query", params={"query": expr}, timeout=5).json()
    return {r["metric"].get("case", ""): float(r["value"][1]) for r in answer["data"]["result"]}


def _firing(url: str, alert: cv.Alert) -> set[str]:
    return set(_query(url, f'ALERTS{{alertname="{alert.value}", alertstate="firing"}}'))


def test_prometheus_drops_the_targets_over_their_limits_and_keeps_the_others(
    prometheus: str,
) -> None:
    expected = {"within": 1.0, "near": 1.0, "over": 0.0, "long": 0.0}
    servers.wait_until(
        lambda: _query(prometheus, 'up{job="demo"}') == expected, 20, "four scrapes judged"
    )
    limit = _query(prometheus, 'scrape_sample_limit{job="demo"}')
    assert limit == dict.fromkeys(TARGETS, float(LIMITS["sample_limit"]))
    kept = _query(prometheus, 'count by (case) (demo_series{job="demo"})')
    assert kept == {"within": BUDGET, "near": TARGETS["near"][0]}


def test_the_alerts_fire_on_the_targets_near_and_over_their_limit(prometheus: str) -> None:
    def settled() -> bool:
        return _firing(prometheus, NEAR) >= {"near", "over"} and _firing(prometheus, OVER) == {
            "over"
        }

    servers.wait_until(settled, 30, "the sample-limit alerts firing")
    assert "within" not in _firing(prometheus, NEAR)
