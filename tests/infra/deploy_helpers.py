"""What the `civicchat deploy` tests share: the Graph API simulator standing in for Meta."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from chalicelib.simulator.server import GraphApiSimulator


def running_simulator(tokens: Mapping[str, str]) -> Iterator[GraphApiSimulator]:
    """For a fixture: the simulator that knows the phone number and token in `tokens`
    (WHATSAPP_* names), which the deploy checks with Meta before changing anything."""
    graph = GraphApiSimulator(
        port=0,
        access_token=tokens["WHATSAPP_ACCESS_TOKEN"],
        app_secret=tokens["WHATSAPP_APP_SECRET"],
        phone_number_id=tokens["WHATSAPP_PHONE_NUMBER_ID"],
    )
    graph.start()
    try:
        yield graph
    finally:
        graph.stop()
