"""``paysync sandbox``: run the local stand-ins for Wise, Xero and ConnectWise (needs the dev tools)."""

from __future__ import annotations

import click

from paysync.cli import devtools


@click.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8765, show_default=True, type=int)
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for the deterministic data.")
@click.option("--scale", default=1.0, show_default=True, type=float, help="Virtual seconds per real second.")
@click.option("--lenient", is_flag=True,
              help="Relax the real providers' rules (Xero scopes and redirect URIs, Wise webhook URLs) for local "
                   "experiments; strict is the default, and what the suite and the demo use.")
def command(host: str, port: int, seed: int, scale: float, lenient: bool) -> None:
    """Serve the sandbox APIs and its control API (/_sandbox) on HOST:PORT."""
    if not host.startswith("127.") and host not in ("localhost", "::1"):
        raise click.BadParameter("the sandbox serves on loopback only", param_hint="--host")
    server = devtools.load("paysync_dev.sandbox.server")
    mode = "lenient" if lenient else "strict"
    click.echo(f"sandbox on http://{host}:{port} (seed {seed}, scale {scale}, {mode})", err=True)
    server.serve(host=host, port=port, seed=seed, scale=scale, lenient=lenient)
