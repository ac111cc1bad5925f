"""The schedule and the call records: the tables and their Alembic migrations, the database
connection, appointments and free slots, the calls table and the do-not-call list, CSV import and
the demo practice.

It imports only the shared top-level modules (``errors``, ``phone``, ``outcome``); it never
imports ``call/``, ``campaigns/`` or ``cli/``.
"""
