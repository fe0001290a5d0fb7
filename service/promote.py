"""Move a model's serving alias to a version, or back to the previous champion, on the record.

    python -m service.promote --tracking-uri URL --model NAME --version 7 --reason "..."
    python -m service.promote --tracking-uri URL --model NAME --rollback --reason "..."

The running serving API follows the alias within its poll interval, without a
restart. Who and why are kept as MLflow tags on the versions involved
(`mlops.promoted_*` on the new champion, with the version it replaced, and
`mlops.demoted_*` on the old one), so `--rollback` knows where to go back to,
and the move is pushed to the Pushgateway as a deployment event that
dashboards draw as an annotation. service.rollback moves the alias through the
same `move_with`. Exit codes: 0 done (or nothing to do),
1 the registry or the Pushgateway failed, 2 a usage error (unknown version,
nothing to roll back to).
"""

from __future__ import annotations

import argparse
import calendar
import getpass
import logging
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from service import catalog
from service.pushing import push

log = logging.getLogger("service.promote")
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
PREVIOUS_TAG = "mlops.previous_champion"
PROMOTED_AT_TAG = "mlops.promoted_at"
PROMOTED_ACTION_TAG = "mlops.promoted_action"
STAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class UsageError(Exception):
    """A request the registry cannot honour as asked (unknown version, no previous champion)."""


@dataclass(frozen=True)
class Move:
    model: str
    alias: str
    action: str  # promote | rollback
    previous: str | None
    version: str
    at: float
    changed: bool


def _version_exists(client: Any, model: str, version: str) -> None:
    from mlflow.exceptions import MlflowException  # noqa: PLC0415

    try:
        client.get_model_version(model, version)
    except MlflowException as err:
        if "RESOURCE_DOES_NOT_EXIST" in str(err.error_code):
            raise UsageError(f"{model} has no version {version}") from None
        raise


def champion_of(client: Any, model: str, alias: str) -> Any | None:
    from mlflow.exceptions import MlflowException  # noqa: PLC0415

    try:
        return client.get_model_version_by_alias(model, alias)
    except MlflowException as err:
        if "RESOURCE_DOES_NOT_EXIST" in str(err.error_code) or "INVALID_PARAMETER" in str(
            err.error_code
        ):
            return None
        raise


def move(
    tracking_uri: str,
    model: str,
    alias: str,
    version: str | None,
    *,
    reason: str,
    who: str,
) -> Move:
    """Point `alias` at `version`, or (version None) back at the previous champion."""
    from mlflow import MlflowClient  # noqa: PLC0415 - heavy; keeps --help fast

    return move_with(MlflowClient(tracking_uri), model, alias, version, reason=reason, who=who)


def _target(current: Any, model: str, alias: str, version: str | None) -> tuple[str, str]:
    """The version to serve and the action's name: the named one, or the previous champion."""
    if version is not None:
        return version, "promote"
    if current is None:
        raise UsageError(f"{model}@{alias} is not set: there is nothing to roll back")
    target = (current.tags or {}).get(PREVIOUS_TAG)
    if not target:
        raise UsageError(
            f"{model}@{alias} (version {current.version}) has no previous champion on record: "
            "name the version to serve with --version"
        )
    return str(target), "rollback"


def move_with(
    client: Any,
    model: str,
    alias: str,
    version: str | None,
    *,
    reason: str,
    who: str,
    expected: str | None = None,
    demoted_tags: Mapping[str, str] | None = None,
) -> Move:
    """`move` on an MLflow client: the one path every move of the alias takes (the promote
    command and service.rollback). With `expected`, the alias must still be on that version
    (a move decided on a version refuses to act on another); `demoted_tags` are extra tags
    for the version the alias leaves."""
    current = champion_of(client, model, alias)
    current_version = str(current.version) if current is not None else None
    if expected is not None and current_version != expected:
        raise UsageError(f"{model}@{alias} is version {current_version}, not {expected}")
    target, action = _target(current, model, alias, version)
    _version_exists(client, model, target)
    now = time.time()
    if target == current_version:
        log.info("%s@%s is already version %s: nothing to do", model, alias, target)
        return Move(model, alias, action, current_version, target, now, changed=False)
    stamp = timestamp(now)
    client.set_registered_model_alias(model, alias, target)
    tags = {PROMOTED_AT_TAG: stamp, "mlops.promoted_by": who, "mlops.promoted_reason": reason,
            PROMOTED_ACTION_TAG: action}  # fmt: skip
    if action == "promote" and current_version is not None:
        tags[PREVIOUS_TAG] = current_version
    for key, value in tags.items():
        client.set_model_version_tag(model, target, key, value)
    if current_version is not None:
        demoted = {"mlops.demoted_at": stamp, "mlops.demoted_by": who,
                   "mlops.demoted_reason": reason, **(demoted_tags or {})}  # fmt: skip
        for key, value in demoted.items():
            client.set_model_version_tag(model, current_version, key, value)
    log.info(
        "%s %s@%s: version %s -> %s (%s, by %s)",
        action, model, alias, current_version, target, reason, who,
        extra={"model": model, "model_version": target, "previous_version": current_version},
    )  # fmt: skip
    return Move(model, alias, action, current_version, target, now, changed=True)


def timestamp(at: float) -> str:
    """How the move tags spell a time (UTC, to the second)."""
    return time.strftime(STAMP_FORMAT, time.gmtime(at))


def parse_timestamp(stamp: str) -> float:
    """A time written by `timestamp`, back as Unix seconds; ValueError when it is not one."""
    return float(calendar.timegm(time.strptime(stamp, STAMP_FORMAT)))


def push_event(url: str, moved: Move) -> None:
    """One deployment event per model (the latest move), as a timestamp the dashboards annotate."""
    group = {"model": moved.model}
    labels = group | {"model_version": moved.version, "action": moved.action}
    push(url, catalog.DEPLOYMENT_JOB, group, [(catalog.MODEL_DEPLOYMENT, labels, moved.at)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m service.promote", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--tracking-uri", required=True, help="MLflow tracking server URL")
    parser.add_argument("--model", required=True, help="registered model name")
    parser.add_argument("--alias", default="champion", help="alias the serving API follows")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--version", help="version to serve")
    target.add_argument("--rollback", action="store_true", help="serve the previous champion again")
    parser.add_argument("--reason", required=True, help="why, kept on the versions' tags")
    parser.add_argument("--who", default=None, help="who decided (default: the OS user)")
    parser.add_argument("--pushgateway", help="Pushgateway URL for the deployment event")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    if not args.reason.strip():
        print(f"{parser.prog}: error: --reason must say why", file=sys.stderr)
        return EXIT_USAGE
    if args.version is not None and not args.version.isdigit():
        print(f"{parser.prog}: error: --version must be a version number", file=sys.stderr)
        return EXIT_USAGE
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    who = args.who or getpass.getuser()
    try:
        moved = move(
            args.tracking_uri, args.model, args.alias, args.version, reason=args.reason, who=who
        )
    except UsageError as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as err:  # the registry is down or refused: say so, in one line
        print(f"{parser.prog}: error: MLflow at {args.tracking_uri}: {err}", file=sys.stderr)
        return EXIT_FAILED
    if moved.changed and args.pushgateway:
        try:
            push_event(args.pushgateway, moved)
        except OSError as err:
            print(
                f"{parser.prog}: error: the alias moved, but the event did not reach "
                f"{args.pushgateway}: {err}",
                file=sys.stderr,
            )
            return EXIT_FAILED
    print(
        f"{moved.model}@{moved.alias}: {moved.previous} -> {moved.version}"
        + ("" if moved.changed else " (unchanged)")
    )
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
