"""A person's own notices. Everyone sees only their own: no role sees another person's."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from himitsu.web.notices.models import Notice

PAGE = 50


def notice_list(request: HttpRequest) -> HttpResponse:
    notices = Notice.objects.filter(recipient=request.user)[:PAGE]
    return render(request, "notices/list.html", {"notices": notices})


@require_POST
def notice_read(request: HttpRequest, pk: int) -> HttpResponse:
    notice = get_object_or_404(Notice, pk=pk, recipient=request.user)  # another person's: 404, as if absent
    if notice.read_at is None:
        notice.read_at = timezone.now()
        notice.save(update_fields=["read_at"])
    return redirect(notice.link if notice.link.startswith("/") and not notice.link.startswith("//")
                    else "notice-list")
