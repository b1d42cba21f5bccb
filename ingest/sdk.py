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

# Groups of message types the call derivation binds as SQL parameters (ingest/calls.py). Each name is a
# `messageType` value of src/Constants.ts (@hubspot/calling-extensions-sdk 0.9.7); the groups say what the
# messages do in a call.

# The handshake (src/IFrameManager.ts, onMessage): HubSpot's SYNC, answered by the app's SYNC_ACK. Both carry their
# fields (portalId, userId, engagementId, ...) top-level, not in `data`.
HANDSHAKE_TYPES = frozenset({"SYNC", "SYNC_ACK"})

# Messages that start a call and so say its direction.
CALL_START_TYPES = {"INCOMING_CALL": "inbound", "OUTGOING_CALL_STARTED": "outbound"}

# What the app says about a call after starting it. CALL_ANSWERED has no data before SDK 0.6.3, CALL_ENDED none
# before ~0.7: sent without an externalCallId, they are tied to the instance's latest call by order.
CALL_PROGRESS_TYPES = frozenset({"CALL_ANSWERED", "CALL_ENDED", "CALL_COMPLETED", "CALL_TRANSFERRED"})

# The app finalizes a call's engagement; PUBLISH_TO_CHANNEL is the name Constants.ts marks deprecated for it.
FINALIZE_TYPES = frozenset({"FINALIZE_ENGAGEMENT", "PUBLISH_TO_CHANNEL"})

# Messages about one call: the app names the call by data.externalCallId.
CALL_LIFECYCLE_TYPES = frozenset(CALL_START_TYPES) | CALL_PROGRESS_TYPES | FINALIZE_TYPES

# The app's messages that name the call's engagement (data.engagementId), when it created the engagement itself.
APP_ENGAGEMENT_TYPES = frozenset({"CALL_ENDED", "CALL_COMPLETED"})

# The app's messages that HubSpot answers with an ENGAGEMENT_REPLY_TYPES message.
COMPLETION_TYPES = frozenset({"CALL_COMPLETED"}) | FINALIZE_TYPES

# HubSpot hands the app the engagement it created for the call (ENGAGEMENT_CREATED is the deprecated name).
ENGAGEMENT_CREATED_TYPES = frozenset({"CREATE_ENGAGEMENT_SUCCEEDED", "ENGAGEMENT_CREATED"})

# HubSpot's answers to the engagement creation of a call.
CREATE_ENGAGEMENT_REPLY_TYPES = ENGAGEMENT_CREATED_TYPES | {"CREATE_ENGAGEMENT_FAILED"}

# HubSpot's answers to the caller-id lookup of a call.
CALLER_ID_REPLY_TYPES = frozenset({"CALLER_ID_MATCH_SUCCEEDED", "CALLER_ID_MATCH_FAILED"})

# HubSpot's replies about an engagement the app updated or finalized: they carry its engagementId when they
# succeed, and only {error: {message}} when they fail.
ENGAGEMENT_REPLY_TYPES = frozenset({
    "UPDATE_ENGAGEMENT_SUCCEEDED", "UPDATE_ENGAGEMENT_FAILED", "FINALIZE_ENGAGEMENT_SUCCEEDED",
    "FINALIZE_ENGAGEMENT_FAILED", "PUBLISH_TO_CHANNEL_SUCCEEDED", "PUBLISH_TO_CHANNEL_FAILED",
})

# Messages about the call started last in their instance: they carry no externalCallId.
LATEST_CALL_TYPES = CREATE_ENGAGEMENT_REPLY_TYPES | CALLER_ID_REPLY_TYPES | {
    "NAVIGATE_TO_RECORD", "NAVIGATE_TO_RECORD_FAILED", "END_CALL",
}

# HubSpot's replies carry no externalCallId: they belong to the latest call started in the same instance, or to
# the call holding their engagement.
CALL_REPLY_TYPES = LATEST_CALL_TYPES | ENGAGEMENT_REPLY_TYPES

# The user's availability, which the app reports.
AVAILABILITY_TYPES = frozenset({"USER_AVAILABLE", "USER_UNAVAILABLE"})

# How far each app message takes a call, in the order src/CallingExtensions.ts documents the lifecycle:
# incomingCall / outgoingCall (0), callAnswered (1), callEnded or callTransferred (2), callCompleted (3),
# finalizeEngagement or its deprecated publishToChannel (4). A call has ended once it reaches ENDED_STAGE.
CALL_STAGES = {
    "INCOMING_CALL": 0, "OUTGOING_CALL_STARTED": 0, "CALL_ANSWERED": 1, "CALL_ENDED": 2, "CALL_TRANSFERRED": 2,
    "CALL_COMPLETED": 3, "FINALIZE_ENGAGEMENT": 4, "PUBLISH_TO_CHANNEL": 4,
}
ENDED_STAGE = 2

# The iframe location of HubSpot's calling window (onReady iframeLocation; inbound-calling guide, "Use the calling
# window to share a calling state"): with usesCallingWindow, the call connection lives there, not in the tabs.
CALLING_WINDOW_LOCATION = "window"


def is_known_type(message_type: str) -> bool:
    return message_type in MESSAGE_TYPES or message_type in CAPTURE_MARKERS
