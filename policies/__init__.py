"""The CrossGuard policy pack that reviews every stack's resources before they change.

`registry.POLICIES` lists every policy; each lives in its own module under
`rules/` as a pure check over (resource type, props) plus the CrossGuard
policy built from it. `__main__.py` only hands the list to `PolicyPack`
(its constructor serves gRPC to the Pulumi CLI, so tests never import it).
Policies judge resources as the engine sees them and never import the
program's components.
"""
