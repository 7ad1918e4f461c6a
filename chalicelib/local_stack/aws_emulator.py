"""The embedded AWS emulator: moto's server in this process, provisioned from `infra/`."""

from __future__ import annotations

from typing import Any

from chalicelib.resource_names import ResourceNames


class AwsEmulator:
    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._server: Any = None

    def start(self) -> str:
        import logging

        from moto.server import ThreadedMotoServer

        # moto serves through werkzeug, which logs every request: far too loud for `make run`.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)

        self._server = ThreadedMotoServer(ip_address=self._host, port=self._port, verbose=False)
        self._server.start()
        return self.endpoint

    @property
    def endpoint(self) -> str:
        host, port = self._server.get_host_and_port()
        return f"http://{host}:{port}"

    def client(self, service: str, region: str) -> Any:
        """A boto3 client of the emulator's `service`."""
        import boto3

        return boto3.client(service, endpoint_url=self.endpoint, region_name=region)

    def provision(
        self,
        names: ResourceNames,
        region: str,
        schedules: list[tuple[str, str]],
        *,
        media_retention_days: int | None = None,
    ) -> None:
        """Create the stage's data resources from the same CloudFormation template `make deploy`
        uses, and the EventBridge rules from the app's own schedule declarations."""
        from infra.local_emulator import provision

        provision(self.endpoint, names, region, media_retention_days=media_retention_days)
        events = self.client("events", region)
        for rule_name, expression in schedules:
            events.put_rule(
                Name=names.schedule_rule(rule_name), ScheduleExpression=expression, State="ENABLED"
            )

    def agent_directory(self, names: ResourceNames, region: str) -> tuple[str, str]:
        """The agents' user pool and console client (pool id, client id), made through the
        Cognito API from infra's definition: moto's CloudFormation cannot create them."""
        from infra.agent_directory import provision_agent_directory

        return provision_agent_directory(self.endpoint, names, region)

    def store_secrets(self, names: ResourceNames, region: str, values: dict[str, str]) -> None:
        """The stage's WhatsApp secrets in the emulator's SSM, where `civicchat deploy` puts
        them in AWS (settings fields → values)."""
        from chalicelib.adapters.ssm_secrets import write_secrets

        write_secrets(names.secrets_path, values, client=self.client("ssm", region))

    def media_bucket(self, names: ResourceNames, region: str) -> str:
        """The media bucket the provisioned stack made (its name holds moto's account id)."""
        from infra.stack_deployment import stack_state

        state = stack_state(self.client("cloudformation", region), names.stack)
        if state is None:
            raise LookupError(f"no stack {names.stack} in the emulator: provision it first")
        return state.outputs["MediaBucketName"]

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
