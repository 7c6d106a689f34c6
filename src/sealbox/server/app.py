"""`create_app(settings)`: the one place concrete stores, keys and clients are wired together."""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import timedelta
from typing import Any

import msgspec
from fastapi import FastAPI

from sealbox.config import SERVER_MAIN_PID_VAR, ServerSettings
from sealbox.errors import ConfigError
from sealbox.keeper.client import KeeperClient
from sealbox.parent_death import die_with_parent
from sealbox.server import hot, schemas
from sealbox.server.context import AppContext, Converter, PurgeSweeper
from sealbox.server.denials import DenialAudit, DenialSweeper
from sealbox.server.docs import install_docs
from sealbox.server.errors import install_error_handlers
from sealbox.server.hot_writes import WriteFront
from sealbox.server.logs import configure_logging
from sealbox.server.methods import OptionsMiddleware
from sealbox.server.metrics import Metrics
from sealbox.server.middleware import GuardMiddleware
from sealbox.server.openapi import error_answers, install_openapi
from sealbox.server.rotation_metrics import RotationProgressCollector
from sealbox.server.routes import (
    audit,
    health,
    scrape,
    secrets,
    service,
    sessions,
    sharing,
    tokens,
    usage,
    users,
)
from sealbox.server.schemas.accounts import ACCOUNT_STRUCTS
from sealbox.server.schemas.sessions import SESSION_STRUCTS
from sealbox.server.schemas.sharing import SHARING_STRUCTS
from sealbox.server.schemas.usage import USAGE_STRUCTS
from sealbox.server.slashes import relative_slash_redirects
from sealbox.server.web.oidc import OIDCLogin
from sealbox.server.web.routes import install_web
from sealbox.services.deletion import DeletionService
from sealbox.services.identity import Authenticator, IdentitySettings, OIDCSettings
from sealbox.services.keeper_port import KeeperPort
from sealbox.services.keys import ServerKeys
from sealbox.services.secrets import Limits, SecretService
from sealbox.services.sessions import SessionService
from sealbox.services.sharing import SharingService
from sealbox.store.audit_anchor import CHECKPOINT_NAME
from sealbox.store.audit_chain import install_audit_chain
from sealbox.store.database import Database

log = logging.getLogger("sealbox.server")


def _schema_field_names() -> frozenset[str]:
    """Every name a request schema or parameter defines: the only words an error may echo."""
    names: set[str] = {
        "limit",
        "cursor",
        "prefix",
        "name",
        "owner",
        "token_id",
        "session_id",
        "grantee_type",
        "grantee",
        "user",
        "all",
        "If-Match",
        "if-match",
        "authorization",
        "since",
        "secret",
        "session",
    }
    for value in vars(schemas).values():
        if isinstance(value, type) and issubclass(value, msgspec.Struct):
            names.update(value.__struct_fields__)
    return frozenset(names)


# The Structs the OpenAPI document carries (those they name come along): answers and request bodies.
DOCUMENT_STRUCTS = (
    schemas.SecretPublic,
    schemas.SecretPage,
    schemas.UnshareOut,
    schemas.DeletedSecrets,
    *SESSION_STRUCTS,
    *ACCOUNT_STRUCTS,
    *SHARING_STRUCTS,
    *USAGE_STRUCTS,
    schemas.AuditPage,
    schemas.Health,
    schemas.Ready,
    schemas.ErrorBody,
    *schemas.BODY_STRUCTS,
)

# What any API route may answer besides its own: a body too large (before it is read), too many failed
# sign-ins from the caller, the database unavailable.
ANY_ROUTE_RESPONSES: dict[int | str, dict[str, Any]] = error_answers(
    described={
        413: "the request body is too large",
        429: "too many failed attempts; see Retry-After",
        503: "the database is unavailable",
    }
)


def identity_settings(settings: ServerSettings) -> IdentitySettings:
    oidc = None
    if settings.oidc_issuer:
        if not settings.oidc_audience:
            raise ConfigError("SEALBOX_OIDC_AUDIENCE is required with SEALBOX_OIDC_ISSUER")
        oidc = OIDCSettings(
            issuer=settings.oidc_issuer,
            audience=settings.oidc_audience,
            jwks_url=settings.oidc_jwks_url,
            username_claim=settings.oidc_username_claim,
            groups_claim=settings.oidc_groups_claim,
        )
    return IdentitySettings(
        oidc=oidc,
        trusted_proxies=tuple(p for p in settings.trusted_proxies.split(",") if p.strip()),
        proxy_user_header=settings.proxy_user_header.lower(),
        failure_limit=settings.auth_failure_limit,
    )


def _lifespan(ctx: AppContext) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The background threads around the app's life: conversion, denial counts, the purge sweep."""
    db = ctx.db
    sweeper = DenialSweeper(db)
    # Sweep at least every minute, more often for a window that short (a test's).
    purger = PurgeSweeper(db, interval=min(60.0, max(0.5, ctx.settings.recovery_window_seconds / 4)))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if ctx.converter:
            ctx.converter.start()
        sweeper.start()
        purger.start()
        yield
        purger.stop()
        sweeper.stop()
        if ctx.converter:
            ctx.converter.stop()
        db.dispose()

    return lifespan


def _context(
    settings: ServerSettings, *, keeper: KeeperPort | None, convert: bool
) -> tuple[AppContext, Metrics]:
    """The worker's database, keys, services, and its metrics."""
    from sealbox.openbao.transit import install

    install()  # a master key wrapped by OpenBao Transit opens through it, or the worker does not start
    db = Database.open(settings.resolved_database_url)
    keys = ServerKeys.load(
        master_key_path=settings.resolved_master_key_path,
        keeper_public_key_path=settings.resolved_keeper_public_key_path,
        signing_key_path=settings.resolved_signing_key_path,
    )
    # The chain keys follow the master key file: a rotated audit key tags the next record, in every worker.
    install_audit_chain(db, lambda: keys.master, data_dir=settings.data_dir)
    scraper = scrape.token_digest(settings.metrics_token_path)
    metrics = Metrics(checkpoint=settings.data_dir / CHECKPOINT_NAME, token_digest=scraper)
    metrics.watch_pool(db.engine)
    keeper_port = metrics.metered_keeper(keeper or KeeperClient(settings.resolved_keeper_url))
    metrics.add_scrape_time(RotationProgressCollector(db, lambda: keys.master, keeper_port))
    ctx = AppContext(
        settings=settings,
        db=db,
        keys=keys,
        keeper=keeper_port,
        secrets=SecretService(
            db, keys, Limits(max_value_bytes=settings.max_value_bytes, versions_kept=settings.versions_kept)
        ),
        deletion=DeletionService(db, timedelta(seconds=settings.recovery_window_seconds)),
        sessions=SessionService(
            db, keys, keys.signing, keeper_port, failure_limit=settings.auth_failure_limit
        ),
        sharing=SharingService(db),
        authenticator=Authenticator(db, keys, identity_settings(settings)),
        oidc_login=OIDCLogin(settings) if settings.oidc_issuer and settings.oidc_client_id else None,
        public_keeper_url=settings.public_keeper_url or settings.resolved_keeper_url,
        converter=Converter(db, keeper_port) if convert else None,
        metrics=metrics,
    )
    return ctx, metrics


def create_app(
    settings: ServerSettings, *, keeper: KeeperPort | None = None, convert: bool = True
) -> FastAPI:
    ctx, metrics = _context(settings, keeper=keeper, convert=convert)
    app = FastAPI(
        title="sealbox",
        version="0.1.0",
        summary="Secrets for data-science sessions and jobs. Values go in and never come back out.",
        openapi_url="/api/v1/openapi.json",
        docs_url=None,  # FastAPI's page loads Swagger UI from a CDN: ours serves it from a package
        redoc_url=None,
        lifespan=_lifespan(ctx),
    )
    relative_slash_redirects(app.router)
    app.state.sealbox = ctx
    known_fields = _schema_field_names()
    install_error_handlers(app, known_fields)
    # The hot reads: one handler each, routes of the app ahead of FastAPI's (routing tries them first),
    # reached directly by ReadFront, inside the middleware below and ahead of FastAPI's own.
    reads = hot.read_routes(ctx)
    app.router.routes[:0] = reads
    # Middleware added last runs first: GuardMiddleware (headers, body limit, access log) wraps ReadFront.
    app.add_middleware(hot.ReadFront, routes=reads)
    # The hot writes (create, replace): answered ahead of FastAPI's routing by the same service calls.
    app.add_middleware(WriteFront, ctx=ctx, routes_of=app, known_fields=known_fields)
    app.add_middleware(OptionsMiddleware, routes_of=app)
    # Every API denial goes on the record.
    app.add_middleware(DenialAudit, ctx=ctx)
    app.add_middleware(
        GuardMiddleware,
        max_body_bytes=settings.max_body_bytes,
        body_read_timeout=settings.body_read_timeout,
        observe=metrics.observe,
    )
    app.include_router(health.router)
    app.include_router(scrape.router)
    for module in (secrets, sessions, sharing, service, audit, tokens, users, usage):
        app.include_router(module.router, responses=ANY_ROUTE_RESPONSES)
    app.include_router(secrets.deleted_router, responses=ANY_ROUTE_RESPONSES)
    install_openapi(
        app,
        structs=DOCUMENT_STRUCTS,
        paths=hot.openapi_paths,
    )
    install_web(app)
    install_docs(app)
    metrics.know_routes(app.routes)
    return app


def app_from_env() -> FastAPI:
    """Factory for the ASGI server processes: settings come from `SEALBOX_*` (paths only, no keys)."""
    # A worker whose granian main process was killed must not go on serving the port on its own.
    main_pid = os.environ.get(SERVER_MAIN_PID_VAR, "")
    die_with_parent(signal.SIGKILL, parent=int(main_pid) if main_pid.isdigit() else None)
    settings = ServerSettings.from_env()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings)
