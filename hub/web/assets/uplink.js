// hubd status page: the fleet uplink, a card in the links section and an
// entry in the problems summary. Loaded after app.js and diag.js, whose
// helpers (S, $, el, t, facts, moreEl, timeEl, rawEl, bytes) it uses.
'use strict';

// uplinkFailing mirrors the gateway's verdict (hub/web/uplink.go): not
// connected while events wait for it.
function uplinkFailing(u) { return !!u && !u.connected && u.queued > 0; }

function renderUplink() {
  const box = $('uplink');
  if (!box || !S.status) return;
  const u = S.status.uplink;
  if (!u) { box.replaceChildren(notConfigured('links.uplink_none')); return; }
  const cls = !S.contact ? 'unknown' : u.connected ? 'ok' : uplinkFailing(u) ? 'bad' : 'warn';
  const since = !u.since ? [t('uplink.never'), '—'] : [t(u.connected ? 'uplink.connected_since' : 'uplink.down_since'), timeEl(u.since)];
  const count = (n) => el('span', { class: n ? 'denied' : '', text: String(n) });
  box.replaceChildren(el('div', { class: 'card ' + cls, 'data-uplink': u.broker },
    el('div', { class: 'card-head' }, el('h3', { class: 'card-title', text: u.broker }),
      el('span', { class: 'pill ' + cls, 'data-field': 'uplink-state', text: u.connected ? t('link.connected') : t('link.disconnected') })),
    facts([since, [t('uplink.queued'), el('span', { 'data-field': 'uplink-queued', class: u.queued && !u.connected ? 'denied' : '', text: t('uplink.queued_n', { n: u.queued, size: bytes(u.queued_bytes) }) })],
      [t('uplink.dropped'), count(u.dropped)], !u.connected && u.last_error && [t('link.last_error'), rawEl(u.last_error)]]),
    moreEl(facts([[t('uplink.sent'), u.events_sent], [t('uplink.missed'), count(u.missed)], [t('uplink.connects'), u.connects],
      [t('uplink.commands'), u.commands_accepted + ' / ' + u.commands_refused]]))));
}

// uplinkProblem is the summary's entry for a failing uplink, or null.
function uplinkProblem(st) {
  const u = st.uplink;
  if (!uplinkFailing(u)) return null;
  return { sev: 'warn', kind: 'uplink', title: t('sum.uplink_down', { broker: u.broker, n: u.queued }), next: t('sum.uplink_next'), raw: u.last_error, since: u.since, href: '#links' };
}
