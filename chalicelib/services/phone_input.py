"""Phone numbers typed by back-office systems, supervisors and operators → E.164, with Google's
libphonenumber rules (the `phonenumbers` package). Imported only where numbers are typed (the
back-office API, the console's data-rights and audit routes, the operator commands), and
`phonenumbers` itself only on the first number: its metadata costs tens of milliseconds to load,
which the webhook and the senders should not pay on every cold start."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_REGION = "PT"
# Longer input is not a phone number; phonenumbers refuses > 250 characters anyway.
MAX_INPUT_LENGTH = 40
WA_ID_LENGTHS = (8, 15)  # digits of a WhatsApp id taken as written (E.164 allows at most 15)


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    e164: str  # "+351912345678"

    @property
    def digits(self) -> str:
        return self.e164.removeprefix("+")

    @property
    def resident_key(self) -> str:
        return f"wa:{self.digits}"


class InvalidPhoneError(ValueError):
    """The reason, in words a back-office developer can act on."""


def normalise_phone(raw: str, default_region: str = DEFAULT_REGION) -> PhoneNumber:
    """'+351 912 345 678', '00351912345678' or, in Portugal, '912345678' → +351912345678.
    Numbers without a country code are read as numbers of `default_region` (ISO 3166 code).
    Raises InvalidPhoneError."""
    import phonenumbers

    text = raw.strip()
    if not text:
        raise InvalidPhoneError("is empty")
    if len(text) > MAX_INPUT_LENGTH:
        raise InvalidPhoneError(f"is longer than {MAX_INPUT_LENGTH} characters")
    try:
        number = phonenumbers.parse(text, default_region.upper())
    except phonenumbers.NumberParseException as error:
        raise InvalidPhoneError(_parse_reason(error)) from None
    if not phonenumbers.is_valid_number(number):
        region = phonenumbers.region_code_for_number(number)
        where = f" in {region}" if region and region != "ZZ" else ""
        raise InvalidPhoneError(f"is not a valid phone number{where}")
    return PhoneNumber(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def resident_key_for_phone(raw: str, default_region: str) -> str:
    """The resident key a typed number names: digits as WhatsApp writes them ("351912345678",
    with or without "+"; what the console shows), or a number as people write it ("912 345 678"
    in the municipality's region, "+351 912 345 678", "00351…"). Raises InvalidPhoneError."""
    text = raw.strip()
    compact = "".join(ch for ch in text if ch not in " -.()")
    digits = compact.removeprefix("+")
    if digits.isdigit() and not compact.startswith("00"):
        try:
            return normalise_phone(f"+{digits}").resident_key  # as WhatsApp writes it
        except InvalidPhoneError:
            pass
        if compact.startswith("+") and WA_ID_LENGTHS[0] <= len(digits) <= WA_ID_LENGTHS[1]:
            return f"wa:{digits}"  # a number phonenumbers does not know, taken as written
    return normalise_phone(text, default_region).resident_key


def _parse_reason(error: Exception) -> str:
    from phonenumbers import NumberParseException as Refused

    reasons = {
        Refused.INVALID_COUNTRY_CODE: "has an unknown country code (write it as +<country code>…)",
        Refused.TOO_SHORT_AFTER_IDD: "is too short",
        Refused.TOO_SHORT_NSN: "is too short",
        Refused.TOO_LONG: "is too long",
    }
    return reasons.get(getattr(error, "error_type", None), "is not a phone number")
