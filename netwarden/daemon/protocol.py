"""The control socket's protocol, shared by the server (control.py) and the client (client.py):
JSON-RPC 2.0, one JSON object per line, its error codes and limits, and the pure parts: a request
line in, a Request out (never an exception, whatever the bytes); a message out, bounded.

Standard library only: `netwarden status` imports this and must start fast.
"""

from __future__ import annotations

import json
from typing import NamedTuple

from netwarden.jsontext import loads
from netwarden.target import one_line

MAX_REQUEST = 64 * 1024  # bytes in one request line
MAX_MESSAGE_TEXT = 500  # characters of an error message, sent or shown (it may quote the other side's input)

PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, INTERNAL_ERROR = -32700, -32600, -32601, -32602, -32603
PERMISSION_DENIED, TOO_MANY_CLIENTS, REQUEST_TOO_LARGE, BUSY = -32001, -32002, -32003, -32004


# The params each method takes (README, "The control socket"): any other is refused, as a
# misspelt key in the config file is, rather than ignored.
METHOD_PARAMS = {"version": (), "status": (), "findings": (), "facts": (), "history": ("offset", "limit"),
                 "check": ("ids",), "subscribe": (), "apply": ("only", "skip"), "revert": (), "release": ("key",),
                 "reload": ()}


class Encoded(bytes):
    """A result already encoded as JSON (the daemon encodes each snapshot once, not per request)."""


class Request(NamedTuple):
    method: str
    params: dict
    id: str | int | None = None
    notification: bool = False  # no "id": nothing is answered
    error: tuple[int, str] | None = None  # a request that is refused: answer this instead


def parse_request(line: bytes) -> Request:
    """One request line (without its newline) -> a Request, or one whose `error` says why it is
    refused. Never raises: the bytes are a client's."""
    try:
        request = loads(line)
    except ValueError as e:  # UnicodeDecodeError is one
        return Request("", {}, error=(PARSE_ERROR, f"parse error: not JSON ({one_line(str(e), 80)})"))
    except Exception:  # noqa: BLE001 - MemoryError and the like: still the client's bytes, not our bug
        return Request("", {}, error=(PARSE_ERROR, "parse error"))
    if not isinstance(request, dict) or request.get("jsonrpc") != "2.0" or not isinstance(request.get("method"), str):
        return Request("", {}, error=(INVALID_REQUEST, 'invalid request: need {"jsonrpc": "2.0", "method": ...}'))
    id_ = request.get("id")
    if not isinstance(id_, (str, int, type(None))) or isinstance(id_, bool):
        return Request("", {}, error=(INVALID_REQUEST, "invalid request: id must be a string, an integer or null"))
    notification = "id" not in request
    params = request.get("params")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        return Request(request["method"], {}, id_, notification, (INVALID_PARAMS, "params must be an object"))
    known = METHOD_PARAMS.get(request["method"])
    unknown = sorted(str(name) for name in params if known is not None and name not in known)
    if unknown:
        takes = f"takes {', '.join(known)}" if known else "takes no params"
        return Request(request["method"], {}, id_, notification,
                       (INVALID_PARAMS, f"{request['method']} {takes}; not {one_line(', '.join(unknown), 120)}"))
    return Request(request["method"], params, id_, notification)


def encode_message(id_, result=None, error: tuple[int, str] | None = None) -> bytes:
    """One answer line. An error's message is one line, clipped (it may quote what a client sent)."""
    if isinstance(result, Encoded) and error is None:
        return b'{"jsonrpc":"2.0","id":' + json.dumps(id_).encode() + b',"result":' + result + b"}\n"
    body = {"jsonrpc": "2.0", "id": id_}
    if error is not None:
        body["error"] = {"code": error[0], "message": one_line(str(error[1]), MAX_MESSAGE_TEXT)}
    else:
        body["result"] = result
    return json.dumps(body, separators=(",", ":")).encode() + b"\n"


def encode_event(event: dict) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "method": "event", "params": event}).encode() + b"\n"
