"""Settings of the serving API, from `MLOPS_SERVING_*` environment variables, checked at startup."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MLOPS_SERVING_", frozen=True, extra="ignore")

    mlflow_tracking_uri: str = Field(
        description="MLflow tracking server URL.", pattern=r"^(https?|file)://\S+$"
    )
    model_name: str = Field(description="Registered model name.", min_length=1)
    model_alias: str = Field(
        default="champion", description="Registry alias to serve and follow.", min_length=1
    )
    alias_poll_seconds: float = Field(
        default=30.0, gt=0, description="How often the alias is checked."
    )
    load_retry_initial_seconds: float = Field(
        default=0.5, gt=0, description="First back-off after a failed load."
    )
    load_retry_max_seconds: float = Field(
        default=30.0, gt=0, description="Longest back-off between load attempts."
    )
    max_batch_size: int = Field(default=256, ge=1, description="Most rows in one request.")
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, description="Largest request body; larger gets 413."
    )
    drift_window: int = Field(
        default=1000, ge=10, description="Recent rows the per-feature PSI is computed over."
    )
    drift_min_rows: int = Field(
        default=500,
        ge=1,
        description="Rows the window must hold before drift is reported: PSI over few rows "
        "is biased upward and would raise false alarms at low traffic.",
    )
    feedback_capacity: int = Field(
        default=100_000,
        ge=1,
        description="Most recent predictions kept to match feedback with; older ones are "
        "forgotten (their feedback counts as unknown_id).",
    )
    feedback_window: int = Field(
        default=500, ge=1, description="Labels the rolling accuracy and macro F1 are computed over."
    )
    drift_update_seconds: float = Field(
        default=5.0, gt=0, description="How often drift is recomputed, off the request path."
    )
    inline_budget_ms: float = Field(
        default=20.0,
        ge=0,
        description="A prediction runs on the event loop while each call ends within this "
        "many milliseconds, in a worker thread once one takes longer (a model that waits "
        "would hold /metrics and the probes); 0 always uses the thread.",
    )
    inputs_dir: Path | None = Field(
        default=None, description="Where recent inputs are written for the drift job."
    )
    ml_metrics: bool = Field(
        default=True, description="Export the ML metrics (predictions, confidence, drift)."
    )
    tracing: bool = Field(default=True, description="Send OpenTelemetry traces over OTLP.")
    log_export: bool = Field(
        default=True,
        description="Also send the JSON log lines over OTLP (the collector forwards them to Loki).",
    )
    otlp_protocol: Literal["grpc", "http/protobuf"] = Field(
        default_factory=lambda: os.environ.get(  # type: ignore[arg-type]
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ),
        description="OTLP transport (OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL when unset); gRPC by default: "
        "it sends from C threads and slowed requests least in bench/serving.py.",
    )
    otlp_endpoint: str | None = Field(
        default=None,
        description="OTLP endpoint: host:port for gRPC, the traces URL (.../v1/traces; logs go "
        "to .../v1/logs) for HTTP; OTEL_EXPORTER_OTLP_* apply when unset.",
    )
    trace_sample_ratio: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="Share of new traces sampled (the platform spec's default); a caller's "
        "sampled traceparent is always followed.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Log level."
    )

    @model_validator(mode="after")
    def _min_rows_fit_the_window(self) -> ServingSettings:
        if self.drift_min_rows > self.drift_window:
            raise ValueError(
                f"drift_min_rows {self.drift_min_rows} is more than drift_window {self.drift_window}"
            )
        return self
