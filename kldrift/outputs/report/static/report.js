// kldrift run page: each feature's charts, drawn with uPlot when its section nears the viewport.
// Bins: reference vs current share of rows per bin (horizontal bars, one row per bin) and each
// bin's KL term. Trend: the alert metric per run on a UTC time axis (missing runs are gaps; the range
// is the runs' with half a step of padding, ticks on whole minutes, hours, days, weeks or months by the
// span), points coloured by severity, this run ringed, both thresholds dashed. Hover shows the numbers.
(function () {
  "use strict";
  var D = KD.data, C = KD.colors, F = D.f;
  var BASE = D.base || "reference";  // "baseline" when the counts compared with are earlier intervals
  var LABEL_PX = 170, BAR_W = 440, KL_W = 190, TREND_W = 420, TREND_H = 226;
  var runs = D.runs;
  var hourly = false, tx = [], gapAfter = [];
  if (runs) {
    // A step over 1.5x the usual one is a missing run: a null point there breaks the line.
    var steps = runs.x.slice(1).map(function (x, i) { return x - runs.x[i]; }).sort(function (a, b) { return a - b; });
    var step = steps.length ? steps[steps.length >> 1] : 86400;
    hourly = runs.x.some(function (x) { return x % 86400 !== 0; });
    runs.x.forEach(function (x, k) {
      if (k && x - runs.x[k - 1] > 1.5 * step) { tx.push(runs.x[k - 1] + step); gapAfter.push(k); }
      tx.push(x);
    });
  }
  // Values with the gap points inserted, aligned with tx.
  function withGaps(values) {
    var out = [], g = 0;
    values.forEach(function (v, k) {
      if (g < gapAfter.length && gapAfter[g] === k) { out.push(null); g++; }
      out.push(v);
    });
    return out;
  }

  function prep(i) {
    var f = F[i], rs = 0, cs = 0, klSum = 0;
    f.r.forEach(function (c) { rs += c; });
    f.c.forEach(function (c) { cs += c; });
    f.k.forEach(function (k) { if (k != null) klSum += k; });
    return { f: f, rs: rs, cs: cs, klSum: klSum,
             refShare: f.r.map(function (c) { return rs ? c / rs : 0; }),
             curShare: f.c.map(function (c) { return cs ? c / cs : 0; }) };
  }

  function binTip(p, j) {
    var f = p.f;
    return "<b>" + KD.esc(f.l[j]) + "</b><br>" + BASE + " " + KD.int(f.r[j]) + " (" + KD.pct(p.refShare[j]) + ")<br>" +
      "current " + KD.int(f.c[j]) + " (" + KD.pct(p.curShare[j]) + ")<br>KL term " +
      (f.k[j] == null ? "dropped (empty on both sides)" : KD.num(f.k[j]) + " nats");
  }

  function head(box, html) {
    var h = document.createElement("div");
    h.className = "head";
    h.innerHTML = html;
    box.appendChild(h);
  }

  function drawBins(p, box) {
    var f = p.f, n = f.l.length, H = parseFloat(box.style.height) - 20;
    var idx = f.l.map(function (_, j) { return j; });
    var shown = f.l.map(function (s) { return KD.fit(s, LABEL_PX - 8); });
    head(box, '<span style="display:inline-block;width:' + BAR_W + 'px;padding-left:' + (LABEL_PX - 40) + 'px">' +
      '<span style="color:' + C.ref + '">\u25a0 ' + BASE + ' ' + KD.int(p.rs) + '</span> \u00b7 <span style="color:' + C.cur +
      '">\u25a0 current ' + KD.int(p.cs) + "</span></span>KL terms (sum " + KD.num(p.klSum) + ")");
    var row = document.createElement("div");
    row.style.display = "flex";
    box.appendChild(row);
    var tip = KD.tooltip(box);
    var binX = { time: false, ori: 1, dir: -1, range: [-0.5, n - 0.5] };
    var hooks = { setCursor: [function (u) { tip(u, u.cursor.idx == null ? null : binTip(p, u.cursor.idx)); }] };
    var cursor = { points: { show: false }, drag: { x: false, y: false }, y: false };
    new uPlot({
      width: BAR_W, height: H, legend: { show: false }, cursor: cursor, hooks: hooks, padding: [4, 10, 0, 0],
      scales: { x: binX, y: { ori: 0, range: function (u, lo, hi) { return [0, Math.max(hi, 0.01) * 1.06]; } } },
      axes: [
        KD.axis({ scale: "x", side: 3, size: LABEL_PX, gap: 4, grid: { show: false },
          splits: function () { return idx; }, values: function (u, sp) { return sp.map(function (j) { return shown[j]; }); } }),
        KD.axis({ scale: "y", side: 2, size: 34, label: "share of rows", labelSize: 14, space: 50,
          values: function (u, sp) { return sp.map(function (v) { return Math.round(v * 1000) / 10 + "%"; }); } })
      ],
      series: [{},
        { label: BASE, fill: C.ref, stroke: C.ref, width: 0, points: { show: false },
          paths: uPlot.paths.bars({ size: [0.4, Infinity, 1], align: -1 }) },
        { label: "current", fill: C.cur, stroke: C.cur, width: 0, points: { show: false },
          paths: uPlot.paths.bars({ size: [0.4, Infinity, 1], align: 1 }) }]
    }, [idx, p.refShare, p.curShare], row);

    var lo = 0, hi = 0;
    f.k.forEach(function (v) { if (v != null) { lo = Math.min(lo, v); hi = Math.max(hi, v); } });
    var pad = 0.08 * (hi - lo) || 1e-3;
    var colors = f.k.map(function (v) { return v > 0 ? C.more : C.less; });
    var zero = function (u) {
      var x = Math.round(u.valToPos(0, "y", true)), c = u.ctx;
      c.save(); c.strokeStyle = "#555"; c.lineWidth = 1; c.beginPath();
      c.moveTo(x + 0.5, u.bbox.top); c.lineTo(x + 0.5, u.bbox.top + u.bbox.height); c.stroke(); c.restore();
    };
    new uPlot({
      width: KL_W, height: H, legend: { show: false }, cursor: cursor, padding: [4, 12, 0, 14],
      hooks: { setCursor: hooks.setCursor, draw: [zero] },
      scales: { x: binX, y: { ori: 0, range: [lo - pad, hi + pad] } },
      axes: [KD.axis({ scale: "x", side: 3, show: false, size: 0 }),
        KD.axis({ scale: "y", side: 2, size: 34, label: "\u2190 current rarer \u00b7 more common \u2192", labelSize: 14, space: 45,
          values: function (u, sp) { return sp.map(function (v) { return KD.num(v, 2); }); } })],
      series: [{}, { label: "KL term", fill: C.more, width: 0, points: { show: false },
        paths: uPlot.paths.bars({ size: [0.7, Infinity, 1], disp: { fill: { unit: 3, values: function () { return colors; } } } }) }]
    }, [idx, f.k], row);
  }

  // The trend's time axis, the same for every feature: its range (the runs' with padding: half a step,
  // at least 4% of the span; three quarters of a day (or an hour) either side of a single run) and its ticks, on whole units
  // chosen by the span so that they do not crowd, each label once.
  var M = 60, H = 3600, DAY = 86400;
  var unit = runs && runs.x.some(function (x) { return x % H !== 0; }) ? M : hourly ? H : DAY;
  var STEPS = [M, 5 * M, 10 * M, 15 * M, 30 * M, H, 2 * H, 3 * H, 6 * H, 12 * H, DAY, 2 * DAY, 7 * DAY, 14 * DAY];
  var MONTHS = [1, 2, 3, 6, 12];
  var xRange = null;
  if (runs) {
    var lo = tx[0], hi = tx[tx.length - 1], pad = Math.max(Math.min(step, 31 * DAY) / 2, 0.04 * (hi - lo), unit / 2);
    var one = unit === DAY ? DAY : H;
    xRange = hi > lo ? [lo - pad, hi + pad] : [lo - 0.75 * one, hi + 0.75 * one];  // one run: one tick, its own
  }
  function monthTicks(a, b, n) {
    var d = new Date(a * 1000), y = d.getUTCFullYear(), m = Math.ceil(d.getUTCMonth() / n) * n, out = [];
    for (;; m += n) {
      var t = Date.UTC(y, m, 1) / 1000;  // the first of month m (0-based, past 11 into the next years)
      if (t > b) return out;
      if (t >= a) out.push(t);
    }
  }
  function ticks(a, b, room) {  // at most `room` ticks in [a, b] on whole units
    var most = Math.max(2, room), k, t, out;
    for (k = 0; k < STEPS.length; k++) {
      var s = STEPS[k];
      if (s < unit) continue;
      // weeks start on Mondays (the epoch was a Thursday); other steps are multiples from the epoch
      var shift = s >= 7 * DAY ? 4 * DAY : 0;
      out = [];
      for (t = Math.ceil((a - shift) / s) * s + shift; t <= b; t += s) out.push(t);
      if (out.length <= most) return { at: out, step: s };
    }
    for (k = 0; k < MONTHS.length; k++) {
      out = monthTicks(a, b, MONTHS[k]);
      if (out.length <= most) return { at: out, step: 30 * DAY };
    }
    for (var n = 24; ; n *= 2) { out = monthTicks(a, b, n); if (out.length <= most) return { at: out, step: 30 * DAY }; }
  }
  var MON = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  // Labels: HH:MM, MM-DD or the month; under it, on the first tick and where it changes, the day or the year.
  function tickLabels(at, s) {
    var prev = null;
    return at.map(function (t) {
      var iso = new Date(t * 1000).toISOString(), top, below;
      if (s < DAY) { top = iso.slice(11, 16); below = iso.slice(0, 10); }
      else if (s < 28 * DAY) { top = iso.slice(5, 10); below = iso.slice(0, 4); }
      else { top = MON[+iso.slice(5, 7) - 1]; below = iso.slice(0, 4); }
      var out = below !== prev ? top + "\n" + below : top;
      prev = below;
      return out;
    });
  }

  // What the axis shows for a plot `px` wide (for tests and tools: the labels are drawn on a canvas).
  KD.timeAxis = runs && function (px) {
    var t = ticks(xRange[0], xRange[1], Math.floor(px / 58));
    return { range: xRange.slice(), at: t.at, labels: tickLabels(t.at, t.step) };
  };

  function drawTrend(i, box) {
    var f = F[i], th = f.th, warn = th[0], crit = th[1];
    var ty = withGaps(f.t), sev = withGaps(f.s.split("").map(function (c) { return KD.sev[c] || null; }));
    var last = tx.length - 1;
    var only = function (s) { return ty.map(function (v, k) { return sev[k] === s && k !== last ? v : null; }); };
    var top = 0;
    ty.concat([warn, crit]).forEach(function (v) { if (v != null && v > top) top = v; });
    var none = function () { return null; };
    var dot = function (c, size, ring) {
      return { stroke: c, width: 0, paths: none, points: { show: true, size: size, fill: c, stroke: ring || c, width: ring ? 1.5 : 0 } };
    };
    head(box, KD.esc(D.metric) + " per run (this run ringed)");
    var tip = KD.tooltip(box);
    var series = [{}, { stroke: C.line, width: 1, points: { show: false } }];
    var data = [tx, ty];
    ["ok", "warn", "critical", "error", "insufficient_data"].forEach(function (s) { series.push(dot(C[s], 5)); data.push(only(s)); });
    series.push(dot(C[sev[last]] || C.line, 9, "#000"));
    data.push(ty.map(function (v, k) { return k === last ? v : null; }));
    // The thresholds: dashed lines across the plot and their names in the right margin (critical above
    // its line, warn below), drawn on the canvas rather than as series, so they are there for one run too;
    // an infinite threshold never alerts: nothing to draw.
    var marks = [["critical", crit, C.critical, -3], ["warn", warn, C.warn, 11]].filter(function (t) { return t[1] != null; });
    var lines = function (u) {  // under the grid and the points
      var c = u.ctx, r = devicePixelRatio || 1, b = u.bbox;
      c.save(); c.lineWidth = r; c.setLineDash([4 * r, 3 * r]);
      marks.forEach(function (t) {
        var y = Math.round(u.valToPos(t[1], "y", true)) + 0.5;
        c.strokeStyle = t[2]; c.beginPath(); c.moveTo(b.left, y); c.lineTo(b.left + b.width, y); c.stroke();
      });
      c.restore();
    };
    var names = function (u) {
      var c = u.ctx, r = devicePixelRatio || 1, b = u.bbox;
      c.save(); c.textAlign = "left"; c.font = Math.round(10 * r) + "px system-ui, sans-serif";
      marks.forEach(function (t) {
        c.fillStyle = t[2];
        c.fillText(t[0] + " " + KD.num(t[1]), b.left + b.width + 4 * r, u.valToPos(t[1], "y", true) + t[3] * r);
      });
      c.restore();
    };
    new uPlot({
      width: TREND_W, height: TREND_H, legend: { show: false }, padding: [8, 70, 0, 0],
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"); },
      cursor: { points: { show: false }, drag: { x: false, y: false }, y: false },
      hooks: {
        setCursor: [function (u) {
          var k = u.cursor.idx;
          tip(u, k == null || ty[k] == null ? null : "<b>" + KD.stamp(tx[k], hourly) + "</b><br>" + KD.esc(D.metric) + " " +
            KD.num(ty[k]) + (sev[k] ? " \u00b7 " + sev[k] : "") + (k === last ? " (this run)" : ""));
        }],
        drawClear: [lines],
        draw: [names]
      },
      scales: { x: { time: true, auto: false, range: function () { return xRange.slice(); } },
                y: { range: [0, (top || 1) * 1.15] } },
      axes: [KD.axis({ size: 44, label: "run " + (unit < DAY ? "time" : "date") + " (UTC)", labelSize: 14,
          splits: function (u, ax, lo, hi) {
            var t = ticks(lo, hi, Math.floor(u.bbox.width / (devicePixelRatio || 1) / 58));
            u._kdStep = t.step;
            return t.at;
          },
          values: function (u, sp) { return tickLabels(sp, u._kdStep || DAY); } }),
        KD.axis({ size: 44, values: function (u, sp) { return sp.map(function (v) { return KD.num(v, 2); }); } })],
      series: series
    }, data, box);
  }

  function draw(sec) {
    var i = +sec.dataset.i, bins = sec.querySelector(".chart.bins"), trend = sec.querySelector(".chart.trend");
    if (bins) { drawBins(prep(i), bins); bins.classList.remove("pending"); }
    if (trend) { drawTrend(i, trend); trend.classList.remove("pending"); }
  }

  var sections = document.querySelectorAll("section.feature");
  var drawer = KD.drawer = KD.lazy(sections, draw);

  // The per-bin table: built when its <details> is first opened (and the charts drawn if not yet).
  document.addEventListener("toggle", function (ev) {
    var d = ev.target;
    if (!(d instanceof HTMLDetailsElement) || !d.open || d.dataset.built) return;
    var sec = d.closest("section.feature");
    if (!sec) return;
    d.dataset.built = "1";
    drawer.one(sec);
    var p = prep(+sec.dataset.i), f = p.f;
    var rows = ["<table><thead><tr><th>Bin</th><th class=num>" + BASE + "</th><th class=num>share</th><th class=num>current</th>" +
      "<th class=num>share</th><th class=num>KL term</th></tr></thead><tbody>"];
    for (var j = 0; j < f.l.length; j++) {
      rows.push("<tr><td class=label>" + KD.esc(f.l[j]) + "</td><td class=num>" + KD.int(f.r[j]) + "</td><td class=num>" +
        KD.pct(p.refShare[j]) + "</td><td class=num>" + KD.int(f.c[j]) + "</td><td class=num>" + KD.pct(p.curShare[j]) +
        "</td><td class=num>" + (f.k[j] == null ? "dropped" : KD.num(f.k[j])) + "</td></tr>");
    }
    d.insertAdjacentHTML("beforeend", rows.join("") + "</tbody></table>");
  }, true);

  // Search and "drifted only": a summary row and its section are shown or hidden together.
  var summary = document.querySelectorAll("#summary tbody tr"), byName = {};
  Array.prototype.forEach.call(sections, function (s) { byName[s.id] = s; });
  var pairs = Array.prototype.map.call(summary, function (tr) {
    return [tr, byName[tr.querySelector("a").getAttribute("href").slice(1)]];
  });
  KD.filter(pairs.length,
    function (i) { return pairs[i][0].dataset.feature + " " + pairs[i][0].dataset.severity + " " + pairs[i][0].cells[2].textContent; },
    function (i) { var s = pairs[i][0].dataset.severity; return s === "warn" || s === "critical"; },
    function (i) { return pairs[i]; }, "features");
})();
