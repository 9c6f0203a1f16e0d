"""`python -m devstack run` starts the local platform (what `make run` does);
`python -m devstack send ...` posts a correctly signed webhook to a running one;
`python -m devstack demo` replays a short conversation against a running one."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from devstack.local import LocalPlatform


def _tenants_from_env() -> dict[str, str | None]:
    tenants: dict[str, str | None] = {"demo": os.environ.get("LOCAL_ADMIN_KEY") or None}
    for pair in filter(None, (p.strip() for p in os.environ.get("LOCAL_TENANTS", "").split(","))):
        tenant_id, _, key = pair.partition(":")
        tenants[tenant_id.strip()] = key.strip() or None
    return tenants


class Interrupted(BaseException):
    """A signal during start-up; BaseException so no `except Exception` on the way swallows it."""


def _abandon_start(platform: LocalPlatform | None, exc: BaseException) -> int:
    """Undo a start-up that a signal or a failure cut short: 0 after a signal, 1 after a failure."""
    if isinstance(exc, Interrupted):
        if platform is not None:  # else nothing started (the signal came while importing)
            from devstack.local import log

            log("stopping during start-up", signal=str(exc))
            platform.stop()
        return 0
    from devstack.local import PortUnavailable, log

    message = str(exc) if isinstance(exc, PortUnavailable) else f"{type(exc).__name__}: {exc}"
    log("local platform could not start", level="ERROR", error=message)
    print(f"make run: {message}", file=sys.stderr, flush=True)
    if platform is not None:
        platform.stop()
    return 1


def run() -> int:
    stopped = threading.Event()
    starting = True

    def on_signal(signum: int, _frame: object) -> None:
        stopped.set()
        if starting:
            raise Interrupted(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    platform = None
    try:
        from devstack.local import LocalPlatform, log

        platform = LocalPlatform(
            aws_port=int(os.environ.get("LOCAL_AWS_PORT", "4566")),
            api_port=int(os.environ.get("LOCAL_API_PORT", "3000")),
            tenants=_tenants_from_env(),
            schedule_seconds=float(os.environ.get("LOCAL_SCHEDULE_SECONDS", "60")),
        )
        platform.start()
        starting = False
    except (Interrupted, OSError, ValueError) as exc:
        starting = False  # a second signal now only asks for what is already happening
        return _abandon_start(platform, exc)
    api = platform.api_url
    from wabot.repositories.secrets import mask

    state = platform.state_file.relative_to(platform.state_file.parent.parent)
    # Keys stay out of the console and its logs: they are in the state file (mode 600).
    print(f"""
WhatsApp bot platform, local stack
  API:           {api}
  console:       {api}/console/   (sign in with the demo admin key; print it with:
                 python3 -c 'import json; print(json.load(open("{state}"))["tenant_keys"]["demo"])')
  AWS (moto):    http://127.0.0.1:{platform.aws_port}
  outbox:        {api}/_local/outbox   (what the bot sent to the fake Graph API)
  health:        {api}/_local/health
  tenant keys:   {", ".join(f"{t}={mask(k)}" for t, k in platform.tenant_keys.items())} (in full: {state})

Try it:
  KEY=$(python3 -c 'import json; print(json.load(open("{state}"))["tenant_keys"]["demo"])')
  curl -s -X POST {api}/admin/whatsapp/instances -H "Authorization: Bearer $KEY" \\
    -H 'content-type: application/json' -d '{{"name": "Support Bot", "phone_number_id": "106540352242922",
    "access_token": "local-access-token", "app_secret": "local-app-secret", "verify_token": "local-verify-token"}}'
  .venv/bin/python -m devstack send --tenant demo --instance support-bot --secret local-app-secret --text hi
  curl -s {api}/_local/outbox
  make demo            # the same, scripted
Ctrl-C stops everything.
""", flush=True)
    log("local platform ready", api=api)
    stopped.wait()
    log("stopping")
    platform.stop()
    return 0


def send(args: argparse.Namespace) -> int:
    from devstack.client import LocalClient, text_payload
    from devstack.fakes import voice_note

    client = LocalClient(args.api)
    if args.voice:  # a voice note the fake speech-to-text service hears as this text
        media_id = client.add_inbound_media(voice_note(args.text))
        response = client.post_webhook(args.tenant, args.instance, args.secret,
                                       text_payload(args.phone_number_id, args.user, "", voice_media_id=media_id))
        status, body = response.status_code, response.text
    else:
        status, body = client.send_text(args.tenant, args.instance, args.secret, args.phone_number_id, args.text,
                                        user=args.user)
    print(status, body)
    return 0 if status == 200 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="start the local platform in the foreground")
    api_default = f"http://127.0.0.1:{os.environ.get('LOCAL_API_PORT', '3000')}"
    send_parser = commands.add_parser("send", help="post a signed text-message webhook")
    send_parser.add_argument("--api", default=api_default)
    send_parser.add_argument("--tenant", default="demo")
    send_parser.add_argument("--instance", default="support-bot")
    send_parser.add_argument("--secret", required=True, help="the instance's app secret")
    send_parser.add_argument("--phone-number-id", default="106540352242922")
    send_parser.add_argument("--user", default="16505551234", help="the WhatsApp user's phone number")
    send_parser.add_argument("--text", required=True)
    send_parser.add_argument("--voice", action="store_true",
                             help="send the text as a voice note (instances with stt_enabled transcribe it)")
    demo_parser = commands.add_parser("demo", help="replay a scripted conversation and print the replies")
    demo_parser.add_argument("--api", default=api_default)
    args = parser.parse_args(argv)
    if args.command == "run":
        return run()
    if args.command == "send":
        return send(args)
    from devstack.demo import run_demo

    return run_demo(args.api, os.environ.get("LOCAL_ADMIN_KEY"))


if __name__ == "__main__":
    sys.exit(main())
