"""Himitsu (秘密): self-hosted trade-secret management."""

__version__ = "0.1.0"
