"""The messages that cross a process boundary, as msgspec Structs: both sides encode and decode through them.

`keeper`: server and session side <-> keeper (both sides decode and encode through it). `sessions`: the
session side's redemption and failure report (the server's routes still declare them with pydantic; a
test keeps both equal). `errors`: the error body every sealbox process answers with.
Each Struct is frozen and refuses unknown fields; `decode()` turns any malformed body into one
`ProtocolError` (no detail of the body in it), which each side answers or raises as its own 4xx.
This package imports only the standard library and msgspec (an import-linter contract says so).
"""
