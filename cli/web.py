"""The web face from the terminal: `opsqa serve`."""

from __future__ import annotations

import click

from i18n import N_, _

from .base import State, cli, pass_state


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help=N_("The address to listen on."))
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True,
              help=N_("The port to listen on."))
@click.option("--no-scheduler", is_flag=True, help=N_("Do not run the scheduler's passes in this process."))
@click.option("--interval", type=click.FloatRange(1, 3600), default=30.0, show_default=True,
              help=N_("Seconds between the scheduler's passes."))
@click.option("--certfile", type=click.Path(exists=True, dir_okay=False), help=N_("TLS certificate (PEM)."))
@click.option("--keyfile", type=click.Path(exists=True, dir_okay=False), help=N_("TLS private key (PEM)."))
@click.option("--proxy-headers", is_flag=True,
              help=N_("Behind a reverse proxy: take the client's address from X-Forwarded-For."))
@click.option("--forwarded-allow-ips", metavar="IPS",
              help=N_("With --proxy-headers: the proxies trusted (default: this machine's)."))
@pass_state
def serve(state: State, host: str, port: int, no_scheduler: bool, interval: float, certfile: str | None,
          keyfile: str | None, proxy_headers: bool, forwarded_allow_ips: str | None):
    """Serve the web face (sign in, my tasks, forms, records), with the scheduler in the same process.

    Example: opsqa serve --host 0.0.0.0 --port 8443 --certfile cert.pem --keyfile key.pem
    """
    from web import serve as run

    if (certfile is None) != (keyfile is None):
        raise click.UsageError(_("--certfile and --keyfile go together"))
    run(state.db, host=host, port=port, scheduler=not no_scheduler, interval=interval, certfile=certfile,
        keyfile=keyfile, proxy_headers=proxy_headers, forwarded_allow_ips=forwarded_allow_ips)
