"""The one error the dev cluster raises: its message is a sentence for a person."""


class DevClusterError(RuntimeError):
    """Something stopped the dev cluster; ``str(err)`` says what, plainly."""
