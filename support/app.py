"""The FastAPI application: routers, middleware, error handlers and the chosen adapters."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text

from support import __version__
from support.adapters.ports import SearchIndex
from support.auth.router import router as auth_router
from support.config import Settings
from support.console import install as install_console
from support.db import make_engine, make_session_factory, transaction
from support.http import RequestContextMiddleware, install_error_handlers
from support.ivr.ports import IvrPorts
from support.ivr.router import IvrRuntime
from support.ivr.router import router as ivr_router
from support.ivr.setup import IvrSetup
from support.kb.indexing import catch_up as kb_catch_up
from support.kb.router import router as kb_router
from support.lifecycle.router import router as privacy_router
from support.mail.outbound_router import router as outbound_router
from support.mail.router import router as inbox_router
from support.migrations import current_heads
from support.tickets.complaint_router import router as complaints_router
from support.tickets.policy import default_policy_dir, load_policies
from support.tickets.report_router import router as reports_router
from support.tickets.router import router as tickets_router

log = logging.getLogger(__name__)


@dataclass
class Adapters:
    """The outside systems the app talks to, chosen once at start."""

    search: SearchIndex
    ivr: IvrPorts | None = None


def build_adapters(settings: Settings) -> Adapters:
    """Choose real adapters from the settings."""
    if settings.search_url:
        from support.adapters.search_elastic import ElasticSearchIndex

        return Adapters(search=ElasticSearchIndex(settings.search_url))
    from support.adapters.search_sqlite import SqliteSearchIndex

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return Adapters(search=SqliteSearchIndex(settings.search_index_path))


def default_ivr_ports(search: SearchIndex) -> IvrPorts:
    """Return the IVR's FAQ answers and voicemail tickets over the chosen search index."""
    from support.ivr.faq import KbFaqAnswers
    from support.ivr.voicemail import TicketVoicemailSink

    return IvrPorts(faq=KbFaqAnswers(search), voicemail=TicketVoicemailSink())


def create_app(settings: Settings | None = None, adapters: Adapters | None = None) -> FastAPI:
    """Build the application; nothing touches the network or disk until it starts serving."""
    settings = settings or Settings()
    engine = make_engine(settings.resolved_database_url)
    chosen = adapters or build_adapters(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        _catch_up_search(app)
        yield
        chosen.search.close()
        engine.dispose()

    app = FastAPI(
        title="support",
        version=__version__,
        description="ふるさと納税の問い合わせ・苦情対応を支えるコンタクトセンター基盤の API",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)
    app.state.adapters = chosen
    # Policies are validated at start: a typo in a municipality's rules stops the app here.
    app.state.policies = load_policies(settings.policy_dir or default_policy_dir())
    app.state.ivr = IvrRuntime(
        IvrSetup.from_settings(settings, app.state.policies),
        chosen.ivr or default_ivr_ports(chosen.search),
    )
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.max_body_bytes)
    app.include_router(auth_router)
    app.include_router(tickets_router)
    app.include_router(inbox_router)
    app.include_router(outbound_router)
    app.include_router(reports_router)
    app.include_router(kb_router)
    app.include_router(complaints_router)
    app.include_router(privacy_router)
    app.include_router(ivr_router)
    install_console(app, settings)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """Say the process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    def readyz() -> JSONResponse:
        """Say whether the database (at the expected schema) and the search index answer."""
        checks: dict[str, Any] = {"database": _database_ready(engine), "search": False}
        try:
            checks["search"] = chosen.search.ping()
        except Exception:  # noqa: BLE001 - any failure means "not ready"
            log.warning("search ping failed", exc_info=True)
        ready = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not_ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    return app


def _database_ready(engine: Any) -> bool:
    try:
        with engine.connect() as conn:
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        return revision in current_heads()
    except Exception:  # noqa: BLE001 - unreachable or not migrated: not ready
        log.warning("database not ready", exc_info=True)
        return False


def _catch_up_search(app: FastAPI) -> None:
    # Index changes a crash or an unreachable engine left pending are applied before serving.
    try:
        with transaction(app.state.session_factory) as session:
            kb_catch_up(session=session, index=app.state.adapters.search)
    except Exception:  # noqa: BLE001 - serving goes on; /readyz and the worker report the rest
        log.warning("search index catch-up failed", exc_info=True)
