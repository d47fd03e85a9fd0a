// Runs an ONNX model in ONNX Runtime (onnxruntime-node from ./node_modules):
//   node ort_run.js MODEL.onnx INPUT.f32 OUTPUT.f32 N D1 [D2 D3]
// INPUT.f32 holds N x D1 x ... float32 values; OUTPUT.f32 gets the output.
// Exit 77 when onnxruntime-node is not installed (the test skips).
'use strict';
const fs = require('fs');
const path = require('path');
let ort;
try {
  ort = require(path.join(__dirname, 'node_modules', 'onnxruntime-node'));
} catch (e) {
  console.error('onnxruntime-node not installed: ' + e.message);
  process.exit(77);
}
async function main() {
  const [model, input, output, ...dims] = process.argv.slice(2);
  const shape = dims.map(Number);
  const buf = fs.readFileSync(input);
  const x = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
  const sess = await ort.InferenceSession.create(model);
  const feeds = {};
  feeds[sess.inputNames[0]] = new ort.Tensor('float32', x, shape);
  const res = await sess.run(feeds);
  const y = res[sess.outputNames[0]].data;
  fs.writeFileSync(output, Buffer.from(y.buffer, y.byteOffset, y.length * 4));
}
main().catch((e) => { console.error(e.message || String(e)); process.exit(1); });
