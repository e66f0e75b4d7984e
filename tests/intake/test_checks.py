from incidents.intake.checks import check_intake_settings


def test_the_configured_settings_pass():
    assert check_intake_settings(None) == []


def test_a_missing_limit_or_rate_limit_scope_is_reported_at_startup(settings):
    limits = {k: v for k, v in settings.TRACEPOINT["RATE_LIMITS"].items() if k != "intake"}
    tracepoint = {k: v for k, v in settings.TRACEPOINT.items() if k != "INTAKE_MAX_BYTES"}
    settings.TRACEPOINT = {**tracepoint, "RATE_LIMITS": limits}
    assert [error.id for error in check_intake_settings(None)] == ["intake.E001", "intake.E002"]
