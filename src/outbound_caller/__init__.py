"""outbound-caller: an AI phone agent that confirms and reschedules dental appointments.

The package is laid out in rooms by domain, so the tree is the map:

- ``call/`` — one phone call: dialing, the agent and its tools, the voice pipeline, voicemail.
- ``store/`` — the schedule and the call records: tables, migrations, bookings, imports.
- ``campaigns/`` — planning and running many calls safely.
- ``cli/`` — the ``outbound-caller`` command and the offline demo.

The modules at the top (``config``, ``errors``, ``phone``, ``dispatch``, ``outcome``,
``liveapi``) are shared by every room and import none of them; ``worker`` is the composition
root that turns a dispatch into a call and may import everything.
"""
