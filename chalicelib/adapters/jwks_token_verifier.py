"""Checks a Cognito ID token ourselves: RS256 signature against the pool's published keys
(JWKS), expiry, issuer, audience (the console's app client) and `token_use` = "id".

On AWS, API Gateway's Cognito authorizer does this before our code runs. Chalice's local server
(and chalice.test) only decodes the token without checking it, so the local stack and the tests
run with CIVICCHAT_AGENT_TOKENS=verify and this class. `joserfc` is a development dependency and
is imported on first use only.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from typing import Any

KEYS_REFRESH_SECONDS = 300  # an unknown key id refetches the keys at most this often
LEEWAY_SECONDS = 5  # clock skew between Cognito and us


class TokenRejected(Exception):
    pass


def fetch_json(url: str) -> dict[str, Any]:
    import urllib.request

    if not url.startswith(("https://", "http://")):
        raise TokenRejected(f"not a key set address: {url}")
    with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - scheme checked above
        return json.loads(answer.read())


class JwksTokenVerifier:
    def __init__(
        self,
        *,
        jwks_url: str,
        issuer: str,
        audience: str,
        fetch: Callable[[str], dict[str, Any]] = fetch_json,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._jwks_url = jwks_url
        self._issuer = issuer
        self._audience = audience
        self._fetch = fetch
        self._clock = clock
        self._keys: Any = None
        self._kids: frozenset[str] = frozenset()
        self._fetched_at = float("-inf")
        self._lock = threading.Lock()

    def claims(self, token: str) -> dict[str, Any]:
        """The token's claims once everything checks out; TokenRejected otherwise."""
        from joserfc import jwt
        from joserfc.errors import JoseError

        token = _bare(token)
        key_set = self._key_set(_key_id(token))
        try:
            decoded = jwt.decode(token, key_set, algorithms=["RS256"])
            registry = jwt.JWTClaimsRegistry(
                now=int(self._clock()),
                leeway=LEEWAY_SECONDS,
                iss={"essential": True, "value": self._issuer},
                aud={"essential": True, "value": self._audience},
                exp={"essential": True},
                token_use={"essential": True, "value": "id"},
            )
            registry.validate(decoded.claims)
        except JoseError as error:
            reason = error.description or error.error.replace("_", " ")
            raise TokenRejected(f"token rejected: {reason}") from None
        except (ValueError, TypeError) as error:
            raise TokenRejected(f"token rejected: {error}") from None
        return dict(decoded.claims)

    def _key_set(self, kid: str) -> Any:
        with self._lock:
            stale = self._clock() - self._fetched_at > KEYS_REFRESH_SECONDS
            if self._keys is None or (kid not in self._kids and stale):
                self._load_keys()
            if kid not in self._kids:
                raise TokenRejected("token rejected: signed with an unknown key")
            return self._keys

    def _load_keys(self) -> None:
        from joserfc.jwk import KeySet

        try:
            document = self._fetch(self._jwks_url)
            keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
        except TokenRejected:
            raise
        except Exception as error:
            raise TokenRejected(f"the sign-in keys could not be read: {error}") from None
        self._keys = keys
        self._kids = frozenset(str(key.get("kid")) for key in document.get("keys", []))
        self._fetched_at = self._clock()


def _bare(token: str) -> str:
    token = token.strip()
    if token[:7].lower() == "bearer ":
        token = token[7:].strip()
    return token


def _key_id(token: str) -> str:
    try:
        header_segment = token.split(".", 1)[0]
        header = json.loads(
            base64.urlsafe_b64decode(header_segment + "=" * (-len(header_segment) % 4))
        )
    except (ValueError, TypeError):
        raise TokenRejected("token rejected: not a JSON Web Token") from None
    if not isinstance(header, dict) or header.get("alg") != "RS256":
        raise TokenRejected("token rejected: not an RS256 token")
    return str(header.get("kid"))
