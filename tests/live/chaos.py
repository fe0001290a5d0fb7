"""A model that fails or slows down on command: how the live tests inject serving faults.

`Chaos` wraps a trained pipeline and, before every prediction, reads a control
file: `error` makes the prediction raise (the service answers 500), `latency
<seconds>` makes it sleep first, `wrong` shifts every answer to another class
(a model that is confidently wrong); no file, no fault. It is registered in MLflow
like any version (with the training reference, so drift still works), so the
service under test is the real one, serving a real registry version.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin


class InjectedFaultError(RuntimeError):
    pass


class Chaos(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    def __init__(self, model: Any = None, control: str = "") -> None:
        self.model = model
        self.control = control

    @property
    def classes_(self) -> Any:
        return self.model.classes_

    def fit(self, x: Any, y: Any) -> Chaos:
        self.model.fit(x, y)
        return self

    def _fault(self) -> None:
        try:
            command = Path(self.control).read_text().split()
        except OSError:
            return
        if command[:1] == ["error"]:
            raise InjectedFaultError("injected fault: the model failed")
        if command[:1] == ["latency"]:
            time.sleep(float(command[1]))

    def _wrong(self) -> bool:
        try:
            return Path(self.control).read_text().split()[:1] == ["wrong"]
        except OSError:
            return False

    def predict_proba(self, x: Any) -> np.ndarray[Any, Any]:
        self._fault()
        proba = np.asarray(self.model.predict_proba(x))
        return np.roll(proba, 1, axis=1) if self._wrong() else proba

    def predict(self, x: Any) -> np.ndarray[Any, Any]:
        self._fault()
        return np.asarray(self.model.predict(x))


def set_fault(control: Path, command: str | None) -> None:
    """Start (`error`, `latency 1.5`) or stop (None) a fault for every model reading `control`."""
    if command is None:
        control.unlink(missing_ok=True)
    else:
        tmp = control.with_suffix(".tmp")
        tmp.write_text(command)
        tmp.replace(control)
