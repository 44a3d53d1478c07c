// kldrift index page: a sparkline per run (the drift share of the 30 runs up to it, that run ringed),
// drawn with uPlot when its row nears the viewport; search, "runs with alerts only", sortable columns.
(function () {
  "use strict";
  var D = KD.data, C = KD.colors, SPAN = 30;
  var hourly = D.x.some(function (x) { return x % 86400 !== 0; });

  function draw(box) {
    var tr = box.closest("tr"), i = +tr.dataset.i, from = Math.max(0, i - SPAN + 1);
    var xs = D.x.slice(from, i + 1), ys = D.share.slice(from, i + 1), last = xs.length - 1;
    var sev = KD.sev[D.s[i]] || "ok";
    var tip = KD.tooltip(box.parentNode);
    box.parentNode.style.position = "relative";
    new uPlot({
      width: 132, height: 30, legend: { show: false }, padding: [5, 6, 5, 6],
      cursor: { points: { show: false }, drag: { x: false, y: false }, y: false },
      hooks: { setCursor: [function (u) {
        var k = u.cursor.idx;
        tip(u, k == null || ys[k] == null ? null : "<b>" + KD.stamp(xs[k], hourly) + "</b><br>drift share " + KD.pct(ys[k]));
      }] },
      scales: { x: { time: false, range: [xs[0] - (last ? 0 : 1), xs[last] + (last ? 0 : 1)] }, y: { range: [0, 1] } },
      axes: [{ show: false, size: 0 }, { show: false, size: 0 }],
      series: [{}, { stroke: C.line, width: 1, points: { show: false } },
        { stroke: C[sev], width: 0, paths: function () { return null; },
          points: { show: true, size: 7, fill: C[sev], stroke: "#000", width: 1 } }]
    }, [xs, ys, ys.map(function (v, k) { return k === last ? v : null; })], box);
    box.classList.remove("pending");
  }

  KD.drawer = KD.lazy(document.querySelectorAll("#runs .spark"), draw);

  var rows = Array.prototype.slice.call(document.querySelectorAll("#runs tbody tr"));
  KD.filter(rows.length,
    function (i) { var d = rows[i].querySelector(".drifted"); return rows[i].textContent + " " + (d ? d.title : ""); },
    function (i) { var s = rows[i].dataset.severity; return s === "warn" || s === "critical"; },
    function (i) { return [rows[i]]; }, "runs");
})();
