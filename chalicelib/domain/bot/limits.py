"""WhatsApp Cloud API length limits for what the bot sends (research notes §4.2, §4.3).

Counted in Python characters (code points). Where Meta's sources disagree we take the lower.
"""

from __future__ import annotations

TEXT_BODY = 4096
INTERACTIVE_BODY = 1024  # list body: 4096 on Meta's list page, 1024 in the OpenAPI schema
LIST_ROWS = 10
ROW_ID = 200
ROW_TITLE = 24
ROW_DESCRIPTION = 72
LIST_BUTTON = 20
REPLY_BUTTONS = 3
BUTTON_TITLE = 20
HEADER_FOOTER = 60
MEDIA_CAPTION = 1024
