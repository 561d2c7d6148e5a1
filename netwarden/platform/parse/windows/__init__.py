"""Pure parsers for the Windows commands the Windows backend (and WSL's interop) reads: text in,
typed value out, never an exception. One module per command family; nothing here imports a
POSIX-only module (these run on Windows) or reads an English word to find a value."""
