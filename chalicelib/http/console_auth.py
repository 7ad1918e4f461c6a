"""Who is calling the console API.

Agents sign in with Cognito (`/console/api/session`, see adapters.cognito_directory) and send
the ID token in `Authorization` (the bare token, as API Gateway's Cognito authorizer reads it;
"Bearer <token>" is accepted too). On AWS the authorizer has checked it before our code runs and
hands us its claims; with CIVICCHAT_AGENT_TOKENS=verify (the local stack, the tests) we check the
signature ourselves, because Chalice's local server only decodes the token.

The e-mail in the claims names the agent record, so it is trusted only once Cognito has
verified it (`email_verified`): `civicchat agent create` marks it verified, and an address
changed afterwards is unverified until confirmed (infra/agent_directory.py also stops the
console's client from changing it). An unknown or disabled agent is refused even with a valid
token (the account may outlive their access).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from chalicelib.wiring import container

if TYPE_CHECKING:
    from chalice.app import Request

    from chalicelib.domain.agents import Agent

TOUCH_EVERY = timedelta(minutes=1)  # how stale last_seen_at may get before a request renews it
VERIFY = "verify"


class Unauthorized(Exception):
    status = 401
    code = "unauthorized"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def current_agent(request: Request, *, now: datetime) -> Agent:
    """The signed-in agent, marked as seen (at most once a minute); Unauthorized otherwise."""
    from chalicelib.domain.agents import agent_id_for

    deps = container()
    claims = _claims(request)
    email = claims.get("email")
    if not isinstance(email, str) or not email.strip():
        raise Unauthorized("sign in with an ID token")
    verified = claims.get("email_verified")
    if not (verified is True or verified == "true"):  # API Gateway hands claims over as strings
        raise Unauthorized("the e-mail of this account is not verified")
    client_id = deps.settings.user_pool_client_id
    if client_id and claims.get("aud") not in (None, client_id):
        raise Unauthorized("this token is not for the console")
    agent = deps.agents.get(agent_id_for(email))
    if agent is None or agent.disabled:
        raise Unauthorized("this account has no access to the console")
    if agent.last_seen_at is None or now - agent.last_seen_at >= TOUCH_EVERY:
        deps.agents.touch(agent.id, now)
        agent = dataclasses.replace(agent, last_seen_at=now)
    return agent


def _claims(request: Request) -> dict[str, Any]:
    deps = container()
    if deps.settings.agent_tokens == VERIFY:
        from chalicelib.adapters.jwks_token_verifier import TokenRejected

        token = (request.headers or {}).get("authorization", "")
        if not token.strip():
            raise Unauthorized("sign in first")
        try:
            return deps.token_verifier.claims(token)
        except TokenRejected as error:
            raise Unauthorized(f"the session is not valid: {error}") from None
    authorizer = (request.context or {}).get("authorizer") or {}
    claims = authorizer.get("claims") if isinstance(authorizer, dict) else None
    if not isinstance(claims, dict) or not claims:
        raise Unauthorized("sign in first")
    return claims
