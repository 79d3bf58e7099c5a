"""ASGI entry point: daphne (or uvicorn) serves Django's async handler directly.

Streams are async views (StreamingHttpResponse over async generators); no
channels routing is needed for them. The handler is Django's, with the
requests' sync work on a fixed pool of threads (``chatapp.asgi_handler``).

Under daphne, streamed responses wait for the client's socket
(``streaming.backpressure``) instead of piling up in Twisted's buffer.

Static files are served by ``chatapp.static_files.StaticFilesMiddleware``
(WhiteNoise) unless ``SPOOL_SERVE_STATIC`` is off, when a web server serves
``collectstatic``'s output (deploy/nginx.conf).
"""

from __future__ import annotations

import os

import django
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatapp.settings")
# What django.core.asgi.get_asgi_application does, with Spool's handler.
django.setup(set_prefix=False)

from chatapp import processes  # noqa: E402  (needs the apps loaded)
from chatapp.asgi_handler import SpoolASGIHandler  # noqa: E402
from chatapp.shutdown import with_shutdown  # noqa: E402
from streaming.backpressure import flow_controlled  # noqa: E402

# Crash leftovers are recognised at once only by a process alone on its
# SQLite file (chatapp/processes.py).
processes.register()
# SIGTERM lets live answers finish, then saves the rest (chatapp/shutdown.py).
# Under daphne a stream waits for its client's socket (streaming/backpressure.py).
application = with_shutdown(flow_controlled(SpoolASGIHandler(settings.SPOOL_REQUEST_THREADS)))
