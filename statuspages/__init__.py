"""Status pages: pages, groups and components (driven by monitors or set by hand), published incidents
with public updates, maintenance windows, subscribers (email and webhooks, one delivery each), the
public page with its Statuspage v2 JSON, feeds and badges, and the operator pages and API. Follows
monitors and incidents through the receivers in statuspages/receivers.py."""
