// vigil's alert views, shared by the HTML report and the live console.
// No framework and no build step. Every value from an alert or an event is
// put in the page with textContent or a text node, never as markup; the
// only links built are ATT&CK technique pages from a validated id and
// http(s) rule references.
(function () {
  "use strict";

  var LEVELS = ["critical", "high", "medium", "low", "informational", ""];
  var STATES = ["new", "acknowledged", "false_positive", "resolved"];
  var STATE_NAMES = { new: "new", acknowledged: "acknowledged", false_positive: "false positive", resolved: "resolved" };
  // ATT&CK tactics in matrix order ({id, name, tags}) and technique names
  // by id: package web writes vigil's table (package attack) here as JSON.
  var ATTACK = VIGIL_ATTACK_TABLE;
  var TACTIC_OF = {}; // Sigma tactic tag name -> tactic
  ATTACK.tactics.forEach(function (t) { t.tags.forEach(function (g) { TACTIC_OF[g] = t; }); });
  var PAGE = 100;
  var TECH = /^attack\.t(\d{4})(?:\.(\d{3}))?$/;
  var DETAIL_FIELDS = ["CommandLine", "Image", "ParentImage", "TargetFilename", "ImageLoaded", "TargetObject",
    "DestinationIp", "DestinationPort", "QueryName", "ServiceName", "ScriptBlockText", "NewProcessName",
    "TargetUserName", "IpAddress", "process.command_line", "destination.ip", "file.path"];

  var mode = document.body.getAttribute("data-mode") || "report";
  var data = {};
  var csrfMeta = document.querySelector('meta[name="vigil-csrf"]');
  var csrf = csrfMeta ? csrfMeta.getAttribute("content") : "";

  // items: one per alert, with the keys the table sorts and filters on.
  var items = [];
  var byId = {};
  var triage = {};
  var view = [];
  var page = 0;
  var sortKey = "time", sortDir = 1;
  var selected = null;

  // ---------- DOM helpers: text only ----------
  function $(id) { return document.getElementById(id); }
  function el(tag, cls) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    for (var i = 2; i < arguments.length; i++) add(e, arguments[i]);
    return e;
  }
  function add(parent, c) {
    if (c === null || c === undefined || c === false) return;
    if (Array.isArray(c)) { c.forEach(function (x) { add(parent, x); }); return; }
    if (typeof c === "object" && c.nodeType) { parent.appendChild(c); return; }
    parent.appendChild(document.createTextNode(String(c)));
  }
  function clear(e) { while (e.firstChild) e.removeChild(e.firstChild); return e; }
  function svg(tag, attrs) {
    var e = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (var k in attrs) e.setAttribute(k, String(attrs[k]));
    return e;
  }
  function link(href, text) {
    var a = el("a", null, text);
    a.setAttribute("href", href);
    a.setAttribute("target", "_blank");
    a.setAttribute("rel", "noopener noreferrer");
    return a;
  }
  function kv(rows) {
    var t = el("table", "kv");
    rows.forEach(function (r) {
      if (r[1] === undefined || r[1] === null || r[1] === "") return;
      t.appendChild(el("tr", null, el("th", null, r[0]), el("td", null, r[1])));
    });
    return t;
  }
  function str(v) {
    if (v === null || v === undefined) return "";
    if (typeof v === "object") return JSON.stringify(v);
    return String(v);
  }
  function fmtTime(ms) {
    if (ms === null || isNaN(ms)) return "";
    return new Date(ms).toISOString().replace("T", " ").replace(/\.(\d{3})Z$/, ".$1Z");
  }
  function levelBadge(l) { return el("span", "lvl lvl-" + (LEVELS.indexOf(l) >= 0 && l ? l : "none"), l || "none"); }

  // techniqueURL returns the ATT&CK page of a technique tag, or "".
  function techniqueURL(tag) {
    var m = TECH.exec(String(tag).toLowerCase());
    if (!m) return "";
    return "https://attack.mitre.org/techniques/T" + m[1] + "/" + (m[2] ? m[2] + "/" : "");
  }
  function techniqueID(tag) {
    var m = TECH.exec(String(tag).toLowerCase());
    return m ? "T" + m[1] + (m[2] ? "." + m[2] : "") : "";
  }
  // techniqueName returns ATT&CK's name of a technique id, a
  // sub-technique's with its parent's ("Command and Scripting Interpreter:
  // PowerShell"), or "" when vigil's table lacks it.
  function techniqueName(id) {
    var n = ATTACK.techniques[id] || "", dot = id.indexOf(".");
    if (n && dot > 0 && ATTACK.techniques[id.slice(0, dot)]) n = ATTACK.techniques[id.slice(0, dot)] + ": " + n;
    return n;
  }

  // ---------- items ----------
  function firstField(a, names) {
    var evs = a.events || [];
    for (var i = evs.length - 1; i >= 0; i--) {
      var f = evs[i].fields || {};
      for (var j = 0; j < names.length; j++) {
        var v = f[names[j]];
        if (v !== undefined && v !== null && v !== "" && v !== "-") return str(v);
      }
    }
    return "";
  }
  function details(a) {
    var out = [];
    var ctx = a.context || {};
    if (a.correlation_type) out.push(a.correlation_type + (ctx.count !== undefined ? " count " + ctx.count : ""));
    for (var i = 0; i < DETAIL_FIELDS.length && out.length < 3; i++) {
      var v = firstField(a, [DETAIL_FIELDS[i]]);
      if (v) out.push(DETAIL_FIELDS[i] + ": " + v);
    }
    var s = out.join(" · ");
    return s.length > 240 ? s.slice(0, 239) + "…" : s;
  }
  function makeItem(a, idx, id, tree) {
    var t = a.timestamp ? Date.parse(a.timestamp) : NaN;
    var it = {
      idx: idx, id: id || String(idx), a: a, tree: tree, t: isNaN(t) ? null : t,
      level: (a.rule && a.rule.level) || "", rule: (a.rule && a.rule.title) || "", ruleId: (a.rule && a.rule.id) || "",
      host: a.host || "", details: details(a), text: null
    };
    it.rank = LEVELS.indexOf(it.level);
    if (it.rank < 0) it.rank = LEVELS.length;
    return it;
  }
  // itemText is what the free-text search reads: every key and value of
  // the alert and its events as written (not JSON-escaped, so that
  // C:\Windows\System32 matches as typed), lower-cased.
  function itemText(it) {
    if (it.text === null) {
      var parts = [];
      (function walk(v) {
        if (v === null || v === undefined) return;
        if (Array.isArray(v)) { for (var i = 0; i < v.length; i++) walk(v[i]); return; }
        if (typeof v === "object") {
          for (var k in v) { parts.push(k); walk(v[k]); }
          return;
        }
        parts.push(String(v));
      })(it.a);
      it.text = parts.join("\n").toLowerCase();
    }
    return it.text;
  }
  // warmText builds the search text of every alert in slices while the
  // page is idle, so that the first free-text search over 100,000 alerts
  // does not freeze the page.
  function warmText(from) {
    var end = Math.min(items.length, from + 2000);
    for (var i = from; i < end; i++) itemText(items[i]);
    if (end < items.length) setTimeout(function () { warmText(end); }, 0);
  }
  function stateOf(it) { var s = triage[it.id]; return s && s.state ? s.state : "new"; }

  // ---------- summary ----------
  function renderSummary() {
    var body = clear($("summary-body"));
    var s = data.summary;
    var rows = [];
    if (data.title) rows.push(["Run", data.title]);
    if (data.generated) rows.push(["Generated", data.generated]);
    if (mode === "console") rows.push(["Alerts", items.length + " (the latest, then each new one as it fires)"]);
    if (data.inputs && data.inputs.length) {
      var list = el("ul", "inputs");
      data.inputs.forEach(function (p) { list.appendChild(el("li", null, p)); });
      rows.push(["Inputs", el("details", null, el("summary", null, data.inputs.length + " file" + (data.inputs.length === 1 ? "" : "s")), list)]);
    }
    if (s) {
      rows.push(["Files", s.files.read + " read (" + s.files.bytes + " bytes)" +
        (s.files.unreadable.length ? ", " + s.files.unreadable.length + " unreadable" : "") +
        (s.files.ignored ? ", " + s.files.ignored + " ignored" : "")]);
      rows.push(["Events", s.events.read + " read, " + s.events.outside_time_range + " outside --from/--to, " +
        s.events.unparsable + " unparsable"]);
      rows.push(["Rules", s.rules.loaded + " loaded, " + s.rules.failed + " failed, " + s.rules.correlations +
        " correlations, " + s.rules.filters + " filters, " + s.rules.warnings + " warnings" +
        (s.rules.selection ? "; " + s.rules.not_selected + " not selected by " + s.rules.selection : "")]);
      rows.push(["Time range", s.first_event ? s.first_event + " to " + s.last_event : "no event time"]);
      rows.push(["Alerts", String(s.alerts.total)]);
      if (s.correlation && s.correlation.matches) {
        var c = s.correlation;
        rows.push(["Correlation", c.matches + " matches, " + c.groups + " groups, " + c.expired + " expired, " +
          c.evicted + " evicted, " + c.alerts + " alerts"]);
      }
      rows.push(["Elapsed", s.elapsed_seconds.toFixed(3) + " s"]);
      if (s.error) rows.push(["Stopped early", s.error]);
    }
    if (data.process_index) {
      var p = data.process_index;
      rows.push(["Process index", p.starts + " process starts and " + p.connections + " connections recorded" +
        (p.dropped_starts || p.dropped_connections ? "; " + p.dropped_starts + " starts and " +
          p.dropped_connections + " connections beyond the bounds not recorded" : "")]);
    }
    body.appendChild(kv(rows));
    if (!s) return;
    var probs = [];
    s.files.unreadable.forEach(function (u) { probs.push("unreadable: " + u.path + ": " + u.error); });
    s.events.unparsable_reasons.forEach(function (r) { probs.push("unparsable: " + r.count + " × " + r.reason); });
    s.events.unparsable_examples.forEach(function (x) { probs.push("e.g. " + x); });
    s.rules.failures.forEach(function (f) { probs.push("rule error: " + f); });
    if (probs.length) {
      var ul = el("ul", "problems");
      probs.slice(0, 200).forEach(function (p) { ul.appendChild(el("li", null, p)); });
      if (probs.length > 200) ul.appendChild(el("li", null, "… " + (probs.length - 200) + " more"));
      body.appendChild(el("h3", null, "Problems (" + probs.length + ")"));
      body.appendChild(ul);
    }
  }

  // ---------- charts ----------
  function countBy(key) {
    var m = {};
    items.forEach(function (it) { var k = it[key] || "-"; m[k] = (m[k] || 0) + 1; });
    return Object.keys(m).map(function (k) { return [k, m[k]]; }).sort(function (a, b) {
      return b[1] - a[1] || (a[0] < b[0] ? -1 : 1);
    });
  }
  function bars(target, rows, filterId, max) {
    var box = clear($(target));
    var top = 1;
    rows.forEach(function (r) { if (r[1] > top) top = r[1]; });
    var list = el("ol", "bars");
    rows.slice(0, max).forEach(function (r) {
      var bar = el("span", "bar");
      bar.style.width = Math.max(1, Math.round(100 * r[1] / top)) + "%";
      var b = el("button", "bar-label", r[0] === "-" ? "(none)" : r[0]);
      b.type = "button";
      b.title = "show only " + r[0];
      b.addEventListener("click", function () {
        $(filterId).value = r[0] === "-" ? "" : r[0];
        applyFilters();
        location.hash = "alerts";
      });
      list.appendChild(el("li", null, el("span", "bar-count", String(r[1])), b, bar));
    });
    if (rows.length > max) list.appendChild(el("li", "more", "… " + (rows.length - max) + " more"));
    box.appendChild(list);
  }
  function renderTimeline() {
    var box = clear($("timeline"));
    var ts = [];
    items.forEach(function (it) { if (it.t !== null) ts.push(it); });
    if (!ts.length) { box.appendChild(el("p", "muted", "No alert has a time.")); return; }
    var lo = Infinity, hi = -Infinity;
    ts.forEach(function (it) { if (it.t < lo) lo = it.t; if (it.t > hi) hi = it.t; });
    var n = 60, span = Math.max(hi - lo, 1000), w = span / n;
    var buckets = [];
    for (var i = 0; i < n; i++) buckets.push([0, 0, 0, 0, 0, 0, 0]);
    ts.forEach(function (it) {
      var b = Math.min(n - 1, Math.floor((it.t - lo) / w));
      buckets[b][Math.min(it.rank, 6)]++;
    });
    var max = 1;
    buckets.forEach(function (b) { var s = b.reduce(function (x, y) { return x + y; }, 0); if (s > max) max = s; });
    var W = 900, H = 160, pad = 30, bw = (W - pad) / n;
    var s = svg("svg", { viewBox: "0 0 " + W + " " + (H + 30), "class": "timeline", role: "img" });
    s.appendChild(svg("line", { x1: pad, y1: H, x2: W, y2: H, "class": "axis" }));
    var lbl = svg("text", { x: 0, y: 12, "class": "tick" }); lbl.textContent = String(max); s.appendChild(lbl);
    buckets.forEach(function (b, i) {
      var y = H;
      for (var l = 0; l < b.length; l++) {
        if (!b[l]) continue;
        var h = Math.max(1, (H - 10) * b[l] / max);
        y -= h;
        var r = svg("rect", { x: pad + i * bw + 1, y: y, width: Math.max(1, bw - 2), height: h, "class": "lvl-fill-" + (LEVELS[l] || "none") });
        var title = svg("title", {});
        title.textContent = fmtTime(lo + i * w) + ": " + b[l] + " " + (LEVELS[l] || "none");
        r.appendChild(title);
        s.appendChild(r);
      }
    });
    [[lo, "start"], [hi, "end"]].forEach(function (p) {
      var t = svg("text", { x: p[1] === "start" ? pad : W, y: H + 20, "class": "tick", "text-anchor": p[1] });
      t.textContent = fmtTime(p[0]);
      s.appendChild(t);
    });
    box.appendChild(s);
    var legend = el("div", "legend");
    var seen = {};
    ts.forEach(function (it) { seen[Math.min(it.rank, 6)] = true; });
    for (var l = 0; l < LEVELS.length; l++) if (seen[l]) { legend.appendChild(levelBadge(LEVELS[l])); legend.appendChild(document.createTextNode(" ")); }
    box.appendChild(legend);
  }
  function renderCharts() {
    renderTimeline();
    bars("by-level", countBy("level").sort(function (a, b) {
      return LEVELS.indexOf(a[0] === "-" ? "" : a[0]) - LEVELS.indexOf(b[0] === "-" ? "" : b[0]);
    }), "f-level", 10);
    bars("by-rule", countBy("rule"), "f-rule", 15);
    bars("by-host", countBy("host"), "f-host", 15);
  }

  // ---------- ATT&CK matrix ----------
  function renderMatrix() {
    var box = clear($("matrix"));
    var cols = {}; // tactic -> technique -> {n, rules}
    var seenRule = {};
    items.forEach(function (it) {
      var tags = (it.a.rule && it.a.rule.tags) || [];
      var tacs = [], techs = [];
      tags.forEach(function (t) {
        var l = String(t).toLowerCase();
        if (l.indexOf("attack.") !== 0) return;
        var tac = TACTIC_OF[l.slice(7).replace(/-/g, "_")];
        if (tac) { if (tacs.indexOf(tac.id) < 0) tacs.push(tac.id); }
        else if (techniqueID(l)) techs.push(l);
      });
      if (!techs.length) return;
      if (!tacs.length) tacs = ["other"];
      tacs.forEach(function (tac) {
        techs.forEach(function (tech) {
          var c = cols[tac] = cols[tac] || {};
          var e = c[tech] = c[tech] || { n: 0, rules: {} };
          e.n++;
          e.rules[it.rule] = true;
        });
      });
      seenRule[it.ruleId] = true;
    });
    var order = ATTACK.tactics.concat([{ id: "other", name: "No tactic tag" }]).filter(function (t) { return cols[t.id]; });
    if (!order.length) { box.appendChild(el("p", "muted", "No alert's rule has an ATT&CK technique tag.")); return; }
    var grid = el("div", "matrix");
    order.forEach(function (t) {
      var col = el("div", "tactic", el("h3", null, t.name));
      var techs = Object.keys(cols[t.id]).sort();
      techs.forEach(function (tech) {
        var e = cols[t.id][tech];
        var id = techniqueID(tech);
        var cell = el("div", "tech" + (id.indexOf(".") > 0 ? " sub" : ""));
        cell.appendChild(link(techniqueURL(tech), id));
        var b = el("button", "tech-count", e.n + " alert" + (e.n === 1 ? "" : "s"));
        b.type = "button";
        b.title = Object.keys(e.rules).sort().join("\n");
        b.addEventListener("click", function () { $("f-text").value = tech; applyFilters(); location.hash = "alerts"; });
        cell.appendChild(b);
        // a sub-technique by its own name, as the ATT&CK matrix does
        var name = ATTACK.techniques[id];
        if (name) cell.appendChild(el("div", "tech-name", name));
        col.appendChild(cell);
      });
      grid.appendChild(col);
    });
    box.appendChild(grid);
  }

  // ---------- filters and table ----------
  function fillSelect(id, values, names) {
    var s = $(id);
    if (!s) return;
    var cur = s.value;
    while (s.options.length > 1) s.remove(1);
    values.forEach(function (v) {
      var o = document.createElement("option");
      o.value = v;
      o.textContent = names ? names[v] || v : v;
      s.appendChild(o);
    });
    s.value = cur;
  }
  function fillFilters() {
    var lv = {}, ru = {}, ho = {};
    items.forEach(function (it) { lv[it.level || "none"] = 1; ru[it.rule] = 1; ho[it.host || "-"] = 1; });
    fillSelect("f-level", LEVELS.map(function (l) { return l || "none"; }).filter(function (l) { return lv[l]; }));
    fillSelect("f-rule", Object.keys(ru).sort());
    fillSelect("f-host", Object.keys(ho).sort());
    fillSelect("f-state", STATES, STATE_NAMES);
  }
  function localMs(v) {
    if (!v) return null;
    var t = Date.parse(v + (v.length === 16 ? ":00" : "") + "Z"); // the inputs are in UTC
    return isNaN(t) ? null : t;
  }
  function applyFilters(keepPage) {
    var lvl = $("f-level").value, rule = $("f-rule").value, host = $("f-host").value;
    var st = $("f-state") ? $("f-state").value : "";
    var from = localMs($("f-from").value), to = localMs($("f-to").value);
    var text = $("f-text").value.trim().toLowerCase();
    var hostKey = host === "-" ? "" : host;
    view = items.filter(function (it) {
      if (lvl && (it.level || "none") !== lvl) return false;
      if (rule && it.rule !== rule) return false;
      if (host && it.host !== hostKey) return false;
      if (st && stateOf(it) !== st) return false;
      if (from !== null && (it.t === null || it.t < from)) return false;
      if (to !== null && (it.t === null || it.t > to + 999)) return false;
      if (text && itemText(it).indexOf(text) < 0) return false;
      return true;
    });
    sortView();
    if (!keepPage) page = 0;
    renderTable();
  }
  function cmp(a, b) {
    var x, y;
    switch (sortKey) {
      case "level": x = a.rank; y = b.rank; break;
      case "rule": x = a.rule; y = b.rule; break;
      case "host": x = a.host; y = b.host; break;
      case "state": x = STATES.indexOf(stateOf(a)); y = STATES.indexOf(stateOf(b)); break;
      default: x = a.t === null ? -Infinity : a.t; y = b.t === null ? -Infinity : b.t;
    }
    if (x < y) return -sortDir;
    if (x > y) return sortDir;
    return a.idx - b.idx;
  }
  function sortView() { view.sort(cmp); }
  function renderTable() {
    var tbody = $("rows");
    var pages = Math.max(1, Math.ceil(view.length / PAGE));
    if (page >= pages) page = pages - 1;
    var frag = document.createDocumentFragment();
    view.slice(page * PAGE, page * PAGE + PAGE).forEach(function (it) {
      var tr = el("tr", it === selected ? "sel" : null,
        el("td", "time", fmtTime(it.t)), el("td", null, levelBadge(it.level)),
        el("td", null, it.rule), el("td", null, it.host));
      if (mode === "console") tr.appendChild(el("td", null, el("span", "state st-" + stateOf(it), STATE_NAMES[stateOf(it)])));
      tr.appendChild(el("td", "details", it.details));
      tr.tabIndex = 0;
      tr.setAttribute("data-id", it.id);
      tr.addEventListener("click", function () { showDetail(it); });
      tr.addEventListener("keydown", function (e) { if (e.key === "Enter") showDetail(it); });
      frag.appendChild(tr);
    });
    clear(tbody).appendChild(frag);
    $("count").textContent = String(view.length);
    $("total").textContent = String(items.length);
    $("page").textContent = "page " + (page + 1) + " of " + pages;
    $("prev").disabled = page === 0;
    $("next").disabled = page >= pages - 1;
    document.querySelectorAll("th button[data-sort]").forEach(function (b) {
      var k = b.getAttribute("data-sort");
      b.className = k === sortKey ? (sortDir > 0 ? "asc" : "desc") : "";
    });
  }

  // ---------- detail ----------
  // treeOf returns the process tree of an item: the one the report embedded
  // (built from the hunt's index of process starts and connections), else
  // one built from the alert's own events and advisory ancestry.
  function treeOf(it) {
    if (it.tree) {
      var t = it.tree, P = data.procs || [], C = data.conns || [];
      return {
        ancestors: (t.a || []).map(function (i) { return P[i]; }), process: P[t.p],
        children: (t.c || []).map(function (i) { return P[i]; }), moreChildren: t.mc || 0,
        connections: (t.n || []).map(function (i) { return C[i]; }), moreConnections: t.mn || 0, indexed: true
      };
    }
    var a = it.a, evs = a.events || [], proc = null, conns = [];
    evs.forEach(function (e) {
      var f = e.fields || {};
      if (!proc && (f.ParentImage !== undefined || f.NewProcessName !== undefined || f.CommandLine !== undefined)) {
        proc = { time: e.timestamp, image: str(f.Image || f.NewProcessName || f["process.executable"]),
          command_line: str(f.CommandLine || f["process.command_line"]), pid: str(f.ProcessId || f.NewProcessId || ""),
          guid: str(f.ProcessGuid || ""), user: str(f.User || f.SubjectUserName || ""),
          parent_image: str(f.ParentImage || ""), parent_command_line: str(f.ParentCommandLine || "") };
      }
      var ip = f.DestinationIp || f.DestAddress || f["destination.ip"];
      if (ip !== undefined) conns.push({ time: e.timestamp, ip: str(ip), port: str(f.DestinationPort || f.DestPort || f["destination.port"] || ""),
        hostname: str(f.DestinationHostname || ""), protocol: str(f.Protocol || ""), image: str(f.Image || "") });
    });
    if (!proc && !conns.length) return null;
    if (!proc) proc = { image: conns[0].image, inferred: true };
    var anc = [];
    var ctx = a.context || {};
    if (Array.isArray(ctx.ancestry)) {
      ctx.ancestry.forEach(function (p) { anc.push({ time: p.time, image: p.image, command_line: p.command_line, pid: p.process_id, guid: p.process_guid, user: p.user }); });
    } else if (proc.parent_image) {
      anc.push({ image: proc.parent_image, command_line: proc.parent_command_line, inferred: true });
    }
    return { ancestors: anc, process: proc, children: [], connections: conns, moreChildren: 0, moreConnections: 0, indexed: false };
  }
  function procNode(p, cls) {
    var li = el("li", "proc " + (cls || "") + (p.inferred ? " inferred" : ""));
    var head = el("div", "proc-head", el("span", "img", p.image || "(unknown image)"));
    var meta = [];
    if (p.pid) meta.push("pid " + p.pid);
    if (p.user) meta.push(p.user);
    if (p.time) meta.push(p.time);
    if (p.inferred) meta.push("start not in the input");
    if (meta.length) head.appendChild(el("span", "meta", meta.join(" · ")));
    li.appendChild(head);
    if (p.command_line) li.appendChild(el("code", "cmd", p.command_line));
    return li;
  }
  function renderTree(tr) {
    var box = el("div", "tree");
    if (!tr) { box.appendChild(el("p", "muted", "No event of this alert names a process.")); return box; }
    var root = el("ul", "ptree"), cur = root;
    tr.ancestors.slice().reverse().forEach(function (p) {
      var li = procNode(p, "ancestor");
      cur.appendChild(li);
      var ul = el("ul");
      li.appendChild(ul);
      cur = ul;
    });
    var me = procNode(tr.process || {}, "subject");
    cur.appendChild(me);
    var kids = el("ul");
    (tr.children || []).forEach(function (c) { kids.appendChild(procNode(c, "child")); });
    if (tr.moreChildren) kids.appendChild(el("li", "more", "… " + tr.moreChildren + " more children"));
    (tr.connections || []).forEach(function (c) {
      var dest = (c.hostname ? c.hostname + " " : "") + c.ip + (c.port ? ":" + c.port : "") + (c.protocol ? " " + c.protocol : "");
      kids.appendChild(el("li", "conn", el("span", "arrow", "→ "), el("span", "dest", dest), el("span", "meta", c.time || "")));
    });
    if (tr.moreConnections) kids.appendChild(el("li", "more", "… " + tr.moreConnections + " more connections"));
    if (kids.firstChild) me.appendChild(kids);
    box.appendChild(root);
    box.appendChild(el("p", "muted", tr.indexed
      ? "Ancestors, children and connections as recorded from the hunt's process starts and connections."
      : "Built from the alert's own events" + (tr.ancestors.length ? " and the ancestry in its context" : "") + "."));
    return box;
  }
  function eventTable(e, i) {
    var f = e.fields || {};
    var src = e.source || {};
    var where = (src.path || "") + (src.line ? ":" + src.line : "") + (src.record_id ? " record " + src.record_id : "");
    var t = el("table", "kv fields");
    Object.keys(f).sort().forEach(function (k) { t.appendChild(el("tr", null, el("th", null, k), el("td", null, str(f[k])))); });
    var d = el("details", "event", el("summary", null, "Event " + (i + 1) + " · " + (e.timestamp || "no time") + " · " + where), t);
    if (i < 3) d.open = true;
    return d;
  }
  function triageInfo(s) {
    var t = kv([["State", STATE_NAMES[s.state] || s.state], ["Note", s.note], ["By", s.who], ["When", s.when]]);
    t.className += " triage-info";
    return t;
  }
  // updateTriage shows an alert's new triage state in the table and, when
  // its detail is open, in the detail, leaving the form as it is.
  function updateTriage(id) {
    renderTable();
    if (!selected || selected.id !== id) return;
    var old = $("detail").querySelector(".triage-info");
    if (old) old.parentNode.replaceChild(triageInfo(triage[id] || { state: "new" }), old);
  }
  function triageBox(it) {
    var box = el("div", "triage");
    var s = triage[it.id] || { state: "new" };
    box.appendChild(el("h3", null, "Triage"));
    box.appendChild(triageInfo(s));
    if (!csrf) { box.appendChild(el("p", "muted", "Sign in with the API token to change the state.")); return box; }
    var form = el("form", "triage-form");
    var sel = el("select");
    sel.name = "state";
    STATES.forEach(function (st) { var o = el("option", null, STATE_NAMES[st]); o.value = st; sel.appendChild(o); });
    sel.value = s.state;
    var note = el("textarea");
    note.name = "note";
    note.maxLength = 2000;
    note.value = s.note || "";
    var btn = el("button", null, "Save");
    btn.type = "submit";
    var msg = el("span", "msg");
    form.appendChild(el("label", null, "State ", sel));
    form.appendChild(el("label", null, "Note ", note));
    form.appendChild(btn);
    form.appendChild(msg);
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      msg.textContent = "saving…";
      fetch("api/triage/" + encodeURIComponent(it.id), {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-Vigil-CSRF": csrf },
        body: JSON.stringify({ state: sel.value, note: note.value })
      }).then(function (r) {
        if (!r.ok) return r.text().then(function (t) { throw new Error(r.status + " " + t); });
        return r.json();
      }).then(function (st) {
        triage[it.id] = st;
        updateTriage(it.id);
        msg.textContent = "saved";
      }).catch(function (e) { msg.textContent = "not saved: " + e.message; });
    });
    box.appendChild(form);
    return box;
  }
  function showDetail(it) {
    selected = it;
    var a = it.a, r = a.rule || {};
    var info = (data.rules || {})[r.id] || {};
    var d = clear($("detail"));
    d.hidden = false;
    var close = el("button", "close", "Close");
    close.type = "button";
    close.addEventListener("click", function () { d.hidden = true; selected = null; renderTable(); });
    d.appendChild(el("div", "detail-head", el("h2", null, levelBadge(r.level), " ", r.title || r.id), close));
    var tags = el("span", "tags");
    (r.tags || []).forEach(function (t) {
      var u = techniqueURL(t);
      tags.appendChild(u ? link(u, t) : el("span", "tag", t));
      tags.appendChild(document.createTextNode(" "));
    });
    var techs = el("div", "techs");
    (r.tags || []).forEach(function (t) {
      var id = techniqueID(t);
      if (id) techs.appendChild(el("div", null, link(techniqueURL(t), id), " ", techniqueName(id)));
    });
    var refs = null;
    if (info.references && info.references.length) {
      refs = el("span");
      info.references.forEach(function (u) {
        if (/^https?:\/\/[^\s]+$/i.test(u)) refs.appendChild(link(u, u)); else refs.appendChild(el("span", null, u));
        refs.appendChild(document.createTextNode(" "));
      });
    }
    d.appendChild(el("h3", null, "Rule"));
    d.appendChild(kv([["Title", r.title], ["Id", r.id], ["Level", r.level || "none"], ["Status", r.status], ["Type", r.type],
      ["Description", info.description], ["Author", info.author], ["False positives", (info.falsepositives || []).join("; ")],
      ["File", r.path], ["Tags", (r.tags || []).length ? tags : ""],
      ["ATT&CK", techs.firstChild ? techs : ""], ["References", refs]]));
    d.appendChild(el("h3", null, "Alert"));
    var grp = a.group ? Object.keys(a.group).sort().map(function (k) { return k + "=" + a.group[k]; }).join(", ") : "";
    d.appendChild(kv([["Time", a.timestamp], ["Host", a.host], ["Correlation", a.correlation_type], ["Group", grp],
      ["Events", String((a.events || []).length)]]));
    if (mode === "console") d.appendChild(triageBox(it));
    if (a.advisory) {
      var adv = (data.advisories || {})[a.advisory];
      d.appendChild(el("h3", null, "Advisory " + a.advisory + (adv ? ": " + adv.title : "")));
      if (adv) {
        d.appendChild(el("p", null, adv.description));
        d.appendChild(el("h4", null, "Triage"));
        var ol = el("ol", "triage-steps");
        (adv.triage || []).forEach(function (s) { ol.appendChild(el("li", null, s)); });
        d.appendChild(ol);
        if (adv.recommendations && adv.recommendations.length) {
          d.appendChild(el("h4", null, "Recommendations"));
          var ul = el("ul");
          adv.recommendations.forEach(function (s) { ul.appendChild(el("li", null, s)); });
          d.appendChild(ul);
        }
      }
    }
    d.appendChild(el("h3", null, "Process tree"));
    var tr = treeOf(it);
    d.appendChild(renderTree(tr));
    // command lines and destinations
    var cmds = [], dests = [], seen = {};
    (a.events || []).forEach(function (e) {
      var f = e.fields || {};
      ["CommandLine", "ParentCommandLine", "process.command_line", "process.parent.command_line", "ScriptBlockText"].forEach(function (k) {
        if (f[k] !== undefined && f[k] !== "" && !seen["c" + f[k]]) { seen["c" + f[k]] = 1; cmds.push([k, str(f[k])]); }
      });
      var ip = f.DestinationIp || f.DestAddress || f["destination.ip"];
      if (ip !== undefined) {
        var dest = str(ip) + (f.DestinationPort || f.DestPort ? ":" + str(f.DestinationPort || f.DestPort) : "") +
          (f.DestinationHostname ? " (" + str(f.DestinationHostname) + ")" : "");
        if (!seen["d" + dest]) { seen["d" + dest] = 1; dests.push(dest); }
      }
    });
    if (tr) (tr.connections || []).forEach(function (c) {
      var dest = c.ip + (c.port ? ":" + c.port : "") + (c.hostname ? " (" + c.hostname + ")" : "");
      if (!seen["d" + dest]) { seen["d" + dest] = 1; dests.push(dest); }
    });
    if (cmds.length) {
      d.appendChild(el("h3", null, "Command lines"));
      var cl = el("ul", "cmds");
      cmds.forEach(function (c) { cl.appendChild(el("li", null, el("span", "meta", c[0] + " "), el("code", "cmd", c[1]))); });
      d.appendChild(cl);
    }
    if (dests.length) {
      d.appendChild(el("h3", null, "Network destinations"));
      var dl = el("ul", "dests");
      dests.forEach(function (x) { dl.appendChild(el("li", null, el("code", null, x))); });
      d.appendChild(dl);
    }
    if (a.context) {
      var crow = [];
      Object.keys(a.context).sort().forEach(function (k) { if (k !== "ancestry") crow.push([k, str(a.context[k])]); });
      d.appendChild(el("h3", null, "Context"));
      d.appendChild(kv(crow));
    }
    d.appendChild(el("h3", null, "Events"));
    (a.events || []).forEach(function (e, i) { d.appendChild(eventTable(e, i)); });
    if (a.events_omitted) d.appendChild(el("p", "muted", a.events_omitted + " more events not included in the report."));
    renderTable();
    d.scrollIntoView();
  }

  // ---------- wiring ----------
  function renderAll() {
    renderSummary();
    renderCharts();
    renderMatrix();
    fillFilters();
    applyFilters(true);
  }
  ["f-level", "f-rule", "f-host", "f-state", "f-from", "f-to"].forEach(function (id) {
    if ($(id)) $(id).addEventListener("change", function () { applyFilters(); });
  });
  var textTimer = null;
  $("f-text").addEventListener("input", function () {
    clearTimeout(textTimer);
    textTimer = setTimeout(function () { applyFilters(); }, 150);
  });
  $("filters").addEventListener("reset", function () { setTimeout(function () { applyFilters(); }, 0); });
  $("filters").addEventListener("submit", function (e) { e.preventDefault(); applyFilters(); });
  $("prev").addEventListener("click", function () { if (page > 0) { page--; renderTable(); } });
  $("next").addEventListener("click", function () { page++; renderTable(); });
  document.querySelectorAll("th button[data-sort]").forEach(function (b) {
    b.addEventListener("click", function () {
      var k = b.getAttribute("data-sort");
      if (k === sortKey) sortDir = -sortDir; else { sortKey = k; sortDir = k === "time" ? 1 : (k === "level" ? 1 : 1); }
      sortView();
      renderTable();
    });
  });

  // readData decodes the data block: JSON, or gzipped JSON in base64.
  function readData() {
    var block = document.getElementById("vigil-data");
    var text = block.textContent || "null";
    if (block.getAttribute("data-encoding") !== "gzip-base64") return Promise.resolve(JSON.parse(text));
    var bin = atob(text.replace(/\s+/g, ""));
    var bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Response(stream).text().then(JSON.parse);
  }

  if (mode === "report") {
    $("count").textContent = "…";
    readData().then(function (d) {
      data = d || {};
      var trees = data.trees || [];
      (data.alerts || []).forEach(function (a, i) { items.push(makeItem(a, i, null, trees[i] || null)); });
      data.alerts = null;
      if (data.omitted) $("omitted").textContent = "(" + data.omitted + " more alerts beyond the report's cap are not included)";
      renderAll();
      document.body.setAttribute("data-ready", "true");
      setTimeout(function () { warmText(0); }, 50);
    }).catch(function (e) { $("summary-body").textContent = "Cannot read the report's data: " + e; });
  } else {
    startConsole();
  }

  // ---------- live console ----------
  function addAlert(rec) {
    if (byId[rec.id]) return false;
    var it = makeItem(rec.alert, items.length, rec.id, null);
    byId[rec.id] = it;
    items.push(it);
    if (rec.triage) triage[rec.id] = rec.triage;
    return true;
  }
  function startConsole() {
    var live = $("live");
    var pending = null;
    function refresh() {
      if (pending) return;
      pending = setTimeout(function () { pending = null; renderSummary(); renderCharts(); renderMatrix(); fillFilters(); applyFilters(true); }, 200);
    }
    function load() {
      return fetch("api/alerts", { credentials: "same-origin" }).then(function (r) {
        if (r.status === 401) throw new Error("sign in to see the alerts");
        if (!r.ok) throw new Error(r.status + " " + r.statusText);
        return r.json();
      }).then(function (d) {
        data.title = d.title || "live console";
        data.advisories = d.advisories || {};
        data.rules = d.rules || {};
        (d.alerts || []).forEach(function (rec) {
          addAlert(rec);
          if (rec.triage) triage[rec.id] = rec.triage;
        });
      });
    }
    load().then(function () {
      renderAll();
      var es = new EventSource("api/stream");
      var dropped = false;
      es.addEventListener("open", function () {
        live.textContent = "live";
        live.className = "live on";
        // Back after a break: what fired meanwhile is in the list.
        if (dropped) { dropped = false; load().then(refresh).catch(function () {}); }
      });
      es.addEventListener("error", function () { dropped = true; live.textContent = "reconnecting…"; live.className = "live off"; });
      es.addEventListener("alert", function (ev) {
        var rec = JSON.parse(ev.data);
        if (rec.advisory_info && rec.alert.advisory) data.advisories[rec.alert.advisory] = rec.advisory_info;
        if (addAlert(rec)) refresh();
      });
      es.addEventListener("triage", function (ev) {
        var st = JSON.parse(ev.data);
        triage[st.id] = st;
        updateTriage(st.id);
        refresh();
      });
    }).catch(function (e) {
      live.textContent = e.message;
      live.className = "live off";
      $("summary-body").textContent = e.message;
    });
  }
})();
