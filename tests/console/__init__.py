"""The web console: route, access and browser tests (see conftest.py)."""
