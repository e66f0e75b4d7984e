from django.apps import AppConfig


class OncallConfig(AppConfig):
    name = "incidents.oncall"
    label = "oncall"
    verbose_name = "On-call"

    def ready(self) -> None:
        from django.db.models.signals import m2m_changed, post_delete, post_save

        from incidents.models import Incident
        from incidents.oncall import receivers
        from incidents.oncall.models import EscalationPolicy, EscalationStep, Team
        from incidents.signals import incident_changed, incident_opened
        from tracepoint.notifications.models import Delivery
        from tracepoint.notifications.signals import delivery_attempted

        incident_opened.connect(receivers.start_escalation, sender=Incident, dispatch_uid="oncall.start_escalation")
        incident_changed.connect(receivers.stop_escalation, sender=Incident, dispatch_uid="oncall.stop_escalation")
        delivery_attempted.connect(
            receivers.settle_page_delivery, sender=Delivery, dispatch_uid="oncall.settle_page_delivery"
        )
        # Whatever changes a policy, its steps or a team's services (services, admin, shell) drops the
        # cached routing table.
        for model in (EscalationPolicy, EscalationStep, Team):
            name = model.__name__.lower()
            post_save.connect(receivers.routing_changed, sender=model, dispatch_uid=f"oncall.routing.save.{name}")
            post_delete.connect(receivers.routing_changed, sender=model, dispatch_uid=f"oncall.routing.delete.{name}")
        for field in ("users", "schedules", "channels"):
            m2m_changed.connect(
                receivers.routing_changed,
                sender=getattr(EscalationStep, field).through,
                dispatch_uid=f"oncall.routing.m2m.{field}",
            )
