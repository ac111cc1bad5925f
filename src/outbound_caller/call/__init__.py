"""The phone call: dialing and hanging up over LiveKit SIP, the agent and its tools, the voice
pipeline (STT, LLM, TTS, VAD, turn detection), answering-machine handling, transcripts and the
prompts the model follows.

It may import the shared top-level modules and ``store/`` (a call reads and books the schedule);
nothing in ``store/``, ``campaigns/`` or ``cli/`` is imported by it except through ``worker``.
"""
