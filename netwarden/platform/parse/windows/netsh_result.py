"""What a netsh `set` / `add` / `delete` command's output and exit code mean: ok, needs elevation,
or an error with netsh's own text.

The exit code decides (netsh exits 0 on success, 1 on failure). Success prints `Ok.` in English
and `确定。` in Chinese, and may print a warning that is not a failure (`set dnsservers` with
validate=yes: "The configured DNS server is incorrect or does not exist." and the setting is
applied all the same). Elevation is told apart from other failures by the caller's knowledge
(`elevated=False`), else by the system message of ERROR_ELEVATION_REQUIRED (740), which is
localized; the forms below are the ones found in real outputs:
  en  "The requested operation requires elevation (Run as administrator)."  (fixture)
  zh  "请求的操作需要提升(作为管理员运行)。"  (netsh output decoded as GBK in public code)
  de  "Der angeforderte Vorgang erfordert erhöhte Rechte."  (OSError text in public code)
  fr  "L'opération demandée nécessite une élévation."  (os error 740 in public notes)
  es  "La operación solicitada requiere elevación."  (Microsoft's es-ES system error list)
Other languages fall to "error" with the text, never to "ok"."""

from __future__ import annotations

from typing import NamedTuple

from netwarden.platform.parse.windows._text import is_prompt, lines

OK = "ok"
NEEDS_ELEVATION = "needs-elevation"
ERROR = "error"
UNKNOWN = "unknown"

_ELEVATION_MARKS = ("requires elevation", "需要提升", "erfordert erhöhte rechte", "nécessite une élévation",
                    "requiere elevación", "requiere ejecución con elevación")
# Only consulted when there is no exit code (a pasted transcript): netsh's whole success output.
_OK_LINES = ("ok.", "确定。")


class NetshResult(NamedTuple):
    status: str  # OK, NEEDS_ELEVATION, ERROR, or UNKNOWN (no exit code and an output not known)
    message: str  # netsh's text, stripped (a warning on success; the reason on failure)


def classify_netsh_result(output: str, exit_code: int | None, elevated: bool | None = None) -> NetshResult:
    """`exit_code` None only for output without one (a transcript); `elevated` when the caller
    knows whether it ran as Administrator."""
    text = output if isinstance(output, str) else ""
    message = "\n".join(line.strip() for line in lines(text) if line.strip() and not is_prompt(line))
    folded = message.casefold()
    needs_elevation = elevated is False or any(mark in folded for mark in _ELEVATION_MARKS)
    if exit_code == 0:
        return NetshResult(OK, message)
    if exit_code is not None:
        return NetshResult(NEEDS_ELEVATION if needs_elevation else ERROR, message)
    if any(mark in folded for mark in _ELEVATION_MARKS):
        return NetshResult(NEEDS_ELEVATION, message)
    if not message or folded in _OK_LINES:
        return NetshResult(OK, message)
    return NetshResult(UNKNOWN, message)
