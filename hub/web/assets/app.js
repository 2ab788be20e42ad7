// hubd status page. Plain JS, no dependencies: the gateway may have no
// internet. Data arrives as a snapshot and then as changes over /events;
// a tick every couple of seconds proves the gateway is still there.
'use strict';

const S = {
  status: null, session: null, devices: new Map(), events: [], es: null, cards: new Map(),
  contact: false, // the feed spoke within two heartbeats
  lastMsg: 0, // Date.now() of the feed's last message
  opened: false, // the feed opened once: a later open is a reconnect
  feedId: '', // names this viewer's feed to GET /api/devices (devlist.js)
  feedQuery: '', // the list query the feed was opened with
};
const $ = (id) => document.getElementById(id);

// el builds an element; text goes through textContent, never innerHTML.
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const k of kids.flat(Infinity)) {
    if (k === null || k === undefined || k === false) continue;
    e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return e;
}
// kids drops the empty entries a list of optional parts has: replaceChildren
// would print them as "null".
function kids(...list) { return list.flat(Infinity).filter(k => k !== null && k !== undefined && k !== false); }

function timeEl(ts) { return el('time', { datetime: ts || '', title: stamp(ts), 'data-ago': ts || '' }, ago(ts)); }
function bytes(n) {
  if (n === null || n === undefined) return t('gw.unknown');
  const u = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + ' ' + u[i];
}
function num(v, digits, unit) { return (+v).toFixed(digits) + ' ' + unit; }
function facts(pairs) {
  return el('dl', { class: 'kv' }, pairs.filter(p => p).map(([k, v]) => [el('dt', { text: k }), el('dd', {}, v)]));
}

// toast shows a short note inside the sticky header, where it covers no
// control.
function toast(msg) {
  const tt = $('toast');
  tt.textContent = msg;
  tt.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { tt.hidden = true; }, 4000);
}

// ---- session and login ----

async function api(method, path, body) {
  const headers = { 'Accept': 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (S.session && S.session.csrf) headers['X-CSRF-Token'] = S.session.csrf;
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
  let data = {};
  try { data = await r.json(); } catch (_) { /* empty or not JSON */ }
  return { ok: r.ok, status: r.status, data };
}

async function loadSession() {
  const before = S.session && S.session.user;
  try {
    const r = await api('GET', '/api/session');
    S.session = r.ok ? r.data : { can_view: false, can_control: false };
  } catch (_) {
    S.session = { can_view: false, can_control: false };
  }
  // The daemon restarted (or the session expired): say so, do not keep
  // showing "Signed in".
  if (before && !S.session.user) toast(t('toast.session_ended'));
  renderSession();
}

function renderSession() {
  const s = S.session || {};
  $('who').textContent = s.user ? t('who.user', { user: s.user }) : (s.can_view ? t('who.view') : '');
  $('signin').hidden = !!s.user || !s.users_configured;
  $('signout').hidden = !s.user;
  $('sync-now').hidden = !(s.can_control && S.status && S.status.controls.sync_now);
  renderAck();
  document.body.classList.toggle('can-control', !!s.can_control);
  if (!s.can_view) {
    showLogin(t('login.why_view'));
  }
  for (const id of S.order) renderDevice(id);
  if (typeof renderHomes === 'function') renderHomes();
  if (typeof renderMQTTAccounts === 'function') renderMQTTAccounts();
}

function showLogin(why) {
  $('login').hidden = false;
  $('login-why').textContent = why || t('login.why');
  $('login-cancel').hidden = !(S.session && S.session.can_view);
  $('login-user').focus();
}

async function onLogin(ev) {
  ev.preventDefault();
  const err = $('login-error');
  err.hidden = true;
  $('login-submit').disabled = true;
  try {
    const r = await api('POST', '/login', { user: $('login-user').value, password: $('login-pass').value });
    if (!r.ok) {
      err.textContent = r.status === 401 ? t('login.wrong') : r.status === 429 ? t('login.too_many') : t('login.failed', { status: r.status });
      err.hidden = false;
      return;
    }
    S.session = r.data;
    $('login-pass').value = '';
    $('login').hidden = true;
    renderSession();
    toast(t('toast.signed_in', { user: r.data.user }));
    if (!S.es || S.es.readyState === EventSource.CLOSED) connect();
  } catch (e) {
    err.textContent = t('login.no_answer');
    err.hidden = false;
  } finally {
    $('login-submit').disabled = false;
  }
}

async function onLogout() {
  await api('POST', '/logout');
  S.session = null;
  await loadSession();
  toast(t('toast.signed_out'));
  if (!S.session.can_view) { disconnect(); }
}

// ---- live feed and liveness ----

// silentAfter is how long without a message means the gateway is gone:
// two heartbeats and a second.
function silentAfter() { return 2 * ((S.status && S.status.gateway.heartbeat_ms) || 2000) + 1000; }

function heard() {
  S.lastMsg = Date.now();
  if (!S.contact) { S.contact = true; renderAll(); }
}

function lostContact() {
  if (!S.contact) return;
  S.contact = false;
  renderAll();
}

function renderLive() {
  const l = $('live');
  const connected = S.es && S.es.readyState === EventSource.OPEN;
  let on = false, text;
  if (S.contact) { on = true; text = t('live.on'); }
  else if (!S.es) text = t('live.off');
  else if (S.lastMsg) text = t('live.silent', { s: Math.round((Date.now() - S.lastMsg) / 1000) });
  else text = connected ? t('live.waiting') : t('live.connecting');
  l.className = 'live ' + (on ? 'on' : 'off');
  l.textContent = text;
}

function disconnect() {
  if (S.es) { S.es.close(); S.es = null; }
  lostContact();
  renderLive();
}

function connect() {
  if (S.es) S.es.close();
  S.feedQuery = queryString(false);
  const es = new EventSource('/events?' + S.feedQuery);
  S.es = es;
  es.onopen = () => {
    // A reopened feed may be a restarted daemon, which forgot sessions.
    if (S.opened) loadSession();
    S.opened = true;
  };
  es.onerror = () => {
    lostContact();
    renderLive();
    // A closed stream may mean the session ended: ask again.
    if (es.readyState === EventSource.CLOSED) {
      setTimeout(async () => { await loadSession(); if (S.session.can_view && S.es === es) connect(); }, 3000);
    }
  };
  const on = (name, fn) => es.addEventListener(name, (e) => { fn(JSON.parse(e.data)); heard(); });
  on('snapshot', applySnapshot);
  on('device', applyDevice);
  on('event', (e) => addEvents([e]));
  on('sections', applySections);
  on('gateway', applyGateway);
  on('tick', applyTick);
  on('list', () => loadPage());
  on('problems', (m) => { if (S.status) { S.status.problems = m.problems; renderSummary(); } });
}

function applySnapshot(st) {
  S.status = st;
  learnClock(st.gateway.now);
  S.feedId = st.feed || '';
  S.events = [];
  // Keep the cards of devices that stay, so a control in flight keeps its
  // result line and a slider being dragged is not reset.
  const empty = $('dev-list').querySelector('.notconf');
  if (empty) empty.remove();
  applyPage(Object.assign({ devices: st.devices }, st.page));
  // The list changed while the feed was (re)connecting: follow it.
  if (queryString(false) !== S.feedQuery) loadPage();
  addEvents(st.events || [], true);
  renderEventFilters();
  renderAll();
  renderSession();
}

function applyDevice(d) {
  const old = S.devices.get(d.id);
  if (!old) {
    // Not on this page: it left it, or is on the page being fetched, whose
    // answer may be older than this. Kept for applyPage until it lands.
    if (loadPage.running) S.early.set(d.id, d);
    return;
  }
  if (old.seq > d.seq) return; // an older delta raced the snapshot
  S.devices.set(d.id, d);
  renderDevice(d.id);
}

function applyGateway(g) {
  if (!S.status) return;
  S.status.gateway = g;
  learnClock(g.now);
  renderGateway();
  renderSummary();
}

// applyTick takes the heartbeat: the verdict, the links, and devices heard
// from whose values did not change.
function applyTick(tk) {
  if (!S.status) return;
  S.status.buses = tk.buses;
  S.status.brokers = tk.brokers;
  for (const [id, seen] of Object.entries(tk.seen || {})) {
    const d = S.devices.get(id), card = S.cards.get(id);
    if (!d) continue;
    d.last_seen = seen;
    // Only the time moves: the card is not rebuilt under the reader.
    if (card && card.seenEl && d.reachable && S.contact) {
      card.seenEl.dataset.ago = seen;
      card.seenEl.dateTime = seen;
      card.seenEl.title = stamp(seen);
      card.seenEl.textContent = ago(seen);
    } else renderDevice(id);
  }
  applyGateway(tk.gateway);
  renderLinks();
}

function applySections(st) {
  if (!S.status) return;
  for (const k of ['buses', 'brokers', 'notifier', 'alexa', 'mqtt_accounts', 'uplink']) S.status[k] = st[k];
  applyGateway(st.gateway);
  renderLinks();
  renderAlexa();
  if (typeof renderMQTTAccounts === 'function') renderMQTTAccounts();
}

function addEvents(list) {
  const key = (e) => e.at + '|' + e.source + '|' + e.device + '|' + e.text;
  const seen = new Set(S.events.map(key));
  for (const e of list) if (!seen.has(key(e))) { S.events.push(e); seen.add(key(e)); }
  if (S.events.length > 200) S.events.splice(0, S.events.length - 200);
  renderEventFilters(); // a device new to the log joins its filter
  renderEvents();
}

function renderAll() {
  if (!S.status) { renderLive(); return; }
  renderGateway();
  renderDevices();
  renderQuery();
  renderSummary();
  renderTree();
  renderLinks();
  renderAlexa();
  renderEvents();
  renderLive();
  if (typeof renderMQTTAccounts === 'function') renderMQTTAccounts();
}

// ---- rendering ----

// health is a card's class and word: unknown while the page has no
// contact with the gateway, whatever the last word was.
function health(d) {
  if (!S.contact) return ['unknown', t('card.unknown')];
  if (d.reachable && !d.fault) return ['ok', t('card.online')];
  if (d.reachable) return ['warn', t('card.warning')];
  return ['bad', t('card.offline')];
}

function renderGateway() {
  const g = S.status.gateway;
  $('gw-name').textContent = g.name;
  document.title = g.name + ' · hubd';
  const h = $('health');
  const state = S.contact ? g.state : 'nocontact';
  h.textContent = t('state.' + state);
  h.title = S.contact ? t('state.' + state + '.hint') : t('state.nocontact.hint');
  h.className = 'pill ' + ({ healthy: 'ok', degraded: 'warn', down: 'bad', nocontact: 'bad' }[state] || 'muted');
  h.dataset.state = state;
  const alarms = g.alarms || [];
  $('alarms').hidden = alarms.length === 0;
  $('alarms').replaceChildren(...alarms.map(a => el('p', { text: a })));
  renderAck();
  const online = t('hdr.online', { n: g.online, m: g.total });
  $('hdr-online').textContent = online;
  $('hdr-online').classList.toggle('stale-text', !S.contact);
  $('gw-facts').replaceChildren(...[
    [t('gw.state'), t('state.' + state)], [t('gw.devices_online'), online],
    [t('gw.version'), g.version || 'dev'], [t('gw.commit'), g.commit || t('gw.unknown')], [t('gw.uptime'), duration(g.uptime_s)],
    [t('gw.arch'), g.goarch], [t('gw.store'), bytes(g.store_bytes)],
    g.health === 'ok' ? null : [t('gw.check'), g.health],
  ].filter(Boolean).map(([k, v]) => el('div', {}, el('dt', { text: k }), el('dd', { text: v }))));
  $('foot').textContent = `${g.name} · hubd ${g.version || 'dev'} (${g.commit || '?'}) · ${g.goarch}`;
}

function stateChips(d) {
  const s = d.state, out = [];
  if (s.on !== undefined) out.push(el('span', { class: 'chip ' + (s.on ? 'on' : 'offstate'), 'data-field': 'on', text: s.on ? t('ctl.on') : t('ctl.off') }));
  if (s.brightness !== undefined) out.push(el('span', { class: 'chip', 'data-field': 'brightness', text: s.brightness + ' %' }));
  if (s.color && s.mode !== 'temperature') {
    const sw = el('span', { class: 'swatch' });
    sw.style.background = `hsl(${s.color.h} ${s.color.s}% ${Math.max(20, s.color.v / 2)}%)`;
    out.push(el('span', { class: 'chip', 'data-field': 'color', title: t('card.hsv') }, sw, `${s.color.h}° ${s.color.s}% ${s.color.v}%`));
  }
  if (s.temperature_k !== undefined && s.mode !== 'color') out.push(el('span', { class: 'chip', 'data-field': 'temperature_k', text: s.temperature_k + ' K' }));
  if (s.power !== undefined) out.push(el('span', { class: 'chip', 'data-field': 'power', text: num(s.power, 1, 'W') }));
  if (s.voltage !== undefined) out.push(el('span', { class: 'chip', 'data-field': 'voltage', text: num(s.voltage, 1, 'V') }));
  if (s.current !== undefined) out.push(el('span', { class: 'chip', 'data-field': 'current', text: num(s.current, 2, 'A') }));
  if (s.energy !== undefined) out.push(el('span', { class: 'chip', 'data-field': 'energy', text: num(s.energy, 2, 'kWh') }));
  if (!out.length) out.push(el('span', { class: 'chip muted-text', text: t('card.no_state') }));
  return out;
}

const COMMAND_LABELS = { on: 'res.switch_on', off: 'res.switch_off', identify: 'res.identify' };

async function command(d, body, label, card) {
  const buttons = card.controls.querySelectorAll('button, input');
  buttons.forEach(b => { b.disabled = true; });
  card.result.className = 'result';
  card.result.textContent = t('res.running', { label });
  card.result.title = '';
  try {
    const r = await api('POST', '/api/devices/' + encodeURIComponent(d.id) + '/command', body);
    if (r.ok) {
      card.result.className = 'result ok';
      card.result.textContent = t('res.done', { label, ms: r.data.took_ms });
    } else {
      card.result.className = 'result bad';
      if (r.status === 401) { card.result.textContent = t('res.sign_in'); showLogin(t('login.ended')); }
      else {
        card.result.textContent = t('res.failed', { label, why: t('cmd.' + (r.data.result || 'error')) });
        card.result.title = r.data.error || String(r.status); // the raw error, for support
      }
    }
  } catch (e) {
    card.result.className = 'result bad';
    card.result.textContent = t('res.no_answer', { label });
  } finally {
    buttons.forEach(b => { b.disabled = false; });
  }
}

// buildControls makes a card's controls; every one is named with the
// device, so a screen reader says "Switch on Lobby lamp", not "On".
function buildControls(d, card) {
  const box = el('div', { class: 'controls', role: 'group' });
  const named = (key) => t(key, { name: d.name });
  if (d.fields.includes('on')) {
    const btn = (action, key, body, cls) => {
      const b = el('button', { class: cls, type: 'button', 'data-action': action, onclick: () => command(d, body, t(COMMAND_LABELS[action]), card) });
      card.labels.push(() => { b.textContent = t('ctl.' + action); b.setAttribute('aria-label', named(key)); });
      return b;
    };
    box.append(el('div', { class: 'row' },
      btn('on', 'ctl.on_named', { on: true }, 'btn'),
      btn('off', 'ctl.off_named', { on: false }, 'btn'),
      btn('identify', 'ctl.identify_named', { identify: true }, 'btn ghost')));
  }
  if (d.fields.includes('brightness')) {
    const out = el('output', {}, '');
    const range = el('input', { type: 'range', min: 1, max: 100, step: 1, 'data-action': 'brightness' });
    const lab = el('label', {});
    range.addEventListener('input', () => { out.textContent = range.value + ' %'; });
    range.addEventListener('change', () => command(d, { brightness: +range.value }, t('res.brightness', { v: range.value }), card));
    card.labels.push(() => { lab.textContent = t('ctl.brightness'); range.setAttribute('aria-label', named('ctl.brightness_named')); });
    card.range = range; card.rangeOut = out;
    box.append(el('div', { class: 'dim' }, lab, range, out));
  }
  card.labels.push(() => box.setAttribute('aria-label', named('ctl.group_named')));
  return box;
}

// ---- firmware updates ----

// buildFirmware makes the card's firmware part: a button that opens a file
// picker, a confirmation of the chosen file, and the update's progress,
// which comes from the server (device.firmware_update) over the feed.
function buildFirmware(d, card) {
  const input = el('input', { type: 'file', hidden: true, 'data-action': 'firmware-file' });
  const pick = el('button', { class: 'btn ghost', type: 'button', 'data-action': 'firmware', onclick: () => { input.value = ''; input.click(); } });
  const name = el('span', { class: 'fw-file' });
  const install = el('button', { class: 'btn primary', type: 'button', 'data-action': 'firmware-install', onclick: () => uploadFirmware(d.id, card) });
  const cancel = el('button', { class: 'btn ghost', type: 'button', 'data-action': 'firmware-cancel', onclick: () => { card.fwFile = null; renderFirmware(card); } });
  // The words follow the language; the accessible names are set in newCard.
  card.labels.push(() => { pick.textContent = t('fw.update'); install.textContent = t('fw.install'); cancel.textContent = t('fw.cancel'); });
  const versions = el('span', { class: 'fw-versions', 'data-field': 'firmware-versions' });
  const down = el('input', { type: 'checkbox', 'data-action': 'firmware-downgrade', onchange: () => renderFirmware(card) });
  const downLabel = el('label', { class: 'fw-downgrade', hidden: true }, down, el('span', {}));
  const confirm = el('div', { class: 'fw-confirm', hidden: true }, name, versions, downLabel, el('div', { class: 'row' }, install, cancel));
  const bar = el('progress', { max: 1, value: 0 });
  const text = el('p', { class: 'fw-text', role: 'status', 'aria-live': 'polite' });
  const status = el('div', { class: 'fw-status', 'data-field': 'firmware', hidden: true }, bar, text);
  const note = el('p', { class: 'result', hidden: true });
  input.addEventListener('change', () => {
    const f = input.files && input.files[0];
    if (!f) return;
    card.fwFile = f;
    card.fwNote = null;
    card.fwCheck = null;
    down.checked = false;
    renderFirmware(card);
    checkFirmware(d.id, card, f);
  });
  Object.assign(card, { fwInput: input, fwPick: pick, fwConfirm: confirm, fwName: name, fwVersions: versions, fwDown: down, fwDownLabel: downLabel, fwBar: bar, fwText: text, fwStatus: status, fwNoteEl: note, fwFile: null, fwCheck: null, fwBusy: false, fwNote: null });
  return el('div', { class: 'fw' }, el('div', { class: 'row' }, pick), input, confirm, status, note);
}

const MAX_FIRMWARE = 1 << 20;

function renderFirmware(card) {
  const d = S.devices.get(card.id);
  if (!d) return;
  const control = !!(S.session && S.session.can_control) && !!d.firmware_updatable;
  const j = d.firmware_update;
  const running = !!(j && j.state === 'running');
  card.fwPick.hidden = !control;
  card.fwPick.disabled = card.fwBusy || running;
  card.fwConfirm.hidden = !(control && card.fwFile);
  const c = card.fwCheck;
  const needsDown = !!(c && c.downgrade);
  card.fwConfirm.querySelectorAll('button').forEach(b => { b.disabled = card.fwBusy || running || (needsDown && !card.fwDown.checked && b.dataset.action === 'firmware-install'); });
  if (card.fwFile) card.fwName.textContent = t('fw.confirm', { file: card.fwFile.name, size: bytes(card.fwFile.size), name: d.name });
  card.fwVersions.textContent = !c ? '' : [
    t('fw.image', { model: c.model, version: c.version, name: d.name, device_model: c.device_model || t('fw.model_unknown'), current: c.current || t('fw.version_unknown') }),
    c.wrong_model && t('fw.wrong_model', { model: c.model, device_model: c.device_model }),
    c.same && t('fw.same')].filter(Boolean).join(' ');
  card.fwDownLabel.hidden = !needsDown;
  if (needsDown) card.fwDownLabel.lastChild.textContent = t('fw.downgrade', { current: c.current, version: c.version });
  card.fwStatus.hidden = !j;
  if (j) {
    card.fwStatus.dataset.state = j.state;
    card.fwStatus.className = 'fw-status ' + (j.state === 'done' ? 'ok' : j.state === 'failed' ? 'bad' : '');
    card.fwBar.max = Math.max(j.total, 1);
    card.fwBar.value = j.state === 'done' ? card.fwBar.max : j.sent;
    const pct = j.total ? Math.floor(100 * j.sent / j.total) : 0;
    card.fwBar.hidden = j.state === 'failed';
    card.fwText.textContent =
      j.state === 'running' ? t('fw.running', { sent: bytes(j.sent), total: bytes(j.total), pct, user: j.user }) :
      j.state === 'done' ? t('fw.done', { user: j.user, ago: ago(j.finished) }) :
      t('fw.failed', { why: j.error || j.result || t('fw.unknown_error') });
  }
  card.fwNoteEl.hidden = !card.fwNote;
  if (card.fwNote) {
    card.fwNoteEl.className = 'result ' + card.fwNote.cls;
    card.fwNoteEl.textContent = card.fwNote.text;
  }
  card.fw.hidden = !control && !j;
}

async function uploadFirmware(id, card) {
  const f = card.fwFile;
  if (!f) return;
  if (f.size === 0 || f.size > MAX_FIRMWARE + 4096) {
    card.fwNote = { cls: 'bad', text: f.size ? t('fw.too_big', { file: f.name, size: bytes(f.size) }) : t('fw.empty', { file: f.name }) };
    card.fwFile = null;
    renderFirmware(card);
    return;
  }
  card.fwBusy = true;
  card.fwNote = { cls: '', text: t('fw.uploading', { file: f.name }) };
  renderFirmware(card);
  try {
    const headers = { 'Accept': 'application/json', 'Content-Type': 'application/octet-stream' };
    if (S.session && S.session.csrf) headers['X-CSRF-Token'] = S.session.csrf;
    const q = card.fwCheck && card.fwCheck.downgrade && card.fwDown.checked ? '?downgrade=1' : '';
    const r = await fetch('/api/devices/' + encodeURIComponent(id) + '/firmware' + q, { method: 'POST', headers, body: f, credentials: 'same-origin' });
    let data = {};
    try { data = await r.json(); } catch (_) { /* not JSON */ }
    if (r.ok) {
      card.fwFile = null;
      card.fwCheck = null;
      card.fwNote = null;
      const d = S.devices.get(id);
      // The feed may already have sent a newer view of this very job.
      if (d && (!d.firmware_update || Date.parse(d.firmware_update.started) < Date.parse(data.started))) d.firmware_update = data;
    } else if (r.status === 401) {
      card.fwNote = { cls: 'bad', text: t('res.sign_in') };
      showLogin(t('login.ended'));
    } else {
      const why = { 409: 'fw.why_running', 413: 'fw.why_too_big', 503: 'fw.why_busy' }[r.status];
      card.fwNote = { cls: 'bad', text: t('fw.refused', { why: data.error || (why && t(why)) || r.status }) };
    }
  } catch (e) {
    card.fwNote = { cls: 'bad', text: t('fw.upload_no_answer') };
  } finally {
    card.fwBusy = false;
    renderFirmware(card);
  }
}

// checkFirmware asks the gateway what the chosen image is (model and
// version) against what the device runs, for the confirm step; an older
// image needs the downgrade box ticked.
async function checkFirmware(id, card, f) {
  if (f.size === 0 || f.size > MAX_FIRMWARE + 4096) return;
  try {
    const headers = { 'Accept': 'application/json', 'Content-Type': 'application/octet-stream' };
    if (S.session && S.session.csrf) headers['X-CSRF-Token'] = S.session.csrf;
    const r = await fetch('/api/devices/' + encodeURIComponent(id) + '/firmware/check', { method: 'POST', headers, body: f, credentials: 'same-origin' });
    let data = {};
    try { data = await r.json(); } catch (_) { /* not JSON */ }
    if (card.fwFile !== f) return; // another file was chosen meanwhile
    if (r.ok) card.fwCheck = data;
    else if (r.status !== 501) card.fwNote = { cls: 'bad', text: t('fw.image_bad', { why: data.error || r.status }) };
  } catch (e) {
    if (card.fwFile === f) card.fwNote = { cls: 'bad', text: t('fw.check_no_answer') };
  }
  renderFirmware(card);
}

// newCard builds the parts of a card that stay while the device does.
function newCard(d) {
  const id = d.id;
  const card = { id, labels: [], root: el('article', { class: 'card', 'data-device': id, id: 'dev-' + id, 'aria-labelledby': 'dev-name-' + id }) };
  card.info = el('div');
  card.result = el('p', { class: 'result', role: 'status', 'aria-live': 'polite' });
  card.controls = buildControls(d, card);
  card.fw = buildFirmware(d, card);
  // The firmware controls are named with the device too.
  card.labels.push(() => {
    const name = (el, key) => { if (el) el.setAttribute('aria-label', t(key, { name: d.name })); };
    name(card.fwPick, 'fw.update_named');
    name(card.fwInput, 'fw.file_named');
    name(card.fwBar, 'fw.progress_named');
    name(card.fwConfirm && card.fwConfirm.querySelector('[data-action="firmware-install"]'), 'fw.install_named');
    name(card.fwConfirm && card.fwConfirm.querySelector('[data-action="firmware-cancel"]'), 'fw.cancel_named');
  });
  // On a phone the particulars fold away: the name, the diagnosis, the
  // state and the controls are what a technician walking the floor needs.
  card.more = el('details', { class: 'more' });
  card.more.open = wide();
  card.root.append(card.info, card.controls, card.result, card.more, card.fw);
  return card;
}

function renderDevice(id) {
  const d = S.devices.get(id);
  if (!d) return;
  let card = S.cards.get(id);
  if (!card) {
    card = newCard(d);
    S.cards.set(id, card);
    $('dev-list').append(card.root);
  }
  const [cls, label] = health(d);
  // A red result line from a failed command goes once the device is fine.
  if (cls === 'ok' && card.lastCls && card.lastCls !== 'ok' && card.result.classList.contains('bad')) {
    card.result.textContent = '';
    card.result.className = 'result';
  }
  card.lastCls = cls;
  // A Details toggle the technician opened stays open through updates of
  // the same diagnosis.
  const rawOpen = card.root.dataset.fault === (d.fault ? d.fault.code : '') && !!card.info.querySelector('details.raw[open]');
  card.labels.forEach(fn => fn());
  card.root.className = 'card ' + cls;
  card.root.dataset.online = d.reachable ? 'true' : 'false';
  card.root.dataset.fault = d.fault ? d.fault.code : '';
  const live = d.reachable && S.contact;
  const fw = [d.info.firmware && 'fw ' + d.info.firmware, d.info.model, d.info.manufacturer].filter(Boolean).join(' · ');
  card.info.replaceChildren(...kids(
    el('div', { class: 'card-head' },
      el('div', {}, el('h3', { class: 'card-title', id: 'dev-name-' + id }, d.name),
        el('div', { class: 'card-sub' }, (d.room_path || [t('dev.no_room')]).join(' › '))),
      el('span', { class: 'pill ' + cls, 'data-field': 'online' }, label)),
    d.fault ? diagnosisEl(d) : null,
    el('div', { class: 'state' + (live ? '' : ' last-known'), 'data-live': live ? 'true' : 'false' },
      live ? null : el('span', { class: 'last-known-note', 'data-field': 'last-known' }, t('card.last_known', { ago: ago(d.last_seen) })),
      stateChips(d)),
    linkEl(d)));
  const raw = card.info.querySelector('details.raw');
  if (raw) raw.open = rawOpen;
  card.more.replaceChildren(el('summary', { text: t('card.more') }), facts([
    [t('card.kind'), t('kind.' + d.kind)], [t('card.driver'), d.driver], [t('card.address'), d.address || '—'], [t('card.id'), d.id],
    [t('card.last_seen'), card.seenEl = timeEl(d.last_seen)], [t('card.firmware'), fw || t('gw.unknown')],
  ]));
  const control = !!(S.session && S.session.can_control);
  card.controls.hidden = !control || !(d.fields.includes('on') || d.fields.includes('brightness'));
  if (card.range && document.activeElement !== card.range && d.state.brightness !== undefined) {
    card.range.value = d.state.brightness;
    card.rangeOut.textContent = d.state.brightness + ' %';
  }
  card.controls.querySelectorAll('[data-action=on],[data-action=off]').forEach(b => {
    b.classList.toggle('active', d.state.on === (b.dataset.action === 'on'));
  });
  renderFirmware(card);
  applyFilter(card);
}

// problemRank orders devices: unreachable first, then warnings, then fine.
function problemRank(d) { return !d.fault ? 2 : d.fault.severity === 'error' ? 0 : 1; }

// renderDevices shows the page in the gateway's order (by room, then name;
// problems first when asked).
function renderDevices() {
  const list = $('dev-list');
  const empty = list.querySelector('.notconf');
  if (empty) empty.remove();
  for (const id of S.order) {
    renderDevice(id);
    const c = S.cards.get(id);
    if (c) list.append(c.root);
  }
  $('dev-count').textContent = '(' + S.pageInfo.total + ')';
  if (!S.order.length) list.replaceChildren(el('p', { class: 'notconf', text: t(S.status && S.status.gateway.total ? 'dev.none_match' : 'dev.none') }));
  renderPager();
  // The first useful paint: a device with its state on screen.
  if (S.order.length && !renderDevices.painted) { renderDevices.painted = true; performance.mark('hubd-first-device'); }
}

// applyFilter hides at once a card whose device left "Only problems"; the
// gateway's "list" hint brings the page up to date a moment later.
function applyFilter(card) {
  const d = S.devices.get(card.id);
  const fine = d && d.reachable && !d.fault;
  card.root.hidden = S.query.problems && fine;
}

// wide is true where cards show their particulars unfolded; on a phone
// they fold under "More" so a card is its name, state and controls.
function wide() { return window.matchMedia('(min-width: 700px)').matches; }
function moreEl(...content) {
  const d = el('details', { class: 'more' }, el('summary', { text: t('card.more') }), ...content);
  d.open = wide();
  return d;
}

function notConfigured(key) { return el('p', { class: 'notconf', text: t(key) }); }

function busCard(b) {
  const cls = !S.contact ? 'unknown' : b.open ? 'ok' : 'bad';
  return el('div', { class: 'card ' + cls, 'data-bus': b.name },
    el('div', { class: 'card-head' }, el('h3', { class: 'card-title', text: b.name }), el('span', { class: 'pill ' + cls, text: b.open ? t('link.open') : t('link.closed') })),
    el('div', { class: 'card-sub', text: b.port + (b.protocol ? ' (' + b.protocol + ')' : '') }),
    moreEl(facts([[t('link.devices'), b.devices], [t('link.frames'), b.frames_in + ' / ' + b.frames_out], [t('link.crc'), b.crc_errors],
      [t('link.timeouts'), b.timeouts], [t('link.reconnects'), b.reconnects], b.open_since && [t('link.open_since'), timeEl(b.open_since)],
      !b.open && b.last_error && [t('link.last_error'), rawEl(b.last_error)],
      b.slaves && b.slaves.length && [t('link.slaves'), b.slaves.map(s => t('link.slave', { addr: s.addr, timeouts: s.timeouts, crc: s.crc_errors, exc: s.exceptions })).join('; ')]])));
}

function brokerCard(b) {
  const cls = !S.contact ? 'unknown' : b.connected ? 'ok' : 'bad';
  return el('div', { class: 'card ' + cls, 'data-broker': b.broker },
    el('div', { class: 'card-head' }, el('h3', { class: 'card-title', text: b.broker + (b.embedded ? ' ' + t('link.embedded') : '') }),
      el('span', { class: 'pill ' + cls, text: b.connected ? t('link.connected') : t('link.disconnected') })),
    moreEl(facts([[t('link.messages'), b.messages_in + ' / ' + b.messages_out], [t('link.bad'), b.bad_messages], [t('link.reconnects'), b.reconnects],
      b.since && [t('link.since'), timeEl(b.since)], !b.connected && b.last_error && [t('link.last_error'), rawEl(b.last_error)]])));
}

function renderLinks() {
  const st = S.status;
  $('buses').replaceChildren(...(st.buses === null ? [notConfigured('links.serial_none')] :
    !st.buses.length ? [notConfigured('links.serial_empty')] : st.buses.map(busCard)));
  $('brokers').replaceChildren(...(st.brokers === null ? [notConfigured('links.mqtt_none')] :
    !st.brokers.length ? [notConfigured('links.mqtt_empty')] : st.brokers.map(brokerCard)));
  const n = st.notifier;
  $('notifier').replaceChildren(n === null ? notConfigured('links.yandex_none') :
    el('div', { class: 'card ' + (!n.enabled ? '' : n.last_error && (!n.last_success || n.last_error_at > n.last_success) ? 'warn' : 'ok') },
      el('div', { class: 'card-head' }, el('h3', { class: 'card-title', text: t('notif.title') }),
        el('span', { class: 'pill ' + (n.enabled ? 'ok' : 'muted'), text: n.enabled ? t('notif.enabled') : t('notif.disabled') })),
      moreEl(facts([[t('notif.sent'), n.sent], [t('notif.failed'), n.failed], [t('notif.pending'), n.pending], [t('notif.last_success'), timeEl(n.last_success)],
        n.last_error && [t('link.last_error'), rawEl(n.last_error)], n.last_error_at && [t('notif.error_at'), timeEl(n.last_error_at)]]))));
  if (typeof renderUplink === 'function') renderUplink();
}

// The acknowledge button: for a signed-in technician while alarms show.
function renderAck() {
  const alarms = (S.status && S.status.gateway.alarms) || [];
  $('ack-alarms').hidden = !(alarms.length && S.session && S.session.can_control);
}

async function ackAlarms() {
  try {
    const r = await api('POST', '/api/alarms/ack');
    toast(r.ok ? t('alarms.acked') : t('alarms.ack_failed', { why: r.data.error || r.status }));
    if (r.ok) { S.status.gateway.alarms = []; renderGateway(); }
  } catch (e) {
    toast(t('alarms.ack_noanswer'));
  }
}

async function syncNow() {
  const b = $('sync-now');
  b.disabled = true;
  b.textContent = t('alexa.syncing');
  try {
    const r = await api('POST', '/api/alexa/sync');
    if (r.status === 202) toast(t('alexa.continues'));
    else toast(r.ok ? t('alexa.done', { ms: r.data.took_ms }) : t('alexa.failed', { why: r.data.error || r.status }));
  } catch (e) {
    toast(t('alexa.no_answer'));
  } finally {
    b.disabled = false;
    b.textContent = t('alexa.sync_now');
  }
}

function renderAlexa() {
  const a = S.status.alexa;
  const body = $('alexa-body');
  if (a === null || a === undefined) { body.replaceChildren(notConfigured('alexa.none')); return; }
  const plan = a.plan || [], units = a.units || [], warnings = a.warnings || [];
  const cls = !a.enabled ? 'muted' : a.running ? 'warn' : a.last_error ? 'bad' : plan.length ? 'warn' : 'ok';
  const text = !a.enabled ? t('alexa.disabled') : a.running ? t('alexa.running') : a.last_error ? t('alexa.failing') : plan.length ? t('alexa.pending', { n: plan.length }) : t('alexa.in_sync');
  body.replaceChildren(...kids(
    el('div', { class: 'row' }, el('span', { class: 'pill ' + cls, text })),
    facts([[t('alexa.last_run'), timeEl(a.last_run)], [t('alexa.last_ok'), timeEl(a.last_ok)],
      [t('alexa.calls'), a.calls_failed ? t('alexa.calls_failed', { n: a.calls, f: a.calls_failed }) : String(a.calls)],
      a.last_error && [t('link.last_error'), rawEl(a.last_error)]]),
    warnings.length ? el('ul', { class: 'plan' }, warnings.map(w => el('li', { class: 'lvl-warn', text: w }))) : null,
    el('h3', { class: 'card-sub', text: plan.length ? t('alexa.plan', { n: plan.length }) : t('alexa.nothing') }),
    plan.length ? el('ol', { class: 'plan' }, plan.map(p => el('li', { text: p }))) : null,
    units.length ? el('div', { class: 'cards compact' }, units.map(u => el('div', { class: 'card ' + (u.unit_id ? 'ok' : 'warn') },
      el('h3', { class: 'card-title', text: u.name }),
      moreEl(facts([[t('alexa.node'), u.node], [t('alexa.unit'), u.unit_id || t('alexa.unit_none')], [t('alexa.discovery'), u.discovery || '—']]))))) : null));
}

function tick() {
  if (S.contact && Date.now() - S.lastMsg > silentAfter()) lostContact();
  for (const tm of document.querySelectorAll('time[data-ago]')) {
    if (tm.dataset.ago) tm.textContent = ago(tm.dataset.ago);
  }
  if (S.status) {
    S.status.gateway.uptime_s++;
    if (!S.contact) renderSummary(); // the "no contact for N s" count
  }
  renderLive();
}

// headerHeight tells the CSS how tall the sticky header is, so that a jump
// link's target lands below it, not under it.
function headerHeight() {
  document.documentElement.style.setProperty('--head-h', $('top').offsetHeight + 'px');
}

async function setLanguage(lang) {
  try { localStorage.setItem(LANG_KEY, lang); } catch (_) { /* private mode */ }
  await loadCatalogue(lang);
  renderEventFilters();
  renderAll();
  renderSession();
  headerHeight();
}

document.addEventListener('DOMContentLoaded', async () => {
  $('login-form').addEventListener('submit', onLogin);
  $('login-cancel').addEventListener('click', () => { $('login').hidden = true; });
  $('signin').addEventListener('click', () => showLogin());
  $('signout').addEventListener('click', onLogout);
  $('sync-now').addEventListener('click', syncNow);
  $('ack-alarms').addEventListener('click', ackAlarms);
  $('lang').addEventListener('change', (e) => setLanguage(e.target.value));
  for (const id of ['ev-device', 'ev-room', 'ev-level']) $(id).addEventListener('change', renderEvents);
  // The header grows and shrinks (a note, a wrapped line): keep up.
  new ResizeObserver(headerHeight).observe($('top'));
  setInterval(tick, 1000);
  try { await loadCatalogue(storedLang()); } catch (_) { /* the page still works, in message keys */ }
  headerHeight();
  renderLive();
  await loadSession();
  if (S.session.can_view) connect();
});
