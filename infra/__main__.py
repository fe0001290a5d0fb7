"""The Pulumi program the engine runs: read the stack, declare it (`infra.program`), export."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `main: infra/` is a script

import pulumi

from infra.program import declare, stack_inputs

spec, secrets = stack_inputs()  # the checked spec (a bad config: RunError) and secret values
for name, value in declare(spec, secrets).items():
    pulumi.export(name, value)
