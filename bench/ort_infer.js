#!/usr/bin/env node
// ONNX Runtime peer for minnow's inference benchmark (bench/core_bench.sh).
//
//   node bench/ort_infer.js MODEL.onnx BATCH [--threads N] [--json]
//
// Median latency of one session.run over a batch of random [0,1) inputs,
// timed the way `minnow bench` times (0.2 s warm-up, then as many runs as
// fit in about 1 s, at least 20).  intraOpNumThreads defaults to 1, the
// graph is fully optimised, execution is sequential.  onnxruntime-node is
// looked up in bench/node_modules (npm install --ignore-scripts).
'use strict';
const path = require('path');

function usage(msg) {
  process.stderr.write(`ort_infer: ${msg}\nusage: node bench/ort_infer.js MODEL.onnx BATCH [--threads N] [--json]\n`);
  process.exit(2);
}

async function main() {
  const args = process.argv.slice(2);
  const pos = [];
  let threads = 1, json = false;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--json') json = true;
    else if (args[i] === '--threads') threads = parseInt(args[++i], 10);
    else pos.push(args[i]);
  }
  if (pos.length !== 2) usage('expected MODEL and BATCH');
  const batch = parseInt(pos[1], 10);
  if (!(batch > 0) || !(threads > 0)) usage('BATCH and --threads must be positive integers');
  let ort;
  try {
    ort = require(path.join(__dirname, 'node_modules', 'onnxruntime-node'));
  } catch (e) {
    process.stderr.write('ort_infer: onnxruntime-node is not installed (cd bench && npm install --ignore-scripts)\n');
    process.exit(3);
  }
  const sess = await ort.InferenceSession.create(pos[0], {
    intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const inName = sess.inputNames[0];
  // The input's per-sample shape comes from the model (dim 0 is the batch).
  const meta = sess.inputMetadata ? sess.inputMetadata[0] : null;
  const dims = meta && meta.shape ? meta.shape.slice(1).map((d) => (typeof d === 'number' ? d : 1)) : [1, 28, 28];
  const per = dims.reduce((a, b) => a * b, 1);
  const data = new Float32Array(batch * per);
  let s = 7;
  for (let i = 0; i < data.length; i++) { s = (s * 1103515245 + 12345) >>> 0; data[i] = s / 4294967296; }
  const feeds = { [inName]: new ort.Tensor('float32', data, [batch, ...dims]) };
  const now = () => Number(process.hrtime.bigint()) / 1e9;

  const t0 = now();
  let warm = 0;
  while (warm < 5 || now() - t0 < 0.2) { await sess.run(feeds); warm++; }
  const each = (now() - t0) / warm;
  const runs = Math.min(Math.max(Math.floor(1.0 / each), 20), 100000);
  const t = [];
  for (let i = 0; i < runs; i++) {
    const a = now();
    await sess.run(feeds);
    t.push((now() - a) * 1e6);
  }
  t.sort((a, b) => a - b);
  const r = {
    batch, threads, runs, latency_us: t[runs >> 1], p10_us: t[Math.floor(runs / 10)],
    p90_us: t[Math.floor(runs * 9 / 10)], samples_per_s: batch / t[runs >> 1] * 1e6,
    onnxruntime: ort.env.versions ? ort.env.versions.node : 'unknown',
  };
  if (json) console.log(JSON.stringify(r));
  else console.log(`ort batch ${batch}, ${threads} thread(s): median ${r.latency_us.toFixed(1)} us over ${runs} runs`);
}

main().catch((e) => { process.stderr.write(`ort_infer: ${e.message || e}\n`); process.exit(1); });
