"""The user's settings: a page with a plain form, and the switch by the composer.

Both post to the same view. A plain post (the page, or the switch without
JavaScript) is answered with a redirect back; the switch's htmx post with 204
and the sentence that says the new state (``HX-Trigger: spool:said``), which
static/js/spool.js puts in ``#sr-status`` once.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods
from django_htmx.http import trigger_client_event

from chatapp import selectors, services
from chatapp.models import Preferences
from chatapp.views.common import HtmxHttpRequest, alogin_required, arender

# What the switch's screen-reader user hears once the new mode is saved.
SAID = {
    Preferences.ReadAloud.STREAMING: "Answers are read aloud as they stream.",
    Preferences.ReadAloud.DONE: "Answers are read aloud only when done.",
}


@require_http_methods(["GET", "POST"])
@alogin_required
async def settings_page(request: HtmxHttpRequest, *, user: User) -> HttpResponse:
    if request.method == "GET":
        preferences = await sync_to_async(selectors.preferences_for)(user=user)
        context = {"read_aloud": preferences.read_aloud, "saved": "saved" in request.GET}
        return await arender(request, "chat/settings_page.html", context)
    chosen = request.POST.get("read_aloud", "")
    try:
        preferences = await sync_to_async(services.preferences_update)(user=user, read_aloud=chosen)
    except services.SettingsError as exc:
        if request.htmx:
            return HttpResponse(exc.args[0], status=422, content_type="text/plain")
        context = {"read_aloud": chosen, "error": exc.args[0]}
        return await arender(request, "chat/settings_page.html", context, status=422)
    if request.htmx:
        said = SAID[Preferences.ReadAloud(preferences.read_aloud)]
        return trigger_client_event(HttpResponse(status=204), "spool:said", {"text": said})
    return HttpResponseRedirect(_back(request), status=303)


def _back(request: HtmxHttpRequest) -> str:
    """Where a plain post returns: the page it came from (same site only), or the settings."""
    back = request.POST.get("next", "")
    if back and url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return back
    return reverse("settings") + "?saved"
