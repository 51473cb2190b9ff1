"""``python -m dicomstack run``: start the whole stack, print what runs where, block until
Ctrl-C or SIGTERM, then stop every child. Crashed children are restarted meanwhile.
``python -m dicomstack routes``: the deployment routes generated from the routes table.
``python -m dicomstack token --issuer URL USER``: an access token from the local OIDC provider."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from dicomcommon.settings import DEFAULT_ROLE_PERMISSIONS
from dicomstack import deploy, oidc
from dicomstack.errors import StackError
from dicomstack.oidc import default_users
from dicomstack.settings import StackSettings, parse_replicas
from dicomstack.stack import Stack

WATCH_SECONDS = 1.0


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m dicomstack")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="start the stack and wait for Ctrl-C")
    run.add_argument(
        "--replicas",
        default=os.environ.get("REPLICAS", ""),
        help="replicas per service, e.g. stow=2,qido=2 (default: $REPLICAS, else 1 each)",
    )
    run.add_argument(
        "--auth",
        action="store_true",
        help="start a local OIDC provider and require its bearer tokens in every service",
    )
    token = commands.add_parser("token", help="print an access token of the local OIDC provider")
    token.add_argument("--issuer", required=True, help="the provider's URL (printed by run)")
    token.add_argument("user", help="a user of the provider, e.g. reader, writer, deleter, admin")
    routes = commands.add_parser(
        "routes", help="print deployment routes generated from the routes table"
    )
    routes.add_argument("--format", choices=sorted(deploy.FORMATS), default="traefik-file")
    routes.add_argument(
        "--write",
        metavar="ROOT",
        type=Path,
        help="instead, regenerate every committed deployment file under ROOT (the repository)",
    )
    return parser.parse_args(argv)


def _summary(stack: Stack) -> str:
    root = stack.gateway_url
    lines = [
        f"DICOMweb root   {stack.dicomweb_url}",
        f"WADO-URI        {root}/wado",
        f"change feed     {stack.dicomweb_url}/changefeed",
        f"gateway health  {root}/healthz",
        f"data            {stack.data_dir}",
        "",
    ]
    rows = list(stack.describe())
    width = max(len(name) for name, _, _ in rows)
    lines += [f"{name:<{width}}  {address}  log: {log}" for name, address, log in rows]
    return "\n".join([*lines, "", *_auth_banner(stack)])


def _auth_banner(stack: Stack) -> list[str]:
    """How to call the stack: without authentication (loopback only), or how to get a token."""
    if stack.oidc is None:
        return [
            f"authentication    OFF: anyone who can reach {stack.host} may read, store and "
            "delete (loopback only; make run ARGS=--auth turns it on)"
        ]
    lines = [f"authentication    ON: bearer tokens of {stack.oidc.issuer}; a token per role:"]
    for role in default_users():
        command = f"{sys.executable} -m dicomstack token --issuer {stack.oidc.issuer} {role}"
        lines.append(f"  {role:<8} ({', '.join(DEFAULT_ROLE_PERMISSIONS[role])}): {command}")
    lines.append(
        f'e.g.  curl -H "Authorization: Bearer $({sys.executable} -m dicomstack token '
        f'--issuer {stack.oidc.issuer} reader)" {stack.dicomweb_url}/studies'
    )
    return lines


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _watch(stack: Stack) -> None:
    """Keep the stack up until interrupted: restart any child that exits on its own."""
    while True:
        time.sleep(WATCH_SECONDS)
        try:
            for name in stack.restart_crashed():
                print(f"dicomstack: {name} had exited; restarted", file=sys.stderr)
        except StackError as exc:
            print(f"dicomstack: restart failed: {exc}", file=sys.stderr)


def run(replicas: str, auth: bool) -> int:
    try:
        settings = StackSettings()
        if replicas:
            settings = settings.model_copy(update={"replicas": parse_replicas(replicas)})
        if auth:
            settings = settings.model_copy(update={"auth": True})
        stack = Stack(settings)
    except ValueError as exc:
        print(f"dicomstack: {exc}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        print("dicomstack: starting…", flush=True)
        stack.start()
        if stack.reaped:
            print(f"dicomstack: stopped leftovers of a previous run: {', '.join(stack.reaped)}")
        print(_summary(stack), flush=True)
        print("dicomstack: running; Ctrl-C stops everything", flush=True)
        _watch(stack)
    except StackError as exc:
        print(f"dicomstack: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ndicomstack: stopping…", flush=True)
    finally:
        stack.stop()
    print("dicomstack: stopped", flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _arguments(argv)
    if arguments.command == "run":
        return run(arguments.replicas, arguments.auth)
    if arguments.command == "token":
        print(oidc.fetch_token(arguments.issuer, arguments.user))
        return 0
    if arguments.command == "routes":
        if arguments.write is not None:
            print("\n".join(deploy.write(arguments.write)))
        else:
            sys.stdout.write(deploy.FORMATS[arguments.format]())
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
