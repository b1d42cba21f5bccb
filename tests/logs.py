"""Crafting capture-format v1 logs for tests, message by message, the way the SDK sends them.

    tab = Tab("tab-a", portal_id=4455123, user_id=7713)
    app = tab.iframe("remote", at=T0)        # SYNC from HubSpot, SYNC_ACK, INITIALIZED, USER_AVAILABLE
    app.send("INCOMING_CALL", externalCallId="c1", fromNumber="+14155550123", toNumber="+14155550100")
    app.recv("CREATE_ENGAGEMENT_SUCCEEDED", engagementId=9001)
    log.records  -> list of dicts (one line each)
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

T0 = 1_764_072_000_000  # 2025-11-25T12:00:00Z


class Log:
    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self._ids = itertools.count(1)

    def add(self, record: dict[str, Any]) -> dict[str, Any]:
        self.records.append(record)
        return record

    def sorted(self) -> list[dict[str, Any]]:
        return sorted(self.records, key=lambda r: r["ts"])

    def ndjson(self) -> str:
        return "".join(json.dumps(r) + "\n" for r in self.sorted())

    def write(self, path: Path) -> Path:
        path.write_text(self.ndjson())
        return path


class Tab:
    def __init__(self, log: Log, name: str, portal_id: int = 4455123, user_id: int = 7713, app: str = "ringo-voice",
                 sdk_version: str = "0.9.7", host_instance: int | None = None):
        self.log, self.name, self.portal_id, self.user_id = log, name, portal_id, user_id
        self.app, self.sdk_version = app, sdk_version
        self.host_instance = host_instance

    def iframe(self, location: str, at: int, uses_calling_window: bool = False, engagement_id: int | None = None,
               available: bool = True) -> Instance:
        inst = Instance(self, location, at, uses_calling_window)
        inst.handshake(engagement_id)
        inst.send("INITIALIZED", isLoggedIn=True, isAvailable=available)
        if available:
            inst.send("USER_AVAILABLE", data=None)
        return inst


class Instance:
    """One SDK instance (one iframe page load). `now` advances by `step` ms per message unless `at` is given."""

    def __init__(self, tab: Tab, location: str, at: int, uses_calling_window: bool, step: int = 40):
        self.tab, self.location, self.uses_calling_window = tab, location, uses_calling_window
        self.id = str(at)
        self.host = str(tab.host_instance or at - 1500)
        self.now, self.step = at, step

    def _record(self, direction: str, message: dict[str, Any], at: int | None) -> dict[str, Any]:
        self.now = at if at is not None else self.now + self.step
        return self.tab.log.add({
            "ts": self.now, "direction": direction, "instance": self.id, "tab": self.tab.name,
            "app": self.tab.app, "sdk_version": self.tab.sdk_version, "message": message,
        })

    def handshake(self, engagement_id: int | None = None) -> None:
        sync = {"type": "SYNC", "messageId": f"{self.host}_{self.now}", "hostUrl": "https://app.hubspot.com",
                "portalId": self.tab.portal_id, "userId": self.tab.user_id, "ownerId": self.tab.user_id + 100,
                "iframeLocation": self.location, "usesCallingWindow": self.uses_calling_window}
        if engagement_id is not None:
            sync["engagementId"] = engagement_id
        self._record("from_hubspot", sync, self.now)
        ack = dict(sync, type="SYNC_ACK", debugMode=False, version=self.tab.sdk_version,
                   iFrameUrl="https://phone.ringo-voice.example")
        self._record("to_hubspot", ack, None)

    def send(self, type_: str, at: int | None = None, data: Any = ..., **fields: Any) -> dict[str, Any]:
        """The app posts a message (messageId `<instance>_<Date.now()>`, as IFrameManager.createMessageId)."""
        self.now = at if at is not None else self.now + self.step
        message: dict[str, Any] = {"type": type_, "messageId": f"{self.id}_{self.now}"}
        if data is ...:
            data = fields
        if data is not None:
            message["data"] = data
        return self._record("to_hubspot", message, self.now)

    def recv(self, type_: str, at: int | None = None, data: Any = ..., **fields: Any) -> dict[str, Any]:
        """HubSpot posts a message to the app (HubSpot's own messageId prefix)."""
        self.now = at if at is not None else self.now + self.step
        message: dict[str, Any] = {"type": type_, "messageId": f"{self.host}_{self.now}"}
        if data is ...:
            data = fields
        if data is not None:
            message["data"] = data
        return self._record("from_hubspot", message, self.now)

    def pagehide(self, at: int | None = None) -> dict[str, Any]:
        return self._record("capture", {"type": "PAGEHIDE"}, at)

    # Whole steps of a call, as the SDK's demos send them.
    def ring(self, call_id: str, at: int | None = None, from_number: str = "+14155550123",
             to_number: str = "+14155550100") -> None:
        self.send("INCOMING_CALL", at=at, externalCallId=call_id, fromNumber=from_number, toNumber=to_number,
                  callStartTime=(at or self.now + self.step), createEngagement=True)

    def dial(self, call_id: str, at: int | None = None, to_number: str = "+14155550177") -> None:
        self.send("OUTGOING_CALL_STARTED", at=at, externalCallId=call_id, fromNumber="+14155550100",
                  toNumber=to_number, callStartTime=(at or self.now + self.step), createEngagement=True)

    def matched(self, *names: str) -> None:
        matches = [{"callerIdType": "CONTACT", "firstName": n.split()[0], "lastName": n.split()[-1],
                    "email": f"{n.split()[0].lower()}@example.com",
                    "objectCoordinates": {"portalId": self.tab.portal_id, "objectId": 5100 + i, "objectTypeId": "0-1"}}
                   for i, n in enumerate(names)]
        self.recv("CALLER_ID_MATCH_SUCCEEDED", callerIdMatches=matches)

    def engagement(self, engagement_id: int) -> None:
        self.recv("CREATE_ENGAGEMENT_SUCCEEDED", engagementId=engagement_id)

    def end(self, call_id: str, status: str, engagement_id: int = 0, at: int | None = None) -> None:
        self.send("CALL_ENDED", at=at, externalCallId=call_id, engagementId=engagement_id, callEndStatus=status)

    def complete(self, call_id: str, engagement_id: int, status: str = "COMPLETED", at: int | None = None) -> None:
        self.send("CALL_COMPLETED", at=at, externalCallId=call_id, engagementId=engagement_id, hideWidget=False,
                  engagementProperties={"hs_call_status": status, "hs_timestamp": self.now})
