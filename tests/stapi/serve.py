"""Runs the STAPI reference server (stapi-fastapi + tests/stapi/backend.py) on 127.0.0.1.

Started by the tests with .venv-stapi's python: ``serve.py [--port N] [--token T] [--api-key K]
[--seed-orders N]``. It binds the socket itself (port 0: a free port), prints ``PORT <n>`` on the
first line of stdout, then serves until it is terminated.
"""
import argparse
import socket
import sys
from pathlib import Path

import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from backend import create_app  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default="")
    parser.add_argument("--api-key", default="")
    parser.add_argument("--seed-orders", type=int, default=0)
    args = parser.parse_args()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    app = create_app(token=args.token, api_key=args.api_key, seed=args.seed_orders)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    server.run(sockets=[sock])


if __name__ == "__main__":
    main()
