"""Observability platform for ML models, as code: spec, renderers and the Pulumi program."""
