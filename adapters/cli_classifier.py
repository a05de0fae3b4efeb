"""`supportbot train` and `supportbot eval` (filled in by the classifier work)."""

import click


def register(group: click.Group) -> None:
    """Add this module's commands to the top-level group."""
