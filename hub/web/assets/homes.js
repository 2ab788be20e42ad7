// hubd status page: homes and residents, for managers only. Loaded after
// app.js, whose helpers (S, $, el, api, toast, timeEl, facts, t) it uses. Passwords
// are shown once, in this panel, and never kept by the page.
'use strict';

async function renderHomes() {
  const panel = $('homes');
  const can = !!(S.session && S.session.can_manage);
  panel.hidden = !can;
  if (!can) { $('home-list').replaceChildren(); $('home-secret').replaceChildren(); return; }
  const r = await api('GET', '/api/homes');
  if (!r.ok) { $('home-list').replaceChildren(el('p', { class: 'notconf', text: t('homes.failed', { why: r.data.error || r.status }) })); return; }
  $('home-list').replaceChildren(...r.data.map(h => el('div', { class: 'card ' + (h.login ? 'ok' : 'muted') },
    el('div', { class: 'card-head' }, el('div', { class: 'card-title', text: h.name }), el('span', { class: 'pill muted', text: h.id })),
    facts([[t('homes.devices'), (h.devices || []).join(', ') || '—'], [t('homes.login'), h.login || t('homes.no_login')],
      h.login && [t('homes.set'), [timeEl(h.login_set_at), h.login_set_by ? ' ' + t('homes.set_by', { user: h.login_set_by }) : '']]]),
    el('div', { class: 'row' },
      el('button', { class: 'btn small', type: 'button', text: h.login ? t('homes.new_login') : t('homes.give_login'), onclick: () => homeChange(h, 'login') }),
      el('button', { class: 'btn small ghost', type: 'button', text: t('homes.checkout'), onclick: () => homeChange(h, 'checkout') })))));
}

async function homeChange(h, what) {
  if (what === 'checkout' && !confirm(t('homes.confirm_checkout', { name: h.name }))) return;
  if (what === 'login' && h.login && !confirm(t('homes.confirm_new_login', { name: h.name }))) return;
  const r = await api('POST', `/api/homes/${encodeURIComponent(h.id)}/${what}`);
  if (!r.ok) { toast(t('homes.change_failed', { name: h.name, why: r.data.error || r.status })); return; }
  const c = r.data;
  $('home-secret').replaceChildren(el('div', { class: 'card warn' },
    el('div', { class: 'card-title', text: t('homes.secret_title', { name: h.name }) }),
    c.revoked && c.revoked.length ? el('p', { text: t('homes.revoked', { who: c.revoked.join(', ') }) }) : null,
    facts([[t('homes.login_label'), c.login], [t('homes.password'), el('code', { text: c.password })]]),
    el('button', { class: 'btn small', type: 'button', text: t('homes.done'), onclick: () => $('home-secret').replaceChildren() })));
  renderHomes();
}
