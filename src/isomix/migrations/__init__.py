"""Alembic environment and revisions, packaged so an installed isomix can migrate itself."""
