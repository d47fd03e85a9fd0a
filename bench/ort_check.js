#!/usr/bin/env node
// Runs an exported ONNX model in ONNX Runtime on the inputs minnow wrote and
// compares with minnow's own outputs (`minnow export-c MODEL --target host
// --check N` writes DIR/inputs.bin and DIR/expected.bin, raw f32):
//
//   node bench/ort_check.js MODEL.onnx DIR/inputs.bin DIR/expected.bin N
//
// Prints one JSON line {"n", "agree" (argmax equal), "max_abs_diff"}; exits 1
// if any prediction differs.  onnxruntime-node from bench/node_modules.
'use strict';
const fs = require('fs');
const path = require('path');

async function main() {
  const [model, inPath, outPath, nArg] = process.argv.slice(2);
  const n = parseInt(nArg, 10);
  if (!model || !inPath || !outPath || !(n > 0)) {
    process.stderr.write('usage: node bench/ort_check.js MODEL.onnx inputs.bin expected.bin N\n');
    process.exit(2);
  }
  const ort = require(path.join(__dirname, 'node_modules', 'onnxruntime-node'));
  const sess = await ort.InferenceSession.create(model, { intraOpNumThreads: 1 });
  const inName = sess.inputNames[0], outName = sess.outputNames[0];
  const xb = fs.readFileSync(inPath), yb = fs.readFileSync(outPath);
  const x = new Float32Array(xb.buffer, xb.byteOffset, xb.length / 4);
  const y = new Float32Array(yb.buffer, yb.byteOffset, yb.length / 4);
  const isz = x.length / n, osz = y.length / n;
  if (!Number.isInteger(isz) || !Number.isInteger(osz)) throw new Error('sizes do not divide by N');
  // The input's shape from the model (batch first).
  let shape = [1, isz];
  const meta = sess.inputMetadata && sess.inputMetadata[0];
  if (meta && meta.shape && meta.shape.length === 4) shape = [1, ...meta.shape.slice(1).map(Number)];
  let agree = 0, maxd = 0;
  for (let i = 0; i < n; i++) {
    const t = new ort.Tensor('float32', x.slice(i * isz, (i + 1) * isz), shape);
    const r = (await sess.run({ [inName]: t }))[outName].data;
    let am = 0, bm = 0;
    for (let k = 0; k < osz; k++) {
      maxd = Math.max(maxd, Math.abs(r[k] - y[i * osz + k]));
      if (r[k] > r[am]) am = k;
      if (y[i * osz + k] > y[i * osz + bm]) bm = k;
    }
    agree += am === bm;
  }
  process.stdout.write(JSON.stringify({ n, agree, max_abs_diff: maxd }) + '\n');
  process.exit(agree === n ? 0 : 1);
}
main().catch((e) => { process.stderr.write(`ort_check: ${e.message}\n`); process.exit(1); });
