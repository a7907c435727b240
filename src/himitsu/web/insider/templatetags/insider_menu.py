"""``{% insider_menu_link %}``: the menu entry of the insider-risk pages, for the roles that may see them."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from himitsu.web.accounts import access

register = template.Library()


@register.simple_tag(takes_context=True)
def insider_menu_link(context: Any) -> SafeString | str:
    user = context.get("user")
    if not access.can_view_insider(user):
        return ""
    return format_html('<a href="{}">{}</a>', reverse("insider:index"), _("Insider risk"))
