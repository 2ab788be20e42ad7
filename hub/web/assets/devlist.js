// hubd status page: the device list, a page at a time. The gateway filters,
// searches and pages (GET /api/devices); the page it answers is what this
// viewer's live feed then carries, so at 10,000 devices the phone gets the
// fifty it shows, live, and a "list" hint when a change may move a device
// into or out of its filter.
'use strict';

const PAGE_SIZE = 50;

// S.query is what the list shows: search words, a site node, the problem
// toggles and the page's first device.
S.query = { q: '', room: '', roomName: '', problems: false, sort: 'room', offset: 0 };
S.order = []; // the page's device ids, in the gateway's order
S.pageInfo = { total: 0, offset: 0, limit: PAGE_SIZE };
S.early = new Map(); // device events that came while a page was fetched

// queryString is S.query as the gateway reads it; withFeed adds the feed's
// id so the page becomes what the feed carries.
function queryString(withFeed) {
  const p = new URLSearchParams();
  const q = S.query;
  if (q.q.trim()) p.set('q', q.q.trim());
  if (q.room) p.set('room', q.room);
  if (q.problems) p.set('problems', '1');
  if (q.sort !== 'room') p.set('sort', q.sort);
  if (q.offset) p.set('offset', String(q.offset));
  p.set('limit', String(PAGE_SIZE));
  if (withFeed && S.feedId) p.set('feed', S.feedId);
  return p.toString();
}

// loadPage fetches the page S.query asks for; one at a time, and a call
// while one runs fetches again once it is back.
async function loadPage() {
  if (loadPage.running) { loadPage.again = true; return; }
  loadPage.running = true;
  try {
    do {
      loadPage.again = false;
      const r = await api('GET', '/api/devices?' + queryString(true));
      if (r.ok) applyPage(r.data);
      else if (r.status === 401) showLogin(t('login.ended'));
      else if (r.status === 404 && S.feedId) { S.feedId = ''; connect(); } // the feed ended: a new one starts from S.query
      else toast(t('dev.load_failed', { why: r.data.error || r.status }));
    } while (loadPage.again);
  } catch (e) {
    toast(t('dev.load_failed', { why: t('login.no_answer') }));
  } finally {
    loadPage.running = false;
  }
}

// applyPage shows a page: its devices replace the last page's, and cards
// of devices that stay are kept (a control in flight keeps its result).
function applyPage(p) {
  S.devices = new Map(p.devices.map(d => [d.id, d]));
  for (const [id, d] of S.early) {
    const old = S.devices.get(id);
    if (old && d.seq > old.seq) S.devices.set(id, d);
  }
  S.early.clear();
  S.order = p.devices.map(d => d.id);
  S.pageInfo = { total: p.total, offset: p.offset, limit: p.limit };
  for (const [id, c] of S.cards) {
    if (!S.devices.has(id)) { c.root.remove(); S.cards.delete(id); }
  }
  renderDevices();
}

// setQuery changes the list's query and fetches its first page.
function setQuery(change) {
  Object.assign(S.query, change, change.offset === undefined ? { offset: 0 } : {});
  renderQuery();
  loadPage();
}

function renderQuery() {
  const q = S.query;
  $('problems-first').setAttribute('aria-pressed', String(q.sort === 'problems'));
  $('problems-only').setAttribute('aria-pressed', String(q.problems));
  const rf = $('room-filter');
  rf.hidden = !q.room;
  rf.textContent = q.room ? t('dev.room', { room: q.roomName || q.room }) + ' ✕' : '';
  rf.title = t('dev.room_clear');
}

// renderPager shows where the page sits and the buttons to move.
function renderPager() {
  const p = S.pageInfo;
  const from = p.total ? p.offset + 1 : 0, to = Math.min(p.total, p.offset + S.order.length);
  $('pager-range').textContent = t('dev.range', { from, to, total: p.total });
  $('pager-prev').disabled = p.offset <= 0;
  $('pager-next').disabled = p.offset + p.limit >= p.total;
  $('pager').hidden = p.total <= p.limit && p.offset === 0;
}

function movePage(dir) {
  const p = S.pageInfo;
  const offset = Math.max(0, Math.min(p.offset + dir * p.limit, Math.max(0, p.total - 1)));
  if (offset === S.query.offset) return;
  setQuery({ offset });
  $('devices').scrollIntoView();
}

// showDevice brings device id into the list (searching for it when it is
// not on this page) and scrolls to its card.
async function showDevice(id) {
  if (!S.cards.has(id)) {
    S.query = Object.assign(S.query, { q: id, room: '', roomName: '', problems: false, offset: 0 });
    $('filter').value = id;
    renderQuery();
    await loadPage();
  }
  const c = S.cards.get(id);
  if (c) c.root.scrollIntoView();
}

// subtotal counts the devices of a site node and everything under it.
function subtotal(n) { return (n.count || 0) + (n.children || []).reduce((a, c) => a + subtotal(c), 0); }

// renderTree draws the site: each node with how many devices it holds and
// a button that lists them.
function renderTree() {
  if (!S.status) return;
  const node = (n, path) => {
    const p = path.concat(n.name), total = subtotal(n);
    return el('li', {},
      el('div', { class: 'node' }, el('strong', { text: n.name }), el('span', { class: 'node-kind', text: t('node.' + n.kind) }),
        total ? el('button', { class: 'dev-link', type: 'button', 'data-node': n.id, 'aria-label': t('rooms.show_named', { room: p.join(' › ') }),
          onclick: () => { setQuery({ room: n.id, roomName: p.join(' › ') }); $('devices').scrollIntoView(); } }, t('rooms.show', { n: total })) : null),
      n.children && n.children.length ? el('ul', {}, n.children.map(c => node(c, p))) : null);
  };
  const site = S.status.site || [];
  $('tree').replaceChildren(site.length ? el('ul', {}, site.map(n => node(n, []))) : el('p', { class: 'notconf', text: t('rooms.none') }));
}

document.addEventListener('DOMContentLoaded', () => {
  let timer = 0;
  $('filter').addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => setQuery({ q: $('filter').value }), 250);
  });
  $('problems-first').addEventListener('click', () => setQuery({ sort: S.query.sort === 'problems' ? 'room' : 'problems' }));
  $('problems-only').addEventListener('click', () => setQuery({ problems: !S.query.problems }));
  $('room-filter').addEventListener('click', () => setQuery({ room: '', roomName: '' }));
  $('pager-prev').addEventListener('click', () => movePage(-1));
  $('pager-next').addEventListener('click', () => movePage(1));
});
