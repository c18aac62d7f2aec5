// Fairlead console: a thin client of the REST API. The token stays in this
// tab's sessionStorage; every value from the server is inserted as text.
'use strict';

const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem('fairlead-token') || '';

async function api(path) {
  const r = await fetch(path, { headers: { Authorization: 'Bearer ' + token } });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) {
    const e = new Error((body.error && body.error.message) || ('HTTP ' + r.status));
    e.status = r.status;
    throw e;
  }
  return body;
}

function cell(tr, text, cls) {
  const td = document.createElement('td');
  td.textContent = text;
  if (cls) td.className = cls;
  tr.appendChild(td);
}

const when = (t) => (t ? new Date(t * 1000).toLocaleString() : 'never');
const show = (el, on) => { el.hidden = !on; };

async function loadDevices() {
  $('fleet-error').textContent = '';
  const sel = $('selector').value.trim();
  let url = '/api/v1/devices?limit=1000' + (sel ? '&selector=' + encodeURIComponent(sel) : '');
  const tbody = $('devices');
  tbody.replaceChildren();
  let total = 0, online = 0;
  try {
    for (;;) {
      const page = await api(url);
      for (const d of page.devices) {
        const tr = document.createElement('tr');
        cell(tr, d.id);
        cell(tr, d.state, 'state-' + d.state);
        cell(tr, d.online ? 'online' : 'offline', d.online ? 'online' : 'offline');
        cell(tr, when(d.last_seen));
        cell(tr, Object.entries(d.labels || {}).map(([k, v]) => k + '=' + v).join(', '));
        tr.addEventListener('click', () => loadDevice(d.id));
        tbody.appendChild(tr);
        total++;
        if (d.online) online++;
      }
      if (!page.next_cursor) break;
      url = '/api/v1/devices?limit=1000&cursor=' + encodeURIComponent(page.next_cursor) +
        (sel ? '&selector=' + encodeURIComponent(sel) : '');
    }
    $('summary').textContent = total + ' devices, ' + online + ' online';
  } catch (e) {
    if (e.status === 401) return signOut();
    $('fleet-error').textContent = e.message;
  }
}

async function loadDevice(id) {
  try {
    const d = await api('/api/v1/devices/' + encodeURIComponent(id));
    $('detail-title').textContent = d.id + ' (' + d.state + ', key ' + d.keyid + ')';
    $('inventory').textContent = JSON.stringify(d.inventory, null, 2);
    $('desired').textContent = JSON.stringify(d.desired, null, 2);
    $('reported').textContent = JSON.stringify(d.reported, null, 2);
    $('delta').textContent = JSON.stringify(d.twin_delta, null, 2);
    $('detail-sli').textContent = '';
    show($('detail'), true);
    const m = (await api('/api/v1/sli?since=1h&device=' + encodeURIComponent(id))).summary;
    const lat = m.latency_ms || {};
    $('detail-sli').textContent = 'last hour: ' + m.inferences + ' inferences, error ratio ' +
      num(m.error_ratio) + ', latency p50 ' + num(lat.p50) + ' ms, p99 ' + num(lat.p99) +
      ' ms, uptime ' + pct(m.uptime_ratio) + ', ' + num(m.carbon_per_inference_g) +
      ' gCO2e per inference, drift ' + m.drift_alarms + ' alarms in ' + m.drift_checks +
      ' checks, ' + m.dropped_reports + ' reports dropped by the agent';
  } catch (e) {
    $('fleet-error').textContent = e.message;
  }
}

const num = (v) => (v === null || v === undefined ? '-' : Number(v).toPrecision(4));
const pct = (v) => (v === null || v === undefined ? '-' : (100 * v).toFixed(2) + '%');
const dur = (s) => (s === null || s === undefined || s < 0 ? '-' :
  s >= 86400 ? (s / 86400).toFixed(1) + ' d' : s >= 3600 ? (s / 3600).toFixed(1) + ' h' :
  Math.round(s / 60) + ' min');

async function loadSlos() {
  $('slo-error').textContent = '';
  try {
    const { slos } = await api('/api/v1/slos');
    const tbody = $('slos');
    tbody.replaceChildren();
    for (const o of slos) {
      const d = o.definition || {}, st = o.status || {};
      const tr = document.createElement('tr');
      cell(tr, o.name);
      cell(tr, (d.sli && d.sli.kind) || '-');
      cell(tr, String(d.objective));
      cell(tr, d.period || '-');
      cell(tr, pct(st.budget_remaining), st.budget_remaining < 0 ? 'offline' : '');
      cell(tr, Object.entries(st.burn_rates || {}).map(([w, b]) => w + ' ' + num(b)).join(', '));
      cell(tr, String((o.firing || []).length), (o.firing || []).length ? 'offline' : '');
      tbody.appendChild(tr);
    }
    const { alerts } = await api('/api/v1/alerts?state=firing');
    const at = $('alerts');
    at.replaceChildren();
    for (const a of alerts) {
      const x = a.explanation || {};
      const tr = document.createElement('tr');
      cell(tr, when(a.started_at));
      cell(tr, a.slo);
      cell(tr, a.severity);
      cell(tr, a.pair);
      cell(tr, num(x.burn_rate_long) + ' / ' + num(x.burn_rate_short));
      cell(tr, pct(x.budget_spent));
      cell(tr, dur(x.time_to_exhaustion_s));
      at.appendChild(tr);
    }
    const { rollouts } = await api('/api/v1/rollouts');
    const rt = $('rollouts');
    rt.replaceChildren();
    for (const r of rollouts) {
      const tr = document.createElement('tr');
      cell(tr, r.id);
      cell(tr, r.release);
      cell(tr, r.selector);
      cell(tr, r.state);
      cell(tr, String(r.stage));
      cell(tr, r.reason || '');
      rt.appendChild(tr);
    }
  } catch (e) {
    $('slo-error').textContent = e.message;
  }
}

async function loadAudit() {
  const tbody = $('audit');
  tbody.replaceChildren();
  try {
    // the newest 50: the log is read in ascending pages, so start 50 before its head
    const head = await api('/api/v1/audit/head');
    const page = await api('/api/v1/audit?limit=50&after=' + Math.max(0, head.seq - 50));
    for (const e of page.entries.slice().reverse()) {
      const tr = document.createElement('tr');
      cell(tr, String(e.seq));
      cell(tr, when(e.ts));
      cell(tr, e.actor);
      cell(tr, e.action);
      cell(tr, e.target);
      tbody.appendChild(tr);
    }
  } catch (e) {
    $('audit-error').textContent = e.status === 403 ? 'your role may not read the audit log' : e.message;
  }
}

function signOut() {
  token = '';
  sessionStorage.removeItem('fairlead-token');
  render();
}

function render() {
  show($('login'), !token);
  show($('fleet'), !!token);
  show($('logout'), !!token);
  if (token) { loadDevices(); loadSlos(); loadAudit(); }
}

$('login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  token = $('token').value.trim();
  try {
    await api('/api/v1/devices?limit=1');
    sessionStorage.setItem('fairlead-token', token);
    $('login-error').textContent = '';
    render();
  } catch (e) {
    token = '';
    $('login-error').textContent = e.message;
  }
});
$('logout').addEventListener('click', signOut);
$('refresh').addEventListener('click', () => { loadDevices(); loadSlos(); loadAudit(); });
$('selector').addEventListener('keydown', (ev) => { if (ev.key === 'Enter') loadDevices(); });
setInterval(() => { if (token) { loadDevices(); loadSlos(); } }, 10000);
render();
