"""The peer of bench/serving.py: a plain Starlette app on one uvicorn worker.

    PEER_MLFLOW_URI=http://... PEER_MODEL=iris-classifier \
        uvicorn bench.peer:app --host 127.0.0.1 --port 8000 --workers 1

What a team would write without the platform: it loads the same registry version
(`models:/<name>@champion`) and answers the same request and response shape with
`predict_proba`, and nothing else: no validation beyond JSON, no metrics, no traces,
no logs. The serving path's overhead is measured against it.
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

import mlflow
import numpy as np
from mlflow import MlflowClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

URI, NAME, ALIAS = os.environ["PEER_MLFLOW_URI"], os.environ["PEER_MODEL"], "champion"
mlflow.set_tracking_uri(URI)
VERSION = MlflowClient(URI).get_model_version_by_alias(NAME, ALIAS)
MODEL = mlflow.sklearn.load_model(f"models:/{NAME}/{VERSION.version}")
CLASSES = MlflowClient(URI).get_run(str(VERSION.run_id)).data.tags["classes"].split(",")


async def predict(request: Request) -> Response:
    x = np.asarray(json.loads(await request.body())["instances"], dtype=float)
    proba = MODEL.predict_proba(x)
    index = proba.argmax(axis=1)
    answer: dict[str, Any] = {
        "predictions": [
            {"prediction_id": uuid.uuid4().hex, "class": CLASSES[i], "confidence": float(p)}
            for i, p in zip(index, proba[np.arange(len(index)), index], strict=True)
        ],
        "model": {"name": NAME, "version": str(VERSION.version), "alias": ALIAS},
    }
    return Response(json.dumps(answer), media_type="application/json")


async def ready(_: Request) -> Response:
    return Response("ok")


app = Starlette(routes=[Route("/predict", predict, methods=["POST"]), Route("/readyz", ready)])
