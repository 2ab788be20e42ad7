// hubd status page: words and times. Every text the page shows comes from
// a catalogue (/api/i18n, one file per language under assets/i18n), so a
// language is a file, not a code change.
'use strict';

const I18N = { lang: 'en', langs: [], m: {} };
const LANG_KEY = 'hubd.lang';

// t words key with params: "{name}" in the text is params.name.
function t(key, params) {
  let s = I18N.m[key];
  if (s === undefined) return key;
  if (params) s = s.replace(/\{(\w+)\}/g, (all, k) => (params[k] === undefined || params[k] === null) ? all : String(params[k]));
  return s;
}
function hasText(key) { return I18N.m[key] !== undefined; }

// storedLang is the language a link asks for (?lang=ru), else the one
// chosen on this browser before; '' lets Accept-Language decide.
function storedLang() {
  const asked = new URLSearchParams(location.search).get('lang');
  if (asked) return asked;
  try { return localStorage.getItem(LANG_KEY) || ''; } catch (_) { return ''; }
}

// loadCatalogue fetches the words for lang ('' : as Accept-Language says)
// and fills the page's static text (data-i18n attributes).
async function loadCatalogue(lang) {
  const q = lang ? '?lang=' + encodeURIComponent(lang) : '';
  const r = await fetch('/api/i18n' + q, { credentials: 'same-origin', headers: { 'Accept': 'application/json' } });
  if (!r.ok) throw new Error('catalogue: ' + r.status);
  const c = await r.json();
  I18N.lang = c.lang;
  I18N.langs = c.languages || [];
  I18N.m = c.messages || {};
  document.documentElement.lang = c.lang;
  for (const e of document.querySelectorAll('[data-i18n]')) e.textContent = t(e.dataset.i18n);
  for (const e of document.querySelectorAll('[data-i18n-placeholder]')) e.placeholder = t(e.dataset.i18nPlaceholder);
  for (const e of document.querySelectorAll('[data-i18n-label]')) e.setAttribute('aria-label', t(e.dataset.i18nLabel));
  for (const e of document.querySelectorAll('[data-i18n-title]')) e.title = t(e.dataset.i18nTitle);
  const sel = document.getElementById('lang');
  sel.replaceChildren(...I18N.langs.map(l => {
    const o = document.createElement('option');
    o.value = l.code;
    o.textContent = l.name || l.code;
    o.selected = l.code === I18N.lang;
    return o;
  }));
  // Parts drawn on their own (discovery.js) redraw in the new words.
  document.dispatchEvent(new Event('hubd:i18n'));
}

// ---- times, from the gateway's clock ----

// clockSkew is the gateway's clock minus this browser's, learned from every
// snapshot and tick: "last seen" is the gateway's time, and a phone whose
// clock is off must not make it drift.
let clockSkew = 0;
function learnClock(gatewayNow) {
  const t0 = Date.parse(gatewayNow);
  if (isFinite(t0)) clockSkew = t0 - Date.now();
}
function gatewayNow() { return Date.now() + clockSkew; }

function agoSeconds(ts) { return Math.round((gatewayNow() - Date.parse(ts)) / 1000); }
function ago(ts) {
  if (!ts) return t('time.never');
  const s = Math.max(0, agoSeconds(ts));
  if (!isFinite(s)) return '?';
  if (s < 5) return t('time.just_now');
  if (s < 90) return t('time.s_ago', { n: s });
  if (s < 5400) return t('time.min_ago', { n: Math.round(s / 60) });
  if (s < 172800) return t('time.h_ago', { n: Math.round(s / 3600) });
  return t('time.d_ago', { n: Math.round(s / 86400) });
}
function stamp(ts) { return ts ? new Date(ts).toLocaleString(I18N.lang) : ''; }
function duration(sec) {
  const d = Math.floor(sec / 86400), h = Math.floor(sec % 86400 / 3600), m = Math.floor(sec % 3600 / 60);
  return d ? t('dur.d_h', { d, h }) : h ? t('dur.h_min', { h, m }) : t('dur.min_s', { m, s: sec % 60 });
}
