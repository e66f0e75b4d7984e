from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter


class StrictOrderingFilter(OrderingFilter):
    """``ordering=a,-b``; an unknown field is a 400 listing the allowed ones."""

    def get_ordering(self, request, queryset, view):
        params = request.query_params.get(self.ordering_param)
        if not params:
            return self.get_default_ordering(view)
        fields = [param.strip() for param in params.split(",") if param.strip()]
        valid = {item[0] for item in self.get_valid_fields(queryset, view, {"request": request})}
        unknown = [field for field in fields if field.lstrip("-") not in valid]
        if unknown:
            raise ValidationError(
                {
                    self.ordering_param: [
                        f"Unknown ordering field(s): {', '.join(unknown)}. Allowed: {', '.join(sorted(valid))}."
                    ]
                }
            )
        return fields
