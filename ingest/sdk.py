"""What HubSpot Calling Extensions SDK 0.9.7 puts on the wire, as data.

Every name here is copied from the SDK's ``src/Constants.ts`` (npm ``@hubspot/calling-extensions-sdk@0.9.7``).
A message whose ``type`` is not listed is still stored; it is flagged ``known_type = false``.
"""

from __future__ import annotations

SDK_VERSION = "0.9.7"

# thirdPartyToHostEvents: the calling app (iframe) posts these to HubSpot.
APP_TO_HUBSPOT = frozenset({
    "CALL_ANSWERED", "CALL_COMPLETED", "CALL_DATA", "CALL_ENDED", "CALL_TRANSFERRED", "INCOMING_CALL",
    "INITIALIZED", "LOGGED_IN", "LOGGED_OUT", "NAVIGATE_TO_RECORD", "OUTGOING_CALL_STARTED",
    "PUBLISH_TO_CHANNEL", "RESIZE_WIDGET", "USER_AVAILABLE", "USER_UNAVAILABLE", "FINALIZE_ENGAGEMENT",
})

# hostToThirdPartyEvents: HubSpot posts these to the calling app.
HUBSPOT_TO_APP = frozenset({
    "CALLER_ID_MATCH_FAILED", "CALLER_ID_MATCH_SUCCEEDED", "CREATE_ENGAGEMENT_FAILED",
    "CREATE_ENGAGEMENT_SUCCEEDED", "DIAL_NUMBER", "ENGAGEMENT_CREATED", "INITIATE_CALL_ID_FAILED",
    "INITIATE_CALL_ID_SUCCEEDED", "NAVIGATE_TO_RECORD_FAILED", "PUBLISH_TO_CHANNEL_FAILED",
    "PUBLISH_TO_CHANNEL_SUCCEEDED", "FINALIZE_ENGAGEMENT_FAILED", "FINALIZE_ENGAGEMENT_SUCCEEDED",
    "SET_WIDGET_URL_FAILED", "UPDATE_ENGAGEMENT_FAILED", "UPDATE_ENGAGEMENT_SUCCEEDED", "VISIBILITY_CHANGED",
})

# The rest of `messageType`: the handshake (SYNC from HubSpot, SYNC_ACK from the app), ERROR (either side),
# END_CALL / SET_CALL_STATE (HubSpot asks), SET_WIDGET_URL (either side). READY, SYNC_ACK_FAILED and FAILED are
# local pseudo types that never cross frames; UNLOADING is a constant nothing sends. They are known, so a log
# that holds them is not flagged as carrying an unknown type.
OTHER = frozenset({
    "END_CALL", "ERROR", "READY", "SET_CALL_STATE", "SET_WIDGET_URL", "SYNC_ACK_FAILED", "SYNC_ACK", "SYNC",
    "UNLOADING", "FAILED",
})

MESSAGE_TYPES = APP_TO_HUBSPOT | HUBSPOT_TO_APP | OTHER

# Types earlier SDK versions knew and 0.9.7 does not, which HubSpot may still send; the version that removed
# each. A 0.9.7 app answers them with ERROR UNKNOWN_MESSAGE_TYPE, and they are stored with known_type = false.
RETIRED_TYPES = {"UPDATE_ASSOCIATIONS_FAILED": "0.9.5"}

# Markers the Callscope capture script records itself (direction "capture"); not SDK messages.
CAPTURE_MARKERS = frozenset({"PAGEHIDE"})

# EndStatus in src/types.ts: the values an app may put in CALL_ENDED.callEndStatus.
END_STATUSES = ("COMPLETED", "FAILED", "CANCELED", "BUSY", "NO_ANSWER", "REJECTED", "MISSED")

IFRAME_LOCATIONS = ("widget", "remote", "window")

CALLER_ID_TYPES = ("CONTACT", "COMPANY")

# errorType.UNKNOWN_MESSAGE_TYPE: the SDK's own ERROR reply to a HubSpot message type it does not know.
UNKNOWN_MESSAGE_TYPE_ERROR = "UNKNOWN_MESSAGE_TYPE"

# Messages that start a call and so say its direction.
CALL_START_TYPES = {"INCOMING_CALL": "inbound", "OUTGOING_CALL_STARTED": "outbound"}

# Messages about one call: the app names the call by data.externalCallId (CALL_ANSWERED has no data before
# SDK 0.6.3, CALL_ENDED none before ~0.7; those are tied to the instance's latest call by order).
CALL_LIFECYCLE_TYPES = frozenset({
    "INCOMING_CALL", "OUTGOING_CALL_STARTED", "CALL_ANSWERED", "CALL_ENDED", "CALL_COMPLETED", "CALL_TRANSFERRED",
    "FINALIZE_ENGAGEMENT", "PUBLISH_TO_CHANNEL",
})

# HubSpot's replies carry no externalCallId: they belong to the latest call started in the same instance.
CALL_REPLY_TYPES = frozenset({
    "CREATE_ENGAGEMENT_SUCCEEDED", "CREATE_ENGAGEMENT_FAILED", "ENGAGEMENT_CREATED",
    "CALLER_ID_MATCH_SUCCEEDED", "CALLER_ID_MATCH_FAILED", "NAVIGATE_TO_RECORD", "NAVIGATE_TO_RECORD_FAILED",
    "UPDATE_ENGAGEMENT_SUCCEEDED", "UPDATE_ENGAGEMENT_FAILED", "FINALIZE_ENGAGEMENT_SUCCEEDED",
    "FINALIZE_ENGAGEMENT_FAILED", "PUBLISH_TO_CHANNEL_SUCCEEDED", "PUBLISH_TO_CHANNEL_FAILED", "END_CALL",
})


def is_known_type(message_type: str) -> bool:
    return message_type in MESSAGE_TYPES or message_type in CAPTURE_MARKERS
