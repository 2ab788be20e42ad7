// hubd status page. Plain JS, no dependencies: the gateway may have no
// internet. Data arrives as a snapshot and then as changes over /events.
'use strict';

const S = { status: null, session: null, devices: new Map(), events: [], es: null, cards: new Map() };
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

function ago(t) {
  if (!t) return 'never';
  const s = Math.round((Date.now() - Date.parse(t)) / 1000);
  if (!isFinite(s)) return '?';
  if (s < 5) return 'just now';
  if (s < 90) return s + ' s ago';
  if (s < 5400) return Math.round(s / 60) + ' min ago';
  if (s < 172800) return Math.round(s / 3600) + ' h ago';
  return Math.round(s / 86400) + ' d ago';
}
function stamp(t) { return t ? new Date(t).toLocaleString() : ''; }
function timeEl(t) { return el('time', { datetime: t || '', title: stamp(t), 'data-ago': t || '' }, ago(t)); }
function duration(sec) {
  const d = Math.floor(sec / 86400), h = Math.floor(sec % 86400 / 3600), m = Math.floor(sec % 3600 / 60);
  return d ? `${d} d ${h} h` : h ? `${h} h ${m} min` : `${m} min ${sec % 60} s`;
}
function bytes(n) {
  if (n === null || n === undefined) return 'unknown';
  const u = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + ' ' + u[i];
}
function num(v, digits, unit) { return (+v).toFixed(digits) + ' ' + unit; }
function facts(pairs) {
  return el('dl', { class: 'kv' }, pairs.filter(p => p).map(([k, v]) => [el('dt', { text: k }), el('dd', {}, v)]));
}

function toast(msg) {
  const t = $('toast');
  t.textContent = msg;
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, 4000);
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
  try {
    const r = await api('GET', '/api/session');
    S.session = r.ok ? r.data : { can_view: false, can_control: false };
  } catch (_) {
    S.session = { can_view: false, can_control: false };
  }
  renderSession();
}

function renderSession() {
  const s = S.session || {};
  $('who').textContent = s.user ? 'Signed in as ' + s.user : (s.can_view ? 'View only' : '');
  $('signin').hidden = !!s.user || !s.users_configured;
  $('signout').hidden = !s.user;
  $('sync-now').hidden = !(s.can_control && S.status && S.status.controls.sync_now);
  renderAck();
  document.body.classList.toggle('can-control', !!s.can_control);
  if (!s.can_view) {
    showLogin('Sign in to see this gateway.');
  }
  for (const id of S.devices.keys()) renderDevice(id);
}

function showLogin(why) {
  $('login').hidden = false;
  $('login-why').textContent = why || 'Sign in to switch devices and run a sync.';
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
      err.textContent = r.status === 401 ? 'Wrong user name or password.' : (r.data.error || 'Sign-in failed (' + r.status + ').');
      err.hidden = false;
      return;
    }
    S.session = r.data;
    $('login-pass').value = '';
    $('login').hidden = true;
    renderSession();
    toast('Signed in as ' + r.data.user);
    if (!S.es || S.es.readyState === EventSource.CLOSED) connect();
  } catch (e) {
    err.textContent = 'Gateway did not answer: ' + e.message;
    err.hidden = false;
  } finally {
    $('login-submit').disabled = false;
  }
}

async function onLogout() {
  await api('POST', '/logout');
  await loadSession();
  toast('Signed out');
  if (!S.session.can_view) { disconnect(); }
}

// ---- live feed ----

function setLive(on, text) {
  const l = $('live');
  l.className = 'live ' + (on ? 'on' : 'off');
  l.textContent = text;
}

function disconnect() {
  if (S.es) { S.es.close(); S.es = null; }
  setLive(false, 'Not connected');
}

function connect() {
  if (S.es) S.es.close();
  const es = new EventSource('/events');
  S.es = es;
  es.onopen = () => setLive(true, 'Live');
  es.onerror = () => {
    setLive(false, 'Reconnecting…');
    // A closed stream may mean the session ended: ask again.
    if (es.readyState === EventSource.CLOSED) {
      setTimeout(async () => { await loadSession(); if (S.session.can_view) connect(); }, 3000);
    }
  };
  es.addEventListener('snapshot', (e) => applySnapshot(JSON.parse(e.data)));
  es.addEventListener('device', (e) => applyDevice(JSON.parse(e.data)));
  es.addEventListener('event', (e) => addEvents([JSON.parse(e.data)]));
  es.addEventListener('sections', (e) => applySections(JSON.parse(e.data)));
}

function applySnapshot(st) {
  S.status = st;
  S.devices = new Map(st.devices.map(d => [d.id, d]));
  S.events = [];
  // Keep the cards of devices that stay, so a control in flight keeps its
  // result line and a slider being dragged is not reset.
  for (const [id, c] of S.cards) {
    if (!S.devices.has(id)) { c.root.remove(); S.cards.delete(id); }
  }
  const empty = $('dev-list').querySelector('.notconf');
  if (empty) empty.remove();
  addEvents(st.events || [], true);
  renderGateway();
  renderDevices();
  renderTree();
  renderLinks();
  renderAlexa();
  renderSession();
}

function applyDevice(d) {
  const old = S.devices.get(d.id);
  if (old && old.seq > d.seq) return; // an older delta raced the snapshot
  S.devices.set(d.id, d);
  renderDevice(d.id);
  renderTree();
}

function applySections(st) {
  if (!S.status) return;
  for (const k of ['gateway', 'buses', 'brokers', 'notifier', 'alexa']) S.status[k] = st[k];
  renderGateway();
  renderLinks();
  renderAlexa();
}

function addEvents(list, reset) {
  const key = (e) => e.at + '|' + e.source + '|' + e.device + '|' + e.text;
  const seen = new Set(S.events.map(key));
  for (const e of list) if (!seen.has(key(e))) { S.events.push(e); seen.add(key(e)); }
  if (S.events.length > 200) S.events.splice(0, S.events.length - 200);
  renderEvents();
}

// ---- rendering ----

function health(d) {
  if (d.reachable) return ['ok', 'Online'];
  if (d.online) return ['warn', 'Stale'];
  return ['bad', 'Offline'];
}

function renderGateway() {
  const g = S.status.gateway;
  $('gw-name').textContent = g.name;
  document.title = g.name + ' · hubd';
  const h = $('health');
  h.textContent = g.health === 'ok' ? 'Healthy' : 'Unhealthy';
  h.title = g.health;
  h.className = 'pill ' + (g.health === 'ok' ? 'ok' : 'bad');
  const alarms = g.alarms || [];
  $('alarms').hidden = alarms.length === 0;
  $('alarms').replaceChildren(...alarms.map(a => el('p', { text: a })));
  renderAck();
  const online = S.status.devices.filter(d => d.reachable).length;
  $('gw-facts').replaceChildren(...[
    ['Version', g.version || 'dev'], ['Commit', g.commit || 'unknown'], ['Uptime', duration(g.uptime_s)],
    ['Arch', g.goarch], ['Store', bytes(g.store_bytes)], ['Devices online', online + ' of ' + S.status.devices.length],
    g.health === 'ok' ? null : ['Problem', g.health],
  ].filter(Boolean).map(([k, v]) => el('div', {}, el('dt', { text: k }), el('dd', { text: v }))));
  $('foot').textContent = `${g.name} · hubd ${g.version || 'dev'} (${g.commit || 'unknown'}) · ${g.goarch}`;
}

function stateChips(d) {
  const s = d.state, out = [];
  if (s.on !== undefined) out.push(el('span', { class: 'chip ' + (s.on ? 'on' : 'offstate'), 'data-field': 'on', text: s.on ? 'On' : 'Off' }));
  if (s.brightness !== undefined) out.push(el('span', { class: 'chip', 'data-field': 'brightness', text: s.brightness + ' %' }));
  if (s.color && s.mode !== 'temperature') {
    const sw = el('span', { class: 'swatch' });
    sw.style.background = `hsl(${s.color.h} ${s.color.s}% ${Math.max(20, s.color.v / 2)}%)`;
    out.push(el('span', { class: 'chip', 'data-field': 'color', title: 'hue/sat/value' }, sw, `${s.color.h}° ${s.color.s}% ${s.color.v}%`));
  }
  if (s.temperature_k !== undefined && s.mode !== 'color') out.push(el('span', { class: 'chip', 'data-field': 'temperature_k', text: s.temperature_k + ' K' }));
  if (s.power !== undefined) out.push(el('span', { class: 'chip', 'data-field': 'power', text: num(s.power, 1, 'W') }));
  if (s.voltage !== undefined) out.push(el('span', { class: 'chip', 'data-field': 'voltage', text: num(s.voltage, 1, 'V') }));
  if (s.current !== undefined) out.push(el('span', { class: 'chip', 'data-field': 'current', text: num(s.current, 2, 'A') }));
  if (s.energy !== undefined) out.push(el('span', { class: 'chip', 'data-field': 'energy', text: num(s.energy, 2, 'kWh') }));
  if (!out.length) out.push(el('span', { class: 'chip muted-text', text: 'No state reported yet' }));
  return out;
}

async function command(d, body, label, card) {
  const buttons = card.controls.querySelectorAll('button, input');
  buttons.forEach(b => { b.disabled = true; });
  card.result.className = 'result';
  card.result.textContent = label + '…';
  try {
    const r = await api('POST', '/api/devices/' + encodeURIComponent(d.id) + '/command', body);
    if (r.ok) {
      card.result.className = 'result ok';
      card.result.textContent = `${label}: done (${r.data.took_ms} ms)`;
    } else {
      card.result.className = 'result bad';
      if (r.status === 401) { card.result.textContent = 'Sign in first.'; showLogin('Your session ended. Sign in again.'); }
      else card.result.textContent = `${label}: ${r.data.result || 'failed'}: ${r.data.error || r.status}`;
    }
  } catch (e) {
    card.result.className = 'result bad';
    card.result.textContent = label + ': gateway did not answer';
  } finally {
    buttons.forEach(b => { b.disabled = false; });
  }
}

function buildControls(d, card) {
  const box = el('div', { class: 'controls' });
  if (d.fields.includes('on')) {
    box.append(el('div', { class: 'row' },
      el('button', { class: 'btn', type: 'button', 'data-action': 'on', onclick: () => command(d, { on: true }, 'Switch on', card) }, 'On'),
      el('button', { class: 'btn', type: 'button', 'data-action': 'off', onclick: () => command(d, { on: false }, 'Switch off', card) }, 'Off'),
      el('button', { class: 'btn ghost', type: 'button', 'data-action': 'identify', title: 'Blink or click so you can find it', onclick: () => command(d, { identify: true }, 'Identify', card) }, 'Identify')));
  }
  if (d.fields.includes('brightness')) {
    const out = el('output', {}, '');
    const range = el('input', { type: 'range', min: 1, max: 100, step: 1, 'aria-label': 'Brightness', 'data-action': 'brightness' });
    range.addEventListener('input', () => { out.textContent = range.value + ' %'; });
    range.addEventListener('change', () => command(d, { brightness: +range.value }, 'Brightness ' + range.value + ' %', card));
    card.range = range; card.rangeOut = out;
    box.append(el('div', { class: 'dim' }, el('label', { text: 'Brightness' }), range, out));
  }
  return box;
}

// ---- firmware updates ----

// buildFirmware makes the card's firmware part: a button that opens a file
// picker, a confirmation of the chosen file, and the update's progress,
// which comes from the server (device.firmware_update) over the feed.
function buildFirmware(d, card) {
  const input = el('input', { type: 'file', hidden: true, 'data-action': 'firmware-file', 'aria-label': 'Firmware image file' });
  const pick = el('button', { class: 'btn ghost', type: 'button', 'data-action': 'firmware', onclick: () => { input.value = ''; input.click(); } }, 'Update firmware');
  const name = el('span', { class: 'fw-file' });
  const install = el('button', { class: 'btn primary', type: 'button', 'data-action': 'firmware-install', onclick: () => uploadFirmware(d.id, card) }, 'Install');
  const cancel = el('button', { class: 'btn ghost', type: 'button', 'data-action': 'firmware-cancel', onclick: () => { card.fwFile = null; renderFirmware(card); } }, 'Cancel');
  const versions = el('span', { class: 'fw-versions', 'data-field': 'firmware-versions' });
  const down = el('input', { type: 'checkbox', 'data-action': 'firmware-downgrade', onchange: () => renderFirmware(card) });
  const downLabel = el('label', { class: 'fw-downgrade', hidden: true }, down, el('span', {}));
  const confirm = el('div', { class: 'fw-confirm', hidden: true }, name, versions, downLabel, el('div', { class: 'row' }, install, cancel));
  const bar = el('progress', { max: 1, value: 0, 'aria-label': 'Firmware update progress' });
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
  if (card.fwFile) card.fwName.textContent = `Install ${card.fwFile.name} (${bytes(card.fwFile.size)}) on ${d.name}?`;
  card.fwVersions.textContent = !c ? '' :
    `Image: ${c.model} ${c.version}. ${d.name}: ${c.device_model || 'model unknown'}, runs ${c.current || 'an unknown version'} \u2192 ${c.version}.` +
    (c.wrong_model ? ` This image is for ${c.model}, not ${c.device_model}; the device will refuse it.` : '') +
    (c.same ? ' The device already runs this version.' : '');
  card.fwDownLabel.hidden = !needsDown;
  if (needsDown) card.fwDownLabel.lastChild.textContent = `Install the older version anyway (downgrade ${c.current} \u2192 ${c.version}; it is logged)`;
  card.fwStatus.hidden = !j;
  if (j) {
    card.fwStatus.dataset.state = j.state;
    card.fwStatus.className = 'fw-status ' + (j.state === 'done' ? 'ok' : j.state === 'failed' ? 'bad' : '');
    card.fwBar.max = Math.max(j.total, 1);
    card.fwBar.value = j.state === 'done' ? card.fwBar.max : j.sent;
    const pct = j.total ? Math.floor(100 * j.sent / j.total) : 0;
    card.fwBar.hidden = j.state === 'failed';
    card.fwText.textContent =
      j.state === 'running' ? `Updating firmware: ${bytes(j.sent)} of ${bytes(j.total)} (${pct}\u00a0%), started by ${j.user}` :
      j.state === 'done' ? `Firmware update done (by ${j.user}, ${ago(j.finished)})` :
      `Firmware update failed: ${j.error || j.result || 'unknown error'}`;
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
    card.fwNote = { cls: 'bad', text: f.size ? `${f.name} is ${bytes(f.size)}; a firmware image is at most 1 MiB.` : `${f.name} is empty.` };
    card.fwFile = null;
    renderFirmware(card);
    return;
  }
  card.fwBusy = true;
  card.fwNote = { cls: '', text: `Uploading ${f.name}…` };
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
      card.fwNote = { cls: 'bad', text: 'Sign in first.' };
      showLogin('Your session ended. Sign in again.');
    } else {
      const why = { 409: 'an update of this device is already running', 413: 'the file is over 1 MiB', 503: 'the gateway is busy' }[r.status];
      card.fwNote = { cls: 'bad', text: 'Firmware update refused: ' + (data.error || why || r.status) };
    }
  } catch (e) {
    card.fwNote = { cls: 'bad', text: 'Firmware upload: gateway did not answer' };
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
    else if (r.status !== 501) card.fwNote = { cls: 'bad', text: 'Firmware image: ' + (data.error || r.status) };
  } catch (e) {
    if (card.fwFile === f) card.fwNote = { cls: 'bad', text: 'Firmware check: gateway did not answer' };
  }
  renderFirmware(card);
}

function renderDevice(id) {
  const d = S.devices.get(id);
  if (!d) return;
  let card = S.cards.get(id);
  if (!card) {
    card = { root: el('article', { class: 'card', 'data-device': id, id: 'dev-' + id }) };
    card.info = el('div');
    card.result = el('p', { class: 'result', role: 'status', 'aria-live': 'polite' });
    card.id = id;
    card.controls = buildControls(d, card);
    card.fw = buildFirmware(d, card);
    card.root.append(card.info, card.controls, card.result, card.fw);
    S.cards.set(id, card);
    $('dev-list').append(card.root);
  }
  const [cls, label] = health(d);
  card.root.className = 'card ' + cls;
  card.root.dataset.online = d.reachable ? 'true' : 'false';
  card.root.dataset.search = [d.id, d.name, d.address, d.driver, d.kind, ...(d.room_path || [])].join(' ').toLowerCase();
  const fw = [d.info.firmware && 'fw ' + d.info.firmware, d.info.model, d.info.manufacturer].filter(Boolean).join(' · ');
  card.info.replaceChildren(
    el('div', { class: 'card-head' },
      el('div', {}, el('div', { class: 'card-title' }, d.name), el('div', { class: 'card-sub' }, d.id + ' · ' + (d.room_path || ['no room']).join(' › '))),
      el('span', { class: 'pill ' + cls, 'data-field': 'online' }, label)),
    el('div', { class: 'state' }, stateChips(d)),
    facts([
      ['Kind', d.kind], ['Driver', d.driver], ['Address', d.address || '—'],
      ['Last seen', timeEl(d.last_seen)], ['Firmware', fw || 'unknown'],
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

function renderDevices() {
  for (const id of S.devices.keys()) renderDevice(id);
  // Technicians walk the building: order cards by room, then name.
  const key = (d) => (d.room_path || ['\uffff']).join('\u0000') + '\u0001' + d.name + '\u0001' + d.id;
  const list = $('dev-list');
  [...S.devices.values()].sort((a, b) => key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0)
    .forEach(d => { const c = S.cards.get(d.id); if (c) list.append(c.root); });
  $('dev-count').textContent = '(' + S.devices.size + ')';
  if (!S.devices.size) $('dev-list').replaceChildren(el('p', { class: 'notconf', text: 'No devices configured.' }));
}

function applyFilter(card) {
  const q = $('filter').value.trim().toLowerCase();
  card.root.hidden = q !== '' && !card.root.dataset.search.includes(q);
}

function renderTree() {
  if (!S.status) return;
  const node = (n) => el('li', {},
    el('div', { class: 'node' }, el('strong', { text: n.name }), el('span', { class: 'node-kind', text: n.kind }),
      (n.devices || []).map(id => {
        const d = S.devices.get(id);
        const cls = d ? health(d)[0] : 'bad';
        return el('a', { class: 'dev-link', href: '#dev-' + id, title: d ? health(d)[1] : 'unknown' }, el('span', { class: 'dot ' + cls }), id);
      })),
    n.children && n.children.length ? el('ul', {}, n.children.map(node)) : null);
  const site = S.status.site || [];
  $('tree').replaceChildren(site.length ? el('ul', {}, site.map(node)) : el('p', { class: 'notconf', text: 'No site configured.' }));
}

function notConfigured(what) { return el('p', { class: 'notconf', text: what + ' not configured on this gateway.' }); }

function renderLinks() {
  const st = S.status;
  $('buses').replaceChildren(...(st.buses === null ? [notConfigured('Serial')] :
    !st.buses.length ? [notConfigured('No serial buses;')] :
    st.buses.map(b => el('div', { class: 'card ' + (b.open ? 'ok' : 'bad') },
      el('div', { class: 'card-head' }, el('div', { class: 'card-title', text: b.name }), el('span', { class: 'pill ' + (b.open ? 'ok' : 'bad'), text: b.open ? 'Open' : 'Closed' })),
      el('div', { class: 'card-sub', text: b.port }),
      facts([['Devices', b.devices], ['Frames in/out', b.frames_in + ' / ' + b.frames_out], ['CRC errors', b.crc_errors],
        ['Timeouts', b.timeouts], ['Reconnects', b.reconnects], b.open_since && ['Open since', timeEl(b.open_since)],
        b.last_error && ['Last error', b.last_error]])))));
  $('brokers').replaceChildren(...(st.brokers === null ? [notConfigured('MQTT')] :
    !st.brokers.length ? [notConfigured('No MQTT connections;')] :
    st.brokers.map(b => el('div', { class: 'card ' + (b.connected ? 'ok' : 'bad') },
      el('div', { class: 'card-head' }, el('div', { class: 'card-title', text: b.broker + (b.embedded ? ' (embedded)' : '') }),
        el('span', { class: 'pill ' + (b.connected ? 'ok' : 'bad'), text: b.connected ? 'Connected' : 'Disconnected' })),
      facts([['Messages in/out', b.messages_in + ' / ' + b.messages_out], ['Bad messages', b.bad_messages], ['Reconnects', b.reconnects],
        b.since && ['Since', timeEl(b.since)], b.last_error && ['Last error', b.last_error]])))));
  const n = st.notifier;
  $('notifier').replaceChildren(n === null ? notConfigured('Yandex notifications') :
    el('div', { class: 'card ' + (!n.enabled ? '' : n.last_error && (!n.last_success || n.last_error_at > n.last_success) ? 'warn' : 'ok') },
      el('div', { class: 'card-head' }, el('div', { class: 'card-title', text: 'State notifications' }),
        el('span', { class: 'pill ' + (n.enabled ? 'ok' : 'muted'), text: n.enabled ? 'Enabled' : 'Disabled' })),
      facts([['Sent', n.sent], ['Failed', n.failed], ['Pending', n.pending], ['Last success', timeEl(n.last_success)],
        n.last_error && ['Last error', n.last_error], n.last_error_at && ['Error at', timeEl(n.last_error_at)]])));
}

// The acknowledge button: for a signed-in technician while alarms show.
function renderAck() {
  const alarms = (S.status && S.status.gateway.alarms) || [];
  $('ack-alarms').hidden = !(alarms.length && S.session && S.session.can_control);
}

async function ackAlarms() {
  try {
    const r = await api('POST', '/api/alarms/ack');
    toast(r.ok ? 'Alarms acknowledged' : 'Acknowledge failed: ' + (r.data.error || r.status));
    if (r.ok) { S.status.gateway.alarms = []; renderGateway(); }
  } catch (e) {
    toast('Acknowledge: gateway did not answer');
  }
}

async function syncNow() {
  const b = $('sync-now');
  b.disabled = true;
  b.textContent = 'Syncing…';
  try {
    const r = await api('POST', '/api/alexa/sync');
    toast(r.ok ? `Alexa sync done (${r.data.took_ms} ms)` : 'Alexa sync failed: ' + (r.data.error || r.status));
  } catch (e) {
    toast('Alexa sync: gateway did not answer');
  } finally {
    b.disabled = false;
    b.textContent = 'Sync now';
  }
}

function renderAlexa() {
  const a = S.status.alexa;
  const body = $('alexa-body');
  if (a === null) { body.replaceChildren(notConfigured('Alexa sync')); return; }
  const steps = (n) => n + (n === 1 ? ' change' : ' changes');
  const cls = !a.enabled ? 'muted' : a.running ? 'warn' : a.last_error ? 'bad' : a.plan.length ? 'warn' : 'ok';
  const text = !a.enabled ? 'Disabled' : a.running ? 'Running' : a.last_error ? 'Failing' : a.plan.length ? steps(a.plan.length) + ' pending' : 'In sync';
  body.replaceChildren(
    el('div', { class: 'row' }, el('span', { class: 'pill ' + cls, text })),
    facts([['Last run', timeEl(a.last_run)], ['Last success', timeEl(a.last_ok)], ['API calls', a.calls + (a.calls_failed ? ` (${a.calls_failed} failed)` : '')],
      a.last_error && ['Last error', a.last_error]]),
    a.warnings && a.warnings.length ? el('ul', { class: 'plan' }, a.warnings.map(w => el('li', { class: 'lvl-warn', text: w }))) : null,
    el('h3', { class: 'card-sub', text: a.plan.length ? 'Pending plan: ' + steps(a.plan.length) : 'Nothing pending' }),
    a.plan.length ? el('ol', { class: 'plan' }, a.plan.map(p => el('li', { text: p }))) : null,
    a.units.length ? el('div', { class: 'cards compact' }, a.units.map(u => el('div', { class: 'card ' + (u.unit_id ? 'ok' : 'warn') },
      el('div', { class: 'card-title', text: u.name }),
      facts([['Node', u.node], ['Unit', u.unit_id || 'not created yet'], ['Discovery', u.discovery || '—']])))) : null);
}

function renderEvents() {
  const list = S.events.slice(-100).reverse();
  $('event-list').replaceChildren(...(list.length ? list.map(e => el('li', { class: 'lvl-' + e.level },
    timeEl(e.at),
    el('div', {}, el('div', { class: 'lvl-' + e.level, text: e.text }), el('div', { class: 'ev-src', text: [e.source, e.device].filter(Boolean).join(' · ') })))) :
    [el('li', {}, el('span'), el('span', { class: 'muted-text', text: 'No events yet.' }))]));
}

function tick() {
  for (const t of document.querySelectorAll('time[data-ago]')) {
    if (t.dataset.ago) t.textContent = ago(t.dataset.ago);
  }
  if (S.status) {
    S.status.gateway.uptime_s++;
  }
}

document.addEventListener('DOMContentLoaded', async () => {
  $('login-form').addEventListener('submit', onLogin);
  $('login-cancel').addEventListener('click', () => { $('login').hidden = true; });
  $('signin').addEventListener('click', () => showLogin());
  $('signout').addEventListener('click', onLogout);
  $('sync-now').addEventListener('click', syncNow);
  $('ack-alarms').addEventListener('click', ackAlarms);
  $('filter').addEventListener('input', () => { for (const c of S.cards.values()) applyFilter(c); });
  setInterval(tick, 1000);
  await loadSession();
  if (S.session.can_view) connect();
  else setLive(false, 'Not connected');
});
