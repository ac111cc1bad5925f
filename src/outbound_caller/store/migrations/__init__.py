"""Alembic migrations of the scheduling store (run with ``outbound-caller db upgrade``)."""
