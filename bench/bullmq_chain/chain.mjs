// Reference point for bench/control_plane: a BullMQ chain of five no-op stages on a local Redis.
// Run by bench/bullmq (which starts and stops the Redis server); see bench/README.md.
//
// Five queues, discovery -> download -> audio_extraction -> transcription -> summarization, one
// Worker per stage with `concurrency` = WORKERS. Every stage's processor is a no-op that adds the
// video to the next queue (the last one does nothing), so each video is one job in each of the
// five queues. The videos enter the first queue with addBulk. Job ids are the video ids, so a
// re-run processor cannot add a second job for the same video to the next queue (BullMQ ignores
// an add with an existing id), which is how a BullMQ user would deduplicate.
//
// Timing: from just before the first addBulk to the `finishedOn` of the last job that completed
// in the final queue. Check (ok=1 only when all hold): every stage's processor ran exactly once
// per video (counted in the workers) and every queue holds exactly VIDEOS completed jobs, none
// failed, waiting, active or delayed.
//
// CPU: node_cpu_s = user+system seconds of the Node process(es) from the start of the clock to
// the end, redis_cpu_s = Redis' own (INFO cpu) over the same interval.
//
// Environment: REDIS_PORT (required), VIDEOS (default 2000), WORKERS (default 1), PROCESSES (1 =
// the five Workers in one process, the default; 5 = one Node process per stage like the project's
// five stage services), PREFIX (BullMQ key prefix, default "bench"), TIMEOUT_S (default 300).
// Prints one line on stdout:
//   BENCH bullmq_reference videos=N workers=W videos_per_s=X makespan_s=.. ... ok=1
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';

const stages = ['discovery', 'download', 'audio_extraction', 'transcription', 'summarization'];
const env = (k, d) => process.env[k] ?? d;
const redisPort = Number(env('REDIS_PORT', ''));
const videos = Number(env('VIDEOS', '2000'));
const workers = Number(env('WORKERS', '1'));
const processes = Number(env('PROCESSES', '1'));
const prefix = env('PREFIX', 'bench');
const timeoutS = Number(env('TIMEOUT_S', '300'));
if (!redisPort || !(videos > 0) || !(workers > 0) || ![1, 5].includes(processes)) {
  console.error('chain.mjs: need REDIS_PORT, VIDEOS > 0, WORKERS > 0, PROCESSES 1 or 5');
  process.exit(2);
}
// Workers block on Redis: ioredis must retry forever (BullMQ's requirement for Worker connections).
const connection = { host: '127.0.0.1', port: redisPort, maxRetriesPerRequest: null };
const log = (...a) => console.error('[bullmq]', ...a);
const cpuS = (since) => {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1e6;
};

// One stage's Worker; counts processor runs per video for the exactly-once check.
async function startStage(stage) {
  const i = stages.indexOf(stage);
  const next = i + 1 < stages.length ? new Queue(stages[i + 1], { connection, prefix }) : null;
  const runs = new Map();
  const worker = new Worker(
    stage,
    async (job) => {
      runs.set(job.id, (runs.get(job.id) ?? 0) + 1);
      if (next) await next.add('video', job.data, { jobId: job.id });
    },
    { connection, prefix, concurrency: workers },
  );
  worker.on('error', (e) => log(stage, 'worker error:', e.message));
  await worker.waitUntilReady();
  if (next) await next.waitUntilReady();
  const cpu0 = process.cpuUsage();
  return {
    async stop() {
      await worker.close();
      if (next) await next.close();
      let once = 0;
      let extra = 0;
      for (const n of runs.values()) (n === 1 ? once++ : (extra += n - 1));
      return { stage, distinct: runs.size, once, extra, cpu_s: cpuS(cpu0) };
    },
  };
}

// Child process mode: `node chain.mjs stage <name>`; driven by the parent over IPC.
if (process.argv[2] === 'stage') {
  process.on('disconnect', () => process.exit(1));  // the parent is gone: do not linger
  const s = await startStage(process.argv[3]);
  process.on('message', async (m) => {
    if (m === 'stop') {
      process.send(await s.stop(), () => process.exit(0));
    }
  });
  process.send('ready');
} else {
  await main();
}

async function main() {
  // Stages: in this process, or one child process per stage.
  const running = [];
  if (processes === 1) {
    for (const s of stages) running.push(await startStage(s));
  } else {
    const self = new URL(import.meta.url).pathname;
    await Promise.all(stages.map((s) => new Promise((resolve, reject) => {
      const child = fork(self, ['stage', s], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      child.once('error', reject);
      child.once('exit', (code) => code && log(s, 'exited with', code));
      child.once('message', (m) => (m === 'ready' ? resolve() : reject(new Error(`${s}: ${m}`))));
      running.push({
        stop: () => new Promise((res) => {
          child.once('message', res);
          child.send('stop');
        }),
      });
    })));
  }
  const queues = stages.map((s) => new Queue(s, { connection, prefix }));
  await Promise.all(queues.map((q) => q.waitUntilReady()));
  const first = queues[0];
  const last = queues[stages.length - 1];

  const redis = new Redis(connection);
  const redisCpu = async () => {
    const info = await redis.info('cpu');
    const v = (k) => Number((info.match(new RegExp(`^${k}:([0-9.]+)`, 'm')) ?? [0, 0])[1]);
    return v('used_cpu_user') + v('used_cpu_sys');
  };
  const ids = Array.from({ length: videos }, (_, i) => `v${i + 1}`);
  const chunk = 1000;  // addBulk is one MULTI per call; keep each one a reasonable size
  const redisCpu0 = await redisCpu();
  const cpu0 = process.cpuUsage();
  const t0 = Date.now();
  for (let i = 0; i < ids.length; i += chunk) {
    await first.addBulk(ids.slice(i, i + chunk).map((id) => (
      { name: 'video', data: { video_id: id }, opts: { jobId: id } })));
  }
  const deadline = t0 + timeoutS * 1000;
  let done = 0;
  while ((done = await last.getCompletedCount()) < videos && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  const finished = done >= videos;
  const mainCpu = cpuS(cpu0);
  const redisCpuS = (await redisCpu()) - redisCpu0;
  redis.disconnect();
  if (!finished) log(`only ${done} of ${videos} videos done after ${timeoutS} s`);

  // Timing and per-video latency from the jobs themselves (creation in the first queue, finish
  // in the last), read after the clock stopped.
  const lastJobs = await last.getCompleted(0, -1);
  const firstJobs = new Map((await first.getCompleted(0, -1)).map((j) => [j.id, j]));
  const tEnd = lastJobs.reduce((m, j) => Math.max(m, j.finishedOn ?? 0), 0);
  const lat = lastJobs.filter((j) => firstJobs.has(j.id))
    .map((j) => j.finishedOn - firstJobs.get(j.id).timestamp).sort((a, b) => a - b);
  const pct = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] : 0);

  // Exactly-once check: the queues' own counts, then the processors' run counts.
  const counts = await Promise.all(queues.map((q) => q.getJobCounts(
    'completed', 'failed', 'waiting', 'active', 'delayed', 'prioritized', 'waiting-children')));
  const reports = await Promise.all(running.map((r) => r.stop()));
  await Promise.all(queues.map((q) => q.close()));
  const problems = [];
  counts.forEach((c, i) => {
    const { completed, ...rest } = c;
    if (completed !== videos) problems.push(`${stages[i]}: ${completed} completed`);
    for (const [k, v] of Object.entries(rest)) if (v) problems.push(`${stages[i]}: ${v} ${k}`);
  });
  for (const r of reports) {
    if (r.distinct !== videos || r.once !== videos || r.extra) {
      problems.push(
        `${r.stage}: ran for ${r.distinct} videos, ${r.once} once, ${r.extra} extra runs`);
    }
  }
  for (const p of problems) log('check:', p);
  const ok = finished && problems.length === 0 ? 1 : 0;
  const makespan = (tEnd - t0) / 1000;
  // In one process the stages' CPU is the main process's; with five, add the children's.
  const nodeCpuS = processes === 1 ? mainCpu : mainCpu + reports.reduce((a, r) => a + r.cpu_s, 0);
  const version = (m) => JSON.parse(
    readFileSync(new URL(`./node_modules/${m}/package.json`, import.meta.url))).version;
  console.log([
    'BENCH bullmq_reference', `videos=${videos}`, `workers=${workers}`,
    `videos_per_s=${finished && makespan > 0 ? (videos / makespan).toFixed(1) : 0}`,
    `videos_done=${lastJobs.length}`, `makespan_s=${makespan.toFixed(2)}`,
    `video_p50_ms=${pct(0.5)}`, `video_p99_ms=${pct(0.99)}`,
    `node_cpu_s=${nodeCpuS.toFixed(2)}`, `redis_cpu_s=${redisCpuS.toFixed(2)}`,
    `cpu_ms_per_video=${((nodeCpuS + redisCpuS) * 1000 / videos).toFixed(3)}`,
    `processes=${processes}`, `bullmq=${version('bullmq')}`, `ioredis=${version('ioredis')}`,
    `node=${process.versions.node}`, `ok=${ok}`,
  ].join(' '));
  process.exit(ok ? 0 : 1);
}
