"""`opsqa serve`: the web face on uvicorn, with the scheduler's passes in the same process unless told not
to — one command runs the whole system on one machine; on PostgreSQL several may run side by side."""

from __future__ import annotations

import logging

import usecases


def serve(db: str | None, *, host: str = "127.0.0.1", port: int = 8080, scheduler: bool = True,
          interval: float = 30.0, certfile: str | None = None, keyfile: str | None = None,
          proxy_headers: bool = False, forwarded_allow_ips: str | None = None) -> None:
    """Serve until SIGINT/SIGTERM. Behind a reverse proxy, the forwarded client address is trusted only
    with `proxy_headers`, and only from `forwarded_allow_ips` (default: the proxy on this machine)."""
    import uvicorn

    from .app import create_app

    engine = usecases.open_engine(db)
    passes = usecases.scheduling.background(db, interval=interval) if scheduler else None
    app = create_app(engine, secure=certfile is not None, health=passes.status if passes else None)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = config(app, host=host, port=port, certfile=certfile, keyfile=keyfile, proxy_headers=proxy_headers,
                      forwarded_allow_ips=forwarded_allow_ips)
    try:
        if passes is not None:
            passes.start()
        uvicorn.Server(settings).run()
    finally:
        if passes is not None:
            passes.stop()
        engine.close()


def config(app, *, host: str = "127.0.0.1", port: int = 8080, certfile: str | None = None,
           keyfile: str | None = None, proxy_headers: bool = False, forwarded_allow_ips: str | None = None):
    """uvicorn's settings: without `proxy_headers` no forwarded address is believed (uvicorn would trust one
    from this machine by default); with it, only from `forwarded_allow_ips`, by default this machine's."""
    import uvicorn

    return uvicorn.Config(app, host=host, port=port, ssl_certfile=certfile, ssl_keyfile=keyfile,
                          proxy_headers=proxy_headers,
                          forwarded_allow_ips=(forwarded_allow_ips or "127.0.0.1,::1") if proxy_headers else None,
                          server_header=False, log_config=None, access_log=True)
