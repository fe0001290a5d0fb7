// Parses LogQL with Grafana's Lezer grammar (@grafana/lezer-logql, Apache-2.0: the grammar
// Grafana's query editor uses), for the tests; Loki itself is AGPL-3.0 and never run here.
// Reads one query per line on stdin, each a JSON string; writes one JSON line per query:
// {"query": ..., "errors": [offset of each error node]}: an empty list means it parses.
import { parser } from "@grafana/lezer-logql";
import { createInterface } from "node:readline";

for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  const query = JSON.parse(line);
  const errors = [];
  parser.parse(query).iterate({
    enter: (node) => {
      if (node.type.isError) errors.push(node.from);
    },
  });
  process.stdout.write(`${JSON.stringify({ query, errors })}\n`);
}
