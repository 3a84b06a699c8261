"""Development tools for tiltrun-operator: the dev cluster and the demo (not shipped)."""
