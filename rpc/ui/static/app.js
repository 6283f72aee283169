// Baton's live page: the cluster, the upgrade in progress and its history,
// read from the agent's own read routes. One long poll on the state's index
// wakes the page at every change; another follows the agent's events for
// the timeline. Everything shown comes from the network, so it is written
// as text, never as markup.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { index: 0, members: [], txn: null, txns: [], leader: "", events: [], after: 0, selected: "" };
const DENSE_AT = 200; // members from which tiles become small squares

async function get(path) {
  const resp = await fetch(path, { headers: { Accept: "application/json" } });
  if (resp.status === 404) return { body: null, index: 0 };
  if (!resp.ok) throw new Error(path + ": " + resp.status);
  return { body: await resp.json(), index: Number(resp.headers.get("X-Baton-Index") || 0) };
}

function setConn(ok, text) {
  const c = $("conn");
  c.dataset.ok = String(ok);
  c.textContent = text;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// followState long-polls the members route, which answers when the state
// moves past the index it was given, then reads the rest.
async function followState() {
  for (;;) {
    try {
      const m = await get("/v1/members?index=" + state.index + "&wait=25s");
      const [latest, list] = await Promise.all([get("/v1/upgrades/latest"), get("/v1/upgrades")]);
      state.index = Math.max(m.index, latest.index);
      state.members = m.body || [];
      state.txn = latest.body;
      state.txns = list.body || [];
      noteLeader();
      render();
      setConn(true, "live");
      await sleep(250); // let a burst of changes land before reading again
    } catch (err) {
      setConn(false, "reconnecting: " + err.message);
      await sleep(1000);
    }
  }
}

// followEvents long-polls the agent's event log for the timeline.
async function followEvents() {
  for (;;) {
    try {
      const r = await get("/v1/events?after=" + state.after + "&wait=25s");
      if (r.body) {
        state.after = r.body.next;
        for (const e of r.body.events || []) addEvent(e);
        renderTimeline();
      }
    } catch (err) {
      await sleep(1000);
    }
  }
}

function noteLeader() {
  const l = state.members.find((m) => m.leader);
  const id = l ? l.id : "";
  if (id !== state.leader) {
    const text = !state.seenLeader ? "Raft leader: " + (id || "none")
      : "Raft leadership: " + (state.leader || "none") + " \u2192 " + (id || "none");
    addEvent({ type: "leader", time: new Date().toISOString(), text, kind: "handoff" });
    state.seenLeader = true;
    state.leader = id;
  }
}

const describe = {
  "txn.start": (e) => "transaction " + e.txn + " started" + (e.version ? ", to " + e.version : ""),
  "step.begin": (e) => e.node + ": step " + (e.rollback ? "rollback " : "") + "begun (attempt " + e.attempt + ")",
  "step.complete": (e) => e.node + ": step done" + (e.version ? " at " + e.version : ""),
  "step.fail": (e) => e.node + ": step failed" + (e.error ? ": " + e.error : ""),
  "txn.pause": (e) => "transaction paused",
  "txn.resume": (e) => "transaction resumed",
  "txn.retry": (e) => "transaction retried",
  "txn.abort": (e) => "transaction aborted" + (e.rollback ? " with rollback" : ""),
  "txn.finalize": (e) => "finalized at protocol " + (e.protocol || "?"),
  "txn.finish": (e) => "transaction ended",
  "txn.note": (e) => "note" + (e.error ? ": " + e.error : ""),
  "member.join": (e) => e.node + " joined",
  "member.leave": (e) => e.node + " left",
  "member.liveness": (e) => e.node + " liveness changed",
  "leadership.gained": (e) => e.agent + " became Raft leader",
  "leadership.lost": (e) => e.agent + " lost Raft leadership",
};

function addEvent(e) {
  const f = describe[e.type];
  const text = e.text || (f ? f(e) : e.type + (e.node ? " " + e.node : ""));
  const kind = e.kind || (e.type.startsWith("leadership") ? "handoff" : e.type.startsWith("switchover") ? "handoff" : "");
  state.events.push({ time: e.time, text, kind, txn: e.txn || "" });
  if (state.events.length > 500) state.events.splice(0, state.events.length - 500);
}

function fmtTime(t) {
  if (!t || t.startsWith("0001")) return "";
  return new Date(t).toISOString().replace("T", " ").slice(0, 19) + "Z";
}

function fmtDuration(s) {
  if (!isFinite(s) || s < 0) return "";
  if (s < 90) return Math.round(s) + " s";
  if (s < 5400) return Math.round(s / 60) + " min";
  return (s / 3600).toFixed(1) + " h";
}

function fact(parent, label, value) {
  const span = document.createElement("span");
  span.append(label + " ");
  const b = document.createElement("b");
  b.textContent = value;
  span.append(b);
  parent.append(span);
}

function render() {
  renderCluster();
  renderTxn();
  renderGrid();
  renderDetail();
  renderHistory();
}

function renderCluster() {
  const c = $("cluster");
  c.replaceChildren();
  const by = {};
  for (const m of state.members) by[m.status || "unknown"] = (by[m.status || "unknown"] || 0) + 1;
  fact(c, "members", String(state.members.length));
  fact(c, "leader", state.leader || "none");
  for (const s of ["alive", "unreachable", "unknown"]) if (by[s]) fact(c, s, String(by[s]));
  if (state.txn) fact(c, "protocol", String(state.txn.protocol_version));
}

function stepOf(id) {
  const t = state.txn;
  if (!t || !t.steps) return null;
  if (!t._byNode) t._byNode = new Map(t.steps.map((s) => [s.node, s]));
  return t._byNode.get(id) || null;
}

function renderTxn() {
  const t = state.txn;
  $("txn-panel").hidden = !t;
  if (!t) return;
  $("txn-id").textContent = t.id;
  const badge = $("txn-state");
  badge.textContent = t.state;
  badge.dataset.state = t.state;
  const f = $("txn-facts");
  f.replaceChildren();
  fact(f, "target", t.target_version);
  fact(f, "strategy", t.strategy);
  fact(f, "max parallel", String(t.max_parallel));
  fact(f, "on failure", t.on_failure);
  fact(f, "created", fmtTime(t.created_at));
  if (fmtTime(t.finished_at)) fact(f, "finished", fmtTime(t.finished_at));

  const steps = t.steps || [];
  const count = (st) => steps.filter((s) => s.state === st).length;
  const done = count("done");
  const batches = steps.length ? steps[steps.length - 1].batch + 1 : 0;
  const running = steps.filter((s) => s.state === "running");
  const current = running.length ? running[0].batch + 1 : Math.min(batches, (steps.find((s) => s.state === "pending") || { batch: batches - 1 }).batch + 1);
  $("txn-bar").style.width = steps.length ? (100 * done / steps.length) + "%" : "0";
  const p = $("txn-progress");
  p.replaceChildren();
  fact(p, "done", done + "/" + steps.length);
  fact(p, "running", String(running.length));
  if (count("failed")) fact(p, "failed", String(count("failed")));
  fact(p, "batch", current + "/" + batches);
  // The rate over the steps finished so far, and what it leaves.
  const finished = steps.filter((s) => s.state === "done" && fmtTime(s.finished_at)).map((s) => Date.parse(s.finished_at));
  if (finished.length >= 2 && !["done", "aborted"].includes(t.state)) {
    const span = (Math.max(...finished) - Date.parse(t.created_at)) / 1000;
    const rate = finished.length / Math.max(span, 1);
    fact(p, "rate", (rate * 60).toFixed(1) + " steps/min");
    fact(p, "left", "~" + fmtDuration((steps.length - done) / rate));
  }
  const waiting = steps.filter((s) => s.waiting).map((s) => s.node + " waits: " + s.waiting);
  $("txn-reason").textContent = [t.reason, ...waiting].filter(Boolean).join("\n");
}

function tileState(m) {
  const s = stepOf(m.id);
  if (!s) return "idle";
  return s.state === "rolled-back" ? "rolled-back" : s.state;
}

function matches(m) {
  const fs = $("filter-state").value, fl = $("filter-status").value;
  const text = $("filter-text").value.trim();
  if (fs && tileState(m) !== fs) return false;
  if (fl && (m.status || "unknown") !== fl) return false;
  if (text) {
    if (text.includes("=")) {
      const [k, v] = text.split("=", 2);
      if (!m.labels || m.labels[k.trim()] !== v.trim()) return false;
    } else if (!m.id.includes(text)) return false;
  }
  return true;
}

const tiles = new Map(); // member id -> element, reused across renders

function renderGrid() {
  const grid = $("grid");
  grid.classList.toggle("dense", state.members.length >= DENSE_AT);
  const seen = new Set();
  let shown = 0;
  for (const m of state.members) {
    seen.add(m.id);
    let el = tiles.get(m.id);
    if (!el) {
      el = document.createElement("div");
      el.className = "tile";
      el.dataset.id = m.id;
      const id = document.createElement("div");
      id.className = "id";
      const crown = document.createElement("span");
      crown.className = "crown";
      crown.textContent = " \u2605";
      const ver = document.createElement("div");
      ver.className = "ver";
      const role = document.createElement("div");
      role.className = "role";
      el.append(id, ver, role);
      el._parts = { id, crown, ver, role };
      el.addEventListener("click", () => { state.selected = m.id; renderDetail(); });
      tiles.set(m.id, el);
      grid.append(el);
    }
    const st = tileState(m);
    el.dataset.state = st;
    el.dataset.status = m.status || "unknown";
    el.dataset.leader = String(!!m.leader);
    el._parts.id.textContent = m.id;
    el._parts.id.append(el._parts.crown);
    el._parts.ver.textContent = m.version + " \u00b7 p" + m.protocol.min + "-" + m.protocol.max;
    el._parts.role.textContent = (m.voter ? "voter" : "non-voter") + (m.role ? " \u00b7 " + m.role : "") +
      (m.status && m.status !== "alive" ? " \u00b7 " + m.status : "");
    el.title = m.id + " " + m.version + " " + st + " " + (m.status || "") + (m.leader ? " (Raft leader)" : "");
    const show = matches(m);
    el.hidden = !show;
    if (show) shown++;
  }
  for (const [id, el] of tiles) {
    if (!seen.has(id)) { el.remove(); tiles.delete(id); }
  }
  $("member-count").textContent = shown === state.members.length ? "(" + shown + ")" : "(" + shown + " of " + state.members.length + ")";
}

function renderDetail() {
  const d = $("detail");
  const m = state.members.find((x) => x.id === state.selected);
  if (!m) return;
  const s = stepOf(m.id);
  const lines = [
    m.id + "  " + m.version + "  protocol " + m.protocol.min + "-" + m.protocol.max + "  " + (m.voter ? "voter" : "non-voter") + (m.leader ? "  Raft leader" : ""),
    "http " + m.http_addr + "  raft " + m.raft_addr + "  status " + (m.status || "unknown") + (fmtTime(m.status_since) ? " since " + fmtTime(m.status_since) : ""),
  ];
  if (s) {
    lines.push("step: " + s.state + "  batch " + (s.batch + 1) + "  attempt " + s.attempt + "  " + (s.from_version || "-") + " \u2192 " + (s.to_version || "-"));
    if (s.error) lines.push("error: " + s.error);
    if (s.waiting) lines.push("waits: " + s.waiting);
  }
  d.classList.remove("muted");
  d.textContent = lines.join("\n");
}

function renderTimeline() {
  const ol = $("timeline");
  ol.replaceChildren();
  for (const e of state.events.slice(-200).reverse()) {
    const li = document.createElement("li");
    li.dataset.kind = e.kind;
    const t = document.createElement("span");
    t.className = "t";
    t.textContent = fmtTime(e.time);
    li.append(t, e.text);
    ol.append(li);
  }
}

function renderHistory() {
  const body = $("history").tBodies[0];
  body.replaceChildren();
  for (const t of [...state.txns].reverse()) {
    const tr = document.createElement("tr");
    const done = (t.steps || []).filter((s) => s.state === "done").length;
    for (const v of [t.id, t.state, t.target_version, t.strategy, done + "/" + (t.steps || []).length, fmtTime(t.created_at), fmtTime(t.finished_at)]) {
      const td = document.createElement("td");
      td.textContent = v;
      tr.append(td);
    }
    body.append(tr);
  }
}

for (const id of ["filter-state", "filter-status", "filter-text"]) $(id).addEventListener("input", renderGrid);
followState();
followEvents();
