"""ASGI entry point: daphne serves Django's async handler directly.

Streams are async views (StreamingHttpResponse over async generators); no
channels routing is needed for them.

Static files are served by ``chatapp.static_files.StaticFilesMiddleware``
(WhiteNoise) unless ``SPOOL_SERVE_STATIC`` is off, when a web server serves
``collectstatic``'s output (deploy/nginx.conf).
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatapp.settings")

application = get_asgi_application()
