"""Coordination Audit: why multi-step agent pipelines are unreliable, from their traces."""

__version__ = "0.1.0"
