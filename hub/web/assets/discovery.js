// hubd status page: the "New devices" section. Discovered devices that no
// configured device is at, for a signed-in technician to adopt: give one an
// id, a name and a room and it is live at once. Kept apart from app.js;
// its words come from the catalogue (t from i18n.js), and it draws again
// whenever a catalogue arrives (the 'hubd:i18n' event).
'use strict';

(() => {
  const box = () => document.getElementById('new-devices');
  const make = (tag, attrs, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'text') e.textContent = v;
      else if (k === 'class') e.className = v;
      else e.setAttribute(k, v);
    }
    for (const k of kids) if (k) e.append(k);
    return e;
  };
  let csrf = '';

  async function session() {
    const r = await fetch('/api/session', { credentials: 'same-origin' });
    if (!r.ok) return '';
    const s = await r.json();
    return s.csrf || '';
  }

  function suggestID(d) {
    const base = (d.name || d.address.split(/[:/]/).pop() || 'device').toLowerCase();
    return base.replace(/[^a-z0-9._-]+/g, '-').replace(/^-+/, '').slice(0, 60) || 'device';
  }

  function card(d) {
    let caps = d.capabilities.join(', ');
    if (d.temperature_max_k) caps += ` (${d.temperature_min_k}..${d.temperature_max_k} K)`;
    const c = make('div', { class: 'card', 'data-address': d.address },
      make('h3', { text: `${hasText('kind.' + d.kind) ? t('kind.' + d.kind) : d.kind} ${d.address}` }),
      make('p', { text: [d.info.manufacturer, d.info.model, d.info.firmware].filter(Boolean).join(' ') }),
      make('p', { text: t('new.can', { caps: caps || t('new.can_nothing') }) }));
    if (d.unsupported) {
      c.append(make('p', { class: 'muted', text: t('new.unsupported', { why: d.unsupported }) }));
      return c;
    }
    const id = make('input', { name: 'id', value: suggestID(d), 'aria-label': t('new.id'), required: '' });
    const name = make('input', { name: 'name', value: d.name || '', placeholder: t('new.name'), 'aria-label': t('new.name') });
    const room = make('input', { name: 'room', placeholder: t('new.room'), 'aria-label': t('new.room'), required: '' });
    const msg = make('span', { class: 'muted' });
    const form = make('form', { class: 'adopt' }, id, name, room, make('button', { class: 'btn', type: 'submit', text: t('new.adopt') }), msg);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      msg.textContent = t('new.adopting');
      const body = JSON.stringify({ driver: d.driver, address: d.address, id: id.value, name: name.value, room: room.value });
      const r = await fetch('/api/adopt', { method: 'POST', credentials: 'same-origin', body,
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf } });
      const res = await r.json().catch(() => ({}));
      msg.textContent = r.ok ? t('new.adopted', { id: res.id }) : (res.error || r.statusText);
      if (r.ok) {
        showAccount(res);
        setTimeout(refresh, 500);
      }
    });
    c.append(form);
    return c;
  }

  // secret shows what the technician must copy now (a password is shown
  // this once); it stays until the page is left, outside the list that
  // refresh redraws.
  function secret(...lines) {
    const s = document.getElementById('new-secret');
    s.replaceChildren(...lines.filter(Boolean).map((l) => make('p', { text: l })));
    s.hidden = false;
  }

  // showAccount shows an adopted MQTT device's own login and what to do
  // with it.
  function showAccount(res) {
    const a = res.mqtt_account;
    if (!a) return;
    secret(t('new.adopted', { id: res.id }),
      a.password ? t('new.account', { user: a.account, password: a.password }) : t('new.account_kept', { user: a.account }),
      res.next);
  }

  const clock = (s) => new Date(s).toLocaleTimeString();

  // commission draws the commissioning window's state and buttons; st is
  // GET /api/commissioning's answer, or null where there is no embedded
  // broker.
  function commission(st) {
    const row = document.getElementById('commission');
    if (!st) { row.hidden = true; return; }
    row.hidden = false;
    document.getElementById('commission-state').textContent = st.open
      ? t('com.state', { until: clock(st.until), clients: st.clients, max: st.max_clients })
      : t('com.closed');
    document.getElementById('commission-open').hidden = st.open;
    document.getElementById('commission-close').hidden = !st.open;
  }

  async function commissionChange(path, body) {
    const r = await fetch(path, { method: 'POST', credentials: 'same-origin', body,
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf } });
    const st = await r.json().catch(() => ({}));
    if (!r.ok) { secret(t('com.failed', { why: st.error || r.statusText })); return; }
    commission(st);
    if (st.password) {
      secret(t('com.login', { user: st.user, password: st.password, ports: (st.ports || []).join(', '), until: clock(st.until) }));
    }
  }

  document.addEventListener('DOMContentLoaded', () => {
    document.getElementById('commission-open').addEventListener('click', () => commissionChange('/api/commissioning', '{"minutes":0}'));
    document.getElementById('commission-close').addEventListener('click', () => commissionChange('/api/commissioning/close', '{}'));
  });

  // forgetForm removes an adopted device by id (a device of the config
  // file is refused by the hub with the reason).
  function forgetForm() {
    const id = make('input', { name: 'forget-id', placeholder: t('new.forget_id'), 'aria-label': t('new.forget_id'), required: '' });
    const msg = make('span', { class: 'muted' });
    const form = make('form', { class: 'forget', id: 'forget-form' }, id, make('button', { class: 'btn', type: 'submit', text: t('new.forget') }), msg);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const r = await fetch('/api/forget', { method: 'POST', credentials: 'same-origin', body: JSON.stringify({ id: id.value }),
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf } });
      const res = await r.json().catch(() => ({}));
      msg.textContent = r.ok ? t('new.forgot', { id: res.id }) : (res.error || r.statusText);
    });
    return form;
  }

  async function refresh() {
    const b = box();
    if (!b) return;
    try {
      csrf = await session();
      if (!csrf) { b.hidden = true; return; }
      const r = await fetch('/api/discovered', { credentials: 'same-origin' });
      if (!r.ok) { b.hidden = true; return; }
      const list = await r.json();
      const c = await fetch('/api/commissioning', { credentials: 'same-origin' });
      commission(c.ok ? await c.json() : null);
      const cards = document.getElementById('new-list');
      if (document.activeElement && cards.contains(document.activeElement)) return; // typing
      cards.replaceChildren(...list.map(card));
      if (!document.getElementById('forget-form')) b.append(forgetForm());
      document.getElementById('new-count').textContent = String(list.length);
      b.hidden = false;
    } catch (e) {
      b.hidden = true;
    }
  }

  // The first catalogue starts the section (its words are there by then);
  // a later one (another language) draws it again, the forget form too.
  document.addEventListener('hubd:i18n', () => {
    const old = document.getElementById('forget-form');
    if (old) old.remove();
    refresh();
  });
  document.addEventListener('DOMContentLoaded', () => setInterval(refresh, 10000));
})();
