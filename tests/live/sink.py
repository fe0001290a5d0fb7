"""The webhook receiver the live stack's Alertmanager notifies: records every notification.

It can be stopped and started again on the same port, to show that
Alertmanager retries what it could not deliver.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Notification:
    receiver: str  # the path the receiver's URL ends in: /<receiver>
    received: float  # time.time()
    status: str
    alerts: tuple[dict[str, Any], ...]
    group: tuple[tuple[str, str], ...] = ()  # the group's labels (its route's group_by)
    sender: str = ""  # the externalURL of the Alertmanager that sent it


@dataclass
class WebhookSink:
    port: int
    notifications: list[Notification] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, receiver: str) -> str:
        return f"http://127.0.0.1:{self.port}/{receiver}"

    def start(self) -> None:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                note = Notification(
                    self.path.strip("/"),
                    time.time(),
                    body["status"],
                    tuple(body["alerts"]),
                    tuple(sorted(body.get("groupLabels", {}).items())),
                    body.get("externalURL", ""),
                )
                with sink._lock:
                    sink.notifications.append(note)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def alerts(
        self, alertname: str, status: str = "firing"
    ) -> list[tuple[Notification, dict[str, Any]]]:
        """Every (notification, alert) pair for one alert name in one state."""
        with self._lock:
            return [
                (n, a)
                for n in self.notifications
                for a in n.alerts
                if a["labels"].get("alertname") == alertname and a["status"] == status
            ]
