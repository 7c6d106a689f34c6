"""The messages that cross a process boundary, as msgspec Structs: both sides encode and decode through them.

`keeper`: server and session side <-> keeper (both sides decode and encode through it). `sessions`: the
session side's redemption and failure report (the server's routes decode and encode them too).
`session_api`: what a person or a service sends to create a session or a credential, and the session as
the API shows it; `secret_api`, `sharing_api`, `account_api`: every other request body of the API (a
secret, a grant, a group or project, a token, a user) and what those routes answer; `api_fields`: the
values those are made of. The server's routes decode them (server/bodies.py); they state the domain's
rules, so the session side never loads them. `audit_api`, `health_api`: what /api/v1/audit, /healthz
and /readyz answer. Every answer is encoded by msgspec, and the OpenAPI document is generated from
these same Structs.
`errors`: the error body every sealbox process answers with.
Each request Struct is frozen and refuses unknown fields (an answer, `base.Answer`, is frozen and lets
a client ignore a field it does not know); `decode()` turns any malformed body into one
`ProtocolError` (no detail of the body in it), which each side answers or raises as its own 4xx.
This package imports only the standard library and msgspec, the API bodies also the domain
(import-linter contracts say so).
"""
