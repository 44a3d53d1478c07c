// kldrift pages: what the run's page and the index share. Formatting, escaping, tooltips, sortable
// tables, the search box and its toggle, and lazy drawing (a chart is drawn when it nears the
// viewport, and every chart before printing). No network, no storage, no eval.
(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("kd-data").textContent);
  var FONT = "11px system-ui, 'DejaVu Sans', sans-serif";
  var COLORS = { ref: "#0072b2", cur: "#e69f00", more: "#d55e00", less: "#56b4e9", line: "#999999",
                 critical: "#b3261e", warn: "#b35c00", error: "#6a1b9a", insufficient_data: "#5f6368", ok: "#1e7d32" };
  var SEV = { o: "ok", w: "warn", c: "critical", e: "error", i: "insufficient_data" };
  var errors = [];

  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function num(x, d) {
    if (x == null || !isFinite(x)) return "\u2014";
    return Number(Number(x).toPrecision(d || 4)).toString();
  }
  function pct(x) { return x == null || !isFinite(x) ? "\u2014" : (100 * x).toFixed(x !== 0 && Math.abs(x) < 0.001 ? 3 : 1) + "%"; }
  function int(x) { return x == null ? "\u2014" : Number(x).toLocaleString("en-US"); }
  // A run's time (seconds, UTC) as its key: 2026-11-23, or 2026-11-23 10:00 when runs are shorter than a day.
  function stamp(sec, withTime) {
    var iso = new Date(sec * 1000).toISOString();
    return withTime ? iso.slice(0, 10) + " " + iso.slice(11, 16) : iso.slice(0, 10);
  }

  // The longest prefix of s (with an ellipsis) that fits px pixels in the chart font.
  var measure = document.createElement("canvas").getContext("2d");
  function fit(s, px) {
    measure.font = FONT;
    if (measure.measureText(s).width <= px) return s;
    var lo = 0, hi = s.length;
    while (lo < hi) {
      var mid = (lo + hi + 1) >> 1;
      if (measure.measureText(s.slice(0, mid) + "\u2026").width <= px) lo = mid; else hi = mid - 1;
    }
    return s.slice(0, lo) + "\u2026";
  }

  // A tooltip inside `box` (position: relative), placed beside the uPlot cursor and kept inside the box.
  function tooltip(box) {
    var d = document.createElement("div");
    d.className = "kd-tip";
    box.appendChild(d);
    return function (u, html) {
      if (html == null || u.cursor.left == null || u.cursor.left < 0) { d.style.display = "none"; return; }
      var o = u.over.getBoundingClientRect(), b = box.getBoundingClientRect();
      d.innerHTML = html;
      d.style.display = "block";
      var x = o.left - b.left + u.cursor.left + 14, y = o.top - b.top + u.cursor.top + 14;
      if (x + d.offsetWidth > box.clientWidth) x = Math.max(0, x - d.offsetWidth - 28);
      d.style.left = x + "px";
      d.style.top = y + "px";
    };
  }

  function axis(extra) {
    var a = { font: FONT, labelFont: FONT, stroke: "#333", grid: { stroke: "#e5e5e5", width: 1 }, ticks: { show: false } };
    for (var k in extra) a[k] = extra[k];
    return a;
  }

  // Sortable tables: a click on a th[data-sort] sorts by that column (data-v numbers, else text);
  // a second click reverses. Rows without a value go last either way.
  function sortable(table) {
    var heads = table.querySelectorAll("th");
    Array.prototype.forEach.call(heads, function (th, col) {
      if (!th.dataset.sort) return;
      th.tabIndex = 0;
      var run = function () {
        var down = th.getAttribute("aria-sort") === "ascending";
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", down ? "descending" : "ascending");
        var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows), numeric = th.dataset.sort === "num";
        var key = function (tr) {
          var td = tr.cells[col];
          if (!td || td.colSpan > 1) return null;
          if (numeric) { var v = td.dataset.v; return v === undefined || v === "" ? null : parseFloat(v); }
          return td.textContent.trim().toLowerCase();
        };
        var keyed = rows.map(function (tr, i) { return [key(tr), i, tr]; });
        keyed.sort(function (a, b) {
          if (a[0] === null || b[0] === null) return a[0] === b[0] ? a[1] - b[1] : a[0] === null ? 1 : -1;
          var c = a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] - b[1];
          return down ? -c : c;
        });
        var frag = document.createDocumentFragment();
        keyed.forEach(function (k) { frag.appendChild(k[2]); });
        body.appendChild(frag);
      };
      th.addEventListener("click", run);
      th.addEventListener("keydown", function (ev) { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); run(); } });
    });
  }

  // The search box and its toggle: `groups` are lists of elements shown or hidden together
  // (a summary row and its section); `text(i)` is what the search matches, `flagged(i)` the toggle.
  function filter(n, text, flagged, groups, label) {
    var q = document.getElementById("q"), only = document.getElementById("drifted"), shown = document.getElementById("shown");
    var haystack = [];
    for (var i = 0; i < n; i++) haystack.push(text(i).toLowerCase());
    var apply = function () {
      var words = q.value.toLowerCase().split(/\s+/).filter(Boolean), count = 0;
      for (var i = 0; i < n; i++) {
        var ok = (!only.checked || flagged(i)) && words.every(function (w) { return haystack[i].indexOf(w) >= 0; });
        if (ok) count++;
        groups(i).forEach(function (el) { if (el) el.hidden = !ok; });
      }
      shown.textContent = count === n ? n + " " + label : count + " of " + n + " " + label;
    };
    q.addEventListener("input", apply);
    only.addEventListener("change", apply);
    if (q.value || only.checked) apply();  // a browser that restored the form on reload
  }

  // Lazy drawing: draw(el) once per element. Now, synchronously, every element in or near the viewport;
  // later ones when they come within MARGIN px of it (an IntersectionObserver); every one before printing.
  // The first pass is not left to the observer: its first callback comes a frame after the page is
  // shown, so a headless screenshot (or a first paint) would catch the charts in view still blank.
  // <body data-drawn> tells tools where drawing stands: "view" once everything in the viewport is drawn,
  // "all" once every chart is (after printing, KD.drawAll(), or a scroll to the end).
  var MARGIN = 400;
  function lazy(elements, draw) {
    var done = new WeakSet(), left = elements.length;
    var mark = function () { document.body.setAttribute("data-drawn", left ? "view" : "all"); };
    var once = function (el) {
      if (done.has(el)) return;
      done.add(el);
      left--;
      try { draw(el); } catch (e) { errors.push(String(e && e.stack || e)); throw e; }
    };
    var all = function () {
      Array.prototype.forEach.call(elements, function (el) { if (!el.hidden) { io.unobserve(el); once(el); } });
      mark();
    };
    var io = new IntersectionObserver(function (entries) {
      entries.forEach(function (e) { if (e.isIntersecting) { io.unobserve(e.target); once(e.target); } });
      mark();
    }, { rootMargin: MARGIN + "px 0px" });
    var bottom = window.innerHeight + MARGIN;
    Array.prototype.forEach.call(elements, function (el) {
      var r = el.getBoundingClientRect();
      if (!el.hidden && r.bottom >= -MARGIN && r.top <= bottom && (r.width || r.height)) once(el);
      else io.observe(el);
    });
    mark();
    // Printing: beforeprint where the browser sends it, the print media query where it does not.
    window.addEventListener("beforeprint", all);
    if (window.matchMedia) {
      var printing = window.matchMedia("print");
      var onPrint = function (ev) { if (ev.matches) all(); };
      if (printing.addEventListener) printing.addEventListener("change", onPrint); else printing.addListener(onPrint);
    }
    return { one: function (el) { io.unobserve(el); once(el); mark(); }, all: all };
  }

  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), sortable);

  // KD.drawAll() draws every chart now (what printing does): for tools that screenshot a whole page.
  window.KD = { data: DATA, colors: COLORS, sev: SEV, font: FONT, errors: errors, esc: esc, num: num, pct: pct, int: int,
                stamp: stamp, fit: fit, tooltip: tooltip, axis: axis, filter: filter, lazy: lazy,
                drawAll: function () { if (KD.drawer) KD.drawer.all(); } };
})();
