"""The status page the Administrator serves at ``/``: one HTML document, inline style and
script, nothing fetched from elsewhere.

It shows every component's state, readiness, uptime, restarts, CPU and memory
from ``/api/status``, refreshed on each event of ``/api/events`` (and every few
seconds). Clicking a component shows its last log lines; its buttons start,
stop and restart it. The token comes from the URL ``oservices ui`` prints
(``?token=``): the page keeps it for the tab's life, takes it out of the address
bar, and sends it in a header.
"""

from __future__ import annotations

__all__ = ["page"]


def page() -> bytes:
    """The page, as served."""
    return _PAGE.encode()


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>oservices</title>
<style>
  :root { color-scheme: light dark; --ok: #1a7f37; --bad: #cf222e; --wait: #9a6700;
          --line: #d0d7de; --muted: #6e7781; }
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; }
  h1 { font-size: 1.3rem; margin: 0 0 .2rem; }
  #summary { color: var(--muted); margin-bottom: 1rem; }
  #live { font-size: .8rem; padding: .1rem .4rem; border-radius: .6rem; border: 1px solid; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid var(--line); }
  th { font-weight: 600; }
  td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
  tbody tr { cursor: pointer; }
  tbody tr:hover, tbody tr.selected { background: rgba(127, 127, 127, .12); }
  .state { font-weight: 600; }
  .RUNNING { color: var(--ok); }
  .FATAL, .EXITED { color: var(--bad); }
  .STARTING, .STOPPING, .BACKOFF, .WAITING { color: var(--wait); }
  .STOPPED { color: var(--muted); }
  button { font: inherit; padding: .1rem .5rem; margin-right: .2rem; cursor: pointer; }
  #message { min-height: 1.4em; margin: .6rem 0; }
  #message.error { color: var(--bad); }
  section { margin-top: 1.2rem; }
  h2 { font-size: 1rem; margin: 0 0 .4rem; }
  pre { background: rgba(127, 127, 127, .1); padding: .6rem; max-height: 22rem;
        overflow: auto; white-space: pre-wrap; word-break: break-all; margin: 0; }
  #events { list-style: none; padding: 0; margin: 0; max-height: 12rem; overflow: auto;
            font-family: ui-monospace, monospace; font-size: .85rem; }
</style>
</head>
<body>
<h1>oservices <span id="live">connecting</span></h1>
<div id="summary">loading...</div>
<table id="components">
  <thead><tr><th>Component</th><th>State</th><th>Ready</th><th class="num">Uptime</th>
  <th class="num">Restarts</th><th class="num">CPU %</th><th class="num">Memory</th>
  <th class="num">PID</th><th>Reason</th><th></th></tr></thead>
  <tbody></tbody>
</table>
<div id="message"></div>
<section><h2 id="log-title">Log: click a component</h2><pre id="log-lines"></pre></section>
<section><h2>Events</h2><ul id="events"></ul></section>
<script>
"use strict";
const params = new URLSearchParams(location.search);
if (params.has("token")) {
  sessionStorage.setItem("oservices-token", params.get("token"));
  params.delete("token");
  const rest = params.toString();
  history.replaceState(null, "", location.pathname + (rest ? "?" + rest : ""));
}
const token = sessionStorage.getItem("oservices-token") || "";
const headers = token ? {"X-Oservices-Token": token} : {};
const tokenQuery = token ? "?token=" + encodeURIComponent(token) : "";
let selected = null;
let pending = null;

function cell(row, text, column, className) {
  const td = document.createElement("td");
  td.textContent = text;
  td.dataset.column = column;
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function duration(seconds) {
  if (seconds === null) return "-";
  const s = Math.floor(seconds), d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24;
  const m = Math.floor(s / 60) % 60;
  if (d) return d + "d " + h + "h";
  if (h) return h + "h " + m + "m";
  if (m) return m + "m " + (s % 60) + "s";
  return s + "s";
}

function memory(bytes) {
  return bytes === null ? "-" : (bytes / 1048576).toFixed(1) + " MiB";
}

function say(text, error) {
  const message = document.getElementById("message");
  message.textContent = text;
  message.className = error ? "error" : "";
}

function button(row, name, action) {
  const b = document.createElement("button");
  b.textContent = action;
  b.dataset.action = action;
  b.dataset.component = name;
  b.addEventListener("click", (event) => { event.stopPropagation(); act(name, action); });
  row.lastChild.appendChild(b);
}

function render(statuses) {
  const body = document.querySelector("#components tbody");
  body.replaceChildren();
  for (const s of statuses) {
    const row = document.createElement("tr");
    row.dataset.component = s.name;
    if (s.name === selected) row.className = "selected";
    cell(row, s.name, "name");
    cell(row, s.state, "state", "state " + s.state);
    cell(row, s.ready ? "yes" : "no", "ready");
    cell(row, duration(s.uptime), "uptime", "num");
    cell(row, String(s.restarts), "restarts", "num");
    cell(row, s.cpu_percent === null ? "-" : s.cpu_percent.toFixed(1), "cpu", "num");
    cell(row, memory(s.memory), "memory", "num");
    cell(row, s.pid === null ? "-" : String(s.pid), "pid", "num");
    cell(row, s.reason, "reason");
    cell(row, "", "actions");
    for (const action of ["restart", "stop", "start"]) button(row, s.name, action);
    row.addEventListener("click", () => { selected = s.name; showLog(); refresh(); });
    body.appendChild(row);
  }
  const ready = statuses.filter((s) => s.state === "RUNNING" && s.ready).length;
  document.getElementById("summary").textContent =
    ready + " of " + statuses.length + " components running and ready";
}

async function refresh() {
  pending = null;
  try {
    const answer = await fetch("/api/status", {headers, cache: "no-store"});
    if (!answer.ok) throw new Error((await answer.json()).error);
    render(await answer.json());
  } catch (error) {
    document.getElementById("summary").textContent = "no answer: " + error.message;
  }
}

function soon() {
  if (pending === null) pending = setTimeout(refresh, 100);
}

async function act(name, action) {
  say(action + " " + name + "...");
  try {
    const answer = await fetch("/api/components/" + encodeURIComponent(name) + "/" + action,
                               {method: "POST", headers});
    const body = await answer.json();
    if (!answer.ok) throw new Error(body.error);
    say(name + ": " + action + " done");
  } catch (error) {
    say(name + ": " + action + " refused: " + error.message, true);
  }
  soon();
}

async function showLog() {
  const title = document.getElementById("log-title");
  const lines = document.getElementById("log-lines");
  title.textContent = "Log: last lines of " + selected;
  try {
    const answer = await fetch("/api/logs/" + encodeURIComponent(selected) + "?lines=200",
                               {headers, cache: "no-store"});
    if (!answer.ok) throw new Error((await answer.json()).error);
    lines.textContent = await answer.text() || "(nothing written yet)";
    lines.scrollTop = lines.scrollHeight;
  } catch (error) {
    lines.textContent = "cannot show it: " + error.message;
  }
}

function connect() {
  const live = document.getElementById("live");
  const events = new EventSource("/api/events" + tokenQuery);
  events.onopen = () => { live.textContent = "live"; };
  events.onerror = () => { live.textContent = "reconnecting"; };
  const kinds = ["starting", "started", "ready", "exited", "restart", "fatal", "stop",
                 "reload", "message"];
  for (const kind of kinds) {
    events.addEventListener(kind, (event) => {
      const data = JSON.parse(event.data);
      const item = document.createElement("li");
      item.dataset.kind = data.kind;
      const when = new Date(data.time * 1000).toLocaleTimeString();
      item.textContent = when + " " + data.component + ": " + data.message;
      const list = document.getElementById("events");
      list.prepend(item);
      while (list.children.length > 100) list.lastChild.remove();
      soon();
      if (data.component === selected) showLog();
    });
  }
}

refresh();
connect();
setInterval(refresh, 2000);
</script>
</body>
</html>
"""
