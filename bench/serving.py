"""Serving speed in one run: our instrumentation on against off, ours against a plain ASGI peer.

    uv run python bench/serving.py [--rounds 10] [--concurrency 1 4] [--pin]

Starts an MLflow server, trains one model, and runs `bentoml serve` processes
on 127.0.0.1: "on" as the platform deploys it: the ML metrics, drift window, OTLP
tracing at the platform's default sampling and a JSON log line per request on stdout
and over OTLP (spans and logs go to a receiver process that drops them); "off" with
them off (warnings only), and "off-b", a second "off" that measures the noise floor
(A/A) in the same run; and "peer", bench/peer.py (Starlette on one uvicorn
worker) serving the same registry version with `predict_proba`, the same request
and answer shape, and nothing else. Each variant is served by `--replicas`
processes, used in turn, so that one process's luck (memory layout, hash seeds)
does not pass for a cost. Keep-alive clients (1, then 4 at once, each in its own
thread) send the same one-row prediction, the variants alternating in short
blocks (in reversed order every other round), so all see the same machine state.
Prints throughput and p50/p95/p99 latency per variant, the on/off ratios and the
ours ("on")/peer ratios. Targets: on/off throughput >= 0.97 and p95 within
+0.3 ms; ours/peer throughput >= 0.8 at 1 and at 4 clients, p95 <= 1.5x peer.

Each variant's server CPU per request (its process tree's user and system time over its
blocks) is printed too. The figures measured here, before and after each change to the
serving path, are in the README ("Serving speed"): the targets are not yet met.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from infra.spec import Serving
from service.train import train
from tests import servers

# A trace receiver in its own process that reads and drops what it gets: decoding
# spans in the client's process would slow the client and bill it to the service.
SINK = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""
GRPC_SINK = """
import sys
from concurrent import futures
import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
class S(trace_service_pb2_grpc.TraceServiceServicer):
    def Export(self, request, context):
        return trace_service_pb2.ExportTraceServiceResponse()
class L(logs_service_pb2_grpc.LogsServiceServicer):
    def Export(self, request, context):
        return logs_service_pb2.ExportLogsServiceResponse()
server = grpc.server(futures.ThreadPoolExecutor(2))
trace_service_pb2_grpc.add_TraceServiceServicer_to_server(S(), server)
logs_service_pb2_grpc.add_LogsServiceServicer_to_server(L(), server)
server.add_insecure_port("127.0.0.1:" + sys.argv[1])
server.start()
server.wait_for_termination()
"""

MODEL = "iris-classifier"
BODY = {"instances": [[5.1, 3.5, 1.4, 0.2]]}


def measure(client: httpx.Client, url: str, n: int) -> list[float]:
    latencies = []
    for _ in range(n):
        start = time.perf_counter()
        response = client.post(url, json=BODY)
        latencies.append(time.perf_counter() - start)
        if response.status_code != 200:
            raise RuntimeError(f"{url}: {response.status_code} {response.text}")
    return latencies


class Clients:
    """`concurrency` keep-alive clients, each in a thread of its own, sending at once."""

    def __init__(self, stack: ExitStack, concurrency: int) -> None:
        self.clients = [stack.enter_context(httpx.Client(timeout=10)) for _ in range(concurrency)]
        self.pool = stack.enter_context(ThreadPoolExecutor(concurrency))

    def measure(self, url: str, n: int) -> list[float]:
        """The latencies of `n` requests, shared between the clients."""
        share = -(-n // len(self.clients))
        futures = [self.pool.submit(measure, client, url, share) for client in self.clients]
        return [latency for future in futures for latency in future.result()]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


TICKS = os.sysconf("SC_CLK_TCK")


def _processes() -> dict[int, tuple[int, float]]:
    """Every process's parent and CPU seconds so far (user + system), from /proc."""
    table = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile
        table[int(stat.parent.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS)
    return table


def process_tree(pid: int, table: dict[int, tuple[int, float]] | None = None) -> set[int]:
    """A process and its descendants: `bentoml serve` runs the service in a child process."""
    table = _processes() if table is None else table
    tree, added = {pid}, True
    while added:
        children = {child for child, (parent, _) in table.items() if parent in tree} - tree
        tree |= children
        added = bool(children)
    return tree


def cpu_seconds(pid: int) -> float:
    """CPU seconds used so far by a process and its descendants."""
    table = _processes()
    return sum(table[p][1] for p in process_tree(pid, table) if p in table)


def pin(pid: int, cpus: set[int]) -> None:
    """Pin a process, its descendants and all their threads (an affinity set on the parent
    after the spawn misses the child that serves)."""
    for process in process_tree(pid):
        for thread in Path(f"/proc/{process}/task").iterdir():
            os.sched_setaffinity(int(thread.name), cpus)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="requests per variant per round")
    parser.add_argument(
        "--rounds", type=int, default=25, help="rounds; variants alternate within each"
    )
    parser.add_argument(
        "--sample-ratio",
        type=float,
        default=Serving.model_fields["trace_sample_ratio"].default,
        help="trace sampling of the 'on' variant (default: the platform spec's, what staging and prod run)",
    )
    parser.add_argument(
        "--log-level",
        default=Serving.model_fields["log_level"].default,
        help="log level of the 'on' variant (default: the platform spec's, a line per request)",
    )
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument(
        "--replicas", type=int, default=2, help="server processes per variant, used in turn"
    )
    parser.add_argument(
        "--protocol",
        choices=["grpc", "http/protobuf"],
        default="grpc",
        help="OTLP transport of the 'on' variant (default: the service's)",
    )
    parser.add_argument(
        "--breakdown", action="store_true", help="also run metrics-only, tracing-only and logs-only"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        nargs="+",
        default=[1, 4],
        help="concurrent keep-alive clients, measured in turn (each level its own rounds)",
    )
    parser.add_argument("--no-peer", action="store_true", help="skip the plain ASGI peer")
    parser.add_argument(
        "--pin", action="store_true", help="client on CPU 0, servers on CPU 1 (Linux, 2+ cores)"
    )
    return parser.parse_args()


def variants(mlflow_url: str, sink_url: str, args: argparse.Namespace) -> dict[str, dict[str, str]]:
    """The service settings of each variant."""
    # No alias polling during the run: its registry calls would land in one variant's block.
    common = {"mlflow_tracking_uri": mlflow_url, "model_name": MODEL, "alias_poll_seconds": "3600"}
    # "on" logs as the platform deploys it: a JSON line per request on stdout (a file here, as
    # a container runtime keeps it) and the same line over OTLP; "off" logs warnings only.
    logs = {"log_level": args.log_level, "log_export": "true", "otlp_endpoint": sink_url,
            "otlp_protocol": args.protocol}  # fmt: skip
    tracing = {**logs, "tracing": "true", "trace_sample_ratio": str(args.sample_ratio)}
    off = {**common, "ml_metrics": "false", "tracing": "false", "log_export": "false",
           "log_level": "WARNING"}  # fmt: skip
    chosen = {"on": {**common, "ml_metrics": "true", **tracing}, "off": off, "off-b": dict(off)}
    if args.breakdown:
        chosen["metrics"] = {**off, "ml_metrics": "true"}
        chosen["tracing"] = {**off, **tracing, "log_level": "WARNING", "log_export": "false"}
        chosen["logs"] = {**off, **logs}
    return chosen


def start_sink(stack: ExitStack, work: Path, protocol: str) -> str:
    """Starts the trace receiver of `protocol`; returns the endpoint spans are sent to."""
    grpc = protocol == "grpc"
    sink_port = servers.free_port()
    sink = servers.start(
        "otlp-sink",
        [sys.executable, "-c", GRPC_SINK if grpc else SINK, str(sink_port)],
        "",
        work / "sink.log",
    )
    stack.enter_context(servers.running(sink, None))
    return f"127.0.0.1:{sink_port}" if grpc else f"http://127.0.0.1:{sink_port}/v1/traces"


Targets = dict[str, list[tuple[str, int]]]  # per variant: each replica's URL and PID


def start_servers(
    stack: ExitStack, work: Path, settings: dict[str, dict[str, str]], args: argparse.Namespace
) -> Targets:
    """Starts `--replicas` serving processes a variant; returns their prediction URLs and PIDs."""
    urls: Targets = {}
    for name, variant in settings.items():
        for replica in range(args.replicas):
            server = servers.serving(work / f"{name}-{replica}", variant)
            stack.enter_context(servers.running(server, servers.http_ok(f"{server.url}/readyz")))
            if args.pin:
                pin(server.process.pid, {1})
            urls.setdefault(name, []).append((f"{server.url}/predict", server.process.pid))
    return urls


def start_peers(
    stack: ExitStack, work: Path, mlflow_url: str, args: argparse.Namespace
) -> list[tuple[str, int]]:
    """Starts `--replicas` peers (bench/peer.py on uvicorn, one worker); returns their URLs
    and PIDs."""
    urls = []
    for replica in range(args.replicas):
        port = servers.free_port()
        peer = servers.start(
            "peer",
            [servers.VENV_BIN / "uvicorn", "bench.peer:app", "--host", "127.0.0.1",
             "--port", str(port), "--workers", "1", "--no-access-log", "--log-level", "warning"],
            f"http://127.0.0.1:{port}",
            work / f"peer-{replica}.log",
            env={"PEER_MLFLOW_URI": mlflow_url, "PEER_MODEL": MODEL, "PYTHONPATH": str(servers.ROOT)},
        )  # fmt: skip
        stack.enter_context(servers.running(peer, servers.http_ok(f"{peer.url}/readyz")))
        if args.pin:
            pin(peer.process.pid, {1})
        urls.append((f"{peer.url}/predict", peer.process.pid))
    return urls


Results = dict[str, list[float]]


Seconds = dict[str, float]


def run(
    clients: Clients, urls: Targets, args: argparse.Namespace
) -> tuple[Results, Seconds, Seconds]:
    """Latencies, elapsed seconds and server CPU seconds of each variant, which alternate
    in blocks each round."""
    for replicas in urls.values():
        for url, _ in replicas:
            clients.measure(url, args.warmup)
    results: Results = {name: [] for name in urls}
    elapsed, cpu = dict.fromkeys(urls, 0.0), dict.fromkeys(urls, 0.0)
    for round_ in range(args.rounds):
        order = list(urls.items())
        for name, replicas in order if round_ % 2 == 0 else reversed(order):
            url, pid = replicas[round_ // 2 % len(replicas)]
            used, start = cpu_seconds(pid), time.perf_counter()
            results[name] += clients.measure(url, args.requests)
            elapsed[name] += time.perf_counter() - start
            cpu[name] += cpu_seconds(pid) - used
    return results, elapsed, cpu


def report(results: Results, elapsed: Seconds, cpu: Seconds, concurrency: int) -> None:
    print(f"\n{concurrency} concurrent client(s)")
    print(
        f"{'variant':<8}{'requests':>10}{'req/s':>10}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}"
        f"{'CPU ms/req':>12}"
    )
    summary = {}
    for name, latencies in results.items():
        rps = len(latencies) / elapsed[name]
        p50, p95, p99 = (percentile(latencies, q) * 1000 for q in (0.5, 0.95, 0.99))
        summary[name] = (rps, p50, p95, 1000 * cpu[name] / len(latencies))
        print(
            f"{name:<8}{len(latencies):>10}{rps:>10.1f}{p50:>10.3f}{p95:>10.3f}{p99:>10.3f}"
            f"{summary[name][3]:>12.3f}"
        )
    noise = summary["off-b"][0] / summary["off"][0]
    print(f"noise floor off-b/off: {noise:.3f} (two identical variants)")
    ratio = summary["on"][0] / summary["off"][0]
    delta_p95 = summary["on"][2] - summary["off"][2]
    print(f"throughput on/off: {ratio:.3f} (target >= 0.97)")
    print(f"p95 on - off: {delta_p95:+.3f} ms (target <= +0.3 ms)")
    print(
        f"mean latency on/off: {statistics.fmean(results['on']) / statistics.fmean(results['off']):.3f}"
    )
    if "peer" in summary:
        print(f"throughput on/peer: {summary['on'][0] / summary['peer'][0]:.3f} (target >= 0.8)")
        print(f"p95 on/peer: {summary['on'][2] / summary['peer'][2]:.3f} (target <= 1.5)")
        print(f"server CPU per request on/peer: {summary['on'][3] / summary['peer'][3]:.3f}")


def main() -> int:
    args = arguments()
    if args.pin:
        os.sched_setaffinity(0, {0})
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        work = Path(tmp)
        sink_url = start_sink(stack, work, args.protocol)
        mlflow = servers.mlflow_server(work / "mlflow")
        stack.enter_context(servers.running(mlflow, servers.http_ok(f"{mlflow.url}/health")))
        train(mlflow.url, MODEL, "champion", c=1.0, seed=0)
        urls = start_servers(stack, work, variants(mlflow.url, sink_url, args), args)
        if not args.no_peer:
            urls["peer"] = start_peers(stack, work, mlflow.url, args)
        measured = []
        for concurrency in args.concurrency:
            clients = Clients(stack, concurrency)
            measured.append((concurrency, *run(clients, urls, args)))
    for concurrency, results, elapsed, cpu in measured:
        report(results, elapsed, cpu, concurrency)
    return 0


if __name__ == "__main__":
    sys.exit(main())
