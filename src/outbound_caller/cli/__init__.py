"""The ``outbound-caller`` command: thin sub-commands that parse, call the library and present;
and the offline demo with its scripted stand-in for the LLM.

It may import every other room; nothing imports it.
"""
