from django.db import models


class RateLimitCounter(models.Model):
    """A fixed-window counter, used when there is no Redis (see tracepoint.ratelimit)."""

    key = models.CharField(max_length=255, primary_key=True)
    count = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.key}: {self.count}"
