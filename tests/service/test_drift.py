"""The drift job on real files and a real Pushgateway: what it judges, pushes and reports.

The reference and the logged inputs are synthetic, drawn with fixed seeds, so
which features drift is known: features 0 and 2 are shifted by two standard
deviations, 1 and 3 are not. The statistics run for real (scipy, the
reference's PSI); only the data is made up.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
import pytest
from prometheus_client.parser import text_string_to_metric_families

from service import catalog
from service.drift import DriftResult, run
from service.drift import main as drift_main
from service.inputs_log import InputsWriter, Row
from service.reference import Reference
from tests.servers import ROOT, free_port
from tests.service.pushgateway import running_pushgateway

NAMES = ("Sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)")
FEATURES = ("sepal_length_cm", "sepal_width_cm", "petal_length_cm", "petal_width_cm")
MEANS = np.array([5.8, 3.0, 3.7, 1.2])
STDS = np.array([0.8, 0.4, 1.7, 0.7])
SHIFT = np.array([2.0, 0.0, 2.0, 0.0]) * STDS
EXPECTED_DRIFTED = ("sepal_length_cm", "petal_length_cm")


def draw(seed: int, rows: int, shift: npt.NDArray[np.float64] | None = None) -> Any:
    x = np.random.default_rng(seed).normal(MEANS, STDS, size=(rows, len(MEANS)))
    return x if shift is None else x + shift


@pytest.fixture(scope="module")
def reference_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    reference = Reference.from_training(draw(0, 2000), NAMES, ("a", "b", "c"))
    assert reference.names == FEATURES
    return reference.save(tmp_path_factory.mktemp("reference") / "reference.json")


@pytest.fixture(scope="module")
def pushgateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_pushgateway(tmp_path_factory.mktemp("pushgateway")) as url:
        yield url


def log_inputs(directory: Path, model: str, x: Any, version: str = "1") -> Path:
    writer = InputsWriter(directory, model)
    now = time.time()
    writer.write([Row(now, version, tuple(float(v) for v in row)) for row in x])
    return directory


def pushed(url: str, model: str) -> dict[str, dict[str, float]]:
    """Drift-job samples the Pushgateway holds for `model`: name -> feature (or "") -> value."""
    text = httpx.get(f"{url}/metrics", timeout=5).text
    out: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("mlops_drift_job_") and sample.labels["model"] == model:
                assert sample.labels["job"] == catalog.DRIFT_JOB
                out.setdefault(sample.name, {})[sample.labels.get("feature", "")] = sample.value
    return out


def test_inputs_from_the_training_distribution_are_not_drifted(
    tmp_path: Path, reference_path: Path, pushgateway: str
) -> None:
    inputs = log_inputs(tmp_path / "inputs", "steady", draw(1, 1500))
    result = run("steady", inputs, reference_path, pushgateway=pushgateway)

    assert result.drifted == ()
    assert not result.dataset_drifted
    assert result.window_size == 1500
    assert all(f.psi < 0.05 for f in result.features)
    metrics = pushed(pushgateway, "steady")
    assert metrics[catalog.DRIFT_FEATURE_DRIFTED.name] == dict.fromkeys(FEATURES, 0.0)
    assert metrics[catalog.DRIFT_DATASET_DRIFTED.name] == {"": 0.0}


def test_exactly_the_shifted_features_are_drifted_and_so_is_the_dataset(
    tmp_path: Path, reference_path: Path
) -> None:
    inputs = log_inputs(tmp_path / "inputs", "shifted", draw(2, 1000, SHIFT))
    result = run("shifted", inputs, reference_path, report=tmp_path / "report.html")

    assert isinstance(result, DriftResult)
    assert result.drifted == EXPECTED_DRIFTED
    assert result.dataset_drifted
    assert result.drifted_share == 0.5
    by_name = {f.name: f for f in result.features}
    for name in EXPECTED_DRIFTED:
        assert by_name[name].psi > 1
        assert by_name[name].p_value < 1e-10
    for name in set(FEATURES) - set(EXPECTED_DRIFTED):
        assert by_name[name].psi < 0.05
    assert all(f.reference_size == 1000 for f in result.features)


def test_python_m_service_drift_pushes_the_verdict_under_job_drift_and_the_model(
    tmp_path: Path, reference_path: Path, pushgateway: str
) -> None:
    inputs = log_inputs(tmp_path / "inputs", "iris-classifier", draw(3, 1000, SHIFT))
    started = time.time()
    done = subprocess.run(
        [sys.executable, "-m", "service.drift", "--model", "iris-classifier",
         "--inputs-dir", inputs, "--reference", reference_path,
         "--pushgateway", pushgateway, "--report", tmp_path / "report.html"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for name in FEATURES:
        drifted = "yes" if name in EXPECTED_DRIFTED else "no"
        assert sum(line.startswith(f"feature={name} ") for line in lines) == 1
        assert any(f"feature={name} " in ln and ln.endswith(f"drifted={drifted}") for ln in lines)
    metrics = pushed(pushgateway, "iris-classifier")
    assert metrics[catalog.DRIFT_FEATURE_DRIFTED.name] == {
        name: float(name in EXPECTED_DRIFTED) for name in FEATURES
    }
    assert metrics[catalog.DRIFT_DATASET_DRIFTED.name] == {"": 1.0}
    assert set(metrics[catalog.DRIFT_FEATURE_PSI.name]) == set(FEATURES)
    assert metrics[catalog.DRIFT_FEATURE_PSI.name]["sepal_length_cm"] > 1
    assert set(metrics[catalog.DRIFT_FEATURE_PVALUE.name]) == set(FEATURES)
    assert started - 1 <= metrics[catalog.DRIFT_LAST_RUN.name][""] <= time.time() + 1


def test_only_the_most_recent_window_is_judged(tmp_path: Path, reference_path: Path) -> None:
    inputs = log_inputs(tmp_path / "inputs", "recovered", draw(4, 1000, SHIFT))
    log_inputs(inputs, "recovered", draw(5, 500))

    result = run("recovered", inputs, reference_path, window=500)

    assert result.window_size == 500
    assert result.drifted == ()


def test_the_report_is_self_contained_and_names_every_feature_and_the_verdict(
    tmp_path: Path, reference_path: Path
) -> None:
    model = "iris <b>&"
    inputs = log_inputs(tmp_path / "inputs", model, draw(6, 1000, SHIFT))
    report = tmp_path / "out" / "report.html"
    report.parent.mkdir()

    run(model, inputs, reference_path, report=report)

    page = report.read_text()
    for name in FEATURES:
        assert f"<td>{name}</td>" in page
    assert "Dataset: <strong>drifted</strong>" in page
    assert "iris &lt;b&gt;&amp;" in page
    assert "<b>" not in page
    for external in ("src=", "href=", "@import", "url("):
        assert external not in page


def test_too_few_rows_exits_3_and_pushes_nothing(
    tmp_path: Path, reference_path: Path, pushgateway: str, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = log_inputs(tmp_path / "inputs", "quiet", draw(7, 50))

    code = drift_main(
        ["--model", "quiet", "--inputs-dir", str(inputs), "--reference", str(reference_path),
         "--pushgateway", pushgateway, "--report", str(tmp_path / "report.html")]
    )  # fmt: skip

    assert code == 3
    err = capsys.readouterr().err
    assert "only 50 usable rows" in err
    assert "at least 100" in err
    assert pushed(pushgateway, "quiet") == {}
    assert not (tmp_path / "report.html").exists()


def test_an_unreachable_pushgateway_exits_1_after_printing_and_reporting_the_verdict(
    tmp_path: Path, reference_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = log_inputs(tmp_path / "inputs", "lonely", draw(8, 200))
    nobody = f"http://127.0.0.1:{free_port()}"

    code = drift_main(
        ["--model", "lonely", "--inputs-dir", str(inputs), "--reference", str(reference_path),
         "--pushgateway", nobody, "--report", str(tmp_path / "report.html")]
    )  # fmt: skip

    assert code == 1
    out, err = capsys.readouterr()
    assert out.count("feature=") == len(FEATURES)
    assert f"cannot push to {nobody}" in err
    assert "Traceback" not in err
    assert (tmp_path / "report.html").exists()


def test_a_missing_reference_exits_2_naming_the_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere" / "reference.json"

    code = drift_main(
        ["--model", "m", "--inputs-dir", str(tmp_path), "--reference", str(missing),
         "--report", str(tmp_path / "report.html")]
    )  # fmt: skip

    assert code == 2
    err = capsys.readouterr().err
    assert str(missing) in err
    assert "Traceback" not in err


def test_a_reference_that_is_not_one_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "reference.json"
    bad.write_text('{"features": "no"}')

    code = drift_main(["--model", "m", "--inputs-dir", str(tmp_path), "--reference", str(bad)])

    assert code == 2
    assert str(bad) in capsys.readouterr().err


@pytest.mark.parametrize(
    "arguments",
    [
        ["--p-value", "1.5"],
        ["--psi-threshold", "-1"],
        ["--dataset-share", "0"],
        ["--window", "0"],
        ["--min-rows", "3000"],
        ["--window", "many"],
        ["--model", "../etc"],
    ],
    ids=" ".join,
)
def test_bad_arguments_exit_2_without_a_traceback(
    tmp_path: Path,
    reference_path: Path,
    arguments: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    base = ["--model", "m", "--inputs-dir", str(tmp_path), "--reference", str(reference_path)]

    assert drift_main(base + arguments) == 2
    err = capsys.readouterr().err
    assert "error" in err
    assert "Traceback" not in err


def test_only_rows_of_the_named_version_are_judged_against_its_reference(
    tmp_path: Path, reference_path: Path
) -> None:
    inputs = log_inputs(tmp_path / "inputs", "redeployed", draw(3, 800, SHIFT), version="1")
    log_inputs(inputs, "redeployed", draw(4, 800), version="2")

    everything = run("redeployed", inputs, reference_path)
    current = run("redeployed", inputs, reference_path, version="2")

    assert everything.drifted == EXPECTED_DRIFTED
    assert current.drifted == ()
    assert current.window_size == 800
