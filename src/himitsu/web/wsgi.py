"""WSGI entry point (waitress via `himitsu serve`, or any WSGI server)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "himitsu.web.settings")
application = get_wsgi_application()
