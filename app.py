"""civicchat's Chalice app: wiring only. Routes live in chalicelib/http, use cases in
chalicelib/services; each event source below delegates in one line."""

from __future__ import annotations

from chalice import Chalice, Rate

from chalicelib import workers
from chalicelib.http.api_v1 import api_v1
from chalicelib.http.api_v1_broadcasts import api_v1_broadcasts
from chalicelib.http.console_api import console_api
from chalicelib.http.console_audit import console_audit
from chalicelib.http.console_broadcasts import console_broadcasts
from chalicelib.http.console_data_rights import console_data_rights
from chalicelib.http.console_page import console_page
from chalicelib.http.health import health
from chalicelib.http.webhooks import webhooks
from chalicelib.observability import logger, publish_metrics
from chalicelib.resource_names import ResourceNames
from chalicelib.settings import current_stage

app = Chalice(app_name="civicchat")
app.register_blueprint(webhooks)
app.register_blueprint(health)
app.register_blueprint(api_v1)
app.register_blueprint(api_v1_broadcasts)
app.register_blueprint(console_api)
app.register_blueprint(console_broadcasts)
app.register_blueprint(console_audit)
app.register_blueprint(console_data_rights)
app.register_blueprint(console_page)

_names = ResourceNames(current_stage())


@app.middleware("all")
def observe(event, get_response):
    logger.clear_state()
    try:
        return get_response(event)
    finally:
        publish_metrics()


@app.on_sqs_message(queue=_names.inbound_queue, batch_size=10, name="inbound_worker")
def inbound_worker(event):
    return workers.process_inbound_batch(event.to_dict())


@app.on_sqs_message(queue=_names.outbound_replies_queue, batch_size=10, name="reply_sender")
def reply_sender(event):
    return workers.process_outbound_batch(event.to_dict())


@app.on_sqs_message(queue=_names.outbound_bulk_queue, batch_size=10, name="bulk_sender")
def bulk_sender(event):
    return workers.process_outbound_batch(event.to_dict())


@app.on_sqs_message(queue=_names.media_queue, batch_size=5, name="media_fetcher")
def media_fetcher(event):
    return workers.process_media_batch(event.to_dict())


@app.schedule(Rate(5, unit=Rate.MINUTES), name="requeue_stalled_outbound")
def requeue_stalled_outbound(event):
    return {"requeued": workers.requeue_stalled_outbound()}


@app.schedule(Rate(15, unit=Rate.MINUTES), name="run_reminders")
def run_reminders(event):
    return workers.run_reminders()


@app.schedule(Rate(1, unit=Rate.MINUTES), name="check_slas")
def check_slas(event):
    return workers.check_slas()


@app.schedule(Rate(1, unit=Rate.MINUTES), name="run_broadcasts")
def run_broadcasts(event):
    return workers.run_broadcasts()
