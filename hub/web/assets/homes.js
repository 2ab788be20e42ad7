// hubd status page: homes and residents, for managers only. Loaded after
// app.js, whose helpers (S, $, el, api, toast, timeEl) it uses. Passwords
// are shown once, in this panel, and never kept by the page.
'use strict';

async function renderHomes() {
  const panel = $('homes');
  const can = !!(S.session && S.session.can_manage);
  panel.hidden = !can;
  if (!can) { $('home-list').replaceChildren(); $('home-secret').replaceChildren(); return; }
  const r = await api('GET', '/api/homes');
  if (!r.ok) { $('home-list').replaceChildren(el('p', { class: 'notconf', text: 'Homes: ' + (r.data.error || r.status) })); return; }
  $('home-list').replaceChildren(...r.data.map(h => el('div', { class: 'card ' + (h.login ? 'ok' : 'muted') },
    el('div', { class: 'card-head' }, el('div', { class: 'card-title', text: h.name }), el('span', { class: 'pill muted', text: h.id })),
    facts([['Devices', (h.devices || []).join(', ') || '—'], ['Resident login', h.login || 'none'],
      h.login && ['Set', [timeEl(h.login_set_at), ' by ' + h.login_set_by]]]),
    el('div', { class: 'row' },
      el('button', { class: 'btn small', type: 'button', text: h.login ? 'New login' : 'Give login', onclick: () => homeChange(h, 'login') }),
      el('button', { class: 'btn small ghost', type: 'button', text: 'Check out', onclick: () => homeChange(h, 'checkout') })))));
}

async function homeChange(h, what) {
  if (what === 'checkout' && !confirm(`Check out ${h.name}? Every linked account of its residents loses access now, and its login changes.`)) return;
  if (what === 'login' && h.login && !confirm(`Give ${h.name} a new login? The current one and the accounts linked with it stop working.`)) return;
  const r = await api('POST', `/api/homes/${encodeURIComponent(h.id)}/${what}`);
  if (!r.ok) { toast(`${h.name}: ` + (r.data.error || r.status)); return; }
  const c = r.data;
  $('home-secret').replaceChildren(el('div', { class: 'card warn' },
    el('div', { class: 'card-title', text: `New resident login of ${h.name}: shown only now` }),
    c.revoked && c.revoked.length ? el('p', { text: 'Checked out; access revoked for: ' + c.revoked.join(', ') }) : null,
    facts([['Login', c.login], ['Password', el('code', { text: c.password })]]),
    el('button', { class: 'btn small', type: 'button', text: 'Done', onclick: () => $('home-secret').replaceChildren() })));
  renderHomes();
}
