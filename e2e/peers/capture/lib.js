// Shared pieces of the wire-capture drivers: a Redis MONITOR reader (redis-cli
// child), a PSUBSCRIBE * recorder, a msgpack annotator, and the markdown +
// fixture writer. Only loopback Redis; every child is stopped by its pid.
"use strict";
const { spawn } = require("child_process");
const fs = require("fs");
const path = require("path");
const http = require("http");

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------- msgpack annotator (byte-exact reading of every token) ----------
function annotate(buf) {
  const out = [];
  let pos = 0;
  const hex = (a, b) => buf.subarray(a, b).toString("hex").replace(/(..)(?!$)/g, "$1 ");
  const line = (depth, start, end, what) => out.push(`${"  ".repeat(depth)}${hex(start, end).padEnd(0)}  → ${what}`);
  function str(len, depth, start, hdr) {
    const s = buf.subarray(pos, pos + len).toString("utf8");
    pos += len;
    line(depth, start, pos, `${hdr} ${JSON.stringify(s)}`);
  }
  function val(depth, label) {
    const start = pos;
    const b = buf[pos++];
    const L = label ? `${label}: ` : "";
    const readN = (n) => {
      const v = n === 1 ? buf.readUInt8(pos) : n === 2 ? buf.readUInt16BE(pos) : buf.readUInt32BE(pos);
      pos += n;
      return v;
    };
    if (b <= 0x7f) return line(depth, start, pos, `${L}positive fixint ${b}`);
    if (b >= 0xe0) return line(depth, start, pos, `${L}negative fixint ${b - 256}`);
    if ((b & 0xf0) === 0x80) return map(b & 0x0f, depth, start, L + "fixmap");
    if ((b & 0xf0) === 0x90) return arr(b & 0x0f, depth, start, L + "fixarray");
    if ((b & 0xe0) === 0xa0) return str(b & 0x1f, depth, start, `${L}fixstr(${b & 0x1f})`);
    switch (b) {
      case 0xc0: return line(depth, start, pos, `${L}nil`);
      case 0xc2: return line(depth, start, pos, `${L}false`);
      case 0xc3: return line(depth, start, pos, `${L}true`);
      case 0xc4: case 0xc5: case 0xc6: {
        const n = readN(b === 0xc4 ? 1 : b === 0xc5 ? 2 : 4);
        const d = buf.subarray(pos, pos + n);
        pos += n;
        return line(depth, start, pos, `${L}bin${b === 0xc4 ? 8 : b === 0xc5 ? 16 : 32}(${n}) = Buffer <${d.toString("hex")}>`);
      }
      case 0xc7: case 0xc8: case 0xc9: {
        const n = readN(b === 0xc7 ? 1 : b === 0xc8 ? 2 : 4);
        const t = buf.readInt8(pos++);
        const d = buf.subarray(pos, pos + n);
        pos += n;
        return line(depth, start, pos, `${L}ext${b === 0xc7 ? 8 : b === 0xc8 ? 16 : 32} type ${t} len ${n}${t === 0 ? " (notepack: ArrayBuffer)" : ""} <${d.toString("hex")}>`);
      }
      case 0xca: { const v = buf.readFloatBE(pos); pos += 4; return line(depth, start, pos, `${L}float32 ${v}`); }
      case 0xcb: { const v = buf.readDoubleBE(pos); pos += 8; return line(depth, start, pos, `${L}float64 ${v}`); }
      case 0xcc: return line(depth, start, (pos += 1), `${L}uint8 ${buf.readUInt8(start + 1)}`);
      case 0xcd: return line(depth, start, (pos += 2), `${L}uint16 ${buf.readUInt16BE(start + 1)}`);
      case 0xce: return line(depth, start, (pos += 4), `${L}uint32 ${buf.readUInt32BE(start + 1)}`);
      case 0xcf: return line(depth, start, (pos += 8), `${L}uint64 ${buf.readBigUInt64BE(start + 1)}`);
      case 0xd0: return line(depth, start, (pos += 1), `${L}int8 ${buf.readInt8(start + 1)}`);
      case 0xd1: return line(depth, start, (pos += 2), `${L}int16 ${buf.readInt16BE(start + 1)}`);
      case 0xd2: return line(depth, start, (pos += 4), `${L}int32 ${buf.readInt32BE(start + 1)}`);
      case 0xd3: return line(depth, start, (pos += 8), `${L}int64 ${buf.readBigInt64BE(start + 1)}`);
      case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8: {
        const n = { 0xd4: 1, 0xd5: 2, 0xd6: 4, 0xd7: 8, 0xd8: 16 }[b];
        const t = buf.readInt8(pos++);
        const d = buf.subarray(pos, pos + n);
        pos += n;
        let what = `${L}fixext${n} type ${t} <${d.toString("hex")}>`;
        if (b === 0xd4 && t === 0 && d[0] === 0) what += " (notepack: undefined)";
        if (t === -1 && n === 8) {
          const hi = d.readUInt32BE(0), lo = d.readUInt32BE(4);
          const ns = hi >>> 2, sec = (hi & 3) * 2 ** 32 + lo;
          what += ` (timestamp64: ${new Date(sec * 1000 + ns / 1e6).toISOString()})`;
        } else if (t === -1 && n === 4) what += ` (timestamp32: ${new Date(d.readUInt32BE(0) * 1000).toISOString()})`;
        else if (t === 0 && n === 8) what += ` (notepack 2 Date: float64 ms ${d.readDoubleBE(0)})`;
        return line(depth, start, pos, what);
      }
      case 0xd9: case 0xda: case 0xdb: {
        const n = readN(b === 0xd9 ? 1 : b === 0xda ? 2 : 4);
        return str(n, depth, start, `${L}str${b === 0xd9 ? 8 : b === 0xda ? 16 : 32}(${n})`);
      }
      case 0xdc: case 0xdd: return arr(readN(b === 0xdc ? 2 : 4), depth, start, L + (b === 0xdc ? "array16" : "array32"));
      case 0xde: case 0xdf: return map(readN(b === 0xde ? 2 : 4), depth, start, L + (b === 0xde ? "map16" : "map32"));
      default: return line(depth, start, pos, `${L}?? unknown byte 0x${b.toString(16)}`);
    }
  }
  function arr(n, depth, start, hdr) {
    line(depth, start, pos, `${hdr}(${n})`);
    for (let i = 0; i < n; i++) val(depth + 1, `[${i}]`);
  }
  function map(n, depth, start, hdr) {
    line(depth, start, pos, `${hdr}(${n})`);
    for (let i = 0; i < n; i++) {
      const ks = pos;
      val(depth + 1, "key");
      void ks;
      val(depth + 2, "value");
    }
  }
  try {
    val(0, "");
    if (pos !== buf.length) out.push(`!! ${buf.length - pos} trailing bytes`);
  } catch (e) {
    out.push(`!! annotate failed at byte ${pos}: ${e.message}`);
  }
  return out.join("\n");
}

// JSON-like rendering that keeps Buffers, undefined and Dates visible.
function show(v) {
  return JSON.stringify(
    v,
    function (k, x) {
      const raw = this[k];
      if (raw === undefined) return "<undefined>";
      if (Buffer.isBuffer(raw)) return `<Buffer ${raw.toString("hex")}>`;
      if (raw instanceof ArrayBuffer) return `<ArrayBuffer ${Buffer.from(raw).toString("hex")}>`;
      if (raw instanceof Date) return `<Date ${raw.toISOString()}>`;
      if (x && x.type === "Buffer" && Array.isArray(x.data)) return `<Buffer ${Buffer.from(x.data).toString("hex")}>`;
      return x;
    },
    0,
  );
}

// ---------- processes ----------
const children = new Set();
function start(cmd, args, opts = {}) {
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], ...opts });
  children.add(child);
  child.on("exit", () => children.delete(child));
  child.lines = [];
  let buf = "";
  child.stdout.on("data", (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf("\n")) !== -1) {
      const l = buf.slice(0, i);
      buf = buf.slice(i + 1);
      child.lines.push(l);
      if (child.onLine) child.onLine(l);
    }
  });
  child.stderr.on("data", (d) => {
    const s = String(d).trim();
    if (s && opts.echoStderr !== false) process.stderr.write(`[${path.basename(args[0] || cmd)} ${child.pid}] ${s}\n`);
  });
  return child;
}
async function waitLine(child, re, ms = 20000) {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    const l = child.lines.find((x) => re.test(x));
    if (l) return l;
    if (child.exitCode !== null) throw new Error(`process ${child.pid} exited (${child.exitCode}) before /${re.source}/`);
    await sleep(50);
  }
  throw new Error(`no /${re.source}/ from pid ${child.pid} within ${ms} ms`);
}
async function stopAll() {
  for (const c of [...children].reverse()) {
    if (c.exitCode === null) {
      try { process.kill(c.pid, "SIGTERM"); } catch {}
    }
  }
  const t0 = Date.now();
  while ([...children].some((c) => c.exitCode === null) && Date.now() - t0 < 4000) await sleep(50);
  for (const c of children) if (c.exitCode === null) try { process.kill(c.pid, "SIGKILL"); } catch {}
}

// ---------- HTTP ----------
function httpJson(method, port, p, body, ms = 15000) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = http.request(
      { host: "127.0.0.1", port, path: p, method, headers: data ? { "content-type": "application/json", "content-length": data.length } : {} },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => {
          const s = Buffer.concat(chunks).toString();
          try { resolve({ status: res.statusCode, body: s ? JSON.parse(s) : null }); } catch { resolve({ status: res.statusCode, body: s }); }
        });
      },
    );
    req.setTimeout(ms, () => req.destroy(new Error(`${method} ${p}: no answer in ${ms} ms`)));
    req.on("error", reject);
    if (data) req.write(data);
    req.end();
  });
}

// ---------- recorder ----------
// monitorLines: redis-cli MONITOR output; steps are cut by `ECHO "STEP <slug>"` markers.
class Recorder {
  constructor({ redisPort, redisModule, decodeMsgpack, prefix }) {
    this.redisPort = redisPort;
    this.redisModule = redisModule;
    this.decode = decodeMsgpack;
    this.prefix = prefix; // fixture file prefix
    this.steps = [];
    this.cur = null;
    this.monitorAll = [];
  }
  async start() {
    this.monitor = start("redis-cli", ["-p", String(this.redisPort), "MONITOR"]);
    await waitLine(this.monitor, /^OK/, 5000);
    this.monitor.onLine = (l) => {
      this.monitorAll.push(l);
      const m = l.match(/"ECHO" "STEP ([^"]+)"/);
      if (m) {
        this.monStep = this.steps.find((s) => s.slug === m[1]);
        return;
      }
      if (/"PING"$|"ECHO"/.test(l)) return;
      (this.monStep || this.pre).monitor.push(l);
    };
    this.pre = { slug: "startup", title: "Startup: what each node issues when it starts", monitor: [], messages: [], notes: [] };
    this.steps.push(this.pre);
    this.clients = new Map(); // "ip:port" → name
    const { createClient } = this.redisModule;
    this.ctl = createClient({ url: `redis://127.0.0.1:${this.redisPort}` });
    this.sub = createClient({ url: `redis://127.0.0.1:${this.redisPort}` });
    await Promise.all([this.ctl.connect(), this.sub.connect()]);
    await this.ctl.sendCommand(["CLIENT", "SETNAME", "capture-ctl"]);
    await this.sub.sendCommand(["CLIENT", "SETNAME", "capture-psub"]);
    await this.sub.pSubscribe("*", (msg, channel) => {
      const step = this.cur || this.pre;
      step.messages.push({ channel: String(channel), bytes: Buffer.from(msg), t: Date.now() });
    }, true);
  }
  clientName(l) {
    const m = l.match(/^\d+\.\d+ \[\d+ ([^\]]+)\]/);
    if (!m) return "?";
    return this.clients.get(m[1]) || m[1];
  }
  async nameClients() {
    // CLIENT LIST → addr → name (nodes name their connections, see below), for readable MONITOR lines
    const list = await this.ctl.sendCommand(["CLIENT", "LIST"]);
    for (const l of String(list).split("\n")) {
      const addr = (l.match(/ addr=(\S+)/) || [])[1];
      const name = (l.match(/ name=(\S*)/) || [])[1];
      if (addr) this.clients.set(addr, name || addr);
    }
  }
  async step(slug, title, code, fn, settle = 300) {
    const s = { slug, title, code, monitor: [], messages: [], notes: [], result: undefined };
    this.steps.push(s);
    this.cur = s;
    await this.ctl.sendCommand(["ECHO", `STEP ${slug}`]);
    await sleep(30);
    const t0 = Date.now();
    try {
      s.result = await fn(s);
    } catch (e) {
      s.result = { error: String(e.message || e) };
    }
    s.ms = Date.now() - t0;
    await sleep(settle);
    return s.result;
  }
  note(text) {
    (this.cur || this.pre).notes.push(text);
  }
  async stop() {
    await sleep(300);
    try { await this.sub.pUnsubscribe("*"); } catch {}
    await Promise.allSettled([this.sub.quit(), this.ctl.quit()]);
  }
  decodeMessage(m) {
    const b = m.bytes;
    if (b[0] === 0x7b) {
      try { return { kind: "JSON", value: JSON.parse(b.toString()) }; } catch {}
    }
    try { return { kind: "msgpack", value: this.decode(b) }; } catch (e) { return { kind: "raw", value: b.toString() }; }
  }
  write(mdPath, fixturesDir, header, fixtureIndex) {
    fs.mkdirSync(fixturesDir, { recursive: true });
    const md = [header];
    for (const s of this.steps) {
      md.push(`\n## ${s.title}\n`);
      if (s.code) md.push("```js\n" + s.code + "\n```\n");
      for (const n of s.notes) md.push(`- ${n}`);
      if (s.result !== undefined) md.push(`\nResult${s.ms !== undefined ? ` (${s.ms} ms)` : ""}: \`${show(s.result).slice(0, 1500)}\`\n`);
      const named = s.monitor.map((l) => l.replace(/^(\d+\.\d+) \[\d+ [^\]]+\]/, (x, t) => `${t} [${this.clientName(l)}]`));
      md.push(`\nRedis commands seen by MONITOR (\`[connection name or address]\`):\n\n\`\`\`\n${named.join("\n") || "(none)"}\n\`\`\`\n`);
      md.push(`Published messages (PSUBSCRIBE * capture): ${s.messages.length}\n`);
      s.messages.forEach((m, i) => {
        const d = this.decodeMessage(m);
        const file = `${this.prefix}-${s.slug}${s.messages.length > 1 ? `-${i + 1}` : ""}.bin`;
        fs.writeFileSync(path.join(fixturesDir, file), m.bytes);
        const meaning = `${s.title} — message ${i + 1}/${s.messages.length}, ${d.kind}`;
        fixtureIndex.push({ file, channel: m.channel, meaning, size: m.bytes.length });
        md.push(`\n### ${i + 1}. channel \`${m.channel}\` — ${m.bytes.length} bytes, ${d.kind} — fixture \`fixtures/${file}\`\n`);
        if (d.kind === "JSON") {
          md.push("```json\n" + m.bytes.toString() + "\n```\n");
        } else {
          md.push("hex:\n```\n" + m.bytes.toString("hex").replace(/(.{64})/g, "$1\n").trim() + "\n```\n");
          md.push("decoded (notepack.io): `" + show(d.value) + "`\n");
          md.push("token by token:\n```\n" + annotate(m.bytes) + "\n```\n");
        }
      });
    }
    fs.writeFileSync(mdPath, md.join("\n") + "\n");
  }
}

module.exports = { annotate, show, start, waitLine, stopAll, httpJson, Recorder, sleep, children };
