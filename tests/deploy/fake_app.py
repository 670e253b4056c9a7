"""A tiny stdlib HTTP app for the process-driver tests: `python fake_app.py --port N --version V`.

The version picks the behaviour, like the Docker test images: "bad…" answers 503 on /health,
"crash…" exits 1 after half a second, "slow…" listens only after 2 s, "hang…" never listens;
anything else is healthy. "/" answers "version <V>".
"""

from __future__ import annotations

import argparse
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--version", required=True)
    args = parser.parse_args()
    version = args.version
    print(f"fake app {version} starting", flush=True)
    if version.startswith("crash"):
        time.sleep(0.5)
        print("fatal: cannot reach the database", flush=True)
        sys.exit(1)
    if version.startswith("slow"):
        time.sleep(2)
    if version.startswith("hang"):
        time.sleep(3600)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/health" and version.startswith("bad"):
                self.send_response(503)
                body = b"database down\n"
            else:
                self.send_response(200)
                body = f"version {version}\n".encode()
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt: str, *a: object) -> None:
            pass

    ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
