"""The servers under test: groxpi, its peers and the two ceilings, behind one interface."""

from bench.servers.base import ExternalServer, Server, ServerError

__all__ = ["ExternalServer", "Server", "ServerError"]
