// livegen stage: every control from livegen's control table, and the roll of what is played.
// Plain JavaScript, no build step, no network but the page's own server.
// The roll is positioned by the engine's steps (each "step" message carries its beat): it
// moves on the engine's beat, never on this browser's clock.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const PART_COLOURS = ["#38c6f4", "#b18cff", "#4cd07d", "#ffd166", "#ff6fb5", "#7ee0d0"];
  // what tests and scripts may read: the values in force, every note seen, counters
  const stage = window.livegenStage = {
    values: {}, controls: {}, notes: [], onsets: [], messages: 0, frames: 0, steps: 0,
    beat: 0, bpm: 0, status: {}, connected: false, lyrics: "", preset: null, hello: 0,
  };
  const token = new URLSearchParams(location.search).get("token");
  const open = new Map(); // "who:pitch" -> note still sounding
  const dragging = new Set(); // sliders under a finger: the value in force waits till it lifts
  let spb = 2, bpb = 4, rollBars = 4, parts = [], ws = null, dirty = true, built = false, toastTimer = 0;

  function send(message) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
  }

  function connect() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    ws = new WebSocket(`${proto}//${location.host}/ws` + (token ? `?token=${encodeURIComponent(token)}` : ""));
    ws.onopen = () => { stage.connected = true; showConnection(); };
    ws.onclose = () => { stage.connected = false; showConnection(); setTimeout(connect, 1000); };
    ws.onmessage = (event) => { stage.messages += 1; handle(JSON.parse(event.data)); };
  }

  function showConnection() {
    const el = $("connection");
    el.textContent = stage.connected ? "connected" : "not connected";
    el.className = "pill " + (stage.connected ? "on" : "off");
  }

  function handle(m) {
    if (m.type === "hello") {
      stage.hello += 1;
      spb = m.steps_per_beat; bpb = m.beats_per_bar; rollBars = m.roll_bars;
      parts = m.parts;
      if (!built) build(m.controls);
      buildPresets(m.presets, m.preset);
      buildParts(m.parts, m.part_controls);
      setPartValues(m.part_values);
      setValues(m.values);
      open.clear(); stage.notes.length = 0;
      for (const row of m.history) note(row);
      stage.beat = Math.max(0, m.step) / spb;
      showStatus(m.status); showLyrics(m.lyrics);
    } else if (m.type === "parts") {
      setPartValues(m.values);
    } else if (m.type === "values") {
      setValues(m.values);
    } else if (m.type === "step") {
      stage.steps += 1; stage.beat = m.beat; stage.bpm = m.bpm;
      for (const row of m.notes) note(row);
      prune();
    } else if (m.type === "notes") {
      for (const row of m.notes) note(row);
    } else if (m.type === "retract") {
      for (const row of m.notes) unnote(row);
    } else if (m.type === "status") {
      showStatus(m);
    } else if (m.type === "lyrics") {
      showLyrics(m.line);
    } else if (m.type === "preset") {
      showPreset(m.preset);
    } else if (m.type === "refused") {
      toast(m.reason);
      if (m.name !== undefined) {
        setValues({ [m.name]: m.value });
        const row = document.querySelector(`.control[data-name="${m.name}"]`);
        if (row) { row.classList.add("refused"); setTimeout(() => row.classList.remove("refused"), 1500); }
      }
    }
    dirty = true;
  }

  // ---- controls --------------------------------------------------------------------------

  function fmt(c, v) {
    if (c.kind === "float") return Number(v).toFixed(c.step < 0.1 ? 2 : 1);
    return String(v);
  }

  function build(groups) {
    built = true;
    const big = $("big"), panel = $("controls");
    for (const g of groups) {
      const fs = document.createElement("fieldset");
      const lg = document.createElement("legend");
      lg.textContent = g.group;
      fs.appendChild(lg);
      let rows = 0;
      for (const c of g.controls) {
        stage.controls[c.name] = c;
        if (c.kind === "trigger" || c.name === "mute") { big.appendChild(bigButton(c)); continue; }
        fs.appendChild(row(c)); rows += 1;
      }
      if (rows) panel.appendChild(fs);
    }
  }

  function bigButton(c) {
    const b = document.createElement("button");
    b.name = c.name; b.type = "button"; b.title = c.description;
    b.textContent = c.name.toUpperCase();
    if (c.kind === "toggle") {
      b.className = "toggle"; b.setAttribute("aria-pressed", "false");
      b.addEventListener("click", () => send({ set: c.name, value: b.getAttribute("aria-pressed") !== "true" }));
    } else {
      b.addEventListener("click", () => send({ set: c.name }));
    }
    return b;
  }

  function row(c) {
    const div = document.createElement("div");
    div.className = "control"; div.dataset.name = c.name;
    const label = document.createElement("label");
    label.textContent = c.name.replace(/_/g, " "); label.htmlFor = "c-" + c.name; label.title = c.description;
    const value = document.createElement("span");
    value.className = "value"; value.id = "v-" + c.name;
    div.append(label, value);
    let input;
    if (c.kind === "float" || c.kind === "int") {
      input = document.createElement("input");
      input.type = "range"; input.min = c.min; input.max = c.max;
      input.step = c.kind === "float" ? "any" : c.step; // a float shows the value in force exactly
      input.addEventListener("input", () => {
        const v = c.kind === "int" ? parseInt(input.value, 10) : parseFloat(input.value);
        value.textContent = fmt(c, v) + (c.unit ? " " + c.unit : "");
        send({ set: c.name, value: v });
      });
      input.addEventListener("pointerdown", () => dragging.add(c.name));
      const lift = () => { dragging.delete(c.name); setValues({ [c.name]: stage.values[c.name] }); };
      input.addEventListener("pointerup", lift);
      input.addEventListener("pointercancel", lift);
    } else if (c.kind === "enum") {
      input = document.createElement("select");
      for (const choice of c.choices) {
        const o = document.createElement("option"); o.value = choice; o.textContent = choice; input.appendChild(o);
      }
      input.addEventListener("change", () => send({ set: c.name, value: input.value }));
    } else if (c.kind === "toggle") {
      input = document.createElement("input");
      input.type = "checkbox";
      input.addEventListener("change", () => send({ set: c.name, value: input.checked }));
    } else {
      input = document.createElement("input");
      input.type = "text"; input.maxLength = 256; input.placeholder = c.description;
      input.addEventListener("change", () => send({ set: c.name, value: input.value }));
    }
    input.name = c.name; input.id = "c-" + c.name;
    const range = document.createElement("span");
    range.className = "range";
    range.textContent = (c.kind === "float" || c.kind === "int" ? `${c.min}..${c.max}${c.unit ? " " + c.unit : ""} · ` : "")
      + c.description + (c.cc !== null ? ` · CC ${c.cc}` : "");
    div.append(input, range);
    return div;
  }

  function setValues(values) {
    for (const [name, v] of Object.entries(values)) {
      stage.values[name] = v;
      const c = stage.controls[name];
      const el = document.querySelector(`[name="${name}"]`);
      if (!c || !el) continue;
      if (el.tagName === "BUTTON") { if (c.kind === "toggle") el.setAttribute("aria-pressed", String(!!v)); continue; }
      const shown = $("v-" + name);
      if (c.kind === "toggle") { el.checked = !!v; if (shown) shown.textContent = v ? "on" : "off"; continue; }
      if (shown) shown.textContent = (c.kind === "float" || c.kind === "int") ? fmt(c, v) + (c.unit ? " " + c.unit : "") : "";
      if (dragging.has(name)) continue; // the finger's position stands until it lifts
      if (document.activeElement === el && el.type === "text") continue;
      el.value = String(v);
    }
  }

  function buildPresets(names, current) {
    const box = $("presets");
    box.textContent = "";
    for (const name of names) {
      const b = document.createElement("button");
      b.type = "button"; b.textContent = name; b.dataset.preset = name;
      b.addEventListener("click", () => send({ preset: name }));
      box.appendChild(b);
    }
    showPreset(current);
  }

  function showPreset(name) {
    stage.preset = name;
    for (const b of $("presets").children) b.classList.toggle("current", b.dataset.preset === name);
    $("preset-shown").textContent = name ? `preset ${name}` : "";
  }

  function buildParts(names, controls) {
    const box = $("parts"), legend = $("legend-parts");
    box.textContent = ""; legend.textContent = "";
    names.forEach((name, i) => {
      const row = document.createElement("div");
      row.className = "part-row"; row.dataset.part = name;
      const title = document.createElement("span");
      title.className = "part"; title.textContent = name; title.style.setProperty("--c", PART_COLOURS[i % PART_COLOURS.length]);
      row.appendChild(title);
      for (const c of controls || []) {
        if (c.kind === "toggle") {
          const b = document.createElement("button");
          b.type = "button"; b.className = "toggle"; b.dataset.part = name; b.dataset.control = c.name;
          b.name = `part/${name}/${c.name}`; b.title = c.description;
          b.textContent = `${c.name} ${name}`; b.setAttribute("aria-pressed", "false");
          b.addEventListener("click", () => send({ part: name, control: c.name, value: b.getAttribute("aria-pressed") === "true" ? 0 : 1 }));
          row.appendChild(b);
        } else {
          const label = document.createElement("label");
          label.textContent = c.name + " ";
          const input = document.createElement("input");
          input.type = "number"; input.min = c.min; input.max = c.max; input.step = c.kind === "int" ? 1 : 0.05;
          input.name = `part/${name}/${c.name}`; input.dataset.part = name; input.dataset.control = c.name;
          input.title = `${c.description} (${c.min}..${c.max} ${c.unit})`;
          input.addEventListener("change", () => send({ part: name, control: c.name, value: Number(input.value) }));
          label.appendChild(input);
          row.appendChild(label);
        }
      }
      box.appendChild(row);
      const s = document.createElement("span");
      s.className = "part"; s.textContent = name; s.style.setProperty("--c", PART_COLOURS[i % PART_COLOURS.length]);
      legend.appendChild(s);
    });
  }

  function setPartValues(values) {
    stage.partValues = values || {};
    for (const el of $("parts").querySelectorAll("[data-control]")) {
      const v = (stage.partValues[el.dataset.part] || {})[el.dataset.control];
      if (v === undefined) continue;
      if (el.tagName === "BUTTON") el.setAttribute("aria-pressed", String(Boolean(v)));
      else if (document.activeElement !== el) el.value = v;
    }
  }

  // ---- status -----------------------------------------------------------------------------

  function showStatus(s) {
    stage.status = s;
    const word = s.status || "-";
    const st = $("status");
    st.textContent = word;
    st.className = "pill" + (/lost|stopped/.test(word) ? " lost" : "");
    $("mode-shown").textContent = s.mode || "-";
    if (s.bar !== undefined) $("position").textContent = `bar ${s.bar} . ${s.beat}`;
    if (s.bpm !== undefined) $("bpm").textContent = `${Number(s.bpm).toFixed(1)} bpm`;
    $("key-heard").textContent = `key ${s.key_heard || "-"}`;
    if (s.compute_ms !== undefined) {
      $("timing").textContent = `step ${Number(s.compute_ms).toFixed(2)} ms · late ${s.late_steps} (${Number(s.lateness_ms).toFixed(1)} ms)`;
    }
    $("link").textContent = s.link_peers !== undefined
      ? `Link ${s.link_peers} peer${s.link_peers === 1 ? "" : "s"} ${Number(s.link_tempo).toFixed(1)} bpm` : "";
    if (s.preset !== undefined) showPreset(s.preset);
    $("pages").textContent = s.pages > 1 ? `${s.pages} pages open` : "";
  }

  function showLyrics(line) {
    stage.lyrics = line || "";
    $("lyrics").textContent = stage.lyrics;
  }

  function toast(text) {
    const el = $("toast");
    el.textContent = text; el.className = "show";
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { el.className = ""; }, 4000);
  }

  // ---- the roll ---------------------------------------------------------------------------

  function note([who, pitch, velocity, beat]) {
    const key = `${who}:${pitch}`;
    const sounding = open.get(key);
    if (sounding) { sounding.end = beat; open.delete(key); }
    if (velocity > 0) {
      const n = { who, pitch, velocity, start: beat, end: null };
      open.set(key, n); stage.notes.push(n);
      if (stage.onsets.length < 20000) stage.onsets.push([who, pitch, velocity, beat]);
    }
  }

  // a note cancelled before it was sent (a panic, a mute): it never sounded
  function unnote([who, pitch, velocity, beat]) {
    const same = (r) => r[0] === who && r[1] === pitch && r[2] === velocity && r[3] === beat;
    for (let i = stage.onsets.length - 1; i >= 0; i--) if (same(stage.onsets[i])) { stage.onsets.splice(i, 1); break; }
    const key = `${who}:${pitch}`;
    if (velocity > 0) {
      const i = stage.notes.findIndex((n) => n.who === who && n.pitch === pitch && n.start === beat);
      if (i >= 0) { if (open.get(key) === stage.notes[i]) open.delete(key); stage.notes.splice(i, 1); }
    } else {
      // a release that was due later and is sent now instead: the note sounds until then
      const n = stage.notes.find((x) => x.who === who && x.pitch === pitch && x.end === beat);
      if (n && !open.has(key)) { n.end = null; open.set(key, n); }
    }
  }

  function prune() {
    const from = stage.beat - rollBars * bpb - 1;
    if (stage.notes.length > 4000 || (stage.notes.length && stage.notes[0].end !== null && stage.notes[0].end < from)) {
      stage.notes = stage.notes.filter((n) => n.end === null || n.end >= from);
    }
  }

  function colour(who) {
    if (who === "performer") return "#ff9f43";
    const i = parts.indexOf(who);
    return i < 0 ? PART_COLOURS[0] : PART_COLOURS[i % PART_COLOURS.length];
  }

  function draw() {
    const canvas = $("roll");
    const ratio = window.devicePixelRatio || 1;
    const w = canvas.clientWidth, h = canvas.clientHeight;
    if (canvas.width !== Math.round(w * ratio) || canvas.height !== Math.round(h * ratio)) {
      canvas.width = Math.round(w * ratio); canvas.height = Math.round(h * ratio);
    }
    const g = canvas.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, w, h);
    const span = rollBars * bpb, now = stage.beat, from = now - span;
    const seen = stage.notes.filter((n) => n.end === null || n.end >= from);
    let lo = 127, hi = 0;
    for (const n of seen) { lo = Math.min(lo, n.pitch); hi = Math.max(hi, n.pitch); }
    if (lo > hi) { lo = 48; hi = 84; }
    const mid = (lo + hi) / 2, half = Math.max(12, (hi - lo) / 2 + 2);
    lo = mid - half; hi = mid + half;
    const x = (b) => ((b - from) / span) * w;
    const y = (p) => h - ((p - lo) / (hi - lo)) * h;
    const rowH = Math.max(2, h / (hi - lo) - 1);
    for (let p = Math.ceil(lo); p <= hi; p++) {
      if ([1, 3, 6, 8, 10].includes(((p % 12) + 12) % 12)) { g.fillStyle = "#11161c"; g.fillRect(0, y(p) - rowH / 2, w, rowH); }
    }
    for (let b = Math.ceil(from); b <= now; b++) {
      g.fillStyle = b % bpb === 0 ? "#3a4452" : "#1e252e";
      g.fillRect(Math.round(x(b)), 0, b % bpb === 0 ? 2 : 1, h);
      if (b % bpb === 0) { g.fillStyle = "#6b7685"; g.font = "12px sans-serif"; g.fillText(String(b / bpb + 1), x(b) + 4, 14); }
    }
    for (const n of seen) {
      const end = n.end === null ? now : n.end;
      g.globalAlpha = 0.3 + 0.7 * (n.velocity / 127);
      g.fillStyle = colour(n.who);
      g.fillRect(x(n.start), y(n.pitch) - rowH / 2, Math.max(2, x(end) - x(n.start) - 1), rowH);
    }
    g.globalAlpha = 1;
    g.fillStyle = "#e8ecf1";
    g.fillRect(w - 2, 0, 2, h);
    stage.frames += 1;
  }

  function frame() {
    if (dirty) { dirty = false; draw(); }
    requestAnimationFrame(frame);
  }

  window.addEventListener("resize", () => { dirty = true; });
  connect();
  requestAnimationFrame(frame);
})();
