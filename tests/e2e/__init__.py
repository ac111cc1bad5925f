"""Whole calls through the real LiveKit stack (see conftest.py)."""
