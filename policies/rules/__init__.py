"""One module per policy: a pure check and the CrossGuard policy built from it."""
