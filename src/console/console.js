// The operator console: a page of the API, no build step. It talks to the API with the bearer
// token the person signs in with (kept in this tab's sessionStorage, never shown), and renders
// every text the API returns as text (never as HTML). Signing in also opens a session cookie
// (HttpOnly) that only the codec endpoints accept: the Temporal UI reads encrypted payloads with it.

const main = document.getElementById('main');
const who = document.getElementById('who');
const TOKEN = 'durable-runbooks.token';
let timers = [];
let gateTimers = [];
let me = null;

/** Builds an element: h('a', { href: '#' }, 'text', child…). Strings become text nodes. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat())
    if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(path, opts = {}) {
  const token = sessionStorage.getItem(TOKEN);
  const r = await fetch(path, {
    method: opts.method ?? 'GET',
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(opts.body ? { 'content-type': 'application/json' } : {}),
    },
    body: opts.body ? JSON.stringify(opts.body) : undefined,
  });
  if (r.status === 401) {
    sessionStorage.removeItem(TOKEN);
    me = null;
    throw new ApiError(401, 'Signed out: sign in again.');
  }
  const type = r.headers.get('content-type') ?? '';
  const body = type.includes('json') ? await r.json() : await r.text();
  if (!r.ok)
    throw new ApiError(r.status, typeof body === 'object' && body?.error ? body.error : `${r.status} ${r.statusText}`);
  return body;
}

const ago = (iso) => {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return s < 90
    ? `${s}s`
    : s < 5400
      ? `${Math.round(s / 60)}m`
      : s < 172800
        ? `${Math.round(s / 3600)}h`
        : `${Math.round(s / 86400)}d`;
};
const left = (iso) => {
  const s = Math.round((Date.parse(iso) - Date.now()) / 1000);
  if (s <= 0) return 'deadline passed';
  const m = Math.floor(s / 60);
  return m >= 60 ? `${Math.floor(m / 60)}h ${m % 60}m left` : `${m}m ${s % 60}s left`;
};
const every = (ms, fn) => timers.push(setInterval(fn, ms));
// Each route() is one page; a page still loading when the next one starts must not draw over it.
let routeGen = 0;
const stale = (gen) => gen !== routeGen;
const json = (v, max = 6000) => {
  const t = JSON.stringify(v, null, 2) ?? '';
  return t.length > max ? `${t.slice(0, max)}\n… (${t.length - max} more characters)` : t;
};
const can = (role) => me?.roles.includes(role);
const statusCell = (s) => h('span', { class: `status status-${s}` }, s);

function show(...nodes) {
  main.replaceChildren(...nodes);
}

/** Who the token is, and a session cookie for the Temporal UI's codec calls (a fresh one per page load: an API restart ends them unless RUNBOOK_STATE_DATABASE_URL keeps them). */
async function whoAmI() {
  me = await api('/me');
  await api('/session', { method: 'POST' });
  who.replaceChildren(
    `${me.name} (${me.roles.join(', ')}) `,
    h('button', { type: 'button', class: 'link', onclick: signOut }, 'Sign out'),
  );
}

async function signOut() {
  await api('/session', { method: 'DELETE' }).catch(() => undefined);
  sessionStorage.removeItem(TOKEN);
  me = null;
  who.replaceChildren();
  location.hash = '#/signin';
}

// --- sign in -------------------------------------------------------------------------------

const BACK = 'durable-runbooks.back';

/** Where to land after signing in: the page that asked for it (a link from a chat message), else the runs. */
function backTo() {
  return location.hash && location.hash !== '#/signin' && !location.hash.startsWith('#/sso/')
    ? location.hash
    : '#/runs';
}

/** The provider sent us back with a one-time sign-in id: redeem it for this tab's bearer token. */
async function finishSso(id) {
  const r = await fetch('/auth/handoff', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id }),
  });
  const body = await r.json();
  if (!r.ok) return signIn(body.error ?? 'The sign-in could not be completed: sign in again.');
  sessionStorage.setItem(TOKEN, body.token);
  const back = sessionStorage.getItem(BACK) ?? '#/runs';
  sessionStorage.removeItem(BACK);
  history.replaceState(null, '', `/console/${back}`); // the one-time id leaves the address bar
  await route();
}

function signIn(message) {
  const back = backTo();
  const input = h('input', {
    type: 'password',
    id: 'token',
    autocomplete: 'off',
    required: true,
    'aria-describedby': 'token-hint',
  });
  const error = h('p', { class: 'error', role: 'alert' }, message ?? '');
  const form = h(
    'form',
    {
      onsubmit: async (e) => {
        e.preventDefault();
        sessionStorage.setItem(TOKEN, input.value.trim());
        try {
          await whoAmI();
          if (location.hash === back) await route();
          else location.hash = back;
        } catch (err) {
          sessionStorage.removeItem(TOKEN);
          error.textContent =
            err.status === 401 || err.message.startsWith('Signed out')
              ? 'That token is not known to the API.'
              : err.message;
        }
      },
    },
    h('label', { for: 'token' }, 'API token'),
    input,
    h(
      'p',
      { class: 'hint', id: 'token-hint' },
      'Your bearer token for the API (npm start writes development ones to .data/dev-tokens.json). It stays in this tab only.',
    ),
    h('div', { class: 'actions' }, h('button', { class: 'primary', type: 'submit' }, 'Sign in')),
    error,
  );
  show(h('h1', {}, 'Sign in'), form);
  input.focus();
  // With single sign-on configured, people sign in with the provider; tokens stay for machines and development.
  fetch('/auth/config')
    .then((r) => r.json())
    .then((cfg) => {
      if (!cfg.sso) return;
      const sso = h(
        'button',
        {
          class: 'primary',
          type: 'button',
          onclick: () => {
            sessionStorage.setItem(BACK, back);
            location.href = '/auth/login';
          },
        },
        `Sign in with ${cfg.provider}`,
      );
      form.before(h('div', { class: 'actions sso' }, sso), h('p', { class: 'hint' }, 'Or with an API token:'));
      sso.focus();
    })
    .catch(() => undefined);
}

// --- runs ----------------------------------------------------------------------------------

async function runsPage() {
  const gen = routeGen;
  const catalogue = await api('/runbooks');
  if (stale(gen)) return;
  const params = new URLSearchParams(location.hash.split('?')[1] ?? '');
  const runbook = h(
    'select',
    { id: 'f-runbook', 'aria-label': 'Runbook' },
    h('option', { value: '' }, 'any runbook'),
    catalogue.runbooks.map((r) => h('option', { value: r.name, selected: params.get('runbook') === r.name }, r.name)),
  );
  const target = h('input', {
    type: 'text',
    id: 'f-target',
    placeholder: 'target',
    'aria-label': 'Target',
    value: params.get('target') ?? '',
  });
  const status = h(
    'select',
    { id: 'f-status', 'aria-label': 'Status' },
    h('option', { value: '' }, 'any status'),
    ['running', 'waiting', 'completed', 'failed', 'aborted', 'timed-out'].map((s) =>
      h('option', { value: s, selected: params.get('status') === s }, s),
    ),
  );
  const body = h('tbody');
  const error = h('p', { class: 'error', role: 'alert' });
  const load = async () => {
    const q = new URLSearchParams();
    if (runbook.value) q.set('runbook', runbook.value);
    if (target.value.trim()) q.set('target', target.value.trim());
    if (status.value) q.set('status', status.value);
    q.set('limit', '100');
    try {
      const { runs } = await api(`/runs?${q}`);
      error.textContent = '';
      body.replaceChildren(
        ...(runs.length
          ? runs.map((r) =>
              h(
                'tr',
                {},
                h('td', {}, h('a', { href: `#/run/${encodeURIComponent(r.id)}` }, r.runbook)),
                h('td', {}, r.target),
                h('td', {}, statusCell(r.status)),
                h('td', {}, r.phase),
                h('td', {}, r.initiator),
                h('td', { title: r.startedAt }, ago(r.startedAt)),
              ),
            )
          : [h('tr', {}, h('td', { colspan: 6 }, 'No runs match.'))]),
      );
    } catch (err) {
      error.textContent = err.message;
    }
  };
  for (const el of [runbook, status]) el.addEventListener('change', load);
  target.addEventListener('input', load);
  show(
    h('h1', {}, 'Runs'),
    h('div', { class: 'filters', role: 'search' }, runbook, target, status),
    error,
    h(
      'table',
      { class: 'runs' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['Runbook', 'Target', 'Status', 'Phase', 'Initiator', 'Age'].map((t) => h('th', { scope: 'col' }, t)),
        ),
      ),
      body,
    ),
  );
  await load();
  if (!stale(gen)) every(3000, load);
}

// --- one run -------------------------------------------------------------------------------

function gateCard(run, g) {
  const comment = h('textarea', { id: `comment-${g.gate}`, 'aria-label': `Comment for ${g.gate}` });
  const result = h('p', { role: 'alert', class: 'error' });
  const decide =
    (decision, extra = () => ({})) =>
    async () => {
      result.className = 'error';
      result.textContent = '';
      try {
        const more = extra();
        await api(`/runs/${encodeURIComponent(run.id)}/gates/${encodeURIComponent(g.gate)}`, {
          method: 'POST',
          body: {
            decision,
            planDigest: g.planDigest,
            ...more,
            ...(comment.value.trim() ? { comment: comment.value.trim() } : {}),
          },
        });
        result.className = 'notice';
        result.textContent = decision === 'reject' ? 'Rejected.' : more.action === 'skip' ? 'Skipped.' : 'Approved.';
        setTimeout(refreshRun, 300);
      } catch (err) {
        result.textContent = `Refused: ${err.message}`;
      }
    };
  const p = g.policy;
  const countdown = h('span', { class: 'countdown' }, left(g.deadline));
  gateTimers.push(
    setInterval(() => {
      countdown.textContent = left(g.deadline);
    }, 1000),
  );
  const recovery = g.kind === 'recovery' ? recoveryControls(g, decide) : undefined;
  return h(
    'section',
    { class: 'gate', 'aria-labelledby': `gate-${g.gate}` },
    h(
      'h2',
      { id: `gate-${g.gate}` },
      recovery ? `Step failed, waiting for a decision: ${g.gate}` : `Waiting for approval: ${g.gate}`,
    ),
    h('p', { class: 'prompt' }, g.prompt),
    h(
      'p',
      { class: 'policy' },
      `Who may approve: ${p.approvers.join(', ') || 'anyone'}${p.secondaryApprovers.length ? ` (after escalation also ${p.secondaryApprovers.join(', ')})` : ''}; `,
      `approvals: ${g.approvals.length} of ${p.approvalsNeeded}${g.approvals.length ? ` (${g.approvals.map((a) => a.by).join(', ')})` : ''}; `,
      `${p.fourEyes ? `four-eyes: ${run.initiator} (who started it) may not approve; ` : ''}`,
      'deadline: ',
      countdown,
      ` (${g.deadline}). Plan digest ${g.planDigest}.`,
    ),
    h(
      'div',
      { class: 'evidence' },
      h('h3', {}, 'Evidence'),
      evidenceSections(g.view),
      h('details', { class: 'raw' }, h('summary', {}, 'raw JSON'), h('pre', {}, json(g.evidence))),
    ),
    can('approver')
      ? [
          recovery?.warning,
          ...(recovery?.correction ?? []),
          h('label', { for: `comment-${g.gate}` }, 'Comment (optional)'),
          comment,
          recovery?.actions ??
            h(
              'div',
              { class: 'actions' },
              h('button', { class: 'approve', type: 'button', onclick: decide('approve') }, `Approve ${g.gate}`),
              h('button', { class: 'reject', type: 'button', onclick: decide('reject') }, `Reject ${g.gate}`),
            ),
        ]
      : h('p', { class: 'hint' }, 'You lack the approver role: you can read the gate, not decide it.'),
    result,
  );
}

/**
 * A gate's evidence as the API reads it (src/evidence/view.ts): facts, lists, tables and code,
 * never JSON. The raw evidence stays one click away in the card's closed "raw JSON".
 */
function evidenceSections(view) {
  if (!Array.isArray(view)) return h('p', { class: 'hint' }, 'This API sends no evidence view: open "raw JSON".');
  if (view.length === 0) return h('p', { class: 'hint' }, 'No evidence recorded.');
  return view.map((s) => {
    let body;
    if (s.kind === 'facts')
      body = h(
        'dl',
        { class: 'facts' },
        s.facts.flatMap((f) => [h('dt', {}, f.label), h('dd', {}, f.value)]),
      );
    else if (s.kind === 'list')
      body = s.items.length
        ? h(
            'ul',
            {},
            s.items.map((i) => h('li', {}, i)),
          )
        : null;
    else if (s.kind === 'table') {
      body = s.rows.length
        ? h(
            'div',
            { class: 'scroll' },
            h(
              'table',
              { class: 'evidence-table' },
              h(
                'thead',
                {},
                h(
                  'tr',
                  {},
                  s.columns.map((c) => h('th', { scope: 'col' }, c)),
                ),
              ),
              h(
                'tbody',
                {},
                s.rows.map((r) =>
                  h(
                    'tr',
                    {},
                    r.map((c) => h('td', {}, c)),
                  ),
                ),
              ),
            ),
          )
        : null;
    } else body = h('pre', { class: `code lang-${s.language}` }, h('code', {}, s.text));
    return h(
      'section',
      { class: `evidence-${s.kind}` },
      h('h4', {}, s.title),
      body,
      s.note ? h('p', { class: 'hint' }, s.note) : null,
    );
  });
}

/** The run waits for a person's input that is not a decision: today the root-cause note. */
function noteCard(run, w) {
  const note = h('textarea', { id: 'root-cause-note', rows: 5, 'aria-label': 'Root-cause note' });
  const result = h('p', { role: 'alert', class: 'error' });
  const send = async () => {
    result.className = 'error';
    result.textContent = '';
    if (!note.value.trim()) {
      result.textContent = 'Write the note first: what failed, why, and the permanent fix.';
      return;
    }
    try {
      await api(`/runs/${encodeURIComponent(run.id)}/root-cause`, {
        method: 'POST',
        body: { note: note.value.trim() },
      });
      result.className = 'notice';
      result.textContent = 'Recorded.';
      setTimeout(refreshRun, 300);
    } catch (err) {
      result.textContent = `Refused: ${err.message}`;
    }
  };
  return h(
    'section',
    { class: 'gate', 'aria-labelledby': 'awaiting-note' },
    h('h2', { id: 'awaiting-note' }, `Waiting for the ${w.input} note`),
    h('p', { class: 'prompt' }, w.prompt),
    h(
      'p',
      { class: 'policy' },
      `Until ${w.deadline} (${left(w.deadline)} left); after that the run ends without it and the timeline says the note is missing.`,
    ),
    can('operator')
      ? [
          h('label', { for: 'root-cause-note' }, 'Root cause'),
          note,
          h(
            'div',
            { class: 'actions' },
            h('button', { class: 'approve', type: 'button', onclick: send }, 'Record the root cause'),
          ),
        ]
      : h('p', { class: 'hint' }, 'You lack the operator role: you can read this, not write the note.'),
    result,
  );
}

/**
 * A recovery gate's actions, in the order its evidence suggests. After the same error twice the
 * unchanged retry is still offered (the cause may have been fixed outside the run), but last and plain.
 */
function recoveryControls(g, decide) {
  const ev = g.evidence && typeof g.evidence === 'object' ? g.evidence : {};
  // Runs from before the gate counted its failures carry no suggestions: every action, retry first.
  const suggested = Array.isArray(ev.suggested) ? ev.suggested : ['retry', ...(g.skippable ? ['skip'] : []), 'abort'];
  const step = typeof ev.step === 'string' ? ev.step : g.gate;
  const fields = ev.corrections && typeof ev.corrections === 'object' ? ev.corrections : undefined;
  const text =
    fields &&
    h('textarea', {
      id: `correction-${g.gate}`,
      'aria-label': `Correction for ${step}`,
      placeholder: JSON.stringify(Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, `<${v}>`]))),
    });
  const corrected = () => {
    let value;
    try {
      value = JSON.parse(text.value);
    } catch {
      throw new Error(`The correction must be a JSON object, e.g. ${text.placeholder}.`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      throw new Error(`The correction must be a JSON object, e.g. ${text.placeholder}.`);
    return { action: 'retry', correction: value };
  };
  const buttons = {
    retry: h(
      'button',
      { class: 'approve', type: 'button', onclick: decide('approve', () => ({ action: 'retry' })) },
      `Retry ${step}`,
    ),
    correct:
      fields &&
      h(
        'button',
        { class: 'approve', type: 'button', onclick: decide('approve', corrected) },
        `Retry ${step} with the correction`,
      ),
    skip:
      g.skippable &&
      h('button', { type: 'button', onclick: decide('approve', () => ({ action: 'skip' })) }, `Skip ${step}`),
    abort: h('button', { class: 'reject', type: 'button', onclick: decide('reject') }, 'Reject: abort and undo'),
  };
  const unchanged =
    !suggested.includes('retry') &&
    h(
      'button',
      { type: 'button', onclick: decide('approve', () => ({ action: 'retry' })) },
      `Retry ${step} unchanged (only if you fixed the cause outside this run)`,
    );
  return {
    warning: ev.sameErrorAsLast
      ? h(
          'p',
          { class: 'error' },
          `Failed ${ev.failures} times, the last retry unchanged and with the same error: retrying unchanged will fail again.`,
        )
      : null,
    correction: text
      ? [h('label', { for: `correction-${g.gate}` }, `Correction (JSON: ${Object.keys(fields).join(', ')})`), text]
      : null,
    actions: h(
      'div',
      { class: 'actions' },
      suggested.map((a) => buttons[a]),
      unchanged,
    ),
  };
}

function journalTable(entries) {
  return h(
    'table',
    { class: 'journal' },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ['Step', 'Kind', 'Outcome', 'Actor', 'Started', 'Took', 'Evidence'].map((t) => h('th', { scope: 'col' }, t)),
      ),
    ),
    h(
      'tbody',
      {},
      entries.map((e) =>
        h(
          'tr',
          {},
          h('td', {}, e.step),
          h('td', {}, e.kind),
          h(
            'td',
            { class: `outcome-${e.outcome}` },
            e.outcome,
            e.error ? h('div', { class: 'error' }, e.error) : null,
            e.comment ? h('div', { class: 'hint' }, e.comment) : null,
          ),
          h('td', {}, e.actor),
          h('td', { title: e.startedAt }, new Date(e.startedAt).toLocaleTimeString()),
          h('td', {}, e.durationMs !== undefined ? `${e.durationMs} ms` : ''),
          h(
            'td',
            {},
            e.evidence !== undefined || e.inputs
              ? h(
                  'details',
                  {},
                  h('summary', {}, 'show'),
                  h('pre', {}, json({ inputs: e.inputs, evidence: e.evidence }, 3000)),
                )
              : '',
          ),
        ),
      ),
    ),
  );
}

let refreshRun = () => undefined;

async function runPage(id) {
  const gen = routeGen;
  const head = h('div');
  const gates = h('div');
  const outcome = h('div');
  const journal = h('div');
  const timeline = h('textarea', {
    id: 'timeline',
    readonly: true,
    rows: 12,
    'aria-label': 'Incident timeline (Markdown)',
  });
  const copied = h('span', { role: 'status', class: 'hint' });
  let gateKey = '';
  const render = async () => {
    const run = await api(`/runs/${encodeURIComponent(id)}`);
    head.replaceChildren(
      h('h1', {}, `${run.runbook} on ${run.target}`),
      h(
        'p',
        {},
        statusCell(run.status),
        ` · phase ${run.phase} · started by ${run.initiator} ${ago(run.startedAt)} ago · `,
        h('a', { href: run.uiUrl, target: '_blank', rel: 'noopener' }, 'open in the Temporal UI'),
        ` · id ${run.id}`,
      ),
    );
    // Re-render gates only when they change: a comment being typed is not wiped by the refresh.
    // Re-render gates only when they change (a re-opened gate has a new opening and plan): a comment being typed is not wiped by the refresh.
    const key = JSON.stringify([
      run.pendingGates.map((g) => [g.gate, g.opening, g.planDigest, g.approvals.length, g.escalation]),
      run.awaiting?.openedAt,
    ]);
    if (key !== gateKey) {
      gateKey = key;
      for (const t of gateTimers.splice(0)) clearInterval(t);
      gates.replaceChildren(
        ...run.pendingGates.map((g) => gateCard(run, g)),
        ...(run.awaiting ? [noteCard(run, run.awaiting)] : []),
      );
    }
    const r = run.result;
    const dry = sessionStorage.getItem(`dry:${run.id}`);
    outcome.replaceChildren(
      ...(run.error ? [h('h2', {}, 'Error'), h('p', { class: 'error' }, run.error)] : []),
      ...(r && Array.isArray(r.summary)
        ? [
            h('h2', {}, run.status === 'completed' ? 'Result' : 'Summary'),
            h(
              'ul',
              { class: 'summary' },
              r.summary.map((s) => h('li', {}, s)),
            ),
          ]
        : []),
      ...(dry && run.status === 'completed' && can('operator')
        ? [
            h(
              'div',
              { class: 'actions' },
              h(
                'button',
                { class: 'primary', type: 'button', onclick: () => startFor(JSON.parse(dry), false) },
                'Start it for real',
              ),
            ),
          ]
        : []),
    );
    journal.replaceChildren(h('h2', {}, 'Journal'), journalTable(run.journal ?? []));
  };
  refreshRun = () => render().catch(() => undefined);
  show(
    head,
    gates,
    outcome,
    journal,
    h('h2', {}, 'Incident timeline'),
    h(
      'div',
      { class: 'actions' },
      h(
        'button',
        {
          type: 'button',
          onclick: async () => {
            timeline.value = await api(`/runs/${encodeURIComponent(id)}/timeline?format=md`);
          },
        },
        'Load the timeline (Markdown)',
      ),
      h(
        'button',
        {
          type: 'button',
          onclick: async () => {
            await navigator.clipboard.writeText(timeline.value).then(
              () => {
                copied.textContent = 'Copied.';
              },
              () => {
                timeline.select();
                copied.textContent = 'Select-all done: copy with Ctrl+C.';
              },
            );
          },
        },
        'Copy',
      ),
    ),
    timeline,
    copied,
  );
  await render();
  if (!stale(gen)) every(2000, refreshRun);
}

// --- schedules -----------------------------------------------------------------------------

/** How a scheduled check's last run went: its state, and for a finished check whether it found a problem. */
async function lastResult(s) {
  const last = s.recentRuns[s.recentRuns.length - 1];
  if (!last) return null;
  try {
    const run = await api(`/runs/${encodeURIComponent(last.id)}`);
    const problem = run.result?.healthy === false;
    if (run.status === 'completed')
      return { ...last, text: problem ? 'found a problem' : 'healthy', cls: problem ? 'failed' : 'completed' };
    return { ...last, text: run.status, cls: run.status };
  } catch (err) {
    return { ...last, text: err.status === 404 ? 'run not found' : err.message, cls: 'failed' };
  }
}

/** The scheduled checks (Temporal Schedules): everyone reads them; operators pause, resume and delete, as the API allows. */
async function schedulesPage() {
  const gen = routeGen;
  const body = h('tbody');
  const error = h('p', { class: 'error', role: 'alert' });
  const done = h('p', { class: 'notice', role: 'status' });
  let shownKey = '';
  // What a person is in the middle of (a note typed, a delete to confirm) survives a redraw of the list.
  const typing = new Map();
  const confirming = new Set();
  const act = (label, fn) => async () => {
    error.textContent = '';
    done.textContent = '';
    try {
      await fn();
      done.textContent = label;
      await load();
    } catch (err) {
      error.textContent = `Refused: ${err.message}`;
    }
  };
  const controls = (s) => {
    if (!can('operator')) return null;
    const path = `/schedules/${encodeURIComponent(s.id)}`;
    const note = h('input', {
      type: 'text',
      id: `note-${s.id}`,
      'aria-label': `Note for ${s.id}`,
      placeholder: s.paused ? 'why resume (optional)' : 'why pause (optional)',
      value: typing.get(s.id),
      oninput: () => typing.set(s.id, note.value),
    });
    const withNote = () => {
      typing.delete(s.id);
      return note.value.trim() ? { note: note.value.trim() } : {};
    };
    const toggle = s.paused
      ? h(
          'button',
          {
            type: 'button',
            onclick: act(`Resumed ${s.id}.`, () => api(`${path}/unpause`, { method: 'POST', body: withNote() })),
          },
          `Resume ${s.id}`,
        )
      : h(
          'button',
          {
            type: 'button',
            onclick: act(`Paused ${s.id}.`, () => api(`${path}/pause`, { method: 'POST', body: withNote() })),
          },
          `Pause ${s.id}`,
        );
    // Deleting asks once more, in the page (a dialog is easy to dismiss by accident on a phone).
    const confirm = h(
      'button',
      {
        class: 'reject',
        type: 'button',
        hidden: !confirming.has(s.id),
        onclick: act(`Deleted ${s.id}; its past runs stay.`, () => {
          confirming.delete(s.id);
          return api(path, { method: 'DELETE' });
        }),
      },
      `Really delete ${s.id}`,
    );
    const del = h(
      'button',
      {
        type: 'button',
        onclick: () => {
          confirming.add(s.id);
          confirm.hidden = false;
          confirm.focus();
        },
      },
      `Delete ${s.id}`,
    );
    return h('div', { class: 'schedule-controls' }, note, h('div', { class: 'actions' }, toggle, del, confirm));
  };
  const load = async () => {
    const { schedules } = await api('/schedules');
    const results = await Promise.all(schedules.map(lastResult));
    if (stale(gen)) return;
    // Redrawn only when something changed: a note being typed is not wiped by the refresh.
    const key = JSON.stringify([schedules.map((s) => [s.id, s.paused, s.note, s.nextRunAt]), results]);
    if (key === shownKey) return;
    shownKey = key;
    body.replaceChildren(
      ...(schedules.length
        ? schedules.map((s, i) => {
            const r = results[i];
            return h(
              'tr',
              {},
              h(
                'td',
                {},
                h('a', { href: s.uiUrl, target: '_blank', rel: 'noopener', title: 'open in the Temporal UI' }, s.id),
              ),
              h('td', { 'data-label': 'Runbook' }, s.runbook),
              h('td', { 'data-label': 'Target' }, s.target),
              h('td', { 'data-label': 'Every' }, s.every),
              h(
                'td',
                { 'data-label': 'State' },
                s.paused ? h('span', { class: 'status status-waiting' }, 'paused') : 'active',
                s.note ? h('div', { class: 'hint' }, s.note) : null,
              ),
              h(
                'td',
                { 'data-label': 'Next run', title: s.nextRunAt ?? '' },
                s.paused || !s.nextRunAt ? '—' : new Date(s.nextRunAt).toLocaleString(),
              ),
              h(
                'td',
                { 'data-label': 'Last result' },
                r
                  ? [
                      h(
                        'a',
                        { href: `#/run/${encodeURIComponent(r.id)}` },
                        h('span', { class: `status status-${r.cls}` }, r.text),
                      ),
                      h('span', { class: 'hint', title: r.scheduledAt }, ` ${ago(r.scheduledAt)} ago`),
                    ]
                  : h('span', { class: 'hint' }, 'not run yet'),
              ),
              h('td', {}, controls(s)),
            );
          })
        : [
            h(
              'tr',
              {},
              h(
                'td',
                { colspan: 8 },
                'No scheduled checks. Create one: runbook schedule create db-access --target <name> --every 15m',
              ),
            ),
          ]),
    );
  };
  show(
    h('h1', {}, 'Schedules'),
    h(
      'p',
      { class: 'hint' },
      'Read-only checks that run on their own: one per runbook and target; a run still going when the next is due is skipped.',
      can('operator') ? '' : ' You lack the operator role: you can read them, not pause or delete them.',
    ),
    error,
    done,
    h(
      'table',
      { class: 'runs schedules' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['Schedule', 'Runbook', 'Target', 'Every', 'State', 'Next run', 'Last result', ''].map((t) =>
            h('th', { scope: 'col' }, t),
          ),
        ),
      ),
      body,
    ),
  );
  await load();
  if (!stale(gen))
    every(5000, () =>
      load().catch((err) => {
        error.textContent = err.message;
      }),
    );
}

// --- start a runbook -----------------------------------------------------------------------

async function startFor(req, dryRun) {
  const { id } = await api(`/runbooks/${encodeURIComponent(req.runbook)}/runs`, {
    method: 'POST',
    body: { target: req.target, input: req.input, dryRun },
  });
  if (dryRun) sessionStorage.setItem(`dry:${id}`, JSON.stringify(req));
  location.hash = `#/run/${encodeURIComponent(id)}`;
}

function field(name, schema, required) {
  const id = `in-${name}`;
  const label = h('label', { for: id }, `${name}${required ? ' (required)' : ''}`);
  const hint = schema.description ? h('p', { class: 'hint', id: `${id}-hint` }, schema.description) : null;
  let input;
  if (schema.type === 'boolean')
    input = h('input', { type: 'checkbox', id, 'aria-describedby': hint ? `${id}-hint` : undefined });
  else if (schema.enum)
    input = h(
      'select',
      { id },
      h('option', { value: '' }, '(default)'),
      schema.enum.map((v) => h('option', { value: v }, v)),
    );
  else if (schema.type === 'integer' || schema.type === 'number') input = h('input', { type: 'number', id, required });
  else if (schema.type === 'array') input = h('input', { type: 'text', id, placeholder: 'comma-separated', required });
  else if (schema.type === 'object') input = h('textarea', { id, placeholder: '{ } (JSON)' });
  else input = h('input', { type: 'text', id, required });
  const read = () => {
    if (schema.type === 'boolean') return input.checked ? true : undefined;
    const v = input.value.trim();
    if (!v) return undefined;
    if (schema.type === 'integer' || schema.type === 'number') return Number(v);
    if (schema.type === 'array')
      return v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    if (schema.type === 'object') return JSON.parse(v);
    return v;
  };
  return {
    node:
      schema.type === 'boolean'
        ? h('div', {}, h('label', { class: 'inline', for: id }, input, name), hint)
        : h('div', {}, label, input, hint),
    read,
  };
}

async function startPage() {
  if (!can('operator'))
    return show(
      h('h1', {}, 'Start a runbook'),
      h('p', {}, 'You lack the operator role: you can follow runs and decide gates, not start runbooks.'),
    );
  const gen = routeGen;
  const [{ runbooks }, { targets }] = await Promise.all([api('/runbooks'), api('/targets')]);
  if (stale(gen)) return;
  const pick = h(
    'select',
    { id: 'runbook' },
    runbooks.map((r) => h('option', { value: r.name }, r.name)),
  );
  const target = h(
    'select',
    { id: 'target' },
    targets.map((t) => h('option', { value: t }, t)),
  );
  const dry = h('input', { type: 'checkbox', id: 'dry-run', checked: true });
  const about = h('p', { class: 'hint' });
  const fields = h('div');
  const error = h('p', { class: 'error', role: 'alert' });
  let readers = [];
  const renderFields = () => {
    const rb = runbooks.find((r) => r.name === pick.value);
    about.textContent = `${rb.description}${rb.gates.length ? ` Gates: ${rb.gates.join(', ')}.` : ''}`;
    const props = rb.inputSchema?.properties ?? {};
    const required = new Set(rb.inputSchema?.required ?? []);
    const own = Object.entries(props).filter(([n]) => !['target', 'initiator', 'dryRun', 'retry'].includes(n));
    const built = own.map(([n, s]) => ({ name: n, ...field(n, s, required.has(n)) }));
    readers = built;
    fields.replaceChildren(...built.map((b) => b.node));
  };
  pick.addEventListener('change', renderFields);
  renderFields();
  const form = h(
    'form',
    {
      onsubmit: async (e) => {
        e.preventDefault();
        error.textContent = '';
        try {
          const input = {};
          for (const r of readers) {
            const v = r.read();
            if (v !== undefined) input[r.name] = v;
          }
          await startFor({ runbook: pick.value, target: target.value, input }, dry.checked);
        } catch (err) {
          error.textContent = err instanceof SyntaxError ? `Not JSON: ${err.message}` : err.message;
        }
      },
    },
    h('label', { for: 'runbook' }, 'Runbook'),
    pick,
    about,
    h('label', { for: 'target' }, 'Target'),
    target,
    fields,
    h(
      'div',
      {},
      h('label', { class: 'inline', for: 'dry-run' }, dry, 'Dry run first (changes nothing; shows what it would do)'),
    ),
    h('div', { class: 'actions' }, h('button', { class: 'primary', type: 'submit' }, 'Start')),
    error,
  );
  show(h('h1', {}, 'Start a runbook'), form);
}

// --- routing -------------------------------------------------------------------------------

async function route() {
  const gen = ++routeGen;
  for (const t of [...timers, ...gateTimers]) clearInterval(t);
  timers = [];
  gateTimers = [];
  const hash = location.hash || '#/runs';
  const sso = /^#\/sso\/([\w-]+)$/.exec(hash);
  if (sso) return finishSso(sso[1]);
  if (!sessionStorage.getItem(TOKEN) || hash === '#/signin') return signIn();
  try {
    if (!me) {
      await whoAmI();
      if (stale(gen)) return;
    }
    // #/runs/<id>: the link notifications carried before it was fixed, still in chat histories.
    const run = /^#\/runs?\/(.+)$/.exec(hash);
    if (run) await runPage(decodeURIComponent(run[1]));
    else if (hash.startsWith('#/start')) await startPage();
    else if (hash.startsWith('#/schedules')) await schedulesPage();
    else await runsPage();
    main.focus({ preventScroll: true });
  } catch (err) {
    if (stale(gen)) return;
    if (err.status !== 401) show(h('p', { class: 'error', role: 'alert' }, err.message));
    else signIn('Signed out: sign in again.');
  }
}

window.addEventListener('hashchange', route);
route();
