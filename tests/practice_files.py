"""Practice descriptions the set-up tests apply: one good, one with a problem on most lines."""

PRACTICE_FILE = """\
practice:
  name: Riverside Family Dentistry
  timezone: America/Chicago
  callback_number: "+1 312 555 0100"
  address: 1200 River Road, Suite 4
  parking: Free parking behind the building.
  hours:
    monday: 08:00-12:00, 13:00-17:00
    Tuesday: [08:00-12:00, 13:00-17:00]
    saturday: 09:00-13:00
    sunday: closed
  closed:
    2026-12-25: Christmas Day
  call_window: 09:00-19:30
appointment_types:
  Check-up: 30
  Cleaning: 45
providers:
  - name: Dr. Ana Ruiz
    role: dentist
    hours:
      monday: 08:00-12:00, 13:00-17:00
      tuesday: 13:00-17:00
    does: Check-up, cleaning
  - name: Sam Lee
    role: hygienist
    hours:
      saturday: 09:00-13:00
    does: [Cleaning]
"""

BAD_FILE = """\
practice:
  name: Riverside
  timezone: America/Chicagoo
  callback_number: "12"
  hours:
    mondy: 08:00-12:00
    tuesday: 13:00-12:00
    wednesday: 08:00-12:00, 11:00-13:00
    thursday: 8 to 5
  colour: blue
appointment_types:
  Check-up: 30
  Cleaning: 900
  check-up: 20
providers:
  - name: Dr. Ana Ruiz
    role: dentist
    does: Check-up, Root canal
  - name: Dr. Ana Ruiz
"""
