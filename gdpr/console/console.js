// Hush admin console: signs in with an admin token and drives the admin
// JSON API (docs/admin.md). No framework and no build step. Whatever the
// server returns is rendered with textContent, never parsed as HTML.
'use strict';

const TOKEN_KEY = 'hush-admin-token';
const AUDIT_SHOWN = 200; // newest entries the audit table shows
const $ = (id) => document.getElementById(id);

class APIError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// call sends a request to the admin API with the tab's token (or the one
// given) and returns the response, or throws an APIError carrying the
// server's message.
async function call(method, path, body, token = sessionStorage.getItem(TOKEN_KEY) || '') {
  const init = { method, headers: { Authorization: 'Bearer ' + token }, cache: 'no-store', credentials: 'omit' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  if (!resp.ok) {
    let msg = resp.statusText;
    try {
      msg = (await resp.json()).message || msg;
    } catch { /* not our JSON error body */ }
    throw new APIError(resp.status, `${resp.status}: ${msg}`);
  }
  return resp;
}

// api is call for JSON answers (null for 204 No Content).
async function api(method, path, body, token) {
  const resp = await call(method, path, body, token);
  return resp.status === 204 ? null : resp.json();
}

const accountPath = (subject) => '/admin/v1/accounts/' + encodeURIComponent(subject);
const when = (s) => (s ? new Date(s).toISOString().slice(0, 19).replace('T', ' ') + ' UTC' : '—');
const day = (s) => (s ? s.slice(0, 10) : '');
const count = (list) => (list || []).length;

// say shows a message in el; error marks it as a failure.
function say(el, text, error = false) {
  el.textContent = text;
  el.classList.toggle('error', error);
}

// guard runs an action that reports into msg: a 401 ends the session
// (the token was revoked), any other failure is shown.
async function guard(msg, action) {
  say(msg, '');
  try {
    await action();
  } catch (err) {
    if (err.status === 401) {
      signOut(err.message, true);
    } else {
      say(msg, err.message, true);
    }
  }
}

// facts fills a <dl> with [label, value, field] rows; field names the
// <dd> (data-field) for tests and styling.
function facts(dl, rows) {
  dl.replaceChildren();
  for (const [label, value, field] of rows) {
    const dt = document.createElement('dt');
    const dd = document.createElement('dd');
    dt.textContent = label;
    dd.textContent = String(value);
    if (field) dd.dataset.field = field;
    dl.append(dt, dd);
  }
}

// cell appends a cell to tr; wrap lets long text break anywhere.
function cell(tr, content, wrap = false) {
  const td = document.createElement('td');
  td.append(content);
  if (wrap) td.className = 'wrap';
  tr.append(td);
  return td;
}

function button(text, onClick) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = text;
  b.addEventListener('click', onClick);
  return b;
}

// Session.

function signedIn(me) {
  $('who-text').textContent = `Signed in as ${me.name || 'token ' + me.token} (${me.role})`;
  $('who').hidden = false;
  $('signin').hidden = true;
  $('app').hidden = false;
  showTab('accounts');
}

function signOut(message, error = false) {
  sessionStorage.removeItem(TOKEN_KEY);
  current = null;
  for (const id of ['who', 'app', 'account', 'export', 'receipt']) $(id).hidden = true;
  for (const id of ['requests-rows', 'audit-rows', 'account-facts', 'export-summary', 'export-json', 'receipt-facts']) {
    $(id).replaceChildren();
  }
  for (const id of ['accounts-msg', 'requests-msg', 'audit-msg']) say($(id), '');
  for (const id of ['lookup', 'confirm', 'audit-subject', 'req-subject']) $(id).value = '';
  $('signin').hidden = false;
  say($('signin-msg'), message, error);
  $('token').focus();
}

$('signin-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const token = $('token').value.trim();
  say($('signin-msg'), '');
  try {
    const me = await api('GET', '/admin/v1/whoami', undefined, token);
    sessionStorage.setItem(TOKEN_KEY, token);
    $('token').value = '';
    signedIn(me);
  } catch (err) {
    say($('signin-msg'), err.message, true);
  }
});

$('signout').addEventListener('click', () => signOut('Signed out.'));

function showTab(name) {
  for (const b of document.querySelectorAll('nav button')) {
    const on = b.dataset.tab === name;
    if (on) b.setAttribute('aria-current', 'page');
    else b.removeAttribute('aria-current');
    $(b.dataset.tab).hidden = !on;
  }
  if (name === 'requests') guard($('requests-msg'), loadRequests);
  if (name === 'audit') guard($('audit-msg'), loadAudit);
}

for (const b of document.querySelectorAll('nav button')) {
  b.addEventListener('click', () => showTab(b.dataset.tab));
}

// Accounts: lookup, export, erasure.

let current = null; // {subject: as typed (the API path and the confirmation), account}

$('lookup-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  guard($('accounts-msg'), lookup);
});

async function lookup() {
  const subject = $('lookup').value.trim();
  current = null;
  for (const id of ['account', 'export', 'receipt']) $(id).hidden = true;
  const a = await api('GET', accountPath(subject));
  current = { subject, account: a };
  facts($('account-facts'), [
    ['Account id', a.id, 'id'],
    ['Audit pseudonym', a.subject, 'subject'],
    ['Created', when(a.created)],
    ['Devices', a.devices, 'devices'],
    ['Queued envelopes', a.queued_envelopes],
    ['Groups', a.groups],
    ['Attachments', a.attachments],
  ]);
  $('confirm-want').textContent = subject;
  $('confirm').value = '';
  $('erase').disabled = true;
  $('account').hidden = false;
}

$('view-export').addEventListener('click', () => guard($('accounts-msg'), async () => {
  const e = await api('GET', accountPath(current.subject) + '/export');
  facts($('export-summary'), [
    ['Schema', e.schema],
    ['Generated', when(e.generated)],
    ['Account id', e.account.id, 'id'],
    ['Phone number', e.account.phone_number, 'number'],
    ['Created', when(e.account.created)],
    ['Last seen', `${when(e.account.last_seen)} (visible to: ${e.account.last_seen_visibility})`],
    ['Devices', count(e.devices), 'devices'],
    ['Queued envelopes', count(e.queued_envelopes), 'queued'],
    ['Groups', count(e.groups)],
    ['Attachments', count(e.attachments)],
    ['Push registrations', count(e.push_registrations)],
    ['Audit events', count(e.audit_events)],
  ]);
  $('export-json').textContent = JSON.stringify(e, null, 2);
  $('export').hidden = false;
}));

$('download-export').addEventListener('click', () => guard($('accounts-msg'), async () => {
  const blob = await (await call('GET', accountPath(current.subject) + '/export')).blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = `hush-export-${current.account.id}.json`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  say($('accounts-msg'), `Export downloaded as ${a.download}.`);
}));

$('account-audit').addEventListener('click', () => {
  $('audit-subject').value = current.account.subject;
  showTab('audit');
});

$('confirm').addEventListener('input', () => {
  $('erase').disabled = !current || $('confirm').value !== current.subject;
});

$('erase-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  if (!current || $('confirm').value !== current.subject) return;
  guard($('accounts-msg'), async () => {
    const rc = await api('POST', accountPath(current.subject) + '/erase', { confirm: $('confirm').value });
    const rows = Object.entries(rc.rows_deleted || {}).map(([table, n]) => `${table}: ${n}`);
    facts($('receipt-facts'), [
      ['Audit pseudonym', rc.subject, 'subject'],
      ['Erased', when(rc.erased)],
      ['Groups left', rc.groups_left],
      ['Rows deleted', rows.join(', ') || 'none'],
      ['Attachments deleted', rc.attachments_deleted],
      ['Audit entry', rc.audit_seq, 'seq'],
    ]);
    $('receipt-audit').dataset.subject = rc.subject;
    current = null;
    $('account').hidden = true;
    $('receipt').hidden = false;
    say($('accounts-msg'), 'Account erased.');
  });
});

$('receipt-audit').addEventListener('click', () => {
  $('audit-subject').value = $('receipt-audit').dataset.subject;
  showTab('audit');
});

// Requests.

async function loadRequests() {
  const { requests } = await api('GET', '/admin/v1/requests');
  const rows = (requests || []).map((q) => {
    const tr = document.createElement('tr');
    tr.dataset.id = q.id;
    for (const v of [q.id, q.kind, q.subject, day(q.received)]) cell(tr, v);
    const due = cell(tr, day(q.due));
    if (q.overdue) {
      tr.classList.add('overdue');
      const badge = document.createElement('strong');
      badge.className = 'badge';
      badge.textContent = 'overdue';
      due.append(' ', badge);
    }
    cell(tr, q.status + (q.closed ? ` ${day(q.closed)}` : ''));
    if (q.status === 'open') {
      const note = document.createElement('input');
      note.setAttribute('aria-label', `Note for ${q.id}`);
      note.placeholder = 'note';
      const close = (status) => () => guard($('requests-msg'), async () => {
        await api('POST', `/admin/v1/requests/${encodeURIComponent(q.id)}/close`, { status, note: note.value });
        await loadRequests();
        say($('requests-msg'), `Request ${q.id} closed as ${status}.`);
      });
      const td = cell(tr, note);
      td.append(button('Done', close('done')), button('Reject', close('rejected')));
    } else {
      cell(tr, q.note || '');
    }
    return tr;
  });
  $('requests-rows').replaceChildren(...rows);
}

$('request-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  guard($('requests-msg'), async () => {
    const body = { kind: $('req-kind').value, subject: $('req-subject').value.trim() };
    if ($('req-received').value) body.received = $('req-received').value;
    const q = await api('POST', '/admin/v1/requests', body);
    $('req-subject').value = '';
    await loadRequests();
    say($('requests-msg'), `Recorded ${q.id}, due ${day(q.due)}.`);
  });
});

// Audit log: the API pages forward from a sequence number, so the console
// reads to the end and keeps the newest entries.

async function loadAudit() {
  const subject = $('audit-subject').value.trim();
  let after = 0;
  let total = 0;
  let newest = [];
  for (;;) {
    const q = new URLSearchParams({ after: String(after), limit: '1000' });
    if (subject) q.set('subject', subject);
    const { entries } = await api('GET', '/admin/v1/audit?' + q);
    total += entries.length;
    newest = newest.concat(entries).slice(-AUDIT_SHOWN);
    if (entries.length < 1000) break;
    after = entries[entries.length - 1].seq;
  }
  const rows = newest.reverse().map((e) => {
    const tr = document.createElement('tr');
    tr.dataset.action = e.action;
    for (const v of [e.seq, when(e.at).replace(' UTC', ''), e.actor]) cell(tr, String(v));
    cell(tr, e.action, true);
    cell(tr, e.subject);
    cell(tr, e.detail, true);
    return tr;
  });
  $('audit-rows').replaceChildren(...rows);
  $('audit-caption').textContent = `Newest first: ${newest.length} of ${total} entries${subject ? ' about ' + subject : ''}.`;
}

$('audit-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  guard($('audit-msg'), loadAudit);
});

$('verify').addEventListener('click', () => guard($('audit-msg'), async () => {
  const v = await api('GET', '/admin/v1/audit/verify');
  if (v.ok) {
    say($('audit-msg'), `Chain verified: ${v.verified} entries intact.`);
  } else {
    say($('audit-msg'), `Chain broken after ${v.verified} entries: ${v.error}`, true);
  }
}));

// A reload keeps the session as long as the tab lives.
if (sessionStorage.getItem(TOKEN_KEY)) {
  api('GET', '/admin/v1/whoami').then(signedIn, (err) => signOut(err.message, true));
}
