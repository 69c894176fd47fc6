#!/usr/bin/env python3
"""A reference receiver for dockgate's events: Python 3, standard library only.

It takes what a dockgate sink POSTs (one CloudEvent, or a JSON array of them), stores the
events and the request's Idempotency-Key in one SQLite transaction, and only then answers
200. A request whose key it has stored already is answered 200 again without storing
anything: that is how a repeat (dockgate did not see the first answer) does no harm.

    python3 receiver.py --port 8701 --state ./erp-state

Answers, and what dockgate does with them (docs/integrating.md, section 2):
  200  stored, or a repeat of a stored request      -> delivered
  400  the body is not CloudEvents JSON              -> dead-lettered (never sent again as is)
  503  the store failed                              -> retried later, same key

GET /stats answers {"requests", "duplicates", "events"}; GET /events the stored events, in the
order they were stored. Keys older than --keep-days are
forgotten (keep them at least as long as the site's buffer.retention, 7 days by default).
"""

import argparse
import json
import sqlite3
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class Store:
    """Events and keys in one SQLite file; one writer at a time."""

    def __init__(self, path, keep_days):
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS keys (key TEXT PRIMARY KEY, at REAL NOT NULL)")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS events (id TEXT PRIMARY KEY, subject TEXT,"
            " sequence INTEGER, type TEXT, body TEXT NOT NULL)")
        self.lock = threading.Lock()
        self.keep = keep_days * 86400
        self.requests = 0
        self.duplicates = 0

    def take(self, key, events):
        """Stores `events` under `key`; False when the key was stored before."""
        with self.lock:
            self.requests += 1
            self.db.execute("BEGIN IMMEDIATE")
            try:
                self.db.execute("DELETE FROM keys WHERE at < ?", (time.time() - self.keep,))
                if self.db.execute("SELECT 1 FROM keys WHERE key = ?", (key,)).fetchone():
                    self.db.execute("ROLLBACK")
                    self.duplicates += 1
                    return False
                self.db.execute("INSERT INTO keys VALUES (?, ?)", (key, time.time()))
                for e in events:
                    # Your processing goes here, inside the transaction.
                    self.db.execute(
                        "INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?, ?)",
                        (e["id"], e.get("subject"), int(e.get("sequence", 0)), e.get("type"),
                         json.dumps(e, separators=(",", ":"))))
                self.db.execute("COMMIT")
                return True
            except BaseException:
                self.db.execute("ROLLBACK")
                raise

    def events(self):
        with self.lock:
            return [json.loads(b) for (b,) in
                    self.db.execute("SELECT body FROM events ORDER BY rowid")]

    def stats(self):
        with self.lock:
            (n,) = self.db.execute("SELECT count(*) FROM events").fetchone()
            return {"requests": self.requests, "duplicates": self.duplicates, "events": n}


def handler(store, fail_after_store):
    failures = {"left": fail_after_store}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def answer(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/stats":
                self.answer(200, store.stats())
            elif self.path == "/events":
                self.answer(200, store.events())
            else:
                self.answer(404, {"error": "not found"})

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            key = self.headers.get("Idempotency-Key")
            try:
                parsed = json.loads(body)
                events = parsed if isinstance(parsed, list) else [parsed]
                if not key or not all(isinstance(e, dict) and "id" in e for e in events):
                    raise ValueError("expected CloudEvents and an Idempotency-Key")
            except ValueError as e:
                self.answer(400, {"error": str(e)})
                return
            try:
                stored = store.take(key, events)
            except sqlite3.Error as e:
                self.answer(503, {"error": f"store failed: {e}"})
                return
            if stored and failures["left"] > 0:
                # Stored, but the answer is an error: what dockgate sees when a receiver
                # commits and then fails before it answers. It sends the same request again.
                failures["left"] -= 1
                self.answer(503, {"error": "stored, but failing on purpose (--fail-after-store)"})
                return
            self.answer(200, {"stored": stored, "events": len(events)})

        def log_message(self, *args):
            pass

    return Handler


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8701)
    p.add_argument("--state", default="./receiver-state", help="directory of the store")
    p.add_argument("--keep-days", type=float, default=8)
    p.add_argument("--fail-after-store", type=int, default=0, metavar="N",
                   help="for trying repeats: answer 503 to the first N requests it stored")
    a = p.parse_args()
    Path(a.state).mkdir(parents=True, exist_ok=True)
    store = Store(str(Path(a.state) / "receiver.sqlite"), a.keep_days)
    server = ThreadingHTTPServer((a.host, a.port), handler(store, a.fail_after_store))
    print(f"receiving on http://{a.host}:{server.server_port}/", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
