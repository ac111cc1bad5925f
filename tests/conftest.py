from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from livekit import api

sys.path.insert(0, str(Path(__file__).parent))

from livekit_stub import API_KEY, API_SECRET, LiveKitStub


@pytest.fixture
async def livekit_server() -> AsyncIterator[LiveKitStub]:
    stub = LiveKitStub()
    await stub.start()
    try:
        yield stub
    finally:
        await stub.stop()


@pytest.fixture
async def lkapi(livekit_server: LiveKitStub) -> AsyncIterator[api.LiveKitAPI]:
    client = api.LiveKitAPI(url=livekit_server.url, api_key=API_KEY, api_secret=API_SECRET)
    try:
        yield client
    finally:
        await client.aclose()
