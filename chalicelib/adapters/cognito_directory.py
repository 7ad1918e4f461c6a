"""The agents' sign-in accounts in the stage's Cognito user pool (see infra/agent_directory.py).

Passwords never reach our tables: the console sends them to us, we pass them to Cognito
(USER_PASSWORD_AUTH over TLS) and hand back Cognito's tokens. Only the operator's command line
creates accounts (the pool allows no sign-up).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Cognito's answers that mean "these credentials do not sign in". A wrong e-mail reads like a
# wrong password (the client prevents user-existence errors; moto still reports them).
_BAD_CREDENTIALS = frozenset(
    {
        "NotAuthorizedException",
        "UserNotFoundException",
        "UserNotConfirmedException",
        "PasswordResetRequiredException",
        "CodeMismatchException",
        "ExpiredCodeException",
        "ResourceNotFoundException",  # moto: an unknown challenge session
    }
)
# Cognito's rate limits (per account and operation): the caller should wait and try again.
_THROTTLED = frozenset({"TooManyRequestsException", "LimitExceededException"})
# RevokeToken's answers for a token that is no longer (or never was) a live refresh token of
# the console: there is nothing left to revoke.
_NOTHING_TO_REVOKE = frozenset(
    {"NotAuthorizedException", "UnauthorizedException", "UnsupportedTokenTypeException"}
)
NEW_PASSWORD_CHALLENGE = "NEW_PASSWORD_REQUIRED"  # noqa: S105 - a challenge name
# One retry at most: a person is waiting on the sign-in page (and API Gateway gives up after
# 29 s), so throttling is reported to them rather than waited out by the SDK.
_SDK_ATTEMPTS = 2


BUSY_MESSAGE = "the sign-in service is busy right now: wait a moment and try again"
UNAVAILABLE_MESSAGE = "the sign-in service did not answer: try again in a moment"


class DirectoryError(Exception):
    """Cognito refused; the message is safe to show to the person signing in."""


class SignInRefused(DirectoryError):
    """Wrong e-mail or password, an expired challenge session or refresh token."""


class PasswordRejected(DirectoryError):
    """The new password does not meet the pool's policy."""


class UserExists(DirectoryError):
    pass


class DirectoryBusy(DirectoryError):
    """Cognito's rate limit was reached (TooManyRequests, LimitExceeded): try again shortly."""


class DirectoryUnavailable(DirectoryError):
    """Cognito did not answer, or failed on its side."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Tokens:
    id_token: str
    expires_in: int  # seconds
    refresh_token: str | None = None  # None when refreshing: the old one stays valid


@dataclass(frozen=True, slots=True, kw_only=True)
class NewPasswordRequired:
    """First sign-in with a temporary password: choose a new one (`set_new_password`)."""

    session: str


class CognitoDirectory:
    def __init__(
        self,
        pool_id: str,
        client_id: str,
        *,
        region: str,
        endpoint_url: str | None = None,
        client: Any = None,
    ) -> None:
        self.pool_id = pool_id
        self.client_id = client_id
        self.region = region
        self._endpoint_url = endpoint_url
        self._client = client

    @property
    def cognito(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.client(
                "cognito-idp",
                region_name=self.region,
                endpoint_url=self._endpoint_url,
                config=Config(retries={"mode": "standard", "total_max_attempts": _SDK_ATTEMPTS}),
            )
        return self._client

    @property
    def issuer(self) -> str:
        """The `iss` of the pool's tokens (moto signs with the same)."""
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.pool_id}"

    @property
    def jwks_url(self) -> str:
        """The pool's public keys, on whatever endpoint the SDK talks to (AWS's is the issuer;
        moto serves them under its own address)."""
        endpoint = str(self.cognito.meta.endpoint_url).rstrip("/")
        return f"{endpoint}/{self.pool_id}/.well-known/jwks.json"

    # --- sign-in -------------------------------------------------------------------------------

    def sign_in(self, email: str, password: str) -> Tokens | NewPasswordRequired:
        answer = self._call(
            "initiate_auth",
            SignInRefused("wrong e-mail or password"),
            ClientId=self.client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": _username(email), "PASSWORD": password},
        )
        return self._outcome(answer)

    def set_new_password(self, email: str, session: str, new_password: str) -> Tokens:
        answer = self._call(
            "respond_to_auth_challenge",
            SignInRefused("the sign-in session has expired: sign in again"),
            ClientId=self.client_id,
            ChallengeName=NEW_PASSWORD_CHALLENGE,
            Session=session,
            ChallengeResponses={"USERNAME": _username(email), "NEW_PASSWORD": new_password},
        )
        outcome = self._outcome(answer)
        if not isinstance(outcome, Tokens):
            raise SignInRefused("the new password was not accepted: sign in again")
        return outcome

    def refresh(self, refresh_token: str) -> Tokens:
        answer = self._call(
            "initiate_auth",
            SignInRefused("the session has expired: sign in again"),
            ClientId=self.client_id,
            AuthFlow="REFRESH_TOKEN_AUTH",
            AuthParameters={"REFRESH_TOKEN": refresh_token},
        )
        outcome = self._outcome(answer)
        if not isinstance(outcome, Tokens):
            raise SignInRefused("the session has expired: sign in again")
        return outcome

    def revoke(self, refresh_token: str) -> bool:
        """Sign out: the refresh token (and the access tokens it issued) stops working; True
        once Cognito says so (revoking twice is no error). False when Cognito refuses the token
        (not a refresh token of the console). An ID token already handed out stays valid until
        it expires (an hour at most, see infra/agent_directory.py)."""
        from botocore.exceptions import ClientError

        try:
            self._call(
                "revoke_token",
                SignInRefused("the session has already ended"),
                Token=refresh_token,
                ClientId=self.client_id,
            )
        except SignInRefused:
            return False
        except ClientError as error:
            if error.response.get("Error", {}).get("Code", "") in _NOTHING_TO_REVOKE:
                return False
            raise
        return True

    # --- accounts (operator) -------------------------------------------------------------------

    def create_user(
        self,
        email: str,
        name: str,
        *,
        temporary_password: str | None = None,
        password: str | None = None,
    ) -> None:
        """A temporary password must be changed at the first sign-in; a permanent one (demo,
        tests) signs in at once. Cognito sends no invitation: the operator hands it over."""
        if (temporary_password is None) == (password is None):
            raise ValueError("give either a temporary or a permanent password")
        username = _username(email)
        self._call(
            "admin_create_user",
            UserExists(f"{username} already has a sign-in"),
            UserPoolId=self.pool_id,
            Username=username,
            TemporaryPassword=temporary_password or password,
            MessageAction="SUPPRESS",
            UserAttributes=[
                {"Name": "email", "Value": username},
                {"Name": "email_verified", "Value": "true"},
                {"Name": "name", "Value": name},
            ],
        )
        if password is not None:
            self.set_password(username, password)

    def set_password(self, email: str, password: str) -> None:
        """Set a permanent password (no change asked at the next sign-in)."""
        self._call(
            "admin_set_user_password",
            SignInRefused(f"{email} has no sign-in"),
            UserPoolId=self.pool_id,
            Username=_username(email),
            Password=password,
            Permanent=True,
        )

    def disable_user(self, email: str) -> None:
        """The sign-in stops working: no new sign-in, no refresh (Cognito refuses both for a
        disabled user); the console also refuses the agent's current ID token (their record is
        disabled too, see console_auth)."""
        self._call(
            "admin_disable_user",
            SignInRefused(f"{email} has no sign-in"),
            UserPoolId=self.pool_id,
            Username=_username(email),
        )

    def enable_user(self, email: str) -> None:
        self._call(
            "admin_enable_user",
            SignInRefused(f"{email} has no sign-in"),
            UserPoolId=self.pool_id,
            Username=_username(email),
        )

    def user_exists(self, email: str) -> bool:
        try:
            self._call(
                "admin_get_user",
                SignInRefused("no such user"),
                UserPoolId=self.pool_id,
                Username=_username(email),
            )
        except SignInRefused:
            return False
        return True

    # --- helpers -------------------------------------------------------------------------------

    def _call(self, operation: str, refused: DirectoryError, **params: Any) -> Any:
        from botocore.exceptions import (
            ClientError,
            HTTPClientError,
            ParamValidationError,
        )
        from botocore.exceptions import ConnectionError as SdkConnectionError

        try:
            return getattr(self.cognito, operation)(**params)
        except ParamValidationError:
            # Refused by the SDK before sending: a session or token that cannot be one.
            raise refused from None
        except (SdkConnectionError, HTTPClientError):
            raise DirectoryUnavailable(UNAVAILABLE_MESSAGE) from None
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            message = error.response.get("Error", {}).get("Message", "")
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
            if code in _THROTTLED:
                raise DirectoryBusy(BUSY_MESSAGE) from None
            if code == "InternalErrorException" or status >= 500:
                raise DirectoryUnavailable(UNAVAILABLE_MESSAGE) from None
            if code == "UsernameExistsException":
                raise UserExists(str(refused)) from None
            if code == "InvalidPasswordException":
                raise PasswordRejected(message or "the password does not meet the policy") from None
            if code == "InvalidParameterException":
                raise DirectoryError(message or "Cognito refused the request") from None
            if code in _BAD_CREDENTIALS:
                raise refused from None
            raise

    @staticmethod
    def _outcome(answer: dict[str, Any]) -> Tokens | NewPasswordRequired:
        if answer.get("ChallengeName") == NEW_PASSWORD_CHALLENGE:
            return NewPasswordRequired(session=answer["Session"])
        result = answer.get("AuthenticationResult")
        if not result:
            raise SignInRefused(
                f"sign-in needs a step the console does not offer: {answer.get('ChallengeName')}"
            )
        return Tokens(
            id_token=result["IdToken"],
            expires_in=int(result.get("ExpiresIn", 3600)),
            refresh_token=result.get("RefreshToken"),
        )


def _username(email: str) -> str:
    from chalicelib.domain.agents import agent_id_for

    return agent_id_for(email)
