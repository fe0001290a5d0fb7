"""Is a running stack healthy? One command, one table, a non-zero exit when it is not.

    python -m infra.health --stack dev                      # reads `pulumi stack output --json`
    python -m infra.health --stack dev --outputs out.json   # the same outputs, from a file

From the stack's outputs (`urls`, `servingUrls`, `grafanaUrl`) it checks each
component's own health endpoint, that Prometheus scrapes every target, which
alerts fire, and which model version each serving API has loaded against the
version the registry's alias names. Exit codes: 0 healthy, 1 something is
unhealthy (the table names it), 2 the outputs could not be read.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from infra import conventions as cv
from infra import layout

EXIT_OK, EXIT_UNHEALTHY, EXIT_USAGE = 0, 1, 2
WATCHDOG = cv.Alert.WATCHDOG.value
HEALTH_PATHS = {  # what each component answers when it is ready (infra.layout)
    c.value: layout.of(c).probes.ready
    for c in (
        cv.Component.PROMETHEUS,
        cv.Component.ALERTMANAGER,
        cv.Component.PUSHGATEWAY,
        cv.Component.MLFLOW,
        cv.Component.GRAFANA,
    )
}
PAGING = {"critical", "page"}


@dataclass(frozen=True)
class Check:
    component: str
    ok: bool
    detail: str
    warn: bool = False  # reported, not failing


def _get(url: str, timeout: float) -> httpx.Response:
    return httpx.get(url, timeout=timeout)


def _endpoint(component: str, url: str, timeout: float) -> Check:
    try:
        answer = _get(url, timeout)
    except httpx.HTTPError as err:
        return Check(component, False, f"down: {url}: {type(err).__name__}")
    if answer.status_code != 200:
        return Check(component, False, f"{url} answered {answer.status_code}")
    return Check(component, True, f"{url} ready")


def _targets(prometheus: str, timeout: float) -> Check:
    try:
        active = _get(f"{prometheus}/api/v1/targets", timeout).json()["data"]["activeTargets"]
    except (httpx.HTTPError, ValueError, KeyError) as err:
        return Check("scrape targets", False, f"cannot list them: {err}")
    down = [f"{t['labels'].get('job')} {t['labels'].get('instance')}" for t in active
            if t["health"] != "up"]  # fmt: skip
    if down:
        return Check(
            "scrape targets", False, f"{len(down)} of {len(active)} down: {', '.join(down)}"
        )
    return Check("scrape targets", True, f"{len(active)} up")


def _watchdog_silent(prometheus: str, timeout: float) -> bool:
    """The stack has the Watchdog rule, but it is not firing: rules are not being evaluated."""
    groups = _get(f"{prometheus}/api/v1/rules?type=alert", timeout).json()["data"]["groups"]
    states = [r.get("state") for g in groups for r in g["rules"] if r.get("name") == WATCHDOG]
    return bool(states) and "firing" not in states


def _alerts(prometheus: str, timeout: float) -> Check:
    try:
        alerts = _get(f"{prometheus}/api/v1/alerts", timeout).json()["data"]["alerts"]
        watchdog_silent = _watchdog_silent(prometheus, timeout)
    except (httpx.HTTPError, ValueError, KeyError) as err:
        return Check("alerts", False, f"cannot list them: {err}")
    if watchdog_silent:
        return Check("alerts", False, f"{WATCHDOG} is not firing: Prometheus is not evaluating "
                                      "its rules, so no alert can fire")  # fmt: skip
    # The Watchdog always fires: it says alerting works, not that something is wrong.
    firing = [a for a in alerts
              if a["state"] == "firing" and a["labels"].get("alertname") != WATCHDOG]  # fmt: skip
    paging = sorted({a["labels"]["alertname"] for a in firing
                     if a["labels"].get("severity") in PAGING})  # fmt: skip
    others = sorted({a["labels"]["alertname"] for a in firing} - set(paging))
    if paging:
        return Check("alerts", False, f"paging: {', '.join(paging)}" + (
            f"; also firing: {', '.join(others)}" if others else ""))  # fmt: skip
    if others:
        return Check("alerts", True, f"firing: {', '.join(others)}", warn=True)
    return Check("alerts", True, "none firing")


def _served_version(url: str, model: str, timeout: float) -> str | None:
    from prometheus_client.parser import text_string_to_metric_families  # noqa: PLC0415

    text = _get(f"{url}/metrics", timeout).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if (sample.name == "mlops_model_info" and sample.value == 1
                    and sample.labels.get("model") == model):  # fmt: skip
                return str(sample.labels["model_version"])
    return None


def _registry_version(mlflow: str, model: str, alias: str, timeout: float) -> str | None:
    answer = _get(
        f"{mlflow}/api/2.0/mlflow/registered-models/alias?name={model}&alias={alias}", timeout
    )
    if answer.status_code != 200:
        return None
    return str(answer.json()["model_version"]["version"])


def _serving(model: str, url: str, mlflow: str | None, timeout: float) -> Check:
    name = f"serving {model}"
    ready = _endpoint(name, f"{url}/readyz", timeout)
    if not ready.ok:
        return Check(name, False, f"not ready: {ready.detail}")
    try:
        served = _served_version(url, model, timeout)
        alias = _registry_version(mlflow, model, "champion", timeout) if mlflow else None
    except httpx.HTTPError as err:
        return Check(name, False, f"ready, but its metrics or the registry failed: {err}")
    detail = f"version {served}"
    if alias is not None and alias != served:
        # The API follows the alias within its poll interval: a lasting gap is a stuck replica.
        return Check(name, True, f"{detail}; the registry's champion is {alias}", warn=True)
    return Check(name, True, detail + (" (the registry's champion)" if alias else ""))


def check(outputs: Mapping[str, Any], timeout: float = 5.0) -> list[Check]:
    urls: Mapping[str, str] = outputs.get("urls", {})
    checks = [
        _endpoint(component, f"{url.rstrip('/')}{HEALTH_PATHS[component]}", timeout)
        for component, url in sorted(urls.items())
        if component in HEALTH_PATHS
    ]
    if outputs.get("grafanaUrl"):
        url = str(outputs["grafanaUrl"]).rstrip("/")
        checks.append(_endpoint("grafana", f"{url}{HEALTH_PATHS['grafana']}", timeout))
    prometheus = urls.get("prometheus")
    if prometheus:
        checks += [_targets(prometheus, timeout), _alerts(prometheus, timeout)]
    for model, url in sorted(outputs.get("servingUrls", {}).items()):
        checks.append(_serving(model, url.rstrip("/"), urls.get("mlflow"), timeout))
    return checks


def table(checks: list[Check]) -> str:
    width = max([len(c.component) for c in checks] + [9])
    rows = [f"{'component':<{width}}  {'status':<9}  detail"]
    for c in checks:
        status = "UNHEALTHY" if not c.ok else ("warning" if c.warn else "ok")
        rows.append(f"{c.component:<{width}}  {status:<9}  {c.detail}")
    return "\n".join(rows)


def _pulumi_outputs(stack: str, run: Callable[..., Any] = subprocess.run) -> dict[str, Any]:
    if shutil.which("pulumi") is None:
        raise ValueError("the Pulumi CLI is not on PATH: pass the stack's outputs with --outputs")
    done = run(
        ["pulumi", "stack", "output", "--json", "--stack", stack],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise ValueError(f"pulumi stack output --stack {stack} failed: {done.stderr.strip()}")
    return dict(json.loads(done.stdout))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.health", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--stack", required=True, help="the Pulumi stack to check")
    parser.add_argument(
        "--outputs", type=Path, help="the stack's outputs as JSON (`pulumi stack output --json`)"
    )
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per HTTP request")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    try:
        outputs = (
            json.loads(args.outputs.read_text()) if args.outputs else _pulumi_outputs(args.stack)
        )
    except (OSError, ValueError) as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    if not isinstance(outputs, dict) or not (outputs.get("urls") or outputs.get("servingUrls")):
        print(f"{parser.prog}: error: the outputs name no component URLs (urls, servingUrls)",
              file=sys.stderr)  # fmt: skip
        return EXIT_USAGE
    checks = check(outputs, args.timeout)
    print(f"stack {args.stack}")
    print(table(checks))
    return EXIT_OK if all(c.ok for c in checks) else EXIT_UNHEALTHY


if __name__ == "__main__":
    sys.exit(main())
