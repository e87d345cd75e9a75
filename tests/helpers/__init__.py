"""Builders shared by tests (import as `from helpers.models import ...`)."""
