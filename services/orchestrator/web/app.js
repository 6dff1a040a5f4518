// Channel Summarizer dashboard: plain JavaScript, no build step, no network beyond this server.
// Views (hash routes): #/ (submit + jobs), #/jobs/<id> (progress, timeline, retry/cancel),
// #/videos/<id>/summary and #/videos/<id>/transcript (?job=<id> to link back), #/subscriptions
// (follow a channel over time: subscribe, pause / resume, unsubscribe, the last checks).
// Live updates come from GET /jobs/{id}/events (Server-Sent Events read with fetch streaming, so
// an Authorization header can be sent); when the stream is unavailable the page polls
// GET /jobs/{id}.
'use strict';

(() => {
  const STAGES = ['download', 'audio_extraction', 'transcription', 'summarization'];
  const STAGE_LABEL = {
    download: 'Download',
    audio_extraction: 'Audio extraction',
    transcription: 'Transcription',
    summarization: 'Summarization',
  };
  const TERMINAL = new Set(['completed', 'completed_with_errors', 'failed', 'cancelled']);
  const TOKEN_KEY = 'chansum.apiToken';
  const POLL_MS = 2000;

  const view = document.getElementById('view');
  const announcer = document.getElementById('announce');
  let cleanup = () => {};  // stops the current view's timers and streams

  // ------------------------------------------------------------------ helpers
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'text') el.textContent = v;
      else if (k === 'style') Object.assign(el.style, v);  // CSSOM: allowed by the page's CSP
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  function announce(text) {
    // Re-setting the same text is not re-announced; clear first.
    announcer.textContent = '';
    setTimeout(() => { announcer.textContent = text; }, 50);
  }

  function humanState(s) {
    return String(s || '').replace(/_/g, ' ');
  }

  function badge(state) {
    return h('span', {class: 'badge ' + state}, humanState(state));
  }

  function fmtTime(iso) {
    if (!iso) return '—';
    const d = new Date(iso);
    if (isNaN(d)) return iso;
    return d.toLocaleString(undefined, {dateStyle: 'medium', timeStyle: 'medium'});
  }

  function fmtMs(ms) {
    if (ms === null || ms === undefined || isNaN(ms)) return '—';
    if (ms < 1000) return Math.round(ms) + ' ms';
    const s = ms / 1000;
    if (s < 60) return s.toFixed(1) + ' s';
    const m = Math.floor(s / 60);
    return m + ' min ' + Math.round(s - 60 * m) + ' s';
  }

  function fmtClock(sec) {
    sec = Math.max(0, Math.floor(sec || 0));
    const m = Math.floor(sec / 60);
    const s = String(sec % 60).padStart(2, '0');
    return m + ':' + s;
  }

  function setTitle(text) {
    document.title = text ? text + ' · Channel Summarizer' : 'Channel Summarizer';
  }

  // ------------------------------------------------------------------ API access
  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  function token() {
    try { return localStorage.getItem(TOKEN_KEY) || ''; } catch { return ''; }
  }

  let tokenDeclined = false;  // the user cancelled the dialog: no more automatic prompts

  // Header button: "Forget API token" while one is stored; "Enter API token" after a declined
  // prompt.
  function updateTokenButton() {
    const button = document.getElementById('token-button');
    button.hidden = !token() && !tokenDeclined;
    button.textContent = token() ? 'Forget API token' : 'Enter API token';
  }

  let tokenPrompt = null;  // one dialog at a time, shared by concurrent 401s
  function askToken(reason) {
    if (tokenPrompt) return tokenPrompt;
    if (tokenDeclined) return Promise.resolve(false);
    const dialog = document.getElementById('token-dialog');
    const input = document.getElementById('token-input');
    document.getElementById('token-reason').textContent = reason;
    input.value = '';
    tokenPrompt = new Promise((resolve) => {
      dialog.addEventListener('close', () => {
        tokenPrompt = null;
        if (dialog.returnValue === 'save' && input.value.trim()) {
          try { localStorage.setItem(TOKEN_KEY, input.value.trim()); } catch { /* private mode */ }
          tokenDeclined = false;
          updateTokenButton();
          resolve(true);
        } else {
          tokenDeclined = true;
          updateTokenButton();
          resolve(false);
        }
      }, {once: true});
      dialog.showModal();
      input.focus();
    });
    return tokenPrompt;
  }

  function authHeaders(extra) {
    const headers = Object.assign({}, extra || {});
    const t = token();
    if (t) headers['Authorization'] = 'Bearer ' + t;
    return headers;
  }

  async function errorFrom(res) {
    let code = 'http_' + res.status;
    let message = res.status + ' ' + (res.statusText || 'error');
    try {
      const body = await res.json();
      if (body && body.error) {
        code = body.error.code || code;
        message = body.error.message || message;
      }
    } catch { /* not JSON */ }
    return new ApiError(res.status, code, message);
  }

  // fetch with the token; on 401 asks for a token once and retries.
  async function rawFetch(path, opts = {}, retried = false) {
    let res;
    try {
      res = await fetch(path, Object.assign({}, opts, {headers: authHeaders(opts.headers)}));
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      throw new ApiError(0, 'network', 'Cannot reach the server (' + e.message + ').');
    }
    if (res.status === 401 && !retried) {
      const reason = token()
        ? 'The server refused the saved API token. Enter a valid one.'
        : 'This server asks for an API token.';
      if (await askToken(reason)) return rawFetch(path, opts, true);
    }
    return res;
  }

  async function api(path, opts = {}) {
    const res = await rawFetch(path, opts);
    if (!res.ok) throw await errorFrom(res);
    if (res.status === 204) return null;
    return res.json();
  }

  // ------------------------------------------------------------------ router
  function route() {
    cleanup();
    cleanup = () => {};
    const hash = location.hash.replace(/^#/, '') || '/';
    const [path, query] = hash.split('?');
    const params = new URLSearchParams(query || '');
    let m;
    if (path === '/subscriptions') return showSubscriptions();
    if ((m = path.match(/^\/jobs\/([0-9a-fA-F-]{36})$/))) return showJob(m[1]);
    if ((m = path.match(/^\/jobs\/([0-9a-fA-F-]{36})\/digest$/))) return showDigest(m[1]);
    if ((m = path.match(/^\/videos\/([^/]+)\/(summary|transcript)$/))) {
      return showDocument(decodeURIComponent(m[1]), m[2], params.get('job'));
    }
    return showHome();
  }

  // Replaces `el`'s children; nested arrays are flattened, null/undefined/false dropped.
  function fill(el, ...nodes) {
    el.replaceChildren(...nodes.flat(3).filter((n) => n !== null && n !== undefined && n !== false));
  }

  function mount(...nodes) {
    fill(view, ...nodes);
  }

  function focusHeading() {
    const h1 = view.querySelector('h1');
    if (h1) {
      h1.setAttribute('tabindex', '-1');
      h1.focus({preventScroll: false});
    }
  }

  // ------------------------------------------------------------------ home: submit + jobs
  function showHome() {
    setTitle('');
    const channel = h('input', {
      id: 'channel', name: 'channel', type: 'text', required: true, autocomplete: 'off',
      spellcheck: 'false', placeholder: '@handle, UC… id, playlist or feed URL',
      'aria-describedby': 'channel-hint',
    });
    const maxVideos = h('input', {
      id: 'max-videos', name: 'max_videos', type: 'number', min: 1, max: 500, value: 20,
      required: true, inputmode: 'numeric', 'aria-describedby': 'max-hint',
    });
    const error = h('p', {id: 'submit-error', class: 'form-error', role: 'alert'});
    const submit = h('button', {type: 'submit', class: 'primary'}, 'Summarize channel');
    const form = h('form', {id: 'submit-form', novalidate: true, 'aria-labelledby': 'submit-title'},
      h('h2', {id: 'submit-title'}, 'Submit a channel'),
      h('div', {class: 'row'},
        h('div', {class: 'field'},
          h('label', {for: 'channel'}, 'Channel'), channel,
          h('p', {id: 'channel-hint', class: 'hint'},
            'A YouTube @handle, a channel id (UC…), or a playlist / RSS feed URL.')),
        h('div', {class: 'field small'},
          h('label', {for: 'max-videos'}, 'Max videos'), maxVideos,
          h('p', {id: 'max-hint', class: 'hint'}, '1 to 500')),
        h('div', {}, submit)),
      error);

    function fieldError(input, message) {
      input.setAttribute('aria-invalid', 'true');
      input.setAttribute('aria-errormessage', 'submit-error');
      error.textContent = message;
      input.focus();
    }

    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      error.textContent = '';
      channel.removeAttribute('aria-invalid');
      maxVideos.removeAttribute('aria-invalid');
      const ch = channel.value.trim();
      const n = Number(maxVideos.value);
      if (!ch) return fieldError(channel, 'Enter a channel: an @handle, a UC… id or a URL.');
      if (!Number.isInteger(n) || n < 1 || n > 500) {
        return fieldError(maxVideos, 'Max videos must be a whole number from 1 to 500.');
      }
      submit.disabled = true;
      submit.textContent = 'Submitting…';
      try {
        const created = await api('/jobs', {
          method: 'POST',
          headers: {'Content-Type': 'application/json'},
          body: JSON.stringify({channel: ch, max_videos: n}),
        });
        announce('Job submitted.');
        location.hash = '#/jobs/' + created.job_id;
      } catch (e) {
        const target = e.code === 'invalid_value' || /max_videos/.test(e.message) ? maxVideos
                                                                                  : channel;
        fieldError(target, 'The server refused this channel: ' + e.message +
                               (e.code && e.status ? ' (' + e.code + ')' : ''));
      } finally {
        submit.disabled = false;
        submit.textContent = 'Summarize channel';
      }
    });

    const list = h('ul', {class: 'jobs', id: 'jobs-list', 'aria-busy': 'true'});
    const listStatus = h('p', {class: 'muted', id: 'jobs-status'}, 'Loading jobs…');
    const more = h('button', {type: 'button', hidden: true}, 'Load more');
    const refresh = h('button', {type: 'button'}, 'Refresh');
    let cursor = null;

    function jobItem(j) {
      const videos = j.video_count === null || j.video_count === undefined
        ? 'videos not known yet' : j.video_count + (j.video_count === 1 ? ' video' : ' videos');
      return h('li', {},
        h('a', {class: 'job', href: '#/jobs/' + j.job_id},
          h('span', {class: 'channel'}, j.channel),
          badge(j.state),
          h('span', {class: 'meta'}, videos + ' · submitted ' + fmtTime(j.created_at))));
    }

    async function load(append) {
      list.setAttribute('aria-busy', 'true');
      try {
        const q = '/jobs?limit=20' + (append && cursor ? '&cursor=' + encodeURIComponent(cursor)
                                                         : '');
        const page = await api(q);
        cursor = page.next_cursor;
        const items = page.jobs.map(jobItem);
        if (append) list.append(...items); else list.replaceChildren(...items);
        listStatus.textContent = list.children.length ? '' : 'No jobs yet: submit a channel above.';
        listStatus.className = 'muted';
        more.hidden = !cursor;
      } catch (e) {
        listStatus.textContent = 'Could not load jobs: ' + e.message;
        listStatus.className = 'error';
      } finally {
        list.setAttribute('aria-busy', 'false');
      }
    }
    more.addEventListener('click', () => load(true));
    refresh.addEventListener('click', () => load(false));

    mount(
      h('h1', {}, 'Channel Summarizer'),
      h('section', {class: 'card'}, form),
      h('section', {class: 'card', 'aria-labelledby': 'jobs-title'},
        h('div', {class: 'list-head'}, h('h2', {id: 'jobs-title'}, 'Jobs'), refresh),
        listStatus, list, more));
    load(false);
    // Keep the list fresh while the page is open (states change as jobs run).
    const timer = setInterval(() => { if (!cursor && !document.hidden) load(false); }, 5000);
    cleanup = () => clearInterval(timer);
  }

  // ------------------------------------------------------------------ subscriptions
  function showSubscriptions() {
    setTitle('Subscriptions');
    const channel = h('input', {
      id: 'sub-channel', name: 'channel', type: 'text', required: true, autocomplete: 'off',
      spellcheck: 'false', placeholder: '@handle, UC… id, playlist or feed URL',
    });
    const every = h('input', {
      id: 'sub-every', name: 'every', type: 'text', value: '6h', required: true,
      autocomplete: 'off', 'aria-describedby': 'sub-every-hint',
    });
    const since = h('input', {
      id: 'sub-since', name: 'since', type: 'text', value: 'now', required: true,
      autocomplete: 'off', 'aria-describedby': 'sub-since-hint',
    });
    const error = h('p', {id: 'sub-error', class: 'form-error', role: 'alert'});
    const submit = h('button', {type: 'submit', class: 'primary'}, 'Subscribe');
    const form = h('form', {id: 'sub-form', novalidate: true, 'aria-labelledby': 'sub-title'},
      h('h2', {id: 'sub-title'}, 'Follow a channel'),
      h('div', {class: 'row'},
        h('div', {class: 'field'}, h('label', {for: 'sub-channel'}, 'Channel'), channel),
        h('div', {class: 'field small'}, h('label', {for: 'sub-every'}, 'Every'), every,
          h('p', {id: 'sub-every-hint', class: 'hint'}, '6h, 30m, 1d')),
        h('div', {class: 'field small'}, h('label', {for: 'sub-since'}, 'Since'), since,
          h('p', {id: 'sub-since-hint', class: 'hint'}, 'now or 2024-03-01')),
        h('div', {}, submit)),
      error);
    const list = h('ul', {class: 'jobs', id: 'subs-list'});
    const status = h('p', {class: 'muted', id: 'subs-status'}, 'Loading subscriptions…');

    function item(s) {
      const last = s.last_check_state ? humanState(s.last_check_state) : 'not checked yet';
      const pause = h('button', {type: 'button', 'data-action': 'pause'},
                      s.paused ? 'Resume' : 'Pause');
      pause.addEventListener('click', async () => {
        try {
          await api('/subscriptions/' + s.id, {
            method: 'PATCH', headers: {'Content-Type': 'application/json'},
            body: JSON.stringify({paused: !s.paused}),
          });
          announce(s.paused ? 'Subscription resumed.' : 'Subscription paused.');
        } catch (e) {
          status.textContent = 'Could not change the subscription: ' + e.message;
          status.className = 'error';
        }
        load();
      });
      const remove = h('button', {type: 'button', 'data-action': 'delete'}, 'Unsubscribe');
      remove.addEventListener('click', async () => {
        try {
          await api('/subscriptions/' + s.id, {method: 'DELETE'});
          announce('Unsubscribed.');
        } catch (e) {
          status.textContent = 'Could not unsubscribe: ' + e.message;
          status.className = 'error';
        }
        load();
      });
      const jobs = (s.jobs || []).map((j) => h('li', {},
        h('a', {href: '#/jobs/' + j.job_id}, j.new_videos + ' new'), ' ', badge(j.state)));
      return h('li', {class: 'subscription', 'data-id': s.id, 'data-paused': String(s.paused)},
        h('span', {class: 'channel'}, s.channel),
        badge(s.paused ? 'paused' : 'active'),
        h('span', {class: 'meta'},
          'every ' + s.every + ' · since ' + fmtTime(s.since) + ' · ' + s.checks +
          (s.checks === 1 ? ' check' : ' checks') + ' · last: ' + last +
          (s.paused ? '' : ' · next ' + fmtTime(s.next_check_at))),
        s.last_error ? h('p', {class: 'error'}, 'Last error: ' + s.last_error.error) : null,
        jobs.length ? h('ul', {class: 'sub-jobs', 'aria-label': 'Jobs it started'}, jobs) : null,
        h('div', {class: 'actions'}, pause, remove));
    }

    async function load() {
      try {
        const page = await api('/subscriptions');
        // The list has no jobs: each subscription's own view has them (and its last error).
        const full = await Promise.all(page.subscriptions.map(
          (s) => api('/subscriptions/' + s.id).catch(() => s)));
        list.replaceChildren(...full.map(item));
        status.textContent = full.length ? '' : 'No subscriptions yet: follow a channel above.';
        status.className = 'muted';
      } catch (e) {
        status.textContent = 'Could not load subscriptions: ' + e.message;
        status.className = 'error';
      }
    }

    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      error.textContent = '';
      const ch = channel.value.trim();
      if (!ch) {
        channel.setAttribute('aria-invalid', 'true');
        error.textContent = 'Enter a channel: an @handle, a UC… id or a URL.';
        channel.focus();
        return;
      }
      submit.disabled = true;
      try {
        await api('/subscriptions', {
          method: 'POST', headers: {'Content-Type': 'application/json'},
          body: JSON.stringify({channel: ch, every: every.value.trim(),
                                since: since.value.trim()}),
        });
        announce('Subscribed.');
        channel.value = '';
        load();
      } catch (e) {
        error.textContent = 'The server refused this subscription: ' + e.message +
                            (e.code ? ' (' + e.code + ')' : '');
      } finally {
        submit.disabled = false;
      }
    });

    mount(
      h('h1', {}, 'Subscriptions'),
      h('section', {class: 'card'}, form),
      h('section', {class: 'card', 'aria-labelledby': 'subs-title'},
        h('h2', {id: 'subs-title'}, 'Followed channels'), status, list));
    load();
    const timer = setInterval(() => { if (!document.hidden) load(); }, 3000);
    cleanup = () => clearInterval(timer);
  }

  // ------------------------------------------------------------------ job page
  function stageProgress(job) {
    // Per stage: videos past it, at it (by state), and stopped before it.
    const out = {};
    const total = job.videos.length;
    for (const [i, s] of STAGES.entries()) {
      const c = {total, done: 0, running: 0, pending: 0, failed: 0, skipped: 0, stopped: 0,
                 notNeeded: 0};
      for (const v of job.videos) {
        const j = STAGES.indexOf(v.stage);
        const t = (v.timings || {})[s];
        if (j > i && t && t.skipped) c.notNeeded++;  // jumped over (captions first)
        if (j > i) c.done++;
        else if (j === i) c[v.state] = (c[v.state] || 0) + 1;
        else if (v.state === 'failed' || v.state === 'skipped') c.stopped++;
        else c.pending++;
      }
      out[s] = c;
    }
    return out;
  }

  function progressSummary(job) {
    const total = job.videos.length;
    const done = job.videos.filter((v) => v.stage === 'summarization' && v.state === 'done')
      .length;
    const failed = job.videos.filter((v) => v.state === 'failed').length;
    let s = 'Job ' + humanState(job.state) + '. ';
    if (job.video_count === null || job.video_count === undefined) {
      s += TERMINAL.has(job.state) ? 'It ended before its videos were listed.'
                                   : 'Discovering videos.';
    } else {
      s += done + ' of ' + total + ' videos summarized';
      if (failed) s += ', ' + failed + ' failed';
      s += '.';
    }
    return s;
  }

  function videoTimeline(v, scaleMs) {
    const timings = v.timings || {};
    const segs = [];
    const items = [];
    for (const s of STAGES) {
      const t = timings[s];
      if (!t) continue;
      let ms = t.ms;
      let note = '';
      if ((ms === undefined || ms === null) && t.started_at && v.stage === s) {
        // No duration recorded: still running, or it ended without finishing (failed/skipped).
        const start = new Date(t.started_at).getTime();
        if (v.state === 'running') {
          ms = Date.now() - start;
          note = 'running ';
        } else if (v.finished_at || v.updated_at) {
          ms = new Date(v.finished_at || v.updated_at).getTime() - start;
          note = humanState(v.state) + ' after ';
        }
      }
      if (ms === undefined || ms === null || isNaN(ms) || ms < 0) continue;
      const pct = scaleMs > 0 ? Math.min(100, Math.max(0.5, (100 * ms) / scaleMs)) : 0;
      segs.push(h('span', {class: 'seg-' + s, style: {width: pct.toFixed(2) + '%'},
                           title: STAGE_LABEL[s] + ' ' + note + fmtMs(ms)}));
      items.push(h('li', {class: 'seg-' + s}, STAGE_LABEL[s] + ' ' + note + fmtMs(ms)));
    }
    if (!items.length) return null;
    return [h('div', {class: 'timeline', 'aria-hidden': 'true'}, segs),
            h('ul', {class: 'durations', 'aria-label': 'Time per stage'}, items)];
  }

  function videoItem(v, jobId, scaleMs) {
    // A video skipped with a reason (incremental sync: "already processed") has both documents.
    const summaryReady = v.stage === 'summarization' &&
      (v.state === 'done' || (v.state === 'skipped' && !!v.skip_reason));
    const transcriptReady = summaryReady ||
      (v.stage === 'summarization') || (v.stage === 'transcription' && v.state === 'done');
    const q = '?job=' + encodeURIComponent(jobId);
    const vid = encodeURIComponent(v.video_id);
    const links = h('span', {class: 'doc-links'},
      transcriptReady ? h('a', {href: '#/videos/' + vid + '/transcript' + q}, 'Transcript') : null,
      summaryReady ? h('a', {href: '#/videos/' + vid + '/summary' + q}, 'Summary') : null);
    const stateText = v.state === 'done' && v.stage === 'summarization'
      ? 'done' : v.state === 'skipped' && v.skip_reason ? 'skipped: ' + v.skip_reason
        : STAGE_LABEL[v.stage] + ': ' + humanState(v.state);
    return h('li', {class: 'video', 'data-video-id': v.video_id, 'data-state': v.state,
                    'data-stage': v.stage},
      h('h3', {class: 'title'}, v.title || v.video_id),
      h('div', {class: 'line'},
        h('span', {class: 'badge ' + v.state}, stateText),
        v.duration_s ? h('span', {class: 'muted'}, 'length ' + fmtClock(v.duration_s)) : null,
        v.attempts > 1 ? h('span', {class: 'muted'}, 'attempt ' + v.attempts) : null,
        links),
      videoTimeline(v, scaleMs),
      v.last_error
        ? h('p', {class: 'err'}, 'Error' + (v.error_class ? ' (' + v.error_class + ')' : '') +
                                     ': ' + v.last_error)
        : null);
  }

  function showJob(id) {
    setTitle('Job');
    let job = null;
    let stopped = false;
    let abort = null;
    let pollTimer = null;
    let refreshTimer = null;
    let lastEventId = null;
    let lastAnnounced = '';
    let firstRender = true;

    const liveNote = h('span', {class: 'live', id: 'live-status'}, 'connecting…');
    const actionMsg = h('p', {id: 'action-status', role: 'status'});
    const retryBtn = h('button', {type: 'button', id: 'retry-button'}, 'Retry failed videos');
    const cancelBtn = h('button', {type: 'button', id: 'cancel-button', class: 'danger'},
                        'Cancel job');
    // Once the job has ended: its channel digest, and every document in one tar archive.
    const digestLink = h('a', {href: '#/jobs/' + id + '/digest', id: 'digest-link'},
                         'Channel digest');
    const exportBtn = h('button', {type: 'button', id: 'export-button'}, 'Download all (.tar)');
    const root = h('div', {id: 'job-view', 'data-job-id': id});
    mount(h('p', {class: 'muted'}, 'Loading job…'));

    function setLive(mode, text) {
      liveNote.className = 'live ' + mode;
      liveNote.textContent = text;
      liveNote.dataset.mode = mode;
    }

    function render() {
      if (!job) return;
      setTitle(job.channel);
      const progress = stageProgress(job);
      const total = job.videos.length;
      let scaleMs = 0;
      for (const v of job.videos) {
        let sum = 0;
        for (const s of STAGES) {
          const t = (v.timings || {})[s];
          if (t && typeof t.ms === 'number') sum += t.ms;
        }
        scaleMs = Math.max(scaleMs, sum);
      }
      const terminal = TERMINAL.has(job.state);
      cancelBtn.disabled = terminal;
      // The server refuses to retry a cancelled job (409 job_cancelled): no button for it.
      const retriable = job.state !== 'cancelled' &&
                        (job.videos.some((v) => v.state === 'failed') ||
                         job.state === 'failed' || job.state === 'completed_with_errors');
      retryBtn.disabled = !terminal || !retriable;
      const stages = h('ol', {class: 'stages'}, STAGES.map((s) => {
        const c = progress[s];
        const parts = [c.done + ' of ' + total + ' done'];
        if (c.notNeeded) parts.push(c.notNeeded + ' not needed (captions)');
        if (c.running) parts.push(c.running + ' running');
        if (c.pending) parts.push(c.pending + ' waiting');
        if (c.failed) parts.push(c.failed + ' failed');
        if (c.skipped) parts.push(c.skipped + ' skipped');
        if (c.stopped) parts.push(c.stopped + ' stopped earlier');
        const labelId = 'stage-' + s;
        return h('li', {class: 'stage-row', 'data-stage': s, 'data-done': c.done},
          h('span', {class: 'name', id: labelId}, STAGE_LABEL[s]),
          h('progress', {max: Math.max(total, 1), value: c.done, 'aria-labelledby': labelId,
                         'aria-describedby': labelId + '-counts'}),
          h('span', {class: 'counts', id: labelId + '-counts'}, parts.join(' · ')));
      }));
      const facts = h('dl', {class: 'facts'},
        h('dt', {}, 'Channel URL'), h('dd', {}, job.channel_url),
        h('dt', {}, 'Videos'),
        h('dd', {}, job.video_count === null || job.video_count === undefined
          ? (TERMINAL.has(job.state) ? 'not listed' : 'discovering…')
          : String(job.video_count)),
        h('dt', {}, 'Submitted'), h('dd', {}, fmtTime(job.created_at)),
        h('dt', {}, 'Finished'), h('dd', {}, fmtTime(job.finished_at)),
        h('dt', {}, 'Job id'), h('dd', {}, h('code', {}, job.job_id)));
      const summary = progressSummary(job);
      fill(root,
        h('p', {}, h('a', {href: '#/'}, '← All jobs')),
        h('div', {class: 'job-head'}, h('h1', {}, job.channel),
          h('span', {id: 'job-state', class: 'badge ' + job.state, 'data-state': job.state},
            humanState(job.state)),
          liveNote),
        // A cancelled job's error is just "cancelled": the badge and the action message say it.
        job.error && job.state !== 'cancelled'
          ? h('p', {class: 'form-error', id: 'job-error', role: 'alert'},
              'The job ' + (job.state === 'failed' ? 'failed' : 'reports an error') +
                (job.error_class ? ' (' + job.error_class + ')' : '') + ': ' + job.error)
          : null,
        // Job-level warnings (issue 15 §2), e.g. a bot check: cookies or a proxy are needed.
        (job.warnings || []).length
          ? h('div', {class: 'form-error', id: 'job-warnings', role: 'status'},
              ...job.warnings.map((w) => h('p', {'data-code': w.code},
                'Warning (' + w.code + (w.count > 1 ? ', ' + w.count + '×' : '') + '): ' +
                  w.message)))
          : null,
        h('section', {class: 'card', 'aria-labelledby': 'progress-title'},
          h('h2', {id: 'progress-title'}, 'Progress'),
          h('p', {id: 'progress-summary'}, summary),
          stages,
          // A job that has ended cannot be cancelled: no Cancel button for it.
          h('div', {class: 'actions'}, retryBtn, terminal ? null : cancelBtn),
          terminal ? h('p', {class: 'doc-links', id: 'job-outputs'}, digestLink, exportBtn) : null,
          actionMsg),
        h('section', {class: 'card', 'aria-labelledby': 'videos-title'},
          h('h2', {id: 'videos-title'}, 'Videos'),
          total ? h('ol', {class: 'videos', id: 'videos'},
                    job.videos.map((v) => videoItem(v, job.job_id, scaleMs)))
                : h('p', {class: 'muted'}, job.video_count === 0 ? 'The channel has no videos.'
                  : TERMINAL.has(job.state) ? 'No videos were listed before the job ended.'
                  : 'No videos discovered yet.')),
        h('section', {class: 'card', 'aria-labelledby': 'facts-title'},
          h('h2', {id: 'facts-title'}, 'Details'), facts));
      if (firstRender) {
        mount(root);
        focusHeading();
        firstRender = false;
        lastAnnounced = summary;
      } else if (summary !== lastAnnounced) {
        lastAnnounced = summary;
        announce(summary);
      }
    }

    // GET /jobs/{id} page by page (videos_next_cursor), each page revalidated with the ETag it
    // came with: a 304 reuses the page already here, so polling an unchanged job costs the server
    // no database read. Renders only when a page changed.
    const pages = new Map();  // path -> {etag, body}
    let fetched = null;       // the view last built from the pages
    async function fetchJob() {
      let path = '/jobs/' + id;
      let first = null;
      let changed = false;
      const videos = [];
      for (let n = 0; n < 10000; n++) {
        const cached = pages.get(path);
        const headers = cached ? {'If-None-Match': cached.etag} : {};
        const res = await rawFetch(path, {headers, cache: 'no-store'});
        let body;
        if (res.status === 304 && cached) {
          body = cached.body;
        } else if (res.ok) {
          body = await res.json();
          const etag = res.headers.get('ETag');
          if (etag) pages.set(path, {etag, body});
          changed = true;
        } else {
          throw await errorFrom(res);
        }
        if (!first) first = body;
        videos.push(...body.videos);
        if (!body.videos_next_cursor) break;
        path = '/jobs/' + id + '?cursor=' + encodeURIComponent(body.videos_next_cursor);
      }
      if (!changed && job && job === fetched) return;
      // A copy: live events edit `job` in place, the cached pages stay as the server sent them.
      job = structuredClone(Object.assign({}, first, {videos, videos_next_cursor: null}));
      fetched = job;
      render();
    }

    // A change event carries only the fields that changed; the full view (timings) follows
    // shortly after from GET /jobs/{id}, at most once a second.
    function scheduleRefresh() {
      if (refreshTimer) return;
      refreshTimer = setTimeout(async () => {
        refreshTimer = null;
        if (stopped) return;
        try { await fetchJob(); } catch { /* the stream keeps going; next event retries */ }
      }, 1000);
    }

    function applyEvent(type, data) {
      if (type === 'snapshot') {
        job = data;
      } else if (type === 'video' && job) {
        let v = job.videos.find((x) => x.video_id === data.video_id);
        if (!v) {
          v = {video_id: data.video_id, title: data.title, url: '', timings: {}};
          job.videos.push(v);
        }
        for (const k of ['title', 'stage', 'state', 'attempts', 'updated_at', 'error_class',
                         'skip_reason']) {
          if (data[k] !== undefined) v[k] = data[k];
        }
        if (data.error !== undefined) v.last_error = data.error;
        scheduleRefresh();
      } else if (type === 'job' && job) {
        for (const k of ['state', 'video_count', 'counts', 'error', 'error_class',
                         'finished_at']) {
          if (data[k] !== undefined) job[k] = data[k];
        }
        scheduleRefresh();
      } else {
        return;
      }
      render();
    }

    // Reads one SSE stream to its end. Resolves 'ended' when the job reached a terminal state,
    // 'dropped' when the connection ended early; rejects when the stream is unavailable.
    async function readStream() {
      abort = new AbortController();
      const headers = {'Accept': 'text/event-stream'};
      if (lastEventId) headers['Last-Event-ID'] = lastEventId;
      const res = await rawFetch('/jobs/' + id + '/events',
                                 {headers, signal: abort.signal, cache: 'no-store'});
      if (!res.ok) throw await errorFrom(res);
      const type = res.headers.get('Content-Type') || '';
      if (!type.startsWith('text/event-stream') || !res.body) {
        throw new ApiError(res.status, 'not_a_stream', 'the server sent ' + type);
      }
      setLive('streaming', 'live');
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      let ev = {type: 'message', data: [], id: null};
      for (;;) {
        const {value, done} = await reader.read();
        if (done) break;
        buf += value;
        let nl;
        while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + (buf[nl] === '\r' && buf[nl + 1] === '\n' ? 2 : 1));
          if (line === '') {
            if (ev.id !== null) lastEventId = ev.id;
            if (ev.data.length) {
              let data = null;
              try { data = JSON.parse(ev.data.join('\n')); } catch { data = null; }
              if (data) applyEvent(ev.type, data);
            }
            ev = {type: 'message', data: [], id: null};
            continue;
          }
          if (line.startsWith(':')) continue;  // heartbeat / comment
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          let val = colon < 0 ? '' : line.slice(colon + 1);
          if (val.startsWith(' ')) val = val.slice(1);
          if (field === 'event') ev.type = val;
          else if (field === 'data') ev.data.push(val);
          else if (field === 'id') ev.id = val;
        }
      }
      return job && TERMINAL.has(job.state) ? 'ended' : 'dropped';
    }

    function startPolling(reason) {
      setLive('polling', 'updating every ' + POLL_MS / 1000 + ' s' + (reason ? ' (' + reason +
                                                                       ')' : ''));
      const tick = async () => {
        if (stopped) return;
        try {
          await fetchJob();
          if (TERMINAL.has(job.state)) {
            setLive('ended', 'finished');
            return;
          }
        } catch (e) {
          setLive('polling', 'cannot reach the server, retrying: ' + e.message);
        }
        pollTimer = setTimeout(tick, POLL_MS);
      };
      pollTimer = setTimeout(tick, POLL_MS);
    }

    async function follow() {
      let failures = 0;
      while (!stopped) {
        try {
          const outcome = await readStream();
          if (outcome === 'ended') {
            setLive('ended', 'finished');
            await fetchJob().catch(() => {});
            return;
          }
          failures = 0;
          setLive('polling', 'reconnecting…');
        } catch (e) {
          if (stopped || e.name === 'AbortError') return;
          failures++;
          // No stream on this server (404/405), a refused token, or repeated drops: poll.
          if ((e.status && e.status >= 400 && e.status < 500) || failures >= 3) {
            startPolling(e.status === 404 ? 'no live stream on this server' : '');
            return;
          }
        }
        await new Promise((r) => setTimeout(r, 500 * 2 ** failures));
      }
    }

    retryBtn.addEventListener('click', async () => {
      retryBtn.disabled = true;
      actionMsg.className = '';
      actionMsg.textContent = 'Asking the server to retry…';
      try {
        const r = await api('/jobs/' + id + '/retry', {method: 'POST'});
        actionMsg.className = 'notice';
        actionMsg.textContent = 'Requeued ' + r.requeued + ' video' +
                                (r.requeued === 1 ? '' : 's') + '.';
        await fetchJob();
        if (!stopped && liveNote.dataset.mode !== 'streaming') {
          clearTimeout(pollTimer);
          follow();
        }
      } catch (e) {
        actionMsg.className = 'error';
        actionMsg.textContent = e.status === 404 && e.code !== 'job_not_found'
          ? 'Retry is not available on this server.' : 'Retry refused: ' + e.message;
        render();
      }
    });

    // A plain link could not carry the API token: fetch the archive, then save it.
    exportBtn.addEventListener('click', async () => {
      exportBtn.disabled = true;
      actionMsg.className = '';
      actionMsg.textContent = 'Preparing the archive…';
      try {
        const res = await rawFetch('/jobs/' + id + '/export');
        if (!res.ok) throw await errorFrom(res);
        const blob = await res.blob();
        const named = /filename="?([^";]+)"?/.exec(res.headers.get('Content-Disposition') || '');
        const a = h('a', {href: URL.createObjectURL(blob),
                          download: named ? named[1] : 'chansum-' + id.slice(0, 8) + '.tar'});
        document.body.appendChild(a);
        a.click();
        a.remove();
        setTimeout(() => URL.revokeObjectURL(a.href), 60000);
        actionMsg.className = 'notice';
        actionMsg.textContent = 'Archive downloaded (' + Math.ceil(blob.size / 1024) + ' KB).';
      } catch (e) {
        actionMsg.className = 'error';
        actionMsg.textContent = 'Export refused: ' + e.message;
      } finally {
        exportBtn.disabled = false;
      }
    });

    cancelBtn.addEventListener('click', async () => {
      if (!window.confirm('Cancel this job? Finished videos are kept.')) return;
      cancelBtn.disabled = true;
      actionMsg.className = '';
      actionMsg.textContent = 'Cancelling…';
      try {
        await api('/jobs/' + id + '/cancel', {method: 'POST'});
        actionMsg.className = 'notice';
        actionMsg.textContent = 'Job cancelled. Finished videos are kept.';
        await fetchJob();
      } catch (e) {
        actionMsg.className = 'error';
        actionMsg.textContent = e.status === 404 && e.code !== 'job_not_found'
          ? 'Cancel is not available on this server.' : 'Cancel refused: ' + e.message;
        render();
      }
    });

    (async () => {
      try {
        await fetchJob();
      } catch (e) {
        mount(h('p', {}, h('a', {href: '#/'}, '← All jobs')),
              h('h1', {}, 'Job not available'),
              h('p', {class: 'error', role: 'alert'}, e.message));
        focusHeading();
        return;
      }
      if (TERMINAL.has(job.state)) setLive('ended', 'finished');
      else follow();
    })();

    cleanup = () => {
      stopped = true;
      if (abort) abort.abort();
      clearTimeout(pollTimer);
      clearTimeout(refreshTimer);
    };
  }

  // ------------------------------------------------------------------ channel digest
  async function showDigest(jobId) {
    setTitle('Channel digest');
    const back = h('a', {href: '#/jobs/' + encodeURIComponent(jobId)}, '← Back to the job');
    mount(h('p', {}, back), h('p', {class: 'muted'}, 'Loading the digest…'));
    let d;
    try {
      d = await api('/jobs/' + encodeURIComponent(jobId) + '/digest');
    } catch (e) {
      mount(h('p', {}, back), h('h1', {}, 'Digest not available'),
            h('p', {class: 'error', role: 'alert'},
              e.code === 'job_not_finished' ? 'The job has not finished yet.' : e.message));
      focusHeading();
      return;
    }
    setTitle('Digest: ' + d.channel);
    const q = '?job=' + encodeURIComponent(jobId);
    mount(h('p', {}, back),
          h('h1', {}, 'Channel digest: ' + d.channel),
          h('p', {class: 'muted', id: 'digest-counts'},
            d.summarized + ' of ' + d.video_count + ' videos summarized · ' + humanState(d.state)),
          h('section', {class: 'card', 'aria-labelledby': 'themes-title'},
            h('h2', {id: 'themes-title'}, 'Recurring themes'),
            d.themes.length
              ? h('ul', {id: 'digest-themes'}, d.themes.map((t) =>
                  h('li', {}, t.term + ' ', h('span', {class: 'muted'},
                    '(' + t.videos + (t.videos === 1 ? ' video)' : ' videos)')))))
              : h('p', {class: 'muted'}, 'None found.')),
          h('section', {class: 'card', 'aria-labelledby': 'digest-videos-title'},
            h('h2', {id: 'digest-videos-title'}, 'Videos'),
            h('ol', {id: 'digest-videos'}, d.videos.map((v) =>
              h('li', {'data-video-id': v.video_id},
                // Digests stored before "summarized" existed: a done video has a summary.
                (v.summarized ?? v.state === 'done')
                  ? h('a', {href: '#/videos/' + encodeURIComponent(v.video_id) + '/summary' + q},
                      v.title)
                  : h('strong', {}, v.title),
                ': ' + v.line)))));
    focusHeading();
  }

  // ------------------------------------------------------------------ documents
  async function showDocument(videoId, kind, jobId) {
    setTitle(kind === 'summary' ? 'Summary' : 'Transcript');
    const back = jobId ? h('a', {href: '#/jobs/' + encodeURIComponent(jobId)}, '← Back to the job')
                       : h('a', {href: '#/'}, '← All jobs');
    mount(h('p', {}, back), h('p', {class: 'muted'}, 'Loading ' + kind + '…'));
    const other = kind === 'summary' ? 'transcript' : 'summary';
    const otherLink = h('a', {href: '#/videos/' + encodeURIComponent(videoId) + '/' + other +
                                     (jobId ? '?job=' + encodeURIComponent(jobId) : '')},
                        other === 'summary' ? 'Summary' : 'Transcript');
    let doc;
    try {
      doc = await api('/videos/' + encodeURIComponent(videoId) + '/' + kind);
    } catch (e) {
      mount(h('p', {}, back), h('h1', {}, (kind === 'summary' ? 'Summary' : 'Transcript') +
                                               ' not available'),
            h('p', {class: 'error', role: 'alert'}, e.message));
      focusHeading();
      return;
    }
    let title = videoId;
    if (jobId) {
      try {
        const job = await api('/jobs/' + jobId);
        const v = job.videos.find((x) => x.video_id === videoId);
        if (v && v.title) title = v.title;
      } catch { /* the title is a nicety */ }
    }
    setTitle((kind === 'summary' ? 'Summary: ' : 'Transcript: ') + title);
    const body = [];
    if (kind === 'summary') {
      body.push(h('section', {class: 'card', 'aria-labelledby': 'sum-title', id: 'summary'},
        h('h2', {id: 'sum-title'}, 'Summary'),
        h('p', {class: 'summary-text'}, doc.summary || '(empty)'),
        doc.key_points && doc.key_points.length
          ? [h('h2', {}, 'Key points'),
             h('ul', {id: 'key-points'}, doc.key_points.map((k) => h('li', {}, k)))]
          : null,
        h('p', {class: 'hint'}, 'Engine: ' + (doc.engine || 'unknown') +
                                    (doc.model ? ' · model ' + doc.model : ''))));
    } else {
      const segs = Array.isArray(doc.segments) ? doc.segments : [];
      body.push(h('section', {class: 'card', 'aria-labelledby': 'tr-title', id: 'transcript'},
        h('h2', {id: 'tr-title'}, 'Transcript'),
        h('p', {class: 'hint'}, 'Source: ' + (doc.source || 'unknown') +
                                    (doc.engine ? ' · engine ' + doc.engine : '') +
                                    (doc.language ? ' · language ' + doc.language : '')),
        segs.length
          ? h('ol', {class: 'segments'}, segs.map((s) =>
              h('li', {}, h('time', {}, fmtClock(s.start)), h('span', {}, s.text))))
          : h('p', {class: 'summary-text'}, doc.text || '(empty)')));
    }
    mount(h('p', {}, back),
          h('h1', {}, title),
          h('p', {class: 'doc-links'}, h('span', {class: 'muted'},
                                         kind === 'summary' ? 'Summary' : 'Transcript'),
            otherLink),
          body);
    focusHeading();
  }

  // ------------------------------------------------------------------ start
  document.getElementById('token-button').addEventListener('click', async () => {
    if (token()) {
      try { localStorage.removeItem(TOKEN_KEY); } catch { /* ignore */ }
      updateTokenButton();
      announce('API token forgotten.');
      return;
    }
    tokenDeclined = false;
    if (await askToken('Enter the API token this server expects.')) route();
  });
  updateTokenButton();
  window.addEventListener('hashchange', route);
  route();
})();
