from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from tracepoint.accounts.roles import role_required


@role_required("viewer")
def index(request: HttpRequest) -> HttpResponse:
    return render(request, "events/index.html", {})
