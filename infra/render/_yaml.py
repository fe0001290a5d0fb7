"""Stable YAML output: key order as written, no anchors, long lines kept whole."""

from __future__ import annotations

from typing import Any

import yaml


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(document: Any, header: str) -> str:
    """YAML text with a comment header saying where it came from."""
    body = yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=4096, allow_unicode=True)
    comment = "".join(f"# {line}\n" for line in header.splitlines())
    return comment + body
