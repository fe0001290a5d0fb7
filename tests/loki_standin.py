"""What Loki would index from an OTLP log record, and the part of LogQL the platform's queries use.

Loki is AGPL-3.0: this repository never builds or runs it. Where the live tests need Loki, an
OTLP/HTTP receiver (tests/otlp_sink.py) stands on Loki's OTLP route, and this module turns each
record it got into the entry Loki 3.x stores by its documented OTLP ingestion defaults:

- **stream labels**: the resource attributes on Loki's default index-label list
  (`distributor.otlp_config` defaults), with every character that is not a letter, digit or
  `_` turned into `_` (`service.name` -> `service_name`);
- **structured metadata**: every other resource attribute, the scope's name (`scope_name`),
  every log attribute (names changed the same way), `trace_id`, `span_id`, `flags`,
  `severity_text` and `severity_number`;
- **the line**: the record's body as a string.

`logs` and `metric` run a LogQL query over such entries: a stream selector (`=`, `!=`, `=~`, `!~`), line
filters (`|=`, `!=`, `|~`, `!~`), the `json` parser, label filters on stream labels, structured
metadata and parsed labels (including `__error__`), and the metric forms `count_over_time`,
`rate` and `sum [by (...)]` around them. Anything else raises `UnsupportedError`, so a dashboard or
rule that grows past this subset fails its test rather than passing unchecked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from infra.units import duration_seconds
from tests.otlp_sink import LogRecord

# Loki 3.x's documented default list of resource attributes stored as index labels.
DEFAULT_INDEX_LABELS: Final = frozenset(
    {
        "cloud.availability_zone",
        "cloud.region",
        "container.name",
        "deployment.environment",
        "k8s.cluster.name",
        "k8s.container.name",
        "k8s.cronjob.name",
        "k8s.daemonset.name",
        "k8s.deployment.name",
        "k8s.job.name",
        "k8s.namespace.name",
        "k8s.pod.name",
        "k8s.replicaset.name",
        "k8s.statefulset.name",
        "service.instance.id",
        "service.name",
        "service.namespace",
    }
)


class UnsupportedError(ValueError):
    """A LogQL construct this stand-in does not evaluate."""


def label_name(key: str) -> str:
    """An OTLP attribute name as Loki stores it."""
    return re.sub(r"[^A-Za-z0-9_]", "_", key)


@dataclass(frozen=True)
class Entry:
    labels: Mapping[str, str]  # the stream
    metadata: Mapping[str, str]  # structured metadata
    line: str
    time_ns: int


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return "" if value is None else str(value)


def index(record: LogRecord) -> Entry:
    """The entry Loki stores for one OTLP log record."""
    labels = {
        label_name(k): _text(v) for k, v in record.resource.items() if k in DEFAULT_INDEX_LABELS
    }
    metadata = {
        label_name(k): _text(v) for k, v in record.resource.items() if k not in DEFAULT_INDEX_LABELS
    }
    metadata |= {label_name(k): _text(v) for k, v in record.attributes.items()}
    if record.scope:
        metadata["scope_name"] = record.scope
    if record.trace_id.strip("0"):
        metadata["trace_id"] = record.trace_id
    if record.span_id.strip("0"):
        metadata["span_id"] = record.span_id
    if record.flags:
        metadata["flags"] = str(record.flags)
    if record.severity:
        metadata["severity_text"] = record.severity
    if record.severity_number:
        metadata["severity_number"] = str(record.severity_number)
    return Entry(labels, metadata, record.body, record.time_ns)


# --- LogQL -----------------------------------------------------------------------------------

_STRING = r'"(?:[^"\\]|\\.)*"'
_MATCHER = re.compile(rf"\s*([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*({_STRING})\s*")
_LINE_FILTER = re.compile(rf"\s*(\|=|!=|\|~|!~)\s*({_STRING})")
_PARSER = re.compile(
    r"\s*\|\s*(json|logfmt|regexp|pattern|unpack|line_format|label_format|drop|keep)\b"
)
_LABEL_FILTER = re.compile(rf"\s*\|\s*([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*({_STRING})")
_RANGE = re.compile(r"^(count_over_time|rate)\s*\((?P<log>.*)\[(?P<range>\w+)\]\s*\)$", re.S)
_SUM = re.compile(r"^sum\s*(?:by\s*\((?P<by>[^)]*)\)\s*)?\((?P<inner>.*)\)$", re.S)


def _literal(quoted: str) -> str:
    return str(json.loads(quoted))


@dataclass(frozen=True)
class Match:
    name: str
    op: str
    value: str

    def __call__(self, labels: Mapping[str, str]) -> bool:
        have = labels.get(self.name, "")
        if self.op in ("=", "!="):
            return (have == self.value) == (self.op == "=")
        return bool(re.fullmatch(self.value, have)) == (self.op == "=~")


@dataclass(frozen=True)
class LogQuery:
    selector: tuple[Match, ...]
    stages: tuple[tuple[str, Any], ...] = field(default=())

    def run(self, entries: Iterable[Entry]) -> list[tuple[Entry, dict[str, str]]]:
        """The entries the query keeps, each with its labels after the pipeline."""
        kept = []
        for entry in entries:
            if not all(m(entry.labels) for m in self.selector):
                continue
            labels = dict(entry.labels) | dict(entry.metadata)
            if all(_stage(kind, arg, entry.line, labels) for kind, arg in self.stages):
                kept.append((entry, labels))
        return kept


def _stage(kind: str, arg: Any, line: str, labels: dict[str, str]) -> bool:
    if kind == "line":
        op, text = arg
        found = text in line if op in ("|=", "!=") else bool(re.search(text, line))
        return found == (op in ("|=", "|~"))
    if kind == "json":
        labels.update(_json_labels(line, labels))
        return True
    return bool(arg(labels))


def _json_labels(line: str, existing: Mapping[str, str]) -> dict[str, str]:
    """What `| json` (no parameters) adds: every field, nested ones joined by `_`."""
    try:
        document = json.loads(line)
    except ValueError:
        return {"__error__": "JSONParserErr"}
    if not isinstance(document, dict):
        return {"__error__": "JSONParserErr"}
    found: dict[str, str] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}_{k}" if prefix else k, v)
        elif not isinstance(value, list):
            name = label_name(prefix)
            found[f"{name}_extracted" if name in existing else name] = _text(value)

    walk("", document)
    return found


def parse_log_query(text: str) -> LogQuery:
    text = text.strip()
    if not text.startswith("{"):
        raise UnsupportedError(f"a log query starts with a stream selector: {text!r}")
    end = _selector_end(text)
    selector = tuple(_matchers(text[1:end]))
    if not selector:
        raise UnsupportedError(f"an empty stream selector: {text!r}")
    rest, stages = text[end + 1 :], list[tuple[str, Any]]()
    while rest.strip():
        if m := _LINE_FILTER.match(rest):
            stages.append(("line", (m.group(1), _literal(m.group(2)))))
        elif m := _PARSER.match(rest):
            if m.group(1) != "json" or re.match(r"\s*\|\s*json\s+\w", rest):
                raise UnsupportedError(f"{m.group(0).strip()} (only a bare `| json` is evaluated)")
            stages.append(("json", None))
        elif m := _LABEL_FILTER.match(rest):
            stages.append(("label", Match(m.group(1), m.group(2), _literal(m.group(3)))))
        else:
            raise UnsupportedError(f"pipeline stage {rest.strip()!r}")
        rest = rest[m.end() :]
    return LogQuery(selector, tuple(stages))


def _selector_end(text: str) -> int:
    inside = False
    for i, ch in enumerate(text):
        if ch == '"' and text[i - 1] != "\\":
            inside = not inside
        elif ch == "}" and not inside:
            return i
    raise UnsupportedError(f"an unterminated stream selector: {text!r}")


def _matchers(body: str) -> list[Match]:
    found, rest = [], body
    while rest.strip():
        m = _MATCHER.match(rest)
        if not m:
            raise UnsupportedError(f"stream matcher {rest.strip()!r}")
        found.append(Match(m.group(1), m.group(2), _literal(m.group(3))))
        rest = rest[m.end() :]
        if rest.startswith(","):
            rest = rest[1:]
        elif rest.strip():
            raise UnsupportedError(f"stream matchers {body!r}")
    return found


@dataclass(frozen=True)
class Sample:
    labels: Mapping[str, str]
    value: float


def logs(
    query: str, entries: Sequence[Entry], now_ns: int, since_s: float | None = None
) -> list[Entry]:
    """The entries a log query keeps (of the last `since_s` seconds before `now_ns`, if given)."""
    recent = [e for e in entries if since_s is None or _within(e, now_ns, since_s)]
    return [entry for entry, _ in parse_log_query(query).run(recent)]


def metric(query: str, entries: Sequence[Entry], now_ns: int) -> list[Sample]:
    """A metric query's samples at `now_ns` (an empty list where Loki would answer no data)."""
    query = query.strip()
    by: tuple[str, ...] | None = None  # None: no aggregation, a series per label set
    if m := _SUM.match(query):
        by = tuple(n.strip() for n in (m.group("by") or "").split(",") if n.strip())
        query = m.group("inner").strip()
    m = _RANGE.match(query)
    if not m:
        raise UnsupportedError(f"metric query {query!r}")
    window = float(duration_seconds(m.group("range")))
    recent = [e for e in entries if _within(e, now_ns, window)]
    per = 1.0 if m.group(1) == "count_over_time" else 1.0 / window
    groups: dict[tuple[tuple[str, str], ...], float] = {}
    for _, labels in parse_log_query(m.group("log")).run(recent):
        names = by if by is not None else sorted(k for k in labels if not k.startswith("__"))
        key = tuple((n, labels[n]) for n in names if labels.get(n))
        groups[key] = groups.get(key, 0.0) + per
    return [Sample(dict(k), v) for k, v in groups.items()]


def has_data(query: str, entries: Sequence[Entry], now_ns: int, since_s: float) -> bool:
    """Whether Grafana would draw something for the query over the last `since_s` seconds: a
    log query keeps an entry, or a metric query has a sample at some step of the range."""
    if query.strip().startswith("{"):
        return bool(logs(query, entries, now_ns, since_s))
    return any(metric(query, entries, e.time_ns) for e in entries if _within(e, now_ns, since_s))


def _within(entry: Entry, now_ns: int, seconds: float) -> bool:
    return now_ns - round(seconds * 1e9) < entry.time_ns <= now_ns
