"""Standalone sandbox: ``python -m plugin.sandbox --port 8642 --speed 3600 --seed 1 --state FILE``.

The first line on stdout is ``listening on http://127.0.0.1:PORT`` so a parent process can learn the port.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from .core import DEFAULT_START, parse_time
from .server import DEFAULT_DIALECTS, SandboxServer, check_loopback


def _setting(text: str):
    if "=" not in text:
        raise argparse.ArgumentTypeError("expected KEY=VALUE")
    key, value = text.split("=", 1)
    for convert in (int, float):
        try:
            return key, convert(value)
        except ValueError:
            pass
    return key, value


def _host(text: str) -> str:
    try:
        return check_loopback(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m plugin.sandbox",
        description="Offline simulator of the UP42 and Planet tasking APIs on 127.0.0.1 "
        "(run from the repo root).",
    )
    parser.add_argument(
        "--host",
        type=_host,
        default="127.0.0.1",
        help="address to bind; only an IPv4 loopback address (127.x.x.x or localhost) is accepted "
        "(default 127.0.0.1)",
    )
    parser.add_argument("--port", type=int, default=8642, help="TCP port; 0 picks a free one (default 8642)")
    parser.add_argument(
        "--port-file", metavar="PATH", help="write the bound port to PATH (atomically) once listening"
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="simulated seconds per real second; 0 freezes the clock between explicit "
        "POST /_sandbox/clock advances (default 1)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=1,
        help="seed of every random outcome (cloud cover, feasibility, failures); same seed and "
        "same requests give the same responses (default 1)",
    )
    parser.add_argument(
        "--start",
        type=parse_time,
        default=DEFAULT_START,
        help=f"simulated start time, ISO 8601 (default {DEFAULT_START.isoformat()})",
    )
    parser.add_argument(
        "--state",
        metavar="FILE",
        help="JSON state file: loaded at start if present, rewritten atomically after changes "
        "and at stop (default: in memory only)",
    )
    parser.add_argument(
        "--dialect",
        action="append",
        choices=DEFAULT_DIALECTS,
        help="provider dialect to serve; repeatable (default: all)",
    )
    parser.add_argument(
        "--setting",
        action="append",
        type=_setting,
        default=[],
        metavar="KEY=VALUE",
        help="override a world setting, e.g. up42_token_lifetime=300, up42_failure_rate=0.05, "
        "planet_max_active_orders=20; repeatable",
    )
    parser.add_argument("--log-level", default="WARNING", help="logging level on stderr (default WARNING)")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    # Only the sandbox's own logger: this entry point must not reconfigure logging globally.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    package_logger = logging.getLogger(__package__)
    package_logger.addHandler(handler)
    package_logger.setLevel(args.log_level.upper())
    server = SandboxServer(
        port=args.port,
        seed=args.seed,
        speed=args.speed,
        start=args.start,
        state_file=args.state,
        host=args.host,
        dialects=args.dialect,
        settings=dict(args.setting),
    )
    server.start()
    sys.stdout.write(f"listening on {server.base_url}\n")
    sys.stdout.flush()
    if args.port_file:
        tmp = args.port_file + ".part"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(str(server.port))
        os.replace(tmp, args.port_file)

    def _terminate(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    server.serve_until_interrupted()
    return 0


if __name__ == "__main__":
    sys.exit(main())
