"""What the notifications layer tells the apps (STYLE: signals, not hook lists).

``delivery_attempted`` is sent (``send_robust``) after an attempt of a delivery is recorded, or after a
delivery is failed without one; receivers use it to react at once (on-call falls a page through to
the person's next contact method) and must also cope with missing it (a crash between the record and
the signal), e.g. from a periodic sweep. kwargs: delivery (the Delivery row as recorded).
"""

from django.dispatch import Signal

delivery_attempted = Signal()
