"""The Windows commands netwarden runs, and how: by absolute path in System32 (a bare name would
be looked up in the current directory first), through the Source (so a Windows host records into
a bundle and replays anywhere), with a timeout, decoded by the console's code page, and with the
exit code checked. Used natively (WindowsBackend) and from inside WSL2 through interop
(/mnt/c/Windows/System32/netsh.exe), where the code page comes from running chcp.com first.

A command that is missing, times out, exits non-zero or is not in a replayed bundle gives
Unknown with the reason, never an exception: the fact it feeds is unknown."""

from __future__ import annotations

from netwarden.model import Unknown
from netwarden.platform.source import CONSOLE, CommandResult, answers

SYSTEM32 = "C:\\Windows\\System32"  # when the system cannot say (a bundle without the answer)
WSL_SYSTEM32 = "/mnt/c/Windows/System32"
TCPIP_PARAMETERS = "HKLM\\SYSTEM\\CurrentControlSet\\Services\\Tcpip\\Parameters"
# The port-exhaustion events (DOMAIN.md §1): 4227 TIME_WAIT reuse, 4231 TCP ports, 4266 UDP ports.
EVENTS_QUERY = "*[System[Provider[@Name='Tcpip'] and (EventID=4227 or EventID=4231 or EventID=4266)]]"
EVENTS_WANTED = 20
TIMEOUT = 20.0  # netstat on a host with 60,000 sockets takes seconds; a hung netsh must not hang us


def _windows_directory(value) -> bool:
    """an absolute Windows directory (X:\\...)"""
    return (isinstance(value, str) and len(value) < 260 and value[1:3] == ":\\" and value[0].isascii()
            and value[0].isalpha() and not any(c in value for c in '"<>|?*\0\r\n'))


@answers(_windows_directory)
def system_directory() -> str:
    """This system's System32 (GetSystemDirectoryW: not from the environment, which the caller
    controls)."""
    import ctypes

    buffer = ctypes.create_unicode_buffer(300)
    length = ctypes.windll.kernel32.GetSystemDirectoryW(buffer, 300)
    if not 0 < length < 300:
        raise OSError(0, "GetSystemDirectoryW failed")
    return buffer.value


def shown(argv: list[str]) -> str:
    """A command as a user would type it: the program's name without its directory."""
    name = argv[0].replace("\\", "/").rsplit("/", 1)[-1]
    return " ".join([name.removesuffix(".exe").removesuffix(".com")] + [
        f'"{a}"' if " " in a else a for a in argv[1:]])


class Commands:
    """Windows' tools under one System32 directory, run through a Source."""

    def __init__(self, source, system32: str, codepage: int | str | None, separator: str = "\\"):
        self.source, self.system32, self.codepage, self.separator = source, system32, codepage, separator
        self._cache: dict[tuple[str, ...], str | Unknown] = {}

    @classmethod
    def native(cls, source) -> Commands:
        """On Windows: System32 as the system names it, the console's code page."""
        try:
            system32 = source.call("windows.system32", system_directory)
        except OSError:
            system32 = SYSTEM32
        return cls(source, system32, CONSOLE)

    @classmethod
    def interop(cls, source) -> Commands | Unknown:
        """From inside WSL2: the Windows tools under /mnt/c, decoded by the code page chcp.com
        reports (Unknown when interop cannot run them)."""
        from netwarden.platform.parse.windows.codepage import parse_chcp

        commands = cls(source, WSL_SYSTEM32, None, "/")
        try:
            if not source.exists(commands.path("netsh.exe")):
                return Unknown(f"{commands.path('netsh.exe')} does not exist")
        except OSError as e:
            return Unknown(f"{commands.path('netsh.exe')}: {e.strerror or e}")
        answer = commands.text("chcp.com")
        commands.codepage = parse_chcp(answer) if isinstance(answer, str) else None
        return commands

    def path(self, program: str) -> str:
        return f"{self.system32}{self.separator}{program}"

    def argv(self, program: str, *args: str) -> list[str]:
        return [self.path(program), *args]

    def run(self, program: str, *args: str, timeout: float = TIMEOUT) -> CommandResult:
        """The command's result, exit code unchecked (a `set` command's caller classifies it);
        OSError when it cannot be run at all."""
        return self.source.run(self.argv(program, *args), timeout=timeout, codepage=self.codepage)

    def text(self, program: str, *args: str) -> str | Unknown:
        """What a read-only command printed, when it exited 0 (asked once per collection)."""
        key = (program, *args)
        if key not in self._cache:
            self._cache[key] = self._text(program, *args)
        return self._cache[key]

    def forget(self) -> None:
        """Ask again next time (after a change, to read it back)."""
        self._cache.clear()

    def _text(self, program: str, *args: str) -> str | Unknown:
        command = shown(self.argv(program, *args))
        try:
            result = self.run(program, *args)
        except OSError as e:
            return Unknown(f"`{command}`: {e.strerror or e}")
        except ValueError as e:  # an argv the Source refuses (a NUL): a bug upstream, said plainly
            return Unknown(f"`{command}`: {e}")
        if result.returncode != 0:
            said = " ".join((result.stdout.strip() or result.stderr.strip()).split())[:160]
            return Unknown(f"`{command}` exited {result.returncode}" + (f": {said}" if said else ""))
        return result.stdout

    # ---- the questions ----------------------------------------------------------------------

    def dynamic_ports(self, family: str, protocol: str) -> str | Unknown:
        return self.text("netsh.exe", "interface", family, "show", "dynamicport", protocol)

    def excluded_ports(self, protocol: str) -> str | Unknown:
        return self.text("netsh.exe", "interface", "ipv4", "show", "excludedportrange", f"protocol={protocol}")

    def prefix_policies(self) -> str | Unknown:
        return self.text("netsh.exe", "interface", "ipv6", "show", "prefixpolicies")

    def subinterfaces(self) -> str | Unknown:
        return self.text("netsh.exe", "interface", "ipv4", "show", "subinterfaces")

    def tcpip_parameters(self) -> str | Unknown:
        return self.text("reg.exe", "query", TCPIP_PARAMETERS)

    def netstat(self) -> str | Unknown:
        return self.text("netstat.exe", "-ano", "-p", "tcp")

    def ipconfig(self) -> str | Unknown:
        return self.text("ipconfig.exe", "/all")

    def route_print(self) -> str | Unknown:
        return self.text("route.exe", "print")

    def events(self) -> str | Unknown:
        return self.text("wevtutil.exe", "qe", "System", f"/q:{EVENTS_QUERY}", "/f:xml", f"/c:{EVENTS_WANTED}",
                         "/rd:true")

    def version(self) -> str | Unknown:
        return self.text("cmd.exe", "/d", "/c", "ver")
