import json

from rest_framework.renderers import BaseRenderer


class PDFRenderer(BaseRenderer):
    """``application/pdf`` only: a client asking for JSON gets DRF's 406.

    Errors (404, 403, the 406 itself) arrive as dicts; they are written as JSON so that clients
    can read the ``detail``, with the Content-Type saying so."""

    media_type = "application/pdf"
    format = "pdf"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, bytes | memoryview):
            return bytes(data)
        response = (renderer_context or {}).get("response")
        if response is not None:
            response["Content-Type"] = "application/json"
        return json.dumps(data).encode()
