"""The messages that cross a process boundary, as msgspec Structs: both sides encode and decode through them.

`keeper`: server and session side <-> keeper (both sides decode and encode through it). `sessions`: the
session side's redemption and failure report (the server's routes decode and encode them too).
Requests of the API: `session_api` (what a person or a service sends to create a session or a
credential), `secret_api`, `sharing_api`, `account_api` (every other request body: a secret, a grant, a
group or project, a token, a user), and `api_fields`, the values those are made of. They state the
domain's rules (its patterns and bounds, from its own constants), so they import the domain: the server's
routes decode them (server/bodies.py), the SDK's `Client` encodes them and loads them only when a method
is called; `sealbox run` never loads them.
Answers of the API: `secret_answers`, `session_answers`, `sharing_answers`, `account_answers`,
`audit_api` (/api/v1/audit), `health_api` (/healthz, /readyz). The server encodes them, the SDK's
`Client` and the CLI decode them; they import only msgspec and the standard library.
The OpenAPI document is generated from these same Structs.
`errors`: the error body every sealbox process answers with.
Each request Struct is frozen and refuses unknown fields; an answer (`base.Answer`) is frozen and lets a
client skip a field it does not know (a newer server may answer with more). `decode()` and
`decode_answer()` turn any malformed body into one `ProtocolError` (no detail of the body in it), which
each side answers or raises as its own 4xx (the server) or ClientError (a client).
This package imports only the standard library and msgspec, the requests also the domain (import-linter
contracts say so).
"""
