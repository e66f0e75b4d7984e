"""What the monitors domain layer tells other apps (STYLE: signals, not hook lists).

All are sent with ``sender=Monitor``. Receivers live in the listening app's ``receivers.py``;
grep for the signal's name to find them.
"""

from django.dispatch import Signal

# A monitor's status changed. Sent once the change is committed, through ``send_robust``: a
# receiver that fails is logged (logger ``django.dispatch``) and the others still run.
# kwargs: monitor_id (int).
monitor_status_changed = Signal()

# A monitor that went DOWN opened an incident. Sent inside the transaction, through ``send``: a
# receiver's writes commit with the incident and its error rolls the whole change back.
# kwargs: monitor_id (int), incident_id (UUID).
monitor_opened_incident = Signal()

# A monitor is about to be deleted. Sent inside the transaction, before the delete, through
# ``send`` (the monitor's relations are still readable; a receiver's error aborts the delete).
# kwargs: monitor_id (int).
monitor_deleting = Signal()
