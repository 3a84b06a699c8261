"""tiltrun-operator: gate CI on a Kubernetes cluster."""
