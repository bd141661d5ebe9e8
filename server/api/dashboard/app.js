/* oi-service dashboard: plain JS, no framework. Three pages behind hash routes:
 *   #/              every symbol (live from GET /v1/stream, Server-Sent Events)
 *   #/symbol/BTC    one symbol: venues, history chart, markets with their provenance
 *   #/sources       every venue's poll state
 * Endpoints that are not there yet (history, changes) degrade to "not available" / "–". */
"use strict";

// ---------- formatting for people ----------
const DASH = "–";
const SCALES = [[1e12, "tn"], [1e9, "bn"], [1e6, "m"], [1e3, "k"]];

function compact(value, digits = 2) {
  if (value === null || value === undefined || !isFinite(value)) return DASH;
  const abs = Math.abs(value);
  for (const [size, name] of SCALES) {
    if (abs >= size) return `${(value / size).toFixed(digits)} ${name}`;
  }
  return value.toFixed(abs >= 100 ? 0 : digits);
}
const usd = (v) => (v === null || v === undefined ? DASH : `${compact(v)} USD`);
function price(v) {
  if (v === null || v === undefined || !isFinite(v)) return DASH;
  const abs = Math.abs(v);
  if (abs >= 1000) return v.toLocaleString(undefined, { maximumFractionDigits: 1 });
  if (abs >= 1) return v.toLocaleString(undefined, { maximumFractionDigits: 4 });
  if (abs === 0) return "0";
  return v.toLocaleString(undefined, { maximumSignificantDigits: 4 }); // 0.0000045, not 4.5e-6
}
function rate8h(r) { // a fraction per 8 h -> "0.011 %"
  if (r === null || r === undefined || !isFinite(r)) return DASH;
  const p = r * 100;
  return `${Math.abs(p) >= 0.001 || p === 0 ? p.toFixed(3) : p.toPrecision(2)} %`;
}
const apr = (r) => (r === null || r === undefined || !isFinite(r) ? DASH : `${(r * 100).toFixed(1)} %`);
function pct(p) {
  if (p === null || p === undefined || !isFinite(p)) return DASH;
  return `${p > 0 ? "+" : ""}${p.toFixed(2)} %`;
}
const share = (part, whole) => (whole > 0 ? `${((100 * part) / whole).toFixed(1)} %` : DASH);
function localTime(ms) {
  if (!ms) return DASH;
  return new Date(ms).toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" });
}
const utc = (ms) => (ms ? new Date(ms).toISOString().replace("T", " ").replace(".000Z", " UTC").replace(/\.\d+Z$/, " UTC") : "");
function ago(ms) {
  if (!ms) return "never";
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 90) return `${s} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  return `${(s / 3600).toFixed(1)} h ago`;
}
const label = (s) => (s ? String(s).replace(/_/g, " ") : DASH);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}
const $ = (sel) => document.querySelector(sel);
async function getJSON(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" } });
  let body = null;
  try { body = await response.json(); } catch { body = null; }
  return { status: response.status, body };
}

// ---------- the live stream ----------
const state = { stats: {}, timestamp: 0, listeners: new Set() };

function connect() {
  const live = $("#live");
  if (!window.EventSource) { poll(); return; }
  const source = new EventSource("/v1/stream");
  source.addEventListener("symbols", (e) => {
    const body = JSON.parse(e.data);
    accept(body);
    live.className = "live on";
    live.textContent = `live · ${new Date(body.timestamp).toLocaleTimeString()}`;
    live.title = `snapshot ${utc(body.timestamp)}`;
  });
  source.onerror = () => { live.className = "live off"; live.textContent = "reconnecting…"; };
}
async function poll() { // browsers without EventSource: the same data every 5 s
  const { status, body } = await getJSON("/v1/symbols");
  if (status === 200) accept(body);
  setTimeout(poll, 5000);
}
function accept(body) {
  state.stats = body.data || {};
  state.timestamp = body.timestamp;
  for (const f of state.listeners) f();
}

// ---------- symbols page ----------
const COLUMNS = [
  ["symbol", (s) => s.symbol, (v) => v],
  ["total_oi_usd", (s) => s.total_oi_usd, (v) => compact(v)],
  ["exchange_count", (s) => s.exchange_count, (v) => String(v)],
  ["total_oi_coins", (s) => s.total_oi_coins, (v) => compact(v)],
  ["price_usd", (s) => s.price_usd, price],
  ["funding_8h", (s) => s.funding_8h, rate8h],
  ["funding_apr", (s) => s.funding_apr, apr],
  ["oi_1h", (s) => change(s, "1h", "oi_pct"), pct],
  ["oi_24h", (s) => change(s, "24h", "oi_pct"), pct],
  ["price_1h", (s) => change(s, "1h", "price_pct"), pct],
  ["price_24h", (s) => change(s, "24h", "price_pct"), pct],
  ["signal", (s) => change(s, "1h", "signal"), label],
  ["crowding", (s) => change(s, "1h", "crowding"), label],
];
const TEXT_KEYS = new Set(["symbol", "signal", "crowding"]);
const CHANGE_KEYS = new Set(["oi_1h", "oi_24h", "price_1h", "price_24h"]);
function change(s, window, key) {
  const w = s.changes && s.changes[window];
  return w && w[key] !== undefined ? w[key] : null;
}
const table = { sort: "total_oi_usd", dir: -1, filter: "", rows: new Map() };

function symbolRows() {
  return Object.entries(state.stats).map(([symbol, s]) => ({ ...s, symbol }));
}
function compare(a, b) {
  const col = COLUMNS.find((c) => c[0] === table.sort);
  const x = col[1](a), y = col[1](b);
  if (x === null || x === undefined) return y === null || y === undefined ? a.symbol.localeCompare(b.symbol) : 1;
  if (y === null || y === undefined) return -1;
  const order = TEXT_KEYS.has(table.sort) ? String(x).localeCompare(String(y)) : x - y;
  return order * table.dir || a.symbol.localeCompare(b.symbol);
}
function renderSymbols() {
  const tbody = $("#symbols tbody");
  const rows = symbolRows();
  const shown = rows.filter((r) => r.symbol.includes(table.filter)).sort(compare);
  const seen = new Set();
  for (const r of shown) {
    seen.add(r.symbol);
    let tr = table.rows.get(r.symbol);
    if (!tr) {
      tr = el("tr", { "data-symbol": r.symbol });
      for (const [key] of COLUMNS) tr.append(el("td", { "data-col": key, class: TEXT_KEYS.has(key) ? "text" : null }));
      table.rows.set(r.symbol, tr);
    }
    COLUMNS.forEach(([key, get, fmt], i) => {
      const td = tr.children[i];
      const value = get(r);
      let text = fmt(value);
      if (text === null || text === undefined) text = DASH;
      if (td.textContent !== text) {
        const first = td.textContent === "";
        td.textContent = "";
        if (key === "signal" || key === "crowding") {
          td.append(value ? el("span", { class: `tag ${value}`, text }) : text);
        } else td.textContent = text;
        if (CHANGE_KEYS.has(key)) td.className = value > 0 ? "up" : value < 0 ? "down" : "";
        if (!first) { td.classList.remove("flash"); void td.offsetWidth; td.classList.add("flash"); }
      }
      // the exact figure, kept current even when the rounded text shown did not change
      if (key === "total_oi_usd") {
        const exact = value === null ? "" : `${value.toLocaleString()} USD`;
        if (td.title !== exact) td.title = exact;
      }
    });
  }
  for (const [symbol, tr] of table.rows) {
    if (!seen.has(symbol)) { tr.remove(); if (!(symbol in state.stats)) table.rows.delete(symbol); }
  }
  shown.forEach((r, i) => {
    const tr = table.rows.get(r.symbol);
    if (tbody.children[i] !== tr) tbody.insertBefore(tr, tbody.children[i] || null);
  });
  const total = rows.reduce((sum, r) => sum + r.total_oi_usd, 0);
  $("#symbols-summary").textContent = rows.length
    ? `${shown.length} of ${rows.length} symbols · ${usd(total)} in total`
    : "";
  $("#symbols-empty").hidden = rows.length > 0 || !state.timestamp;
  for (const th of document.querySelectorAll("#symbols th")) {
    th.setAttribute("aria-sort", th.dataset.key === table.sort ? (table.dir > 0 ? "ascending" : "descending") : "none");
  }
}
function setupSymbols() {
  for (const th of document.querySelectorAll("#symbols th")) {
    th.addEventListener("click", () => {
      const key = th.dataset.key;
      if (table.sort === key) table.dir = -table.dir;
      else { table.sort = key; table.dir = TEXT_KEYS.has(key) ? 1 : -1; }
      renderSymbols();
    });
  }
  $("#filter").addEventListener("input", (e) => { table.filter = e.target.value.trim().toUpperCase(); renderSymbols(); });
  $("#symbols tbody").addEventListener("click", (e) => {
    const tr = e.target.closest("tr[data-symbol]");
    if (tr) location.hash = `#/symbol/${tr.dataset.symbol}`;
  });
}

// ---------- one symbol ----------
const detail = { symbol: null, markets: [], marketsAt: 0, interval: "1h", chart: null, live: [], historyOk: null, historyAt: 0 };

function card(k, v, s) {
  return el("div", { class: "card" }, el("div", { class: "k", text: k }), el("div", { class: "v", text: v }), s ? el("div", { class: "s", text: s }) : "");
}
function renderSymbolStats() {
  const s = state.stats[detail.symbol];
  const cards = $("#sym-cards");
  $("#sym-title").textContent = detail.symbol;
  if (!s) { cards.replaceChildren(card("Status", "no data", "no fresh source reports this symbol")); return; }
  $("#sym-updated").textContent = `snapshot ${localTime(state.timestamp)}`;
  $("#sym-updated").title = utc(state.timestamp);
  const m = s.by_margin || {}, t = s.by_venue_type || {};
  const ch = s.changes || {};
  const w = ch["1h"] || ch["24h"];
  cards.replaceChildren(
    card("Open interest", usd(s.total_oi_usd), `${s.exchange_count} venues`),
    card("OI in coins", compact(s.total_oi_coins), s.coins_coverage !== undefined ? `covers ${(s.coins_coverage * 100).toFixed(0)} % of USD` : ""),
    card("Price (OI-weighted)", `${price(s.price_usd)} USD`),
    card("Funding", `${rate8h(s.funding_8h)}/8 h`, `${apr(s.funding_apr)} APR`),
    card("Margin", `${share(m.stablecoin || 0, s.total_oi_usd)} stablecoin`, `${share(m.coin || 0, s.total_oi_usd)} coin-margined`),
    card("Venue type", `${share(t.cex || 0, s.total_oi_usd)} CEX`, `${share(t.dex || 0, s.total_oi_usd)} DEX`),
    card("OI / price 1 h", w ? `${pct(change(s, "1h", "oi_pct"))} / ${pct(change(s, "1h", "price_pct"))}` : DASH, w ? label(change(s, "1h", "signal")) : "changes not available"),
  );
  // live points for the chart while history is not available
  const last = detail.live[detail.live.length - 1];
  if (!last || last[0] !== state.timestamp) {
    detail.live.push([state.timestamp, s.total_oi_usd, s.price_usd]);
    if (detail.live.length > 3600) detail.live.shift();
    if (detail.historyOk === false) drawChart(liveSeries(), "live");
  }
  if (Date.now() - detail.marketsAt > 5000) loadMarkets();
  // history grows as the service records: look again now and then (sooner while there is none)
  if (detail.historyOk !== null && Date.now() - detail.historyAt > (detail.historyOk ? 60000 : 15000)) loadHistory();
}
async function loadMarkets() {
  const symbol = detail.symbol;
  detail.marketsAt = Date.now();
  const { status, body } = await getJSON(`/v1/markets?symbol=${encodeURIComponent(symbol)}`);
  if (symbol !== detail.symbol) return;
  detail.markets = status === 200 ? body.data.markets : [];
  renderVenues();
  renderMarkets();
}
function venuesOf(markets) {
  const venues = new Map();
  for (const m of markets) {
    let v = venues.get(m.source);
    if (!v) {
      v = { source: m.source, type: m.venue_type, usd: 0, coins: 0, hasCoins: false, stable: 0, coin: 0, fundingW: 0, fundingUsd: 0, markets: 0, updated: 0 };
      venues.set(m.source, v);
    }
    v.usd += m.oi_usd; v.markets += 1; v.updated = Math.max(v.updated, m.updated_at || 0);
    if (m.oi_contracts !== null && m.oi_contracts !== undefined) { v.coins += m.oi_contracts; v.hasCoins = true; }
    if (m.margin_type === "coin") v.coin += m.oi_usd; else v.stable += m.oi_usd;
    if (m.funding && m.funding.rate_8h !== null) { v.fundingW += m.funding.rate_8h * m.oi_usd; v.fundingUsd += m.oi_usd; }
  }
  return [...venues.values()].sort((a, b) => b.usd - a.usd);
}
function renderVenues() {
  const venues = venuesOf(detail.markets);
  const total = venues.reduce((s, v) => s + v.usd, 0);
  const top = venues.length ? venues[0].usd : 1;
  const bars = $("#venue-bars");
  bars.replaceChildren();
  for (const v of venues) {
    const fill = el("div", { class: `fill ${v.type}`, style: `width:${((100 * v.usd) / top).toFixed(2)}%` });
    bars.append(el("span", { class: "name", text: v.source }), el("div", { class: "track", title: `${v.usd.toLocaleString()} USD` }, fill), el("span", { class: "val", text: `${compact(v.usd)} · ${share(v.usd, total)}` }));
  }
  if (venues.length) {
    const legend = el("div", { class: "legend" }, "OI in USD:");
    legend.append(el("i", { style: "background:var(--bar)" }), "CEX", el("i", { style: "background:var(--bar2)" }), "DEX");
    bars.append(el("span"), legend, el("span"));
  }
  const tbody = $("#venues tbody");
  tbody.replaceChildren(...venues.map((v) => el("tr", { "data-source": v.source },
    el("td", { class: "text", text: v.source }),
    el("td", { class: "text", text: v.type.toUpperCase() }),
    el("td", { text: compact(v.usd), title: `${v.usd.toLocaleString()} USD` }),
    el("td", { text: share(v.usd, total) }),
    el("td", { text: v.hasCoins ? compact(v.coins) : DASH }),
    el("td", { text: v.stable ? compact(v.stable) : DASH }),
    el("td", { text: v.coin ? compact(v.coin) : DASH }),
    el("td", { text: v.fundingUsd ? rate8h(v.fundingW / v.fundingUsd) : DASH }),
    el("td", { text: String(v.markets) }),
    el("td", { class: "text", text: localTime(v.updated), title: utc(v.updated) }),
  )));
}
function renderMarkets() {
  const tbody = $("#markets tbody");
  tbody.replaceChildren(...detail.markets.map((m) => {
    const raw = m.raw ? `${m.raw.field} = ${m.raw.value} ${m.raw.unit}` : DASH;
    const p = m.price ? `${price(Number(m.price.usd))} (${m.price.kind || "?"}${m.price.base_factor ? ` ×${m.price.base_factor}` : ""})` : "not needed";
    const f = m.funding;
    return el("tr", { "data-market": `${m.source}:${m.venue_symbol}` },
      el("td", { class: "text", text: m.source }),
      el("td", { class: "text clip", text: m.venue_symbol, title: m.venue_symbol }),
      el("td", { class: "text", text: `${m.kind}${m.contract_size ? ` · ${m.contract_size}` : ""}` }),
      el("td", { class: "text", text: `${m.margin_asset} (${m.margin_type})` }),
      el("td", { class: "text", text: raw, title: m.raw ? `${m.raw.field}: ${m.raw.value} (${m.raw.unit})` : "" }),
      el("td", { class: "text", text: label(m.convention) }),
      el("td", { text: m.oi_contracts === null || m.oi_contracts === undefined ? DASH : compact(m.oi_contracts, 3) }),
      el("td", { text: compact(m.oi_usd), title: `${m.oi_usd.toLocaleString()} USD` }),
      el("td", { text: p }),
      el("td", { text: f ? `${(f.rate * 100).toFixed(4)} %/${f.interval_hours} h` : DASH }),
      el("td", { text: f ? rate8h(f.rate_8h) : DASH }),
      el("td", { text: f ? apr(f.apr) : DASH }),
      el("td", { class: "text", text: localTime(m.updated_at), title: utc(m.updated_at) }),
    );
  }));
}

// ---------- the chart (uPlot) ----------
const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
function liveSeries() {
  return [detail.live.map((p) => p[0] / 1000), detail.live.map((p) => p[1]), detail.live.map((p) => p[2])];
}
function drawChart(data, kind) {
  const box = $("#chart");
  const width = Math.max(260, box.clientWidth || 600);
  if (detail.chart && detail.chart.kind === kind) {
    detail.chart.plot.setData(data);
    return;
  }
  if (detail.chart) detail.chart.plot.destroy();
  box.replaceChildren();
  if (!window.uPlot) { box.textContent = "chart library not loaded"; return; }
  const grid = { stroke: css("--line"), width: 1 };
  const axis = { stroke: css("--muted"), grid, ticks: grid };
  const plot = new uPlot({
    width, height: 300,
    series: [
      { value: (u, v) => (v === null ? DASH : localTime(v * 1000)) },
      { label: "OI (USD)", stroke: css("--bar"), width: 2, scale: "oi", value: (u, v) => usd(v), spanGaps: false },
      { label: "Price (USD)", stroke: css("--bar2"), width: 1.5, scale: "px", value: (u, v) => price(v), spanGaps: false },
    ],
    axes: [
      { ...axis, values: timeTicks, space: 90 },
      { ...axis, scale: "oi", values: (u, vals, i, space, incr) => scaledTicks(vals, incr), size: 75 },
      { ...axis, scale: "px", side: 1, grid: { show: false }, values: (u, vals) => vals.map(price), size: 70 },
    ],
    scales: { x: { time: true } },
    legend: { live: true },
  }, data, box);
  detail.chart = { plot, kind };
}
function scaledTicks(vals, incr) { // "35.372 bn": as many decimals as the tick step needs
  const top = Math.max(...vals.map(Math.abs));
  const [size] = SCALES.find(([sz]) => top >= sz) || [1];
  const decimals = Math.min(6, Math.max(0, Math.ceil(-Math.log10(incr / size) - 1e-9)));
  return vals.map((v) => compact(v, decimals));
}
function timeTicks(u, vals) { // local time; dates once the chart spans more than two days
  const span = vals.length > 1 ? vals[vals.length - 1] - vals[0] : 0;
  const opts = span > 2 * 86400 ? { month: "short", day: "numeric" }
    : span > 600 ? { hour: "2-digit", minute: "2-digit" } : { hour: "2-digit", minute: "2-digit", second: "2-digit" };
  return vals.map((v) => new Date(v * 1000).toLocaleString(undefined, opts));
}
async function loadHistory() {
  const symbol = detail.symbol;
  detail.historyAt = Date.now();
  for (const b of document.querySelectorAll("#intervals button")) b.classList.toggle("active", b.dataset.interval === detail.interval);
  const range = Number($("#range").value);
  let url = `/v1/history?symbol=${encodeURIComponent(symbol)}&interval=${detail.interval}&limit=1000`;
  if (range > 0) url += `&start=${Date.now() - range}`;
  let status = 0, body = null;
  try { ({ status, body } = await getJSON(url)); } catch { status = 0; }
  if (symbol !== detail.symbol) return;
  const note = $("#history-note");
  if (status === 200 && body && body.data && Array.isArray(body.data.candles)) {
    detail.historyOk = true;
    const c = body.data.candles;
    note.textContent = c.length ? `${c.length} candles of ${detail.interval}` : "nothing recorded in this range yet";
    drawChart([c.map((x) => x.t / 1000), c.map((x) => x.oi_usd.c), c.map((x) => x.price_usd)], "history");
  } else {
    detail.historyOk = false;
    const why = body && body.error ? body.error.message : `HTTP ${status}`;
    note.textContent = `history not available (${why}); showing live figures since this page opened`;
    note.title = why;
    drawChart(liveSeries(), "live");
  }
}
function setupSymbol() {
  for (const b of document.querySelectorAll("#intervals button")) {
    b.addEventListener("click", () => { detail.interval = b.dataset.interval; loadHistory(); });
  }
  $("#range").addEventListener("change", loadHistory);
  window.addEventListener("resize", () => { if (detail.chart) detail.chart.plot.setSize({ width: Math.max(260, $("#chart").clientWidth), height: 300 }); });
}
function openSymbol(symbol) {
  if (detail.symbol !== symbol) {
    if (detail.chart) { detail.chart.plot.destroy(); detail.chart = null; }
    Object.assign(detail, { symbol, markets: [], marketsAt: 0, live: [], historyOk: null, historyAt: 0 });
    $("#venue-bars").replaceChildren();
    $("#venues tbody").replaceChildren();
    $("#markets tbody").replaceChildren();
    $("#history-note").textContent = "";
  }
  renderSymbolStats();
  loadMarkets();
  loadHistory();
}

// ---------- sources ----------
let sourcesTimer = null;
async function loadSources() {
  clearTimeout(sourcesTimer);
  const { status, body } = await getJSON("/v1/sources");
  if (status === 200) renderSources(body);
  if (route().page === "sources") sourcesTimer = setTimeout(loadSources, 2000);
}
function renderSources(body) {
  const entries = Object.entries(body.data);
  const counts = {};
  for (const [, s] of entries) counts[s.state] = (counts[s.state] || 0) + 1;
  $("#sources-summary").textContent = `${entries.length} sources · ` + ["ok", "degraded", "stale", "down"].filter((k) => counts[k]).map((k) => `${counts[k]} ${k}`).join(", ");
  $("#sources tbody").replaceChildren(...entries.map(([name, s]) => el("tr", { "data-source": name, "data-state": s.state, class: s.state === "stale" || s.state === "down" ? "alert" : null },
    el("td", { class: "text", text: name }),
    el("td", { class: "text" }, el("span", { class: `tag state ${s.state}`, text: s.state })),
    el("td", { class: "text", text: s.last_success ? `${ago(s.last_success)} · ${localTime(s.last_success)}` : "never", title: utc(s.last_success) }),
    s.last_error ? el("td", { class: "err", text: s.last_error, title: `${s.last_error}\n${utc(s.last_error_at)}` }) : el("td", { class: "text muted", text: DASH }),
    el("td", { text: String(s.consecutive_failures) }),
    el("td", { text: String(s.markets) }),
    el("td", { text: String(s.rows_skipped) }),
    el("td", { text: s.last_poll_duration_ms === null ? DASH : `${s.last_poll_duration_ms} ms` }),
    el("td", { text: String(s.readings_rejected) }),
    el("td", { text: `${Number(s.poll_interval_s.toFixed(1))} s` }),
  )));
}

// ---------- routing ----------
function route() {
  const hash = location.hash || "#/";
  const m = hash.match(/^#\/symbol\/([A-Za-z0-9]{1,20})$/);
  if (m) return { page: "symbol", symbol: m[1].toUpperCase() };
  if (hash === "#/sources") return { page: "sources" };
  return { page: "symbols" };
}
function show() {
  const r = route();
  for (const p of ["symbols", "symbol", "sources"]) $(`#page-${p}`).hidden = p !== r.page;
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.nav === (r.page === "sources" ? "sources" : "symbols"));
  document.title = r.page === "symbol" ? `${r.symbol} · open interest` : r.page === "sources" ? "Sources · open interest" : "Open interest";
  if (r.page === "symbols") renderSymbols();
  else if (r.page === "symbol") openSymbol(r.symbol);
  else loadSources();
}
state.listeners.add(() => {
  const r = route();
  if (r.page === "symbols") renderSymbols();
  else if (r.page === "symbol" && detail.symbol === r.symbol) renderSymbolStats();
});
setupSymbols();
setupSymbol();
window.addEventListener("hashchange", show);
show();
connect();
