"""Pulumi components: one per platform service on the docker or kubernetes target, and Grafana's content."""
