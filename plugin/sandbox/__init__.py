"""Offline provider simulator (UP42, Planet) on 127.0.0.1. Standard library only."""

from .server import SandboxServer

__all__ = ["SandboxServer"]
