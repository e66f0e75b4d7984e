"""What the incidents domain layer tells other apps (STYLE: signals, not hook lists).

Both are sent with ``sender=Incident`` once the change is committed, through ``send_robust``: a
receiver that fails is logged (logger ``django.dispatch``) and the others still run.
Receivers live in the listening app's ``receivers.py``; grep for the signal's name to find them.
"""

from django.dispatch import Signal

# An incident was created, edited, transitioned, reopened, commented on or deleted.
# kwargs: incident_id (UUID), created (bool: the incident is new, so nothing can show or follow it yet;
# receivers that only react to changes of existing incidents return at once).
incident_changed = Signal()

# An incident was resolved (a transition or an update to RESOLVED).
# kwargs: incident_id (UUID), user (the User who resolved it, None for a system actor such as a monitor).
incident_resolved = Signal()

# An incident opened: created, or reopened. Sent INSIDE the transaction that opens it (``send``, not
# on commit), so what a receiver writes (an escalation starting) commits or rolls back with the incident:
# a crash between the commit and an on-commit hook cannot leave an incident that pages nobody. A
# receiver must not break the transaction: it writes in a savepoint and logs its own failures.
# kwargs: incident (the Incident row), reopened (bool), now (datetime).
incident_opened = Signal()
