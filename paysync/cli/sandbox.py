"""``paysync sandbox``: run the local stand-ins for Wise, Xero and ConnectWise, and print (``env``:
write) the values to use them with (needs the dev tools)."""

from __future__ import annotations

from pathlib import Path

import click

from paysync.cli import devtools


@click.group("sandbox", invoke_without_command=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535), help="0: any free port.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for the deterministic data.")
@click.option("--scale", default=1.0, show_default=True, type=float, help="Virtual seconds per real second.")
@click.option("--lenient", is_flag=True,
              help="Relax the real providers' rules (Xero scopes and redirect URIs, Wise webhook URLs) for local "
                   "experiments; strict is the default, and what the suite and the demo use.")
@click.option("--any-host", is_flag=True,
              help="Allow a --host other than loopback (inside a container network: the compose sandbox profile).")
@click.pass_context
def command(ctx: click.Context, host: str, port: int, seed: int, scale: float, lenient: bool, any_host: bool) -> None:
    """Serve the sandbox APIs and its control API (/_sandbox) on HOST:PORT, printing the values to use them
    with (a Wise token, the Xero app and URLs, the ConnectWise login); 'paysync sandbox env' writes them."""
    if ctx.invoked_subcommand is not None:
        return
    if not any_host and not host.startswith("127.") and host not in ("localhost", "::1"):
        raise click.BadParameter("the sandbox serves on loopback only (--any-host inside a container)",
                                 param_hint="--host")
    server = devtools.load("paysync_dev.sandbox.server")
    ready = devtools.load("paysync_dev.sandbox.ready")
    mode = "lenient" if lenient else "strict"
    app = server.create_app(seed=seed, scale=scale, lenient=lenient)
    try:
        httpd = server.create_server(app, host=host, port=port)
    except OSError as exc:
        raise click.ClickException(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from None
    url = f"http://{host}:{port}"
    click.echo(f"sandbox on {url} (seed {seed}, scale {scale}, {mode})", err=True)
    click.echo(ready.describe(ready.from_app(app, url)), err=True)
    httpd.run()


@command.command("env")
@click.option("--url", default="http://127.0.0.1:8765", show_default=True, help="The running sandbox.")
@click.option("--out", "folder", default="sandbox", show_default=True, type=click.Path(file_okay=False, path_type=Path),
              help="Where to write wise.json and env.sh.")
def env(url: str, folder: Path) -> None:
    """Write the running sandbox's ready values (FOLDER/wise.json, FOLDER/env.sh) and print the step-by-step
    commands of the README that use them."""
    ready = devtools.load("paysync_dev.sandbox.ready")
    try:
        values = ready.from_url(url)
    except Exception as exc:  # noqa: BLE001 - one line naming the sandbox
        raise click.ClickException(f"no sandbox answers at {url} ({type(exc).__name__}): start it with "
                                   "'paysync sandbox --port PORT'") from None
    written = ready.write(values, folder)
    click.echo(ready.describe(values), err=True)
    click.echo(f"wrote {', '.join(str(p) for p in written)}; now, in this shell:", err=True)
    click.echo(f"source {folder}/env.sh")
    click.echo(ready.WALKTHROUGH.replace("sandbox/wise.json", f"{folder}/wise.json"), nl=False)
