"""`civicchat run`: the whole service on one laptop, in one process.

Order matters: the AWS emulator is provisioned first, then the WhatsApp simulator, then workers
and schedules, and the app's HTTP server last, so `GET /health` answering means everything is up.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import secrets
import threading
from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib.local_stack.aws_emulator import AwsEmulator
from chalicelib.local_stack.scheduler import Scheduler
from chalicelib.local_stack.sqs_workers import SqsWorker

DEFAULT_PORT = 8000
DEFAULT_SIMULATOR_PORT = 8025
DEFAULT_EMULATOR_PORT = 8026  # fixed, so `civicchat … --local` finds a running stack
LOCAL_PHONE_NUMBER_ID = "100000000000001"
DEFAULT_WORKER_CONCURRENCY = 4
LOCAL_STAGE = "local"
FAKE_AWS_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
}


class LocalStackError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class LocalUrls:
    app: str
    webhook: str
    simulator: str | None
    graph_api: str
    aws_emulator: str
    verify_token: str  # the webhook's, to paste where Meta (or the simulator) asks for it


class LocalStack:
    def __init__(self, environ: MutableMapping[str, str] | None = None) -> None:
        self._env = os.environ if environ is None else environ
        self._host = self._env.get("HOST", "127.0.0.1")
        self._port = int(self._env.get("PORT", DEFAULT_PORT))
        self._simulator_port = int(self._env.get("SIMULATOR_PORT", DEFAULT_SIMULATOR_PORT))
        self._stop_event = threading.Event()
        self._emulator = AwsEmulator(
            host="127.0.0.1", port=int(self._env.get("AWS_EMULATOR_PORT", DEFAULT_EMULATOR_PORT))
        )
        self._simulator: Any = None
        self._http: Any = None
        self._threads: list[threading.Thread] = []
        # The simulator's made-up secrets: kept in the emulator's SSM, where the app reads them.
        self._simulator_secrets: dict[str, str] = {}
        self._pseudonym_key = ""  # the audit log's, made up for this run (or the one given)
        self.urls: LocalUrls | None = None

    def start(self) -> LocalUrls:
        self._prepare_environment()
        endpoint = self._emulator.start()
        self._env["AWS_ENDPOINT_URL"] = endpoint

        from chalicelib.resource_names import ResourceNames
        from chalicelib.settings import (
            AGENT_TOKENS_VARIABLE,
            MEDIA_BUCKET_VARIABLE,
            SECRETS_PATH_VARIABLE,
            USER_POOL_CLIENT_ID_VARIABLE,
            USER_POOL_ID_VARIABLE,
            get_settings,
        )

        # As deployed, the stage's secrets are in SSM Parameter Store: the simulator's, which the
        # app then reads there rather than from its environment, and the pseudonym key, where
        # `civicchat audit|resident … --local` find it whichever Graph API the app talks to.
        names = ResourceNames(self._env["CIVICCHAT_STAGE"])
        self._emulator.store_secrets(
            names,
            self._env["AWS_REGION"],
            {**self._simulator_secrets, "pseudonym_key": self._pseudonym_key},
        )
        if self._simulator_secrets:
            self._env[SECRETS_PATH_VARIABLE] = names.secrets_path
        get_settings.cache_clear()
        settings = get_settings()
        definition = self._load_definition()
        app_module = importlib.import_module("app")
        app = app_module.app
        schedules = app_schedules(app_module)
        from infra.data_resources import media_retention_days

        self._emulator.provision(
            settings.names,
            settings.aws_region,
            [(name, expr) for name, expr, _ in schedules],
            media_retention_days=media_retention_days(definition),
        )
        # The deployment sets it from the stack; locally the bucket is moto's.
        self._env[MEDIA_BUCKET_VARIABLE] = self._emulator.media_bucket(
            settings.names, settings.aws_region
        )
        pool_id, client_id = self._emulator.agent_directory(settings.names, settings.aws_region)
        self._env[USER_POOL_ID_VARIABLE] = pool_id
        self._env[USER_POOL_CLIENT_ID_VARIABLE] = client_id
        # Chalice's local server decodes Cognito tokens without checking them: we check them.
        self._env[AGENT_TOKENS_VARIABLE] = "verify"
        get_settings.cache_clear()

        if self._simulator is not None:
            self._simulator.templates = approved_templates(definition)
            self._simulator.start()
            self._env["WHATSAPP_API_URL"] = self._simulator.graph_base_url()
            get_settings.cache_clear()

        self._start_workers(app_module, settings.aws_region)
        scheduler = Scheduler(schedules, self._stop_event)
        scheduler.start()
        self._threads.append(scheduler)
        self._start_http(app)

        app_url = f"http://{self._host}:{self._http.server.server_address[1]}"
        self.urls = LocalUrls(
            app=app_url,
            webhook=f"{app_url}/webhooks/whatsapp",
            simulator=self._simulator.url if self._simulator else None,
            graph_api=self._env["WHATSAPP_API_URL"],
            aws_emulator=endpoint,
            verify_token=settings.whatsapp_verify_token,
        )
        if self._simulator is not None:
            self._simulator.webhook_url = self.urls.webhook
        return self.urls

    def _prepare_environment(self) -> None:
        env = self._env
        env.setdefault("CIVICCHAT_STAGE", LOCAL_STAGE)
        env.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
        env.setdefault("AWS_REGION", env["AWS_DEFAULT_REGION"])
        for name, value in FAKE_AWS_CREDENTIALS.items():
            env[name] = value  # never let the local stack reach a real AWS account
        env.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
        from chalicelib.settings import PSEUDONYM_KEY_VARIABLE, SECRET_VARIABLES

        # The audit log's pseudonym key: made up for this run (the emulator forgets the log).
        self._pseudonym_key = env.pop(PSEUDONYM_KEY_VARIABLE, "").strip() or secrets.token_urlsafe(
            32
        )
        if env.get("WHATSAPP_API_URL"):
            missing = [name for name in SECRET_VARIABLES.values() if not env.get(name)]
            if missing:
                raise LocalStackError(
                    "WHATSAPP_API_URL points at a real Graph API, so these must be set too: "
                    + ", ".join(missing)
                )
            env[PSEUDONYM_KEY_VARIABLE] = self._pseudonym_key
            return
        # The embedded simulator: throwaway credentials made up for this run only (or the
        # ones given), handed to the simulator and moved out of the app's environment.
        from chalicelib.simulator.server import GraphApiSimulator

        made_up = {
            "whatsapp_access_token": secrets.token_urlsafe(24),
            "whatsapp_app_secret": secrets.token_hex(16),
            "whatsapp_verify_token": secrets.token_urlsafe(12),
            "whatsapp_phone_number_id": LOCAL_PHONE_NUMBER_ID,
        }
        self._simulator_secrets = {
            field: env.pop(name, "").strip() or made_up[field]
            for field, name in SECRET_VARIABLES.items()
        }
        self._simulator = GraphApiSimulator(
            host=self._host,
            port=self._simulator_port,
            access_token=self._simulator_secrets["whatsapp_access_token"],
            app_secret=self._simulator_secrets["whatsapp_app_secret"],
            phone_number_id=self._simulator_secrets["whatsapp_phone_number_id"],
        )
        env["WHATSAPP_API_URL"] = f"http://{self._host}:{self._simulator_port}/v23.0"

    def _load_definition(self) -> Any:
        from chalicelib.adapters.config_file import load_municipality_file
        from chalicelib.domain.bot.config_loader import ConfigError
        from chalicelib.settings import get_settings

        path = get_settings().config_path
        try:
            return load_municipality_file(path)
        except ConfigError as error:
            raise LocalStackError(
                f"the municipality config {path} is not valid:\n{error}"
            ) from error
        except OSError as error:
            raise LocalStackError(f"cannot read the municipality config {path}: {error}") from error

    def _start_workers(self, app_module: Any, region: str) -> None:
        sqs = self._emulator.client("sqs", region)
        # Lambda runs several copies of a function at once; so do we (pacing is shared anyway).
        concurrency = int(self._env.get("LOCAL_WORKER_CONCURRENCY", DEFAULT_WORKER_CONCURRENCY))
        for source in app_module.app.event_sources:
            if not hasattr(source, "queue"):
                continue
            for _ in range(concurrency):
                worker = SqsWorker(
                    queue_name=source.queue,
                    handler=getattr(app_module, source.name),
                    batch_size=source.batch_size,
                    sqs_client=sqs,
                    region=region,
                    stop_event=self._stop_event,
                )
                worker.start()
                self._threads.append(worker)

    def _start_http(self, app: Any) -> None:
        from chalice.config import Config
        from chalice.local import ChaliceRequestHandler, create_local_server

        class QuietRequestHandler(ChaliceRequestHandler):
            """One log line per webhook drowns what matters in `make run`: keep only errors."""

            def log_request(self, code: Any = "-", size: Any = "-") -> None:
                if str(code).isdigit() and int(code) >= 400:
                    super().log_request(code, size)

        project_dir = Path(importlib.import_module("app").__file__).parent
        config_file = project_dir / ".chalice" / "config.json"
        config_from_disk = json.loads(config_file.read_text()) if config_file.exists() else {}
        config = Config.create(
            chalice_stage="dev",
            chalice_app=app,
            project_dir=str(project_dir),
            config_from_disk=config_from_disk,
        )
        self._http = create_local_server(app, config, self._host, self._port)
        self._http.server.RequestHandlerClass = functools.partial(
            QuietRequestHandler, app_object=app, config=config
        )
        thread = threading.Thread(
            target=self._http.server.serve_forever, name="app-http", daemon=True
        )
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        self._stop_event.set()
        if self._http is not None:
            self._http.server.shutdown()
            self._http.server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        if self._simulator is not None:
            self._simulator.stop()
        self._emulator.stop()


def app_schedules(app_module: Any) -> list[tuple[str, str, Any]]:
    """The app's scheduled functions as (name, schedule expression, handler)."""
    return [
        (source.name, _expression(source.schedule_expression), getattr(app_module, source.name))
        for source in app_module.app.event_sources
        if hasattr(source, "schedule_expression")
    ]


def _expression(schedule: Any) -> str:
    return schedule if isinstance(schedule, str) else schedule.to_string()


def approved_templates(definition: Any) -> dict[str, list[str]]:
    """What the simulator treats as approved at Meta: each template under the codes civicchat
    sends it with (`pt_PT` for the config's `pt`), as the municipality submits them."""
    return {
        name: [definition.template_language_code(language) for language in template.languages]
        for name, template in definition.templates.items()
    }
