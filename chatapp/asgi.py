"""ASGI entry point: daphne serves Django's async handler directly.

Streams are async views (StreamingHttpResponse over async generators); no
channels routing is needed for them.

Static files: with ``SPOOL_SERVE_STATIC`` on (the default) the app serves
``/static/`` itself through Django's ASGI static handler, so ``make run`` works
with no web server. Behind nginx, turn it off and let nginx serve
``collectstatic``'s output (deploy/nginx.conf).
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application
from django.core.handlers.asgi import ASGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatapp.settings")

django_application = get_asgi_application()

from django.conf import settings  # noqa: E402  (settings are configured only now)

application: ASGIHandler
if settings.SPOOL_SERVE_STATIC:
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    application = ASGIStaticFilesHandler(django_application)
else:
    application = django_application
