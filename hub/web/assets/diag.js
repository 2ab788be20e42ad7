// hubd status page: diagnoses in words, the summary of problems at the
// top, and the log of recent events. The gateway sends codes and values;
// the words and next steps are the catalogue's (diag.<code>.title/.next).
'use strict';

// diagParams fills a diagnosis's blanks: its own values and the device.
function diagParams(f, d) {
  return Object.assign({}, f.params || {}, { device: d ? d.name : '' });
}
function diagKey(code, part) {
  return hasText('diag.' + code + '.' + part) ? 'diag.' + code + '.' + part : 'diag.offline.' + part;
}
function diagTitle(f, d) { return t(diagKey(f.code, 'title'), diagParams(f, d)); }
function diagNext(f, d) { return t(diagKey(f.code, 'next'), diagParams(f, d)); }

// rawEl keeps an error's own text (Go's, with paths) behind a toggle:
// support wants it, the technician's page does not lead with it.
function rawEl(raw) {
  return el('details', { class: 'raw' }, el('summary', { text: t('card.details') }), el('code', { text: raw }));
}

// diagnosisEl is a failing device's "what is wrong, since when, what now".
function diagnosisEl(d) {
  const f = d.fault;
  return el('div', { class: 'diag diag-' + f.severity, 'data-field': 'diagnosis', 'data-cause': f.code },
    el('p', { class: 'diag-title' }, el('strong', { text: diagTitle(f, d) })),
    el('p', { class: 'diag-since' }, t('card.since'), ' ', timeEl(f.since)),
    el('p', { class: 'diag-next' }, el('span', { class: 'diag-next-label', text: t('card.next') + ': ' }), diagNext(f, d)),
    f.raw ? rawEl(f.raw) : null);
}

// linkEl is link quality, where the device or its bus reports it.
function linkEl(d) {
  const l = d.link;
  if (!l) return null;
  const parts = [];
  if (l.rssi_dbm !== undefined) parts.push(t('link.rssi', { v: l.rssi_dbm }));
  if (l.lqi !== undefined) parts.push(t('link.lqi', { v: l.lqi }));
  if (l.timeouts || l.crc_errors) parts.push(t('link.serial', { t: l.timeouts || 0, c: l.crc_errors || 0 }));
  if (!parts.length) return null;
  return el('p', { class: 'linkq', 'data-field': 'link' }, el('span', { class: 'muted-text', text: t('card.link') + ': ' }), parts.join(' · '));
}

// problems lists what is wrong now, worst first: no contact with the
// gateway, its own check, links down, then devices.
function problems() {
  const out = [];
  const st = S.status;
  if (!st) return out;
  if (!S.contact) {
    const s = S.lastMsg ? Math.round((Date.now() - S.lastMsg) / 1000) : 0;
    out.push({ sev: 'error', kind: 'nocontact', title: t('sum.nocontact', { s }), next: t('sum.nocontact_next') });
  }
  if (st.gateway.health !== 'ok') {
    out.push({ sev: 'error', kind: 'health', title: t('sum.health'), next: t('sum.health_next'), raw: st.gateway.health });
  }
  for (const b of st.buses || []) {
    if (!b.open) out.push({ sev: 'error', kind: 'bus', title: t('sum.bus_closed', { bus: b.name, port: b.port }), next: t('sum.bus_next', { port: b.port }), raw: b.last_error, href: '#links' });
  }
  for (const b of st.brokers || []) {
    if (!b.connected) out.push({ sev: 'error', kind: 'broker', title: t('sum.broker_down', { broker: b.broker }), next: t('sum.broker_next'), raw: b.last_error, href: '#links' });
  }
  const n = st.notifier;
  if (n && n.enabled && n.last_error && (!n.last_success || Date.parse(n.last_error_at) > Date.parse(n.last_success))) {
    out.push({ sev: 'warn', kind: 'notifier', title: t('sum.notifier_failing'), next: t('sum.notifier_next'), raw: n.last_error, since: n.last_error_at, href: '#links' });
  }
  const a = st.alexa;
  if (a && a.enabled && a.last_error) {
    out.push({ sev: 'warn', kind: 'alexa', title: t('sum.alexa_failing'), next: t('sum.alexa_next'), raw: a.last_error, href: '#alexa' });
  }
  const up = typeof uplinkProblem === 'function' ? uplinkProblem(st) : null;
  if (up) out.push(up);
  // The gateway sends the worst devices (errors first, the oldest first),
  // a few, not all: the rest are one click on "Only problems" away.
  const devs = st.problems || [];
  for (const d of devs) {
    // The next step is on the card the entry links to: the summary stays
    // short enough to take in at a glance on a phone.
    out.push({ sev: d.fault.severity, kind: 'device', device: d, title: diagTitle(d.fault, d), since: d.fault.since, href: '#dev-' + d.id });
  }
  const more = (st.gateway.faulty || 0) - devs.length;
  if (more > 0) out.push({ sev: 'warn', kind: 'more', title: t('sum.more', { n: more }), more: true });
  return out;
}

function renderSummary() {
  if (!S.status) return;
  const list = problems();
  const n = list.filter(p => !p.more).length + Math.max(0, (S.status.gateway.faulty || 0) - (S.status.problems || []).length);
  $('nav-problems').textContent = n ? '(' + n + ')' : '';
  const summary = $('summary');
  summary.dataset.count = String(n);
  summary.classList.toggle('has-problems', list.length > 0);
  if (!list.length) {
    $('summary-list').replaceChildren(el('li', { class: 'problem ok', text: t('sum.none') }));
    return;
  }
  $('summary-list').replaceChildren(...list.map(p => el('li', { class: 'problem ' + p.sev, 'data-kind': p.kind, 'data-device': p.device ? p.device.id : null },
    el('div', { class: 'problem-head' },
      p.device ? el('a', { href: p.href, class: 'problem-name', onclick: (e) => { e.preventDefault(); showDevice(p.device.id); } }, p.device.name) : null,
      p.device && p.device.room_path ? el('span', { class: 'card-sub', text: p.device.room_path.join(' › ') }) : null),
    el('p', { class: 'problem-title' }, p.more ? el('button', { class: 'btn small ghost', type: 'button', 'data-action': 'all-problems',
      onclick: () => { setQuery({ problems: true, room: '', roomName: '', q: '' }); $('filter').value = ''; $('devices').scrollIntoView(); } }, p.title) :
      p.href && !p.device ? el('a', { href: p.href }, p.title) : p.title),
    p.since ? el('p', { class: 'diag-since' }, t('card.since'), ' ', timeEl(p.since)) : null,
    p.next ? el('p', { class: 'diag-next' }, el('span', { class: 'diag-next-label', text: t('card.next') + ': ' }), p.next) : null,
    p.raw ? rawEl(p.raw) : null)));
}

// ---- the event log ----

// rooms lists the site's rooms (nodes holding devices), with their path.
function rooms() {
  const out = [];
  const walk = (n, path) => {
    const p = path.concat(n.name);
    if (n.count) out.push({ id: n.id, name: p.join(' › ') });
    (n.children || []).forEach(c => walk(c, p));
  };
  ((S.status && S.status.site) || []).forEach(n => walk(n, []));
  return out;
}

function fillSelect(sel, options) {
  const keep = sel.value;
  sel.replaceChildren(...options.map(([v, text]) => el('option', { value: v }, text)));
  if (options.some(([v]) => v === keep)) sel.value = keep;
}

// evDevice is what the log knows of an event's device: the card's view
// when it is on the page, else the names the gateway put on the event.
function evDevice(e) {
  return S.devices.get(e.device) || (e.device ? { id: e.device, name: e.device_name || e.device, room_path: e.room_path } : null);
}

function renderEventFilters() {
  const byID = new Map();
  for (const e of S.events) if (e.device) byID.set(e.device, evDevice(e).name);
  const keep = $('ev-device').value;
  if (keep && !byID.has(keep)) byID.set(keep, keep);
  const devs = [...byID].sort((a, b) => a[1] < b[1] ? -1 : 1);
  const key = I18N.lang + '|' + devs.join('|');
  if (key !== renderEventFilters.devKey) fillSelect($('ev-device'), [['', t('ev.all_devices')], ...devs]);
  renderEventFilters.devKey = key;
  fillSelect($('ev-room'), [['', t('ev.all_rooms')], ...rooms().map(r => [r.id, r.name])]);
  fillSelect($('ev-level'), [['', t('ev.all_levels')], ['warn', t('ev.level_warn_up')], ['error', t('ev.level_error')]]);
}

const LEVELS = { info: 0, warn: 1, error: 2 };

// eventText words an event from its code, naming devices by name; an
// event without a code (an older daemon's) keeps its own text.
function eventText(e) {
  const d = evDevice(e);
  const p = Object.assign({}, e.params || {}, { device: d ? d.name : (e.device || '') });
  if (e.code === 'device_offline' && p.cause) p.cause = diagTitle({ code: p.cause, params: e.params }, d);
  if (e.code === 'device_offline' && !p.cause) return t('ev.device_offline_bare', p);
  if (e.code === 'command_failed') p.result = t('cmd.' + (p.result || 'error'));
  if (e.code === 'control') {
    const [verb, value] = (p.action || '').split(' ');
    const key = 'ev.action.' + (verb === 'alexa' ? 'alexa_sync' : verb);
    p.action = hasText(key) ? t(key, { v: value || '' }) : p.action;
    p.result = p.result === 'ok' ? t('ev.result.ok') : t('cmd.' + p.result);
  }
  if (e.code && hasText('ev.' + e.code)) return t('ev.' + e.code, p);
  return e.text;
}

function renderEvents() {
  const dev = $('ev-device').value, room = $('ev-room').value, level = $('ev-level').value;
  const list = S.events.filter(e => (!dev || e.device === dev) && (!room || e.room === room) &&
    (!level || (LEVELS[e.level] || 0) >= LEVELS[level])).slice(-100).reverse();
  $('event-list').replaceChildren(...(list.length ? list.map(e => {
    const d = evDevice(e);
    const where = d ? [d.name, ...(d.room_path || []).slice(-1)].join(' · ') : hasText('ev.source.' + e.source) ? t('ev.source.' + e.source) : e.source;
    return el('li', { class: 'lvl-' + e.level, 'data-code': e.code || '' },
      timeEl(e.at),
      el('div', {},
        el('div', { class: 'lvl-' + e.level }, el('span', { class: 'ev-level', text: t('level.' + e.level) }), ' ', eventText(e)),
        el('div', { class: 'ev-src', text: where }),
        e.raw ? rawEl(e.raw) : null));
  }) : [el('li', {}, el('span'), el('span', { class: 'muted-text', text: t('ev.none') }))]));
}
