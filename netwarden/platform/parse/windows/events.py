"""`wevtutil qe System /q:"*[System[Provider[@Name='Tcpip'] and (EventID=4227 or EventID=4231 or
EventID=4266)]]" /f:xml /c:N /rd:true`: the Tcpip port-exhaustion events (4227 TIME_WAIT reuse
pressure, 4231 TCP ephemeral ports exhausted, 4266 UDP). The XML is not localized.

wevtutil prints several <Event> elements without a common root. Each one is parsed on its own
(what wrapping them in a root would do, except that one broken event no longer loses the
others) with an incremental parser, so an event cut off mid-way (a paste, Event Viewer's
"Copy details as text" with its `Event Xml:` part) still gives the fields that were complete.
Safety: expat never fetches anything, and a DOCTYPE or ENTITY declaration (the way to an
entity-expansion bomb) is refused outright, as is input beyond MAX_CHARS (only that much is read)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from datetime import datetime, timedelta, timezone
from typing import NamedTuple

MAX_CHARS = 4_000_000  # ~2,500 events of ~1.5 KB: far more than /c:N asks for
PORT_EXHAUSTION_IDS = (4227, 4231, 4266)
_EVENT_START = re.compile(r"<Event[\s>]")
_DECLARATION = re.compile(r"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_TIME = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)?$")


class Event(NamedTuple):
    event_id: int
    time_created: datetime | None  # timezone-aware (wevtutil prints UTC)
    record_id: int | None
    provider: str | None
    level: int | None  # 2 error, 3 warning, 4 information


class Events(NamedTuple):
    events: tuple[Event, ...]
    problems: tuple[str, ...]


def parse_time(text: str | None) -> datetime | None:
    """SystemTime `2019-01-16T02:01:10.611477100Z` (7-9 fraction digits, which Python 3.10's
    fromisoformat refuses) as an aware datetime; None when it is not one."""
    m = _TIME.match((text or "").strip())
    if not m:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    micro = int((m.group(7) or "0")[:6].ljust(6, "0"))
    zone = m.group(8) or "Z"
    offset = timedelta(0) if zone == "Z" else (1 if zone[0] == "+" else -1) * timedelta(
        hours=int(zone[1:3]), minutes=int(zone[4:6]))
    try:
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=timezone(offset))
    except ValueError:
        return None


def _int(text: str | None) -> int | None:
    text = (text or "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 20 else None


def _read_event(chunk: str) -> tuple[dict, bool]:
    """The fields of one <Event> element and whether it was complete."""
    fields: dict = {}
    parser = ElementTree.XMLPullParser(events=("start", "end"))
    complete = False
    try:
        parser.feed(chunk)
        for kind, element in parser.read_events():
            name = element.tag.rsplit("}", 1)[-1]
            if kind == "start" and name == "Provider":
                fields["provider"] = element.get("Name")
            elif kind == "start" and name == "TimeCreated":
                fields["time"] = element.get("SystemTime")
            elif kind == "end" and name in ("EventID", "EventRecordID", "Level"):
                fields[name] = element.text
            elif kind == "end" and name == "Event":
                complete = True
                break
    except ElementTree.ParseError:
        pass
    return fields, complete


def parse_events_xml(text: str) -> Events | None:
    """Every <Event> found, in the printed order (newest first with /rd:true). None when the
    text holds no <Event> element at all."""
    if not isinstance(text, str):
        return None
    problems = []
    if _DECLARATION.search(text):
        return Events((), ("refused: the XML declares a DOCTYPE or ENTITY (wevtutil never does)",))
    if len(text) > MAX_CHARS:
        problems.append(f"input of {len(text)} characters: only the first {MAX_CHARS} were read")
        text = text[:MAX_CHARS]
    starts = [m.start() for m in _EVENT_START.finditer(text)]
    if not starts:
        return None
    events = []
    for number, (start, end) in enumerate(zip(starts, starts[1:] + [len(text)]), start=1):
        fields, complete = _read_event(text[start:end])
        event_id = _int(fields.get("EventID"))
        if event_id is None:
            problems.append(f"event {number}: no readable EventID; skipped")
            continue
        if not complete:
            problems.append(f"event {number} (EventID {event_id}): cut off; the fields before the cut were read")
        events.append(Event(event_id, parse_time(fields.get("time")), _int(fields.get("EventRecordID")),
                            fields.get("provider"), _int(fields.get("Level"))))
    return Events(tuple(events), tuple(problems))
