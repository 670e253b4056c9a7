"""A tiny app for gate tests: slow to start or slow to answer, on demand (stdlib only).

python slow_app.py --port N --version V
SLOW_START=s   sleep before listening (deploy waits on health meanwhile)
SLOW_SECONDS=s GET /slow answers after this long (a smoke step waits meanwhile)
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    version_text = "dev"

    def do_GET(self) -> None:
        if self.path == "/slow":
            time.sleep(float(os.environ.get("SLOW_SECONDS", "0")))
        body = json.dumps({"status": "ok", "version": self.version_text}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--version", default="dev")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    time.sleep(float(os.environ.get("SLOW_START", "0")))
    Handler.version_text = args.version
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
