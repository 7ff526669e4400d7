// llama.cpp as a peer for Nexus's GGUF files, through node-llama-cpp's prebuilt CPU build.
// Test and benchmark tooling only; nothing in Nexus depends on it.
//
//   node llamacpp.mjs tokenize MODEL.gguf FILE          ids of FILE's text on one line
//   node llamacpp.mjs cases MODEL.gguf CASES.json DIR   DIR/N.txt + DIR/N.ids per golden text case
//   node llamacpp.mjs score MODEL.gguf FILE             JSON: mean next-token NLL over FILE's ids (one window)
//   node llamacpp.mjs greedy MODEL.gguf PROMPT N        JSON: N greedy token ids after PROMPT
//   node llamacpp.mjs bench MODEL.gguf THREADS          JSON: pp512, tg128 and 16-stream decode tok/s
import {getLlama, LlamaLogLevel} from "node-llama-cpp";
import fs from "fs";

const [, , command, modelPath, ...args] = process.argv;
const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error});

async function loadModel(vocabOnly) {
  return llama.loadModel({modelPath, vocabOnly});
}

function logSoftmaxAt(logits, id) {
  let max = -Infinity;
  for (const v of logits.values()) max = Math.max(max, v);
  let sum = 0;
  for (const v of logits.values()) sum += Math.exp(v - max);
  return logits.get(id) - max - Math.log(sum);
}

async function score(file) {
  const model = await loadModel(false);
  const ids = Array.from(model.tokenize(fs.readFileSync(file, "utf8"), false));
  const context = await model.createContext({contextSize: Math.max(ids.length, 256), threads: 2});
  const input = ids.map((t, i) => (i + 1 < ids.length ? [t, {generateNext: {logits: true}}] : t));
  const out = await context.getSequence().controlledEvaluate(input);
  let nll = 0;
  for (let i = 0; i + 1 < ids.length; i++) nll -= logSoftmaxAt(out[i].next.logits, ids[i + 1]);
  return {tokens: ids.length, scored: ids.length - 1, mean_nll: nll / (ids.length - 1)};
}

async function greedy(prompt, n) {
  const model = await loadModel(false);
  const context = await model.createContext({contextSize: 256, threads: 2});
  const ids = [];
  for await (const t of context.getSequence().evaluate(Array.from(model.tokenize(prompt, false)), {temperature: 0})) {
    ids.push(t);
    if (ids.length >= n) break;
  }
  return {tokens: ids};
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function randomIds(n, vocab, seed) {
  let x = seed >>> 0;
  return Array.from({length: n}, () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return 300 + (x % (vocab - 600));  // ordinary tokens, away from byte and special ids
  });
}

// Decode `steps` tokens on each of `streams` sequences at once; tok/s over all of them.
async function decodeRate(model, threads, streams, steps) {
  const context = await model.createContext({contextSize: streams * 256, sequences: streams, batchSize: 512, threads});
  const seqs = Array.from({length: streams}, () => context.getSequence());
  await Promise.all(seqs.map((s, i) => s.evaluateWithoutGeneratingNewTokens(randomIds(16, model.tokens.vocabSize ?? 50257, i + 1))));
  const t0 = performance.now();
  await Promise.all(seqs.map(async (s) => {
    let n = 0;
    for await (const _ of s.evaluate([randomIds(1, 50257, 7)[0]], {temperature: 0})) if (++n >= steps) break;
  }));
  const rate = (streams * steps) / ((performance.now() - t0) / 1e3);
  await context.dispose();
  return rate;
}

async function bench(threads) {
  const model = await loadModel(false);
  const pp = [];
  const context = await model.createContext({contextSize: 1024, batchSize: 512, threads});
  const seq = context.getSequence();
  for (let r = 0; r < 3; r++) {
    await seq.clearHistory();
    const t0 = performance.now();
    await seq.evaluateWithoutGeneratingNewTokens(randomIds(512, 50257, r + 11));
    pp.push(512 / ((performance.now() - t0) / 1e3));
  }
  await context.dispose();
  const tg = [];
  for (let r = 0; r < 3; r++) tg.push(await decodeRate(model, threads, 1, 128));
  const tg16 = [];
  for (let r = 0; r < 2; r++) tg16.push(await decodeRate(model, threads, 16, 64));
  return {pp512: median(pp), tg128: median(tg), streams16: median(tg16), runs: {pp512: pp, tg128: tg, streams16: tg16}};
}

async function main() {
  if (command === "tokenize") {
    const model = await loadModel(true);
    process.stdout.write(Array.from(model.tokenize(fs.readFileSync(args[0], "utf8"), false)).join(" ") + "\n");
  } else if (command === "cases") {
    const model = await loadModel(true);
    fs.mkdirSync(args[1], {recursive: true});
    JSON.parse(fs.readFileSync(args[0], "utf8")).cases.forEach((c, i) => {
      if (c.text === undefined || c.text.length === 0) return;  // raw-byte cases cannot pass through a JS string
      fs.writeFileSync(`${args[1]}/${i}.txt`, c.text);
      fs.writeFileSync(`${args[1]}/${i}.ids`, Array.from(model.tokenize(c.text, false)).join(" ") + "\n");
    });
  } else if (command === "score") {
    console.log(JSON.stringify(await score(args[0])));
  } else if (command === "greedy") {
    console.log(JSON.stringify(await greedy(args[0], Number(args[1]))));
  } else if (command === "bench") {
    console.log(JSON.stringify(await bench(Number(args[0] ?? 2))));
  } else {
    throw new Error(`unknown command '${command}' (tokenize, cases, score, greedy, bench)`);
  }
}
await main();
