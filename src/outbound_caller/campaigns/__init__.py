"""Campaigns: planning who to call for a day or a list, and the crash-safe runner that claims,
paces and records each dial in the store.

It imports the shared top-level modules and ``store/``; never ``call/`` or ``cli/``.
"""
