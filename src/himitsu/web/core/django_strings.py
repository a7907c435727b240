"""Strings of Django itself that its Japanese catalogue lacks; marked here so that makemessages puts them into
our catalogue, which Django consults before its own."""

from django.utils.translation import gettext_noop

DJANGO_STRINGS = (
    gettext_noop("- Select an option -"),  # the blank choice of select fields since Django 6.1
)
