"""Cgroups for the live processes, named as docker names the dev stack's containers.

In the dev stack each component is a container `<stack name>-<component>[-...]` with the
memory limit of its spec, and cAdvisor reports it by that name. Here each live process starts
in a cgroup of that name (`mlops-live-prometheus`, `mlops-live-serving-iris-classifier`) with
that limit, so the cAdvisor the live tier runs (tools/cadvisor) reports the same series, and
the rendered `cadvisor` job labels them with their component from the cgroup path.

cgroup v1 only (the memory, cpu and cpuacct hierarchies mounted read-write, and root). The
cgroups go inside the test run's own memory cgroup, so whatever limits and accounting apply to
the run still apply to its processes; the cpu and cpuacct hierarchies get the same path (cgroup
v1 names a cgroup by one path in every hierarchy), made here and removed afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
HIERARCHIES = ("memory", "cpu", "cpuacct")


def own(hierarchy: str = "memory", proc: Path = Path("/proc/self/cgroup")) -> str | None:
    """This process' cgroup path in a v1 hierarchy (`/` at its root); None without one."""
    for line in proc.read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if hierarchy in controllers.split(","):
            return path
    return None


def unavailable() -> str | None:
    """Why the live tier cannot make cgroups here (None: it can)."""
    if os.geteuid() != 0:
        return "making cgroups needs root"
    base = own()
    if base is None:
        return "no cgroup v1 memory hierarchy (cgroup v2 only)"
    for hierarchy in HIERARCHIES:
        if not os.access(ROOT / hierarchy, os.W_OK):
            return f"{ROOT / hierarchy} is not writable"
    if not os.access(ROOT / "memory" / base.lstrip("/"), os.W_OK):
        return f"the run's own memory cgroup {base} is not writable"
    return None


@dataclass
class Cgroup:
    """One cgroup, by its path (what cAdvisor's `id` label says), in every hierarchy."""

    path: str

    def dir(self, hierarchy: str) -> Path:
        return ROOT / hierarchy / self.path.lstrip("/")

    @property
    def memory_limit(self) -> int:
        return int((self.dir("memory") / "memory.limit_in_bytes").read_text())

    def working_set(self) -> int:
        """Usage less inactive file pages: what cAdvisor reports as the working set."""
        usage = int((self.dir("memory") / "memory.usage_in_bytes").read_text())
        stat = dict(
            line.split() for line in (self.dir("memory") / "memory.stat").read_text().splitlines()
        )
        return max(0, usage - int(stat.get("total_inactive_file", 0)))

    def wrap(self, argv: list[str]) -> list[str]:
        """ARGV started inside this cgroup: a shell joins it, then execs ARGV (same PID)."""
        procs = " ".join(shlex.quote(str(self.dir(h) / "cgroup.procs")) for h in HIERARCHIES)
        script = f'for f in {procs}; do echo $$ > "$f" || exit 1; done; exec "$@"'
        return ["/bin/sh", "-c", script, "sh", *argv]


@dataclass
class Cgroups:
    """The cgroups of one live run, under the run's own memory cgroup; `remove` undoes all."""

    prefix: str  # cgroup path prefix of every cgroup here (cAdvisor tracks only these)
    made: list[Path] = field(default_factory=list)
    groups: dict[str, Cgroup] = field(default_factory=dict)

    @classmethod
    def under_own(cls, stack: str) -> Cgroups:
        base = own() or "/"
        return cls(f"{base.rstrip('/')}/{stack}-")

    def create(self, name: str, memory_limit: int) -> Cgroup:
        """Cgroup `<prefix><name>` with MEMORY_LIMIT bytes of memory (swap included, when the
        kernel accounts it), as docker's `--memory` sets it."""
        group = Cgroup(self.prefix + name)
        for hierarchy in HIERARCHIES:
            folder = group.dir(hierarchy)
            missing = [p for p in (folder, *folder.parents) if not p.exists()]
            for path in reversed(missing):
                path.mkdir()
                self.made.append(path)
        memory = group.dir("memory")
        (memory / "memory.limit_in_bytes").write_text(str(memory_limit))
        with contextlib.suppress(OSError):  # no swap accounting: nothing to limit
            (memory / "memory.memsw.limit_in_bytes").write_text(str(memory_limit))
        self.groups[name] = group
        return group

    def remove(self) -> list[str]:
        """Remove every folder made here (their processes gone); names those that stayed."""
        stayed = []
        for path in reversed(self.made):
            for _ in range(50):  # the kernel lets go of an emptied cgroup within moments
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)
            else:
                stayed.append(str(path))
        self.made.clear()
        return stayed
