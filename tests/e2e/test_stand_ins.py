"""The STT stand-in's hearing, without the rig: each of the test phone's lines, spoken as the
phone plays it, is read as that line, at a quarter of its level or at four times it, between
stretches of digital silence (exact zeros, as telephone audio has). A campaign call in a full run
read "Yes, I can make it." as "yes i can"; offline, with zeros around them, 4 of the 14
lines were read right before the stand-in brought speech to one level over quiet noise."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from e2e.conftest import _unavailable
from e2e.world import LINES, phrase, provider_script, speak_to_wav

sys.path.insert(0, str(Path(__file__).parent))  # providers.py runs as a script beside hearing.py
from providers import Recognizer

RATE = 16000  # what the worker streams to the STT


@pytest.fixture(scope="module")
def spoken(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            _unavailable(f"{tool} is not installed (scripts/rig build installs it)")
    work = tmp_path_factory.mktemp("lines")
    lines = {}
    for key, text in LINES.items():
        wav = speak_to_wav(text, work / f"{key}.wav")
        raw = subprocess.run(
            ["sox", str(wav), "-t", "raw", "-r", str(RATE), "-e", "signed", "-b", "16", "-"],
            capture_output=True,
            check=True,
        ).stdout
        lines[key] = np.frombuffer(raw, dtype=np.int16).astype(np.float64)
    return lines


@pytest.mark.parametrize("gain", [0.25, 1.0, 4.0])
def test_the_stt_stand_in_reads_each_line_at_any_level_between_digital_silence(
    spoken: dict[str, np.ndarray], gain: float
) -> None:
    recognize = Recognizer(provider_script()["phrases"])
    before, after = np.zeros(int(0.3 * RATE)), np.zeros(int(0.45 * RATE))  # as the STT cuts
    read = {}
    for key, samples in spoken.items():
        loud = np.clip(samples * gain, -32768, 32767)
        pcm = np.concatenate([before, loud, after]).astype(np.int16).tobytes()
        read[key] = recognize(pcm)
    assert read == {key: phrase(text) for key, text in LINES.items()}
