"""The pack's entry point: `pulumi preview --policy-pack policies` runs this directory.

It only builds the PolicyPack from the registry; the policies live in `rules/`.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The CLI runs this directory as a script: make the project root importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import PolicyPack

from policies.registry import PACK_NAME, POLICIES

PolicyPack(name=PACK_NAME, policies=list(POLICIES))
