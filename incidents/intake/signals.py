"""What the intake tells other apps (STYLE: signals, not hook lists; grep for a signal's name to find
its receivers, which live in the listening app's ``receivers.py``).
"""

from django.dispatch import Signal

# An Events API v2 change event arrived (POST …/events/v2/change/enqueue): a deploy or a configuration
# change of a service. Sent with ``sender=Integration`` inside the transaction that stores the payload,
# through ``send`` (not ``send_robust``): a receiver that fails fails the request, which the sender
# retries (5xx), rather than losing the change after a 202.
# kwargs: integration_id (int), service (str, a valid service name), change_type ("DEPLOY" or
# "CONFIG_CHANGE"), summary (str), source (str), timestamp (aware datetime), release (str),
# environment (str), custom_details (dict), links (list of {"href", "text"}), event_id (UUID, the
# same for a retried delivery of the same change, so it is stored once).
# A receiver returns how many events it recorded; when no receiver records one, the intake refuses
# the change event (400) instead of accepting what would show nowhere.
change_event_received = Signal()
