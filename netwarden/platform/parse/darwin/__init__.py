"""Pure parsers for what the macOS backend and daemon read: command outputs (text in, typed value
out) and kernel buffers (PF_ROUTE messages, struct xucred). One module per command family.

Every parser takes any text (or bytes) and never raises: it returns what it could read, None or
an empty result when nothing sensible is there. Nothing here imports a Linux-only module, and the
package __init__ imports nothing, so the backend pays only for the modules it uses.
"""
