// hubd status page: the embedded MQTT broker's device accounts. Loaded
// after app.js, whose helpers (S, $, el, api, toast, facts, kids, t) it
// uses. A new password is shown once, in this section, and never kept by
// the page.
'use strict';

function renderMQTTAccounts() {
  const list = $('mqtt-account-list');
  if (!list || !S.status) return;
  const accts = S.status.mqtt_accounts;
  // No embedded broker: nothing to say.
  $('mqtt-accounts').hidden = !accts;
  if (!accts) return;
  const control = !!(S.session && S.session.can_control);
  if (!control) $('mqtt-secret').replaceChildren();
  if (!accts.length) { list.replaceChildren(notConfigured('mqtta.none')); return; }
  list.replaceChildren(...accts.map(a => mqttAccountCard(a, control)));
}

function mqttAccountCard(a, control) {
  const refused = a.denied_publish + a.denied_subscribe > 0;
  const cls = refused ? 'bad' : a.has_password ? 'ok' : 'warn';
  // A refusal count above zero is what the technician must see first.
  const count = (n) => el('span', { class: n ? 'denied' : '', 'data-denied': n ? 'true' : 'false', text: String(n) });
  const op = a.has_password ? 'rotate' : 'create';
  return el('div', { class: 'card ' + cls, 'data-mqtt-account': a.name },
    el('div', { class: 'card-head' }, el('h3', { class: 'card-title', text: a.name }),
      el('span', { class: 'pill ' + (a.has_password ? 'ok' : 'warn'), 'data-field': 'password', text: t(a.has_password ? 'mqtta.has_password' : 'mqtta.no_password') })),
    facts([[t('mqtta.devices'), (a.devices || []).join(', ') || '—'],
      [t('mqtta.denied_publish'), count(a.denied_publish)], [t('mqtta.denied_subscribe'), count(a.denied_subscribe)]]),
    control ? el('div', { class: 'row' }, el('button', {
      class: 'btn small', type: 'button', 'data-action': 'mqtt-' + op, 'aria-label': t('mqtta.' + op + '_named', { name: a.name }),
      text: t('mqtta.' + op), onclick: () => mqttPassword(a, op),
    })) : null);
}

async function mqttPassword(a, op) {
  if (op === 'rotate' && !confirm(t('mqtta.rotate_confirm', { name: a.name }))) return;
  let r;
  try {
    r = await api('POST', `/api/mqtt-accounts/${encodeURIComponent(a.name)}/${op}`);
  } catch (e) {
    toast(t('mqtta.no_answer', { name: a.name }));
    return;
  }
  if (!r.ok) {
    if (r.status === 401) showLogin(t('login.ended'));
    toast(t('mqtta.failed', { name: a.name, why: r.data.error || r.status }));
    return;
  }
  const p = r.data;
  const box = $('mqtt-secret');
  box.replaceChildren(el('div', { class: 'card warn', 'data-field': 'mqtt-secret' },
    el('div', { class: 'card-title', text: t('mqtta.secret_title', { name: p.account }) }),
    facts([[t('mqtta.devices'), (p.devices || []).join(', ') || '—'], [t('mqtta.password'), el('code', { text: p.password })],
      [t('mqtta.password_line'), el('code', { text: p.password_file_line })]]),
    el('button', { class: 'btn small', type: 'button', text: t('mqtta.done'), onclick: () => box.replaceChildren() })));
  // The feed says so within a refresh; do not wait for it.
  a.has_password = true;
  renderMQTTAccounts();
}
