"""WhatsApp webhook routes: the GET verification handshake and the signed POST deliveries."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.wiring import container

webhooks = Blueprint(__name__)

WEBHOOK_PATH = "/webhooks/whatsapp"


@webhooks.route(WEBHOOK_PATH, methods=["GET"])
def verify_subscription() -> Response:
    from chalicelib.whatsapp.signature import answer_challenge

    params = webhooks.current_request.query_params or {}
    challenge = answer_challenge(params, container().settings.whatsapp_verify_token)
    if challenge is None:
        return Response(body="verification failed", status_code=403, headers=_TEXT)
    return Response(body=challenge, status_code=200, headers=_TEXT)


@webhooks.route(WEBHOOK_PATH, methods=["POST"], content_types=["application/json", "*/*"])
def receive_notification() -> Response:
    from chalicelib.services.receive_webhook import receive_webhook

    request = webhooks.current_request
    deps = container()
    receipt = receive_webhook(
        request.raw_body,
        request.headers.get("x-hub-signature-256"),
        app_secret=deps.settings.whatsapp_app_secret,
        inbound_queue=lambda: deps.inbound_queue,
        messages=lambda: deps.messages,
    )
    return Response(body={"message": receipt.message}, status_code=receipt.status_code)


_TEXT = {"Content-Type": "text/plain"}
