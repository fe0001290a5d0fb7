"""Drift batch job: judge recent inputs against the training reference, push the verdict.

`python -m service.drift --model iris-classifier --inputs-dir /data/inputs
 --reference reference.json --pushgateway http://pushgateway:9091`

The service's PSI gauge watches a short sliding window; this job takes a longer
view with a second, independent test. Per feature it compares the newest rows
the service logged with the reference of the model version: a two-sample
Kolmogorov-Smirnov test against the reference sample, and the population
stability index against the reference bins. A feature counts as drifted only
when both agree (the KS test alone flags negligible shifts on large windows),
and the dataset as drifted when enough features are. Scores and verdicts go to
the Pushgateway for alerting and to a self-contained HTML report for people.

Exit codes: 0 judged (drifted or not), 1 the inputs could not be read or the
report or the push failed, 2 bad arguments or an unreadable reference, 3 too
few rows to judge (nothing pushed).
"""

from __future__ import annotations

import argparse
import html
import math
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy.stats import ks_2samp

from service import catalog
from service.inputs_log import path_for, read_recent
from service.pushing import push
from service.reference import Reference

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_TOO_FEW_ROWS = 3
# The model name becomes a file name under --inputs-dir: it must not leave it.
UNSAFE_MODEL_NAME = re.compile(r"\A\.*\Z|[/\\\x00]")


class ReferenceFileError(Exception):
    """The reference file is missing, unreadable or inconsistent."""


class TooFewRowsError(Exception):
    """Not enough recent rows to judge drift."""


class JobFailedError(Exception):
    """The inputs could not be read, or the verdict could not be reported or pushed."""

    def __init__(self, message: str, result: DriftResult | None = None) -> None:
        super().__init__(message)
        self.result = result


@dataclass(frozen=True)
class Thresholds:
    p_value: float = 0.05
    psi: float = 0.2
    dataset_share: float = 0.5


@dataclass(frozen=True)
class FeatureScore:
    name: str
    psi: float
    ks_statistic: float
    p_value: float
    drifted: bool
    reference_size: int


@dataclass(frozen=True)
class DriftResult:
    model: str
    window_size: int
    features: tuple[FeatureScore, ...]
    dataset_drifted: bool
    thresholds: Thresholds

    @property
    def drifted(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features if f.drifted)

    @property
    def drifted_share(self) -> float:
        return len(self.drifted) / len(self.features)


def load_reference(path: Path) -> Reference:
    try:
        reference = Reference.load(path)
    except OSError as err:
        raise ReferenceFileError(f"cannot read reference {path}: {err.strerror or err}") from err
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise ReferenceFileError(f"reference {path} is not a valid reference: {err!r}") from err
    if not reference.features:
        raise ReferenceFileError(f"reference {path} has no features")
    for feature in reference.features:
        if not feature.sample:
            raise ReferenceFileError(f"reference {path}: feature {feature.name!r} has no sample")
        try:
            numbers = np.asarray(feature.sample + feature.edges + feature.proportions, dtype=float)
        except (TypeError, ValueError) as err:
            raise ReferenceFileError(
                f"reference {path}: feature {feature.name!r} has values that are not numbers"
            ) from err
        if not np.isfinite(numbers).all():
            raise ReferenceFileError(
                f"reference {path}: feature {feature.name!r} has values that are not finite"
            )
        if len(feature.proportions) != len(feature.edges) + 1:
            raise ReferenceFileError(
                f"reference {path}: feature {feature.name!r} has {len(feature.edges)} edges "
                f"but {len(feature.proportions)} proportions"
            )
    return reference


def window_matrix(
    inputs_dir: Path, model: str, width: int, window: int, version: str | None = None
) -> npt.NDArray[np.float64]:
    """The newest `window` rows (of one model version if given) as a matrix; rows of
    another width or not finite are left out."""
    rows = [
        r.x
        for r in read_recent(inputs_dir, model, window, version)
        if len(r.x) == width and all(math.isfinite(v) for v in r.x)
    ]
    return np.asarray(rows, dtype=float).reshape(len(rows), width)


def judge(
    model: str, reference: Reference, x: npt.NDArray[np.float64], thresholds: Thresholds
) -> DriftResult:
    scores = []
    for column, feature in zip(x.T, reference.features, strict=True):
        test = ks_2samp(column, np.asarray(feature.sample, dtype=float))
        psi = feature.psi(feature.counts(column))
        p_value = float(test.pvalue)
        scores.append(
            FeatureScore(
                feature.name,
                psi,
                float(test.statistic),
                p_value,
                p_value < thresholds.p_value and psi > thresholds.psi,
                len(feature.sample),
            )
        )
    drifted = sum(s.drifted for s in scores)
    return DriftResult(
        model,
        len(x),
        tuple(scores),
        drifted / len(scores) >= thresholds.dataset_share,
        thresholds,
    )


def push_result(url: str, result: DriftResult) -> None:
    group = {"model": result.model}
    values: list[tuple[catalog.Metric, dict[str, str], float]] = []
    for f in result.features:
        labels = group | {"feature": f.name}
        values += [
            (catalog.DRIFT_FEATURE_PSI, labels, f.psi),
            (catalog.DRIFT_FEATURE_PVALUE, labels, f.p_value),
            (catalog.DRIFT_FEATURE_DRIFTED, labels, float(f.drifted)),
        ]
    values += [
        (catalog.DRIFT_DATASET_DRIFTED, group, float(result.dataset_drifted)),
        (catalog.DRIFT_LAST_RUN, group, time.time()),
    ]
    # PUT: the group holds exactly this run's features, none left from an older reference.
    push(url, catalog.DRIFT_JOB, group, values)


def _yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def render_report(result: DriftResult, generated: datetime) -> str:
    e = html.escape
    t = result.thresholds
    verdict = "drifted" if result.dataset_drifted else "not drifted"
    rows = "\n".join(
        f'<tr class="{"drifted" if f.drifted else "ok"}"><td>{e(f.name)}</td>'
        f"<td>{f.psi:.4f}</td><td>{f.ks_statistic:.4f}</td><td>{f.p_value:.4g}</td>"
        f"<td>{_yes_no(f.drifted)}</td><td>{result.window_size}</td>"
        f"<td>{f.reference_size}</td></tr>"
        for f in result.features
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Drift report: {e(result.model)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; }}
th, td {{ border: 1px solid #999; padding: 0.3em 0.8em; text-align: right; }}
td:first-child, th:first-child {{ text-align: left; }}
tr.drifted {{ background: #fdd; }}
.verdict {{ font-size: 1.3em; }}
</style>
</head>
<body>
<h1>Drift report: {e(result.model)}</h1>
<p class="verdict">Dataset: <strong>{verdict}</strong>
({len(result.drifted)} of {len(result.features)} features drifted,
threshold {t.dataset_share:.0%} of features)</p>
<p>Generated {e(generated.isoformat(timespec="seconds"))} from the {result.window_size} most
recent rows. A feature is drifted when its KS p-value &lt; {t.p_value:g} and its PSI &gt;
{t.psi:g}.</p>
<table>
<thead><tr><th>Feature</th><th>PSI</th><th>KS statistic</th><th>KS p-value</th>
<th>Drifted</th><th>Window size</th><th>Reference sample size</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
</body>
</html>
"""


def run(
    model: str,
    inputs_dir: Path,
    reference_path: Path,
    *,
    window: int = 2000,
    min_rows: int = 100,
    thresholds: Thresholds | None = None,
    report: Path | None = None,
    pushgateway: str | None = None,
    version: str | None = None,
) -> DriftResult:
    """Judge, write the report, then push.

    Raises ReferenceFileError, TooFewRowsError or JobFailedError (which carries
    the verdict when only the report or the push failed).
    """
    reference = load_reference(reference_path)
    try:
        x = window_matrix(inputs_dir, model, len(reference.features), window, version)
    except OSError as err:
        raise JobFailedError(f"cannot read inputs of {model!r} in {inputs_dir}: {err}") from err
    if len(x) < min_rows:
        raise TooFewRowsError(
            f"only {len(x)} usable rows of {len(reference.features)} features in "
            f"{path_for(inputs_dir, model)} (need at least {min_rows}): drift not judged"
        )
    result = judge(model, reference, x, thresholds or Thresholds())
    if report is not None:
        try:
            report.write_text(render_report(result, datetime.now(UTC)))
        except OSError as err:
            raise JobFailedError(
                f"cannot write report {report}: {err.strerror or err}; nothing pushed", result
            ) from err
    if pushgateway:
        try:
            push_result(pushgateway, result)
        except OSError as err:
            reason = getattr(err, "reason", None) or err
            raise JobFailedError(f"cannot push to {pushgateway}: {reason}", result) from err
    return result


def summary(result: DriftResult) -> list[str]:
    lines = [
        f"feature={f.name} psi={f.psi:.4f} ks={f.ks_statistic:.4f} p={f.p_value:.4g} "
        f"drifted={_yes_no(f.drifted)}"
        for f in result.features
    ]
    lines.append(
        f"dataset model={result.model} rows={result.window_size} "
        f"drifted_features={len(result.drifted)}/{len(result.features)} "
        f"drifted={_yes_no(result.dataset_drifted)}"
    )
    return lines


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m service.drift", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--model", required=True, help="model name (the inputs file's stem)")
    parser.add_argument(
        "--inputs-dir", required=True, type=Path, help="where the service writes <model>.jsonl"
    )
    parser.add_argument(
        "--reference", required=True, type=Path, help="reference.json of the served version"
    )
    parser.add_argument(
        "--model-version",
        help="judge only rows this version served (the version the reference belongs to)",
    )
    parser.add_argument("--window", type=int, default=2000, help="most recent rows to judge")
    parser.add_argument(
        "--min-rows", type=int, default=100, help="judge nothing with fewer usable rows"
    )
    parser.add_argument("--pushgateway", help="Pushgateway URL; nothing is pushed when unset")
    parser.add_argument(
        "--report", type=Path, default=Path("drift-report.html"), help="HTML report path"
    )
    parser.add_argument("--p-value", type=float, default=0.05, help="KS p-value threshold")
    parser.add_argument("--psi-threshold", type=float, default=0.2, help="PSI threshold")
    parser.add_argument(
        "--dataset-share",
        type=float,
        default=0.5,
        help="share of drifted features that makes the dataset drifted",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    problems = []
    if UNSAFE_MODEL_NAME.search(args.model):
        problems.append(f"--model {args.model!r} is not a usable file name")
    if args.window < 1:
        problems.append("--window must be at least 1")
    if not 1 <= args.min_rows <= max(args.window, 1):
        problems.append("--min-rows must be between 1 and --window")
    if not 0 < args.p_value < 1:
        problems.append("--p-value must be between 0 and 1")
    if not args.psi_threshold >= 0:
        problems.append("--psi-threshold must be at least 0")
    if not 0 < args.dataset_share <= 1:
        problems.append("--dataset-share must be greater than 0 and at most 1")
    if problems:
        parser.print_usage(sys.stderr)
        for problem in problems:
            print(f"{parser.prog}: error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    thresholds = Thresholds(args.p_value, args.psi_threshold, args.dataset_share)
    try:
        result = run(
            args.model,
            args.inputs_dir,
            args.reference,
            window=args.window,
            min_rows=args.min_rows,
            thresholds=thresholds,
            report=args.report,
            pushgateway=args.pushgateway,
            version=args.model_version,
        )
    except ReferenceFileError as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except TooFewRowsError as err:
        print(f"{parser.prog}: {err}; nothing pushed", file=sys.stderr)
        return EXIT_TOO_FEW_ROWS
    except JobFailedError as err:
        if err.result is not None:
            print("\n".join(summary(err.result)))
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return EXIT_FAILED
    print("\n".join(summary(result)))
    print(f"report: {args.report}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
