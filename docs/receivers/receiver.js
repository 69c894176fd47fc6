#!/usr/bin/env node
// A reference receiver for dockgate's events: Node.js 18 or later, no packages.
//
// It takes what a dockgate sink POSTs (one CloudEvent, or a JSON array of them), appends the
// events to events.jsonl and the request's Idempotency-Key to keys.jsonl, flushes both to
// disk, and only then answers 200. A request whose key it has stored already is answered 200
// again without storing anything: that is how a repeat (dockgate did not see the first
// answer) does no harm. An event whose id is stored already is not stored again either: a
// replay, or a batch rebuilt after a split, carries events already seen under a new key. Keys
// and ids are read back at start, so this holds across restarts; keys older than --keep-days
// are forgotten then (keep them at least as long as the site's buffer.retention, 7 days by
// default).
//
//     node receiver.js --port 8701 --state ./erp-state
//
// Answers, and what dockgate does with them (docs/integrating.md, section 2):
//   200  stored, or a repeat of a stored request   -> delivered
//   400  the body is not CloudEvents JSON           -> dead-lettered (never sent again as is)
//   503  the store failed                           -> retried later, same key
//
// GET /stats answers {"requests", "duplicates", "events"}; GET /events the stored events, in
// the order they were stored. Requests are handled one at a
// time, in arrival order (the store is appended to synchronously).
"use strict";

const fs = require("fs");
const http = require("http");
const path = require("path");

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const host = option("host", "127.0.0.1");
const port = Number(option("port", "8701"));
const state = option("state", "./receiver-state");
let failAfterStore = Number(option("fail-after-store", "0"));
const keepMs = Number(option("keep-days", "8")) * 86400000;

fs.mkdirSync(state, { recursive: true });
const keysPath = path.join(state, "keys.jsonl");
const eventsPath = path.join(state, "events.jsonl");
const keys = new Set();
if (fs.existsSync(keysPath)) {
  const kept = fs
    .readFileSync(keysPath, "utf8")
    .split("\n")
    .filter(Boolean)
    .filter((line) => JSON.parse(line).at >= Date.now() - keepMs);
  for (const line of kept) keys.add(JSON.parse(line).key);
  // Rewritten without the old keys, then renamed over: never a half-written file.
  fs.writeFileSync(keysPath + ".new", kept.map((l) => l + "\n").join(""), { flush: true });
  fs.renameSync(keysPath + ".new", keysPath);
}
const ids = new Set();
if (fs.existsSync(eventsPath)) {
  for (const line of fs.readFileSync(eventsPath, "utf8").split("\n")) {
    if (line) ids.add(JSON.parse(line).id);
  }
}
let events = ids.size;
let requests = 0;
let duplicates = 0;

function append(file, text) {
  const fd = fs.openSync(file, "a");
  try {
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function answer(res, status, body) {
  const data = JSON.stringify(body);
  res.writeHead(status, {
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(data),
  });
  res.end(data);
}

function take(key, batch) {
  requests += 1;
  if (keys.has(key)) {
    duplicates += 1;
    return false;
  }
  // Events first, then the key: after a crash between the two, the request is taken again
  // and finds its events stored by id, never lost. Your processing goes here.
  const fresh = batch.filter((e) => !ids.has(e.id));
  if (fresh.length > 0) {
    append(eventsPath, fresh.map((e) => JSON.stringify(e) + "\n").join(""));
  }
  append(keysPath, JSON.stringify({ key, at: Date.now() }) + "\n");
  keys.add(key);
  for (const e of fresh) ids.add(e.id);
  events += fresh.length;
  return true;
}

const server = http.createServer((req, res) => {
  if (req.method === "GET" && req.url === "/stats") {
    return answer(res, 200, { requests, duplicates, events });
  }
  if (req.method === "GET" && req.url === "/events") {
    const stored = fs.existsSync(eventsPath)
      ? fs.readFileSync(eventsPath, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l))
      : [];
    return answer(res, 200, stored);
  }
  if (req.method !== "POST") return answer(res, 405, { error: "POST only" });
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const key = req.headers["idempotency-key"];
    let batch;
    try {
      const parsed = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      batch = Array.isArray(parsed) ? parsed : [parsed];
      if (!key || !batch.every((e) => e && typeof e === "object" && "id" in e)) {
        throw new Error("expected CloudEvents and an Idempotency-Key");
      }
    } catch (e) {
      return answer(res, 400, { error: e.message });
    }
    let stored;
    try {
      stored = take(key, batch);
    } catch (e) {
      return answer(res, 503, { error: `store failed: ${e.message}` });
    }
    if (stored && failAfterStore > 0) {
      // Stored, but the answer is an error: what dockgate sees when a receiver commits and
      // then fails before it answers. It sends the same request again.
      failAfterStore -= 1;
      return answer(res, 503, { error: "stored, but failing on purpose (--fail-after-store)" });
    }
    answer(res, 200, { stored, events: batch.length });
  });
});

server.listen(port, host, () => {
  console.log(`receiving on http://${host}:${server.address().port}/`);
});
