"""Use case: a resident chose, inside WhatsApp, to stop or resume marketing messages (Meta's
`user_preferences` webhook). Taken off the inbound queue, in order with the resident's messages.

The choice is recorded on the resident with the time it was made, so a redelivered webhook
changes nothing and an older one never undoes a newer choice. The sender reads it before every
bulk message (see send_queued_message).
"""

from __future__ import annotations

from chalicelib.observability import MetricUnit, logger, mask_resident_key, metrics
from chalicelib.services.ports import ResidentStore
from chalicelib.whatsapp.events import UserPreferenceUpdate

# Meta's `value`: True means opted out of business-initiated (bulk) messages.
OPTED_OUT_BY_VALUE = {"stop": True, "resume": False}


def apply_user_preference(update: UserPreferenceUpdate, *, residents: ResidentStore) -> bool:
    """Record the stop/resume; True when it changed what was stored. Unknown values are logged
    and ignored (Meta may add some): retrying them would never help."""
    resident = mask_resident_key(update.sender.key)
    log_extra = {
        "resident": resident,
        "category": update.category,
        "value": update.value,
        "at": update.timestamp.isoformat(),
    }
    opted_out = OPTED_OUT_BY_VALUE.get(update.value.strip().lower())
    if opted_out is None:
        logger.warning("unknown user preference ignored", extra=log_extra)
        return False
    changed = residents.set_opted_out(
        update.sender.key,
        opted_out,
        update.timestamp,
        wa_id=update.sender.wa_id,
        user_id=update.sender.user_id,
    )
    if not changed:
        logger.info("user preference already known or superseded", extra=log_extra)
        return False
    metrics.add_metric(
        name="ResidentsOptedOut" if opted_out else "ResidentsOptedIn",
        unit=MetricUnit.Count,
        value=1,
    )
    logger.info("user preference applied", extra=log_extra)
    return True
