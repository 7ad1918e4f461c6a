"""Loaded by the schemathesis run of tests/app/test_openapi_schemathesis.py (SCHEMATHESIS_HOOKS):
phone numbers for the document's `format: phone`, written the ways back offices write them, so
schema-valid requests get past the phone check and exercise the planning behind it."""

from __future__ import annotations

import schemathesis
from hypothesis import strategies as st

PHONES = [
    "+351 912 345 678",
    "912345678",
    "00351 961 234 567",
    "+351 213 456 789",
    "+34 612 34 56 78",
    "+44 7911 123456",
    "+33 6 12 34 56 78",
    "+1 202 555 0143",
]

schemathesis.openapi.format("phone", st.sampled_from(PHONES))
