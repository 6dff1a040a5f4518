// Browser tests of the dashboard (services/orchestrator/web): playwright-core drives Debian's
// Chromium (headless) against the real orchestrator and the five real stage services on the local
// stack, isolated by a unique QUEUE_PREFIX, their own ports, media dir and document database, with
// the offline demo channel served on loopback. Screenshots go to CHANSUM_BROWSER_ARTIFACTS;
// `--update-docs` (or CHANSUM_UPDATE_DOC_IMAGES=1) also copies the ones docs/usage.md shows into
// docs/images/.
//
// Needs: DATABASE_URL, AMQP_URL, KAFKA_BROKERS, MONGO_URI (eval "$(deploy/local/stack env)"),
// CHANSUM_BIN_DIR (the build's bin/), /usr/bin/chromium and `npm ci` in this folder.
import assert from 'node:assert/strict';
import {spawn, spawnSync} from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {fileURLToPath} from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const sourceDir = path.resolve(here, '../..');
const binDir = process.env.CHANSUM_BIN_DIR || path.join(sourceDir, 'build/bin');
const artifacts = path.resolve(process.env.CHANSUM_BROWSER_ARTIFACTS ||
                               path.join(binDir, '..', 'browser-artifacts'));
const updateDocs = process.argv.includes('--update-docs') ||
                   process.env.CHANSUM_UPDATE_DOC_IMAGES === '1';
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const STAGES = ['discovery', 'download', 'audio_extraction', 'transcription', 'summarization'];

let playwright;
try {
  playwright = await import('playwright-core');
} catch (e) {
  console.error('playwright-core is not installed: run `npm ci` in tests/browser ' +
                '(deploy/local/setup does it)');
  throw e;
}

for (const v of ['DATABASE_URL', 'AMQP_URL', 'KAFKA_BROKERS', 'MONGO_URI']) {
  if (!process.env[v]) throw new Error(v + ' is not set: eval "$(deploy/local/stack env)" first');
}
if (!fs.existsSync(chromiumPath)) throw new Error(chromiumPath + ' is missing (apt-get install chromium)');

// ------------------------------------------------------------------ processes and ports
const suffix = crypto.randomBytes(4).toString('hex');
const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chansum-browser-'));
const children = [];

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const {port} = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function start(name, argv, env) {
  const log = fs.openSync(path.join(workDir, name + '.log'), 'a');
  const child = spawn(argv[0], argv.slice(1), {
    env: Object.assign({}, process.env, env),
    stdio: ['ignore', log, log],
  });
  child.name = name;
  child.exited = new Promise((resolve) => child.on('exit', (code, sig) => resolve({code, sig})));
  children.push(child);
  return child;
}

function logTail(name, bytes = 3000) {
  try {
    const s = fs.readFileSync(path.join(workDir, name + '.log'), 'utf8');
    return s.slice(-bytes);
  } catch {
    return '';
  }
}

async function waitFor(fn, ms, what) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error('timed out after ' + ms + ' ms waiting for ' + what +
                  (last instanceof Error ? ': ' + last.message : ''));
}

async function httpOk(url) {
  const res = await fetch(url, {signal: AbortSignal.timeout(2000)});
  return res.ok;
}

function mongoUriWithDb(uri, db) {
  const schemeEnd = uri.indexOf('://') + 3;
  const slash = uri.indexOf('/', schemeEnd);
  const q = uri.indexOf('?');
  const base = slash < 0 ? (q < 0 ? uri : uri.slice(0, q)) : uri.slice(0, slash);
  return base + '/' + db + (q < 0 ? '' : uri.slice(q));
}

let apiBase;
let serviceEnv;  // the environment every service of this run gets
let demoBase;
let browser;  // a persistent context on a fresh user-data-dir
let page;

async function startEverything() {
  fs.mkdirSync(artifacts, {recursive: true});
  // The offline demo channel.
  const demoPort = await freePort();
  demoBase = 'http://127.0.0.1:' + demoPort;
  const demoDir = path.join(workDir, 'demo');
  const gen = spawnSync(path.join(sourceDir, 'tests/fixtures/demo_channel/generate'),
                        [demoDir, '--base-url', demoBase],
                        {encoding: 'utf8', env: Object.assign({}, process.env,
                                                              {CHANSUM_DEMO_QUIET: '1'})});
  assert.equal(gen.status, 0, 'demo channel generation failed:\n' + gen.stderr);
  start('demo_server', [path.join(binDir, 'chansum_demo_server'), '--root', demoDir, '--port',
                        String(demoPort)], {});
  await waitFor(() => httpOk(demoBase + '/feed.xml'), 30000, 'the demo server');

  // Orchestrator + the five stages, like tests/e2e ServiceSet.
  const apiPort = await freePort();
  apiBase = 'http://127.0.0.1:' + apiPort;
  const env = serviceEnv = {
    MONGO_URI: mongoUriWithDb(process.env.MONGO_URI, 'browser_' + suffix),
    QUEUE_PREFIX: 'browser-' + suffix + '.',
    MEDIA_DIR: path.join(workDir, 'media'),
    HTTP_PORT: String(apiPort),
    LOG_LEVEL: 'info',
    RETRY_BASE_DELAY: '200ms',
    RETRY_MAX_DELAY: '2s',
    // The demo channel is on loopback, which outbound fetches refuse unless allow-listed.
    FETCH_ALLOWLIST: '127.0.0.1:' + demoPort,
    // Subscriptions are checked within a second (the view's test).
    SUBSCRIPTION_TICK: '500ms',
    SUBSCRIPTION_MIN_EVERY: '1s',
  };
  const ready = [['orchestrator', apiPort]];
  start('orchestrator', [path.join(binDir, 'chansum-orchestrator')], env);
  for (const stage of STAGES) {
    const port = await freePort();
    start(stage, [path.join(binDir, 'chansum-' + stage.replace(/_/g, '-'))],
          Object.assign({}, env, {HEALTH_PORT: String(port)}));
    ready.push([stage, port]);
  }
  for (const [name, port] of ready) {
    await waitFor(() => httpOk('http://127.0.0.1:' + port + '/readyz'), 60000,
                  name + ' to become ready').catch((e) => {
      throw new Error(e.message + '\n' + logTail(name));
    });
  }

  browser = await playwright.chromium.launchPersistentContext(path.join(workDir, 'chromium'), {
    executablePath: chromiumPath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: {width: 1200, height: 900},
    acceptDownloads: true,
  });
  page = browser.pages()[0] || await browser.newPage();
  page.setDefaultTimeout(15000);
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
}

const pageErrors = [];
const consoleErrors = [];

async function stopEverything() {
  if (browser) await browser.close().catch(() => {});
  for (const c of children.reverse()) {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  }
  const killer = setTimeout(() => { for (const c of children) c.kill('SIGKILL'); }, 20000);
  await Promise.all(children.map((c) => c.exited));
  clearTimeout(killer);
  if (process.env.CHANSUM_KEEP_BROWSER_WORKDIR) {
    console.log('kept ' + workDir);
  } else {
    fs.rmSync(workDir, {recursive: true, force: true});
  }
}

// ------------------------------------------------------------------ helpers on the page
const docShots = new Set(['dashboard-home', 'job-progress', 'job-done', 'summary',
                          'transcript', 'job-cancelled', 'bad-channel', 'phone-job', 'digest']);

async function shot(name, opts = {}) {
  const file = path.join(artifacts, name + '.png');
  await page.screenshot(Object.assign({path: file, fullPage: true}, opts));
  if (updateDocs && docShots.has(name)) {
    const dest = path.join(sourceDir, 'docs/images', 'dashboard-' + name + '.png');
    fs.mkdirSync(path.dirname(dest), {recursive: true});
    fs.copyFileSync(file, dest);
  }
}

// Runs SQL on the stack's PostgreSQL (the services' DATABASE_URL) with psql.
function psql(sql) {
  const r = spawnSync('psql', [process.env.DATABASE_URL, '-v', 'ON_ERROR_STOP=1', '-q', '-c', sql],
                      {encoding: 'utf8'});
  assert.equal(r.status, 0, 'psql failed: ' + r.stderr);
}

async function api(p, opts) {
  const res = await fetch(apiBase + p, opts);
  const body = await res.json();
  return {status: res.status, body};
}

async function submitFromForm(channel, maxVideos) {
  await page.goto(apiBase + '/');
  await page.getByLabel('Channel', {exact: true}).fill(channel);
  await page.getByLabel('Max videos').fill(String(maxVideos));
  await page.getByRole('button', {name: 'Summarize channel'}).click();
}

async function jobIdFromUrl() {
  await page.waitForURL(/#\/jobs\/[0-9a-f-]{36}$/);
  return page.url().split('/').pop();
}

const TERMINAL = ['completed', 'completed_with_errors', 'failed', 'cancelled'];

// ------------------------------------------------------------------ the tests
describe('dashboard', {timeout: 300000}, () => {
  before(startEverything, {timeout: 180000});
  after(stopEverything, {timeout: 60000});

  let finishedJob;  // {id, videos} of the demo job that ran to the end

  test('serves the page with its assets and no CDN', async () => {
    const requests = [];
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(apiBase + '/');
    await page.getByRole('heading', {name: 'Submit a channel'}).waitFor();
    page.removeAllListeners('request');
    for (const u of requests) {
      assert.ok(u.startsWith(apiBase) || u.startsWith('data:'), 'request off the server: ' + u);
    }
    assert.ok(requests.some((u) => u.endsWith('/ui/app.js')));
    assert.ok(requests.some((u) => u.endsWith('/ui/app.css')));
  });

  test('submitting the demo channel shows progress live, without reloading', async () => {
    await page.goto(apiBase + '/');
    await shot('dashboard-home');
    await submitFromForm(demoBase + '/feed.xml', 4);
    const id = await jobIdFromUrl();
    await page.locator('#job-state').waitFor();
    // A marker on the window: a reload or navigation would drop it.
    await page.evaluate(() => { window.__noReload = 'still here'; });
    const supportsStream = (await fetch(apiBase + '/jobs/' + id + '/events', {
      signal: AbortSignal.timeout(3000), headers: {Accept: 'text/event-stream'},
    }).then((r) => { const ok = r.status === 200; r.body?.cancel().catch(() => {}); return ok; })
      .catch(() => false));

    const summaries = new Set();
    const liveModes = new Set();
    const doneCounts = new Set();
    let progressShot = false;
    const state = await waitFor(async () => {
      const s = await page.locator('#job-state').getAttribute('data-state');
      summaries.add(await page.locator('#progress-summary').textContent());
      liveModes.add(await page.locator('#live-status').getAttribute('data-mode'));
      doneCounts.add(await page.locator('.stage-row[data-stage="summarization"]')
                         .getAttribute('data-done'));
      const videos = await page.locator('#videos > li').count();
      if (!progressShot && videos > 0 && s === 'running') {
        progressShot = true;
        await shot('job-progress');
      }
      return TERMINAL.includes(s) ? s : null;
    }, 180000, 'the demo job to finish');

    assert.equal(await page.evaluate(() => window.__noReload), 'still here',
                 'the page reloaded or navigated');
    assert.ok(['completed', 'completed_with_errors'].includes(state), 'job ended ' + state);
    assert.ok(summaries.size >= 3, 'progress text changed only ' + summaries.size +
              ' times: ' + [...summaries].join(' | '));
    assert.ok(doneCounts.size >= 2, 'summarization progress never moved: ' + [...doneCounts]);
    if (supportsStream) assert.ok(liveModes.has('streaming'), 'never streamed: ' + [...liveModes]);
    else assert.ok(liveModes.has('polling'), 'neither streamed nor polled: ' + [...liveModes]);

    // The page agrees with the API.
    const {body: job} = await api('/jobs/' + id);
    assert.equal(job.state, state);
    const summarized = job.videos.filter((v) => v.stage === 'summarization' && v.state === 'done');
    assert.ok(summarized.length >= 1, 'no video was summarized');
    assert.equal(await page.locator('.stage-row[data-stage="summarization"]')
                     .getAttribute('data-done'), String(summarized.length));
    assert.equal(await page.locator('#videos > li').count(), job.videos.length);
    // A finished job offers no Cancel.
    assert.equal(await page.locator('#cancel-button').count(), 0, 'a finished job offers Cancel');
    for (const v of job.videos.filter((x) => x.state === 'failed')) {
      const item = page.locator(`#videos > li[data-video-id="${v.video_id}"]`);
      assert.match(await item.locator('.err').textContent(), /Error/);
    }
    // Per-video timeline: durations of the stages that ran.
    const first = page.locator(`#videos > li[data-video-id="${summarized[0].video_id}"]`);
    assert.match(await first.locator('.durations').textContent(), /Download .*Summarization/s);
    finishedJob = {id, videos: summarized};
    await shot('job-done');
  });

  test('opens a summary and a transcript', async () => {
    assert.ok(finishedJob, 'needs the finished demo job');
    const v = finishedJob.videos[0];
    await page.goto(apiBase + '/#/jobs/' + finishedJob.id);
    const item = page.locator(`#videos > li[data-video-id="${v.video_id}"]`);
    await item.getByRole('link', {name: 'Summary'}).click();
    await page.getByRole('heading', {level: 1, name: v.title}).waitFor();
    const {body: doc} = await api('/videos/' + encodeURIComponent(v.video_id) + '/summary');
    assert.ok(doc.summary.length > 20);
    assert.equal((await page.locator('#summary .summary-text').textContent()).trim(),
                 doc.summary.trim());
    if (doc.key_points.length) {
      assert.equal(await page.locator('#key-points li').count(), doc.key_points.length);
    }
    await shot('summary');
    await page.getByRole('link', {name: 'Transcript'}).click();
    await page.locator('#transcript').waitFor();
    const {body: tr} = await api('/videos/' + encodeURIComponent(v.video_id) + '/transcript');
    assert.equal(await page.locator('#transcript .segments li').count(), tr.segments.length);
    assert.ok(tr.segments.length > 0);
    await shot('transcript');
    await page.getByRole('link', {name: '← Back to the job'}).click();
    await page.locator('#job-state').waitFor();
  });

  // The job-level warning block (issue 15 §2): absent for a job without warnings, shown with the
  // API's text once the job has a bot-check warning. The warning is written the way the stages'
  // HostLimits::WarnBotCheck writes it (this machine reaches no site that asks for a bot check).
  test('shows a job\'s bot-check warning block only when the job has a warning', async () => {
    assert.ok(finishedJob, 'needs the finished demo job');
    const id = finishedJob.id;
    const {body: before} = await api('/jobs/' + id);
    assert.deepEqual(before.warnings, []);
    await page.goto(apiBase + '/#/jobs/' + id);
    await page.locator('#job-state').waitFor();
    await page.locator('#progress-summary').waitFor();
    assert.equal(await page.locator('#job-warnings').count(), 0, 'a job without warnings shows none');

    const message = 'www.youtube.com asked to confirm we are not a bot: its videos wait and ' +
                    'will keep failing until cookies (YTDLP_COOKIES_FILE) or a proxy ' +
                    '(YTDLP_PROXY) are configured for discovery and download';
    psql(`INSERT INTO job_warnings (job_id, code, message, count) VALUES ('${id}', 'bot_check', ` +
         `'${message}', 2); UPDATE jobs SET updated_at = now() WHERE id = '${id}'`);
    try {
      const {body: after} = await api('/jobs/' + id);
      assert.equal(after.warnings.length, 1, JSON.stringify(after.warnings));
      await page.reload();
      const block = page.locator('#job-warnings');
      await block.waitFor();
      assert.equal(await block.getAttribute('role'), 'status');
      const item = block.locator('p[data-code="bot_check"]');
      assert.equal(await item.count(), 1);
      const text = await item.textContent();
      assert.match(text, /^Warning \(bot_check, 2×\): /);
      assert.ok(text.includes(after.warnings[0].message), text);
      assert.match(text, /cookies .* or a proxy/);
      assert.ok(await block.isVisible());
      await shot('job-warning');
    } finally {
      psql(`DELETE FROM job_warnings WHERE job_id = '${id}'; ` +
           `UPDATE jobs SET updated_at = now() WHERE id = '${id}'`);
    }
    await page.reload();
    await page.locator('#progress-summary').waitFor();
    assert.equal(await page.locator('#job-warnings').count(), 0, 'the block outlived its warning');
  });

  test('shows the channel digest and downloads every document as a tar archive', async () => {
    assert.ok(finishedJob, 'needs the finished demo job');
    await page.goto(apiBase + '/#/jobs/' + finishedJob.id);
    await page.getByRole('link', {name: 'Channel digest'}).click();
    await page.getByRole('heading', {level: 1, name: /^Channel digest: /}).waitFor();
    const {status, body: digest} = await api('/jobs/' + finishedJob.id + '/digest');
    assert.equal(status, 200);
    assert.equal(await page.locator('#digest-videos > li').count(), digest.videos.length);
    assert.equal(await page.locator('#digest-themes > li').count(), digest.themes.length);
    assert.match(await page.locator('#digest-counts').textContent(),
                 new RegExp('^' + digest.summarized + ' of ' + digest.video_count + ' videos'));
    // A summarized video's line links to its summary; one without a summary has no link.
    const v = finishedJob.videos[0];
    const item = page.locator(`#digest-videos > li[data-video-id="${v.video_id}"]`);
    assert.equal(await item.getByRole('link').count(), 1);
    for (const missing of digest.videos.filter((x) => !x.summarized)) {
      assert.equal(await page.locator(`#digest-videos > li[data-video-id="${missing.video_id}"] a`)
                       .count(), 0, missing.video_id + ' links to a summary it does not have');
    }
    await shot('digest');
    await item.getByRole('link').click();
    await page.locator('#summary').waitFor();

    await page.goto(apiBase + '/#/jobs/' + finishedJob.id);
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', {name: 'Download all (.tar)'}).click(),
    ]);
    assert.equal(download.suggestedFilename(), 'chansum-' + finishedJob.id + '.tar');
    const file = await download.path();
    const listing = spawnSync('tar', ['-tf', file], {encoding: 'utf8'});
    assert.equal(listing.status, 0, listing.stderr);
    assert.match(listing.stdout, /digest\.md/);
    // Archive names replace the ':' of source keys (feed:<guid>:<hash>) with '_'.
    assert.match(listing.stdout,
                 new RegExp(v.video_id.replace(/:/g, '_').replace(/[-]/g, '\\-') + '\\.md'));
    assert.match(await page.locator('#action-status').textContent(), /Archive downloaded/);
  });

  test('readable at phone width (375 px)', async () => {
    assert.ok(finishedJob, 'needs the finished demo job');
    await page.setViewportSize({width: 375, height: 812});
    try {
      for (const url of ['/', '/#/jobs/' + finishedJob.id,
                         '/#/videos/' + encodeURIComponent(finishedJob.videos[0].video_id) +
                             '/summary?job=' + finishedJob.id]) {
        await page.goto(apiBase + url);
        await page.locator('h1').first().waitFor();
        await page.waitForLoadState('networkidle').catch(() => {});
        const overflow = await page.evaluate(
            () => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        assert.ok(overflow <= 0, url + ' scrolls sideways by ' + overflow + ' px at 375 px');
        if (url.includes('#/jobs/')) await shot('phone-job');
      }
    } finally {
      await page.setViewportSize({width: 1200, height: 900});
    }
  });

  test('cancels a running job', async () => {
    await submitFromForm(demoBase + '/feed.xml', 6);
    const id = await jobIdFromUrl();
    await page.locator('#job-state').waitFor();
    const cancel = page.getByRole('button', {name: 'Cancel job'});
    assert.equal(await cancel.isEnabled(), true);
    page.once('dialog', (d) => d.accept());
    await cancel.click();
    await page.locator('#job-state[data-state="cancelled"]').waitFor({timeout: 30000});
    assert.match(await page.locator('#action-status').textContent(), /cancelled/i);
    assert.equal(await cancel.count(), 0, 'a cancelled job still offers Cancel');
    const {body: job} = await api('/jobs/' + id);
    assert.equal(job.state, 'cancelled');
    // No alarm for a cancel the user asked for, and no "discovering" once the job has ended.
    assert.equal(await page.locator('#job-error').count(), 0, 'a cancelled job shows an error');
    assert.doesNotMatch(await page.locator('#progress-summary').textContent(), /Discovering/);
    // The server refuses to retry a cancelled job, so the page offers no Retry.
    assert.equal(await page.getByRole('button', {name: 'Retry failed videos'}).isDisabled(), true);
    await shot('job-cancelled');
  });

  test('retries the failed videos of a finished job', async () => {
    assert.ok(finishedJob, 'needs the finished demo job');
    const {body: before} = await api('/jobs/' + finishedJob.id);
    const failed = before.videos.filter((v) => v.state === 'failed');
    assert.ok(failed.length >= 1, 'the demo job has no failed video to retry');
    await page.goto(apiBase + '/#/jobs/' + finishedJob.id);
    const retry = page.getByRole('button', {name: 'Retry failed videos'});
    await page.locator('#job-state[data-state="' + before.state + '"]').waitFor();
    assert.equal(await retry.isEnabled(), true);
    await retry.click();
    await waitFor(async () => /Requeued/.test(await page.locator('#action-status').textContent()),
                  15000, 'the retry answer');
    const n = failed.length;
    assert.equal((await page.locator('#action-status').textContent()).trim(),
                 'Requeued ' + n + ' video' + (n === 1 ? '' : 's') + '.');
    // The requeued videos run again (the demo's missing entry fails again) and the page follows
    // the job to its end without a reload.
    await waitFor(async () => {
      const {body: j} = await api('/jobs/' + finishedJob.id);
      return TERMINAL.includes(j.state) && j.finished_at !== before.finished_at;
    }, 120000, 'the retried job to end');
    const {body: after} = await api('/jobs/' + finishedJob.id);
    await page.locator('#job-state[data-state="' + after.state + '"]').waitFor({timeout: 30000});
    for (const v of failed) {
      const again = after.videos.find((x) => x.video_id === v.video_id);
      assert.ok(['done', 'failed'].includes(again.state), v.video_id + ' ended ' + again.state);
      assert.notEqual(again.finished_at, v.finished_at, v.video_id + ' was not run again');
    }
  });

  test('a bad channel gets a clear error, by keyboard', async () => {
    await page.goto(apiBase + '/');
    const channel = page.getByLabel('Channel', {exact: true});
    await channel.waitFor();
    // Keyboard only: focus the field, type, Enter submits the form.
    await channel.focus();
    await page.keyboard.type('--exec=rm -rf /');
    await page.keyboard.press('Enter');
    const error = page.locator('#submit-error');
    await error.filter({hasText: /refused this channel/}).waitFor();
    assert.match(await error.textContent(), /channel/i);
    assert.equal(await error.getAttribute('role'), 'alert');
    assert.equal(await channel.getAttribute('aria-invalid'), 'true');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'channel');
    assert.match(page.url(), /\/(#\/?)?$/, 'no job page for a refused channel');
    await shot('bad-channel');

    // Valid syntax, but nothing there: the job fails and the page says why.
    await channel.fill(demoBase + '/no-such-feed.xml');
    await page.keyboard.press('Enter');
    const id = await jobIdFromUrl();
    await page.locator('#job-state[data-state="failed"]').waitFor({timeout: 60000});
    const text = await page.locator('#job-error').textContent();
    const {body: job} = await api('/jobs/' + id);
    assert.ok(job.error, 'the API has no error for the failed job');
    assert.ok(text.includes(job.error), 'page shows "' + text + '", API says "' + job.error + '"');
    await shot('bad-channel-job');
  });

  test('subscriptions: follow a channel, see its checks, pause and unsubscribe', async () => {
    await page.goto(apiBase + '/');
    await page.getByRole('link', {name: 'Subscriptions'}).click();
    await page.getByRole('heading', {name: 'Follow a channel'}).waitFor();
    // A bad interval is refused with the API's reason, and nothing is created.
    await page.getByLabel('Channel', {exact: true}).fill(demoBase + '/feed.xml');
    await page.getByLabel('Every', {exact: true}).fill('soon');
    await page.getByRole('button', {name: 'Subscribe'}).click();
    await page.locator('#sub-error').filter({hasText: /refused this subscription/}).waitFor();
    assert.equal((await api('/subscriptions')).body.subscriptions.length, 0);
    // From now on: every check finds nothing new, so it starts no job.
    await page.getByLabel('Every', {exact: true}).fill('2s');
    await page.getByLabel('Since', {exact: true}).fill('now');
    await page.getByRole('button', {name: 'Subscribe'}).click();
    const row = page.locator('#subs-list li.subscription').first();
    await row.filter({hasText: 'feed.xml'}).waitFor();
    await row.filter({hasText: /last: no new videos/}).waitFor({timeout: 60000});
    const {body: listed} = await api('/subscriptions');
    assert.equal(listed.subscriptions.length, 1);
    const id = listed.subscriptions[0].id;
    assert.equal(await row.getAttribute('data-id'), id);
    const {body: sub} = await api('/subscriptions/' + id);
    assert.equal(sub.jobs.length, 0, 'a check that found nothing started a job');
    assert.ok(sub.checks >= 1);
    await shot('subscriptions');
    await row.getByRole('button', {name: 'Pause'}).click();
    await page.locator('#subs-list li.subscription[data-paused="true"]').waitFor();
    assert.equal((await api('/subscriptions/' + id)).body.paused, true);
    await row.getByRole('button', {name: 'Unsubscribe'}).click();
    await page.locator('#subs-status').filter({hasText: /No subscriptions yet/}).waitFor();
    assert.equal((await api('/subscriptions/' + id)).status, 404);
  });

  test('asks for the API token on a 401 and keeps it', async () => {
    // A second orchestrator of this run with API_TOKEN set (own queue prefix, no stages needed).
    const port = await freePort();
    const base = 'http://127.0.0.1:' + port;
    const token = 'browser-token-' + suffix;
    start('orchestrator_token', [path.join(binDir, 'chansum-orchestrator')],
          Object.assign({}, serviceEnv, {HTTP_PORT: String(port), API_TOKEN: token,
                                         QUEUE_PREFIX: 'browser-token-' + suffix + '.'}));
    await waitFor(() => httpOk(base + '/readyz'), 60000, 'the orchestrator with API_TOKEN')
        .catch((e) => { throw new Error(e.message + '\n' + logTail('orchestrator_token')); });
    const probe = await fetch(base + '/jobs');
    assert.equal(probe.status, 401, 'GET /jobs without the token');
    // The page and its files need no token (another port: another origin, empty localStorage).
    await page.goto(base + '/');
    const dialog = page.getByRole('dialog', {name: 'API token needed'});
    await dialog.waitFor();
    await page.getByLabel('API token', {exact: true}).fill(token);
    await shot('token-dialog');
    await page.getByRole('button', {name: 'Save token'}).click();
    await dialog.waitFor({state: 'hidden'});
    await page.locator('#jobs-list[aria-busy="false"]').waitFor();
    assert.equal(await page.locator('#jobs-status').getAttribute('class'), 'muted',
                 'jobs list error: ' + await page.locator('#jobs-status').textContent());
    assert.equal(await page.evaluate(() => localStorage.getItem('chansum.apiToken')), token);
    // Kept: a reload asks nothing and the list loads with the stored token.
    await page.reload();
    await page.locator('#jobs-list[aria-busy="false"]').waitFor();
    assert.equal(await dialog.isVisible(), false);
    assert.equal(await page.locator('#jobs-status').getAttribute('class'), 'muted');
    // Forgotten: the next load asks again; declining leaves a clear error.
    await page.getByRole('button', {name: 'Forget API token'}).click();
    await page.reload();
    await dialog.waitFor();
    await page.getByRole('button', {name: 'Cancel', exact: true}).click();
    await page.locator('#jobs-status.error').waitFor();
    assert.match(await page.locator('#jobs-status').textContent(), /Could not load jobs: .+/);
    // No more prompts; the header offers the dialog again.
    const enter = page.getByRole('button', {name: 'Enter API token'});
    await enter.click();
    await dialog.waitFor();
    await page.getByLabel('API token', {exact: true}).fill(token);
    await page.getByRole('button', {name: 'Save token'}).click();
    await page.locator('#jobs-list[aria-busy="false"]').waitFor();
    assert.equal(await page.locator('#jobs-status').getAttribute('class'), 'muted');
  });

  test('no script errors on any page', () => {
    assert.deepEqual(pageErrors, []);
    // 4xx answers the tests provoked on purpose show up as console errors, and so does an event
    // stream the page aborted (navigation) or the server closed (the page resumes it); nothing
    // else may (e.g. a Content-Security-Policy violation).
    const expected = /status of 4\d\d|net::ERR_(ABORTED|INCOMPLETE_CHUNKED_ENCODING)/;
    const unexpected = [...new Set(consoleErrors.filter((t) => !expected.test(t)))];
    assert.deepEqual(unexpected.slice(0, 5), [], unexpected.length + ' distinct console errors');
  });
});
