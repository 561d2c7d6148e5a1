"""Parsers for WSL's files: /proc/version, wsl.conf and .wslconfig (INI-like, CRLF or LF)."""

from __future__ import annotations

import re


def classify_kernel(proc_version: str) -> str | None:
    """'wsl1', 'wsl2' or None, from /proc/version.

    WSL1 fakes a kernel with a capital 'Microsoft' (`4.4.0-18985-Microsoft`); WSL2 kernels say
    `microsoft-standard`, early ones without the `-WSL2` suffix.
    """
    if "microsoft-standard" in proc_version.lower() or "WSL2" in proc_version:
        return "wsl2"
    if "Microsoft" in proc_version:
        return "wsl1"
    if "microsoft" in proc_version.lower():
        return "wsl2"
    return None


def parse_ini(text: str) -> dict[str, dict[str, str]]:
    """Sections and keys, lower-cased; comments (#, ;) and junk lines skipped; values stripped."""
    sections: dict[str, dict[str, str]] = {}
    current = None
    for raw in text.splitlines():
        line = raw.strip().lstrip("\ufeff")
        if not line or line[0] in "#;":
            continue
        m = re.fullmatch(r"\[\s*([^\]]+?)\s*\]", line)
        if m:
            current = sections.setdefault(m.group(1).lower(), {})
            continue
        key, sep, value = line.partition("=")
        if sep and current is not None:
            value = re.split(r"\s[#;]", value, maxsplit=1)[0]
            current[key.strip().lower()] = value.strip().strip('"')
    return sections


def wslconfig_networking_mode(text: str) -> str | None:
    """`networkingMode` from a .wslconfig: under [wsl2], or [experimental] in WSL 2.0."""
    sections = parse_ini(text)
    for section in ("wsl2", "experimental"):
        mode = sections.get(section, {}).get("networkingmode")
        if mode:
            return mode.lower()
    return None
