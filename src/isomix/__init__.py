"""IsoMix Studio: a self-hostable studio for AI music stem separation."""

__version__ = "0.1.0"
