"""The agents' sign-in against moto's Cognito: the pool made from infra's one definition, the
first sign-in with a temporary password, refresh, and the ID-token check the local stack and
tests rely on (signature against the pool's JWKS, expiry, issuer, audience, token use)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

from chalicelib.adapters.cognito_directory import (
    CognitoDirectory,
    DirectoryBusy,
    DirectoryUnavailable,
    NewPasswordRequired,
    PasswordRejected,
    SignInRefused,
    Tokens,
    UserExists,
)
from chalicelib.adapters.jwks_token_verifier import JwksTokenVerifier, TokenRejected, fetch_json
from chalicelib.resource_names import ResourceNames
from infra.agent_directory import (
    ID_TOKEN_MINUTES,
    MIN_PASSWORD_LENGTH,
    REFRESH_TOKEN_HOURS,
    WRITABLE_ATTRIBUTES,
    client_name,
    find_agent_directory,
    pool_name,
    provision_agent_directory,
)

REGION = "eu-west-1"
TEMPORARY = "temporary-pass-1"
CHOSEN = "a-long-chosen-password"


class StandIn:
    """A stand-in for a remote endpoint that answers every POST alike, e.g. Cognito under load
    (moto never throttles) or WhatsApp having a bad moment. Counts the calls."""

    def __init__(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        calls: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                calls.append(self.path)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.calls = calls
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def cognito_error(code: str, status: int = 400) -> StandIn:
    """Cognito's JSON error answer: `{"__type": code}`."""
    body = json.dumps({"__type": code, "message": f"{code} (stand-in)"}).encode()
    return StandIn(status, body, "application/x-amz-json-1.1")


@pytest.fixture
def cognito_answering() -> Iterator[Any]:
    """`cognito_answering(code, status=400)`: a StandIn answering that Cognito error."""
    started: list[StandIn] = []

    def start(code: str, status: int = 400) -> StandIn:
        started.append(cognito_error(code, status))
        return started[-1]

    yield start
    for server in started:
        server.close()


def teach_moto_revoke_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto 5.2 has no RevokeToken (its server answers 500 NotImplemented). Give it one, as AWS
    documents it: the refresh token of that client stops working; anything else is ignored.
    Our code then talks to the real SDK and server, only this action is ours."""
    from moto.cognitoidp.responses import CognitoIdpResponse
    from moto.core.responses import EmptyResult

    def revoke_token(self: CognitoIdpResponse) -> EmptyResult:
        token, client_id = self._get_param("Token"), self._get_param("ClientId")
        # An unsigned call, so moto cannot tell the region: find the client's pools, as moto
        # does for InitiateAuth.
        backend = self._get_region_agnostic_backend()._find_backend_for_clientid(client_id)
        for pool in backend.user_pools.values():
            held = pool.refresh_tokens.get(token)
            if held is not None and held[0] == client_id:
                pool.refresh_tokens[token] = None
        return EmptyResult()

    monkeypatch.setattr(CognitoIdpResponse, "revoke_token", revoke_token, raising=False)


@pytest.fixture
def directory(aws_env: str) -> CognitoDirectory:
    names = ResourceNames(f"d{uuid.uuid4().hex[:8]}")
    pool_id, client_id = provision_agent_directory(aws_env, names, REGION)
    return CognitoDirectory(pool_id, client_id, region=REGION)


def verifier_for(directory: CognitoDirectory, **overrides: Any) -> JwksTokenVerifier:
    options: dict[str, Any] = {
        "jwks_url": directory.jwks_url,
        "issuer": directory.issuer,
        "audience": directory.client_id,
    }
    return JwksTokenVerifier(**{**options, **overrides})


def moto_signing_key() -> RSAKey:
    """The private key moto signs every pool's tokens with (what a forger would lack)."""
    from moto.utilities.utils import load_resource

    return RSAKey.import_key(load_resource("cognitoidp/resources/jwks-private.json"))


def signed(claims: dict[str, Any], key: RSAKey, kid: str = "dummy") -> str:
    return jwt.encode({"alg": "RS256", "kid": kid}, claims, key)


def id_claims(directory: CognitoDirectory, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": directory.issuer,
        "aud": directory.client_id,
        "token_use": "id",
        "email": "ana@town.example",
        "sub": "1234",
        "iat": now,
        "exp": now + 600,
    }
    return {**claims, **changes}


# --- the pool ---------------------------------------------------------------------------------


def test_provisioning_is_idempotent_and_follows_the_definition(aws_env: str) -> None:
    names = ResourceNames(f"d{uuid.uuid4().hex[:8]}")
    assert find_agent_directory(names, REGION) is None

    first = provision_agent_directory(aws_env, names, REGION)
    assert provision_agent_directory(aws_env, names, REGION) == first
    assert find_agent_directory(names, REGION) == first

    cognito = boto3.client("cognito-idp", region_name=REGION)
    pool = cognito.describe_user_pool(UserPoolId=first[0])["UserPool"]
    assert pool["Name"] == pool_name(names)
    assert pool["Policies"]["PasswordPolicy"]["MinimumLength"] == MIN_PASSWORD_LENGTH
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert pool["UsernameAttributes"] == ["email"]
    assert pool["MfaConfiguration"] == "OFF"
    client = cognito.describe_user_pool_client(UserPoolId=first[0], ClientId=first[1])
    client = client["UserPoolClient"]
    assert client["ClientName"] == client_name(names)
    assert "ClientSecret" not in client
    assert set(client["ExplicitAuthFlows"]) == {
        "ALLOW_USER_PASSWORD_AUTH",
        "ALLOW_REFRESH_TOKEN_AUTH",
    }
    assert (client["IdTokenValidity"], client["RefreshTokenValidity"]) == (
        ID_TOKEN_MINUTES,
        REFRESH_TOKEN_HOURS,
    )
    assert client["WriteAttributes"] == list(WRITABLE_ATTRIBUTES) == ["name"]
    assert pool["UserAttributeUpdateSettings"] == {
        "AttributesRequireVerificationBeforeUpdate": ["email"]
    }


# --- sign-in ----------------------------------------------------------------------------------


def test_first_sign_in_asks_for_a_new_password(directory: CognitoDirectory) -> None:
    directory.create_user("Ana@Town.Example", "Ana Lima", temporary_password=TEMPORARY)

    challenge = directory.sign_in("ana@town.example", TEMPORARY)
    assert isinstance(challenge, NewPasswordRequired)
    with pytest.raises(PasswordRejected):
        directory.set_new_password("ana@town.example", challenge.session, "short")
    tokens = directory.set_new_password("ana@town.example", challenge.session, CHOSEN)

    assert tokens.refresh_token and tokens.expires_in > 0
    claims = verifier_for(directory).claims(tokens.id_token)
    assert claims["email"] == "ana@town.example"
    assert claims["aud"] == directory.client_id
    # From now on the chosen password signs in at once; the temporary one no longer does.
    again = directory.sign_in("ANA@town.example", CHOSEN)
    assert isinstance(again, Tokens)
    with pytest.raises(SignInRefused):
        directory.sign_in("ana@town.example", TEMPORARY)


def test_wrong_credentials_and_sessions_are_refused_alike(directory: CognitoDirectory) -> None:
    directory.create_user("rui@town.example", "Rui", password=CHOSEN)

    for email, password in [
        ("rui@town.example", "not-the-password"),
        ("nobody@town.example", CHOSEN),
    ]:
        with pytest.raises(SignInRefused, match="wrong e-mail or password"):
            directory.sign_in(email, password)
    for session in ("x", "a-session-that-never-existed-" * 2):
        with pytest.raises(SignInRefused, match="expired"):
            directory.set_new_password("rui@town.example", session, CHOSEN)


def test_a_refresh_token_gives_a_new_id_token(directory: CognitoDirectory) -> None:
    directory.create_user("eva@town.example", "Eva", password=CHOSEN)
    tokens = directory.sign_in("eva@town.example", CHOSEN)
    assert isinstance(tokens, Tokens) and tokens.refresh_token

    refreshed = directory.refresh(tokens.refresh_token)

    assert refreshed.refresh_token is None  # the first one stays valid
    assert verifier_for(directory).claims(refreshed.id_token)["email"] == "eva@town.example"
    with pytest.raises(SignInRefused):
        directory.refresh("not-a-refresh-token")


def test_accounts_are_created_once(directory: CognitoDirectory) -> None:
    assert not directory.user_exists("leo@town.example")
    directory.create_user("leo@town.example", "Leo", temporary_password=TEMPORARY)
    assert directory.user_exists("LEO@town.example")
    with pytest.raises(UserExists):
        directory.create_user("leo@town.example", "Leo", password=CHOSEN)
    with pytest.raises(ValueError, match="either"):
        directory.create_user("mia@town.example", "Mia")

    directory.set_password("leo@town.example", CHOSEN)
    assert isinstance(directory.sign_in("leo@town.example", CHOSEN), Tokens)


# --- checking ID tokens -----------------------------------------------------------------------


def test_the_pool_publishes_its_keys(directory: CognitoDirectory) -> None:
    keys = fetch_json(directory.jwks_url)["keys"]
    assert [(key["kid"], key["alg"]) for key in keys] == [("dummy", "RS256")]


def test_a_token_signed_with_the_pools_key_passes(directory: CognitoDirectory) -> None:
    claims = verifier_for(directory).claims(
        "Bearer " + signed(id_claims(directory), moto_signing_key())
    )
    assert claims["email"] == "ana@town.example"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"exp": int(time.time()) - 60}, "expired"),
        ({"aud": "another-app"}, "aud"),
        ({"iss": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_other"}, "iss"),
        ({"token_use": "access"}, "token_use"),
        ({"exp": None}, "exp"),
    ],
)
def test_claims_that_do_not_fit_are_rejected(
    directory: CognitoDirectory, changes: dict[str, Any], reason: str
) -> None:
    claims = {k: v for k, v in id_claims(directory, **changes).items() if v is not None}
    with pytest.raises(TokenRejected, match=reason):
        verifier_for(directory).claims(signed(claims, moto_signing_key()))


def test_forged_and_malformed_tokens_are_rejected(directory: CognitoDirectory) -> None:
    verifier = verifier_for(directory)
    forger = RSAKey.generate_key(2048)
    real = signed(id_claims(directory), moto_signing_key())
    header, _payload, signature = real.split(".")
    tampered_payload = signed(id_claims(directory, email="boss@town.example"), forger).split(".")[1]

    for token, reason in [
        (signed(id_claims(directory), forger), "signature"),
        (f"{header}.{tampered_payload}.{signature}", "signature"),
        (signed(id_claims(directory), forger, kid="forger"), "unknown key"),
        (jwt.encode({"alg": "HS256"}, id_claims(directory), OctKey.import_key(b"s" * 32)), "RS256"),
        ("not-a-token", "JSON Web Token"),
        ("", "JSON Web Token"),
    ]:
        with pytest.raises(TokenRejected, match=reason):
            verifier.claims(token)


def test_keys_are_fetched_once_and_again_only_for_a_new_key_after_a_while(
    directory: CognitoDirectory,
) -> None:
    fetched: list[str] = []
    moment = [1000.0]

    def fetch(url: str) -> dict[str, Any]:
        fetched.append(url)
        return fetch_json(url)

    verifier = verifier_for(directory, fetch=fetch, clock=lambda: moment[0])
    key = moto_signing_key()
    now = int(moment[0])
    good = signed(id_claims(directory, iat=now, exp=now + 600), key)
    verifier.claims(good)
    verifier.claims(good)
    assert len(fetched) == 1
    unknown = signed(id_claims(directory, iat=now, exp=now + 600), key, kid="rotated")
    with pytest.raises(TokenRejected):
        verifier.claims(unknown)
    assert len(fetched) == 1  # too soon to look again
    moment[0] += 301
    with pytest.raises(TokenRejected):
        verifier.claims(unknown)
    assert len(fetched) == 2


# --- the e-mail the console trusts --------------------------------------------------------------


@pytest.mark.parametrize(
    "create",
    [{"password": CHOSEN}, {"temporary_password": TEMPORARY}],
    ids=["permanent", "temporary"],
)
def test_a_created_agents_id_token_says_the_e_mail_is_verified(
    directory: CognitoDirectory, create: dict[str, str]
) -> None:
    # console_auth refuses tokens without email_verified: every account `agent create` makes
    # must carry it, and the console's client must be allowed to read it into the token.
    directory.create_user("Ana@Town.Example", "Ana", **create)
    tokens = directory.sign_in("ana@town.example", create.get("password", TEMPORARY))
    if isinstance(tokens, NewPasswordRequired):
        tokens = directory.set_new_password("ana@town.example", tokens.session, CHOSEN)
    assert isinstance(tokens, Tokens)

    claims = verifier_for(directory).claims(tokens.id_token)

    assert claims["email"] == "ana@town.example"
    assert claims["email_verified"] in (True, "true")
    assert tokens.refresh_token
    refreshed = verifier_for(directory).claims(directory.refresh(tokens.refresh_token).id_token)
    assert refreshed["email_verified"] in (True, "true")


# --- signing out and disabling ------------------------------------------------------------------


def test_a_revoked_refresh_token_renews_nothing(
    directory: CognitoDirectory, monkeypatch: pytest.MonkeyPatch
) -> None:
    teach_moto_revoke_token(monkeypatch)
    directory.create_user("eva@town.example", "Eva", password=CHOSEN)
    kept, revoked = (directory.sign_in("eva@town.example", CHOSEN) for _ in range(2))
    assert isinstance(kept, Tokens) and isinstance(revoked, Tokens)
    assert kept.refresh_token and revoked.refresh_token

    assert directory.revoke(revoked.refresh_token) is True

    with pytest.raises(SignInRefused):
        directory.refresh(revoked.refresh_token)
    assert isinstance(directory.refresh(kept.refresh_token), Tokens)  # another session lives on


def test_a_disabled_sign_in_is_refused_until_enabled(directory: CognitoDirectory) -> None:
    directory.create_user("leo@town.example", "Leo", password=CHOSEN)

    directory.disable_user("LEO@town.example")
    with pytest.raises(SignInRefused, match="wrong e-mail or password"):
        directory.sign_in("leo@town.example", CHOSEN)
    directory.enable_user("leo@town.example")
    assert isinstance(directory.sign_in("leo@town.example", CHOSEN), Tokens)
    with pytest.raises(SignInRefused):
        directory.disable_user("nobody@town.example")


# --- when Cognito is busy or away ---------------------------------------------------------------


@pytest.mark.parametrize("code", ["TooManyRequestsException", "LimitExceededException"])
def test_throttling_is_reported_as_busy_after_one_retry(
    aws_env: str, cognito_answering: Any, code: str
) -> None:
    busy = cognito_answering(code)
    directory = CognitoDirectory("eu-west-1_pool", "client", region=REGION, endpoint_url=busy.url)

    for call in (
        lambda: directory.sign_in("ana@town.example", CHOSEN),
        lambda: directory.refresh("a-refresh-token"),
        lambda: directory.revoke("a-refresh-token"),
        lambda: directory.create_user("ana@town.example", "Ana", password=CHOSEN),
    ):
        with pytest.raises(DirectoryBusy, match="busy"):
            call()
    assert len(busy.calls) == 4 * 2  # one retry each: a person is waiting


def test_a_failing_or_silent_cognito_is_unavailable(aws_env: str, cognito_answering: Any) -> None:
    failing = cognito_answering("InternalErrorException", 500)
    for url in (failing.url, "http://127.0.0.1:9"):  # nothing listens on port 9 (discard)
        directory = CognitoDirectory("eu-west-1_pool", "client", region=REGION, endpoint_url=url)
        with pytest.raises(DirectoryUnavailable, match="did not answer"):
            directory.sign_in("ana@town.example", CHOSEN)
        with pytest.raises(DirectoryUnavailable):
            directory.revoke("a-refresh-token")
