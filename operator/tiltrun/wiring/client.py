"""The official client's configuration: in-cluster when there, else kubeconfig."""

from __future__ import annotations

from kubernetes import client, config


def api_client() -> client.ApiClient:
    """An ApiClient for the cluster the operator runs in or the current kubeconfig."""
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    return client.ApiClient()
