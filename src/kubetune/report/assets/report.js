/* kubetune report: draws the charts from the JSON data island with the inlined Apache ECharts (SVG renderer).
 * Every string from the run (trial ids, config values, metric names) is data: it reaches the page only as
 * ECharts' SVG text or through esc() in the tooltips, never as markup. After each chart is drawn its container
 * gets data-drawn="1" and <body data-rendered> counts the charts drawn; errors land in #report-errors. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var endings = data.endings;
  var charts = [];

  function esc(value) {
    return String(value).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function fmt(value) {
    if (value === null || value === undefined || value === "-") return "–";
    return typeof value === "number" ? String(Number(value.toPrecision(6))) : String(value);
  }
  function colour(ending) { return (endings[ending] || { colour: "#9e9e9e" }).colour; }
  function named(ending) { return (endings[ending] || { label: ending }).label; }
  function empty(text) {
    return { title: { text: text, left: "center", top: "middle", textStyle: { fontSize: 13, color: "#777", fontWeight: "normal" } } };
  }

  function draw(id, option) {
    var node = document.getElementById(id);
    try {
      var chart = echarts.init(node, null, { renderer: "svg" });
      chart.setOption(Object.assign({ animation: false, textStyle: { fontFamily: "sans-serif" } }, option));
      charts.push(chart);
      node.setAttribute("data-drawn", "1");
      document.body.setAttribute("data-rendered", String(charts.length));
    } catch (e) {
      window.kubetuneReportError(id + ": " + (e && e.stack ? e.stack : e));
    }
  }

  function progressChart() {
    var p = data.progress;
    if (!p.iterations.length) return empty("no trial reported " + data.metric);
    var panels = [{ key: "iterations", name: "trial-iterations (results reported, all trials)" }];
    if (p.gpu_hours) panels.push({ key: "gpu_hours", name: "GPU-hours" });
    var h = 100 / panels.length;
    return {
      tooltip: { trigger: "axis", formatter: function (ps) {
        var q = ps[0];
        return esc(panels[q.seriesIndex].name) + ": " + esc(fmt(q.value[0])) + "<br>best " + esc(data.metric) + ": " + esc(fmt(q.value[1]));
      } },
      grid: panels.map(function (_, i) { return { left: 70, right: 30, top: (i * h + 6) + "%", height: (h - 18) + "%" }; }),
      xAxis: panels.map(function (panel, i) { return { type: "value", gridIndex: i, name: panel.name, nameLocation: "middle", nameGap: 26, scale: true }; }),
      yAxis: panels.map(function (_, i) { return { type: "value", gridIndex: i, name: "best " + data.metric, scale: true }; }),
      series: panels.map(function (panel, i) {
        return { type: "line", step: "end", xAxisIndex: i, yAxisIndex: i, data: p[panel.key], symbolSize: 5, lineStyle: { width: 2, color: "#1565c0" }, itemStyle: { color: "#1565c0" } };
      })
    };
  }

  function curvesChart() {
    var curves = data.curves.filter(function (c) { return c.y.length; });
    if (!curves.length) return empty("no trial reported " + data.metric);
    var legend = Object.keys(endings).filter(function (e) { return curves.some(function (c) { return c.ending === e; }); });
    return {
      legend: { top: 0, data: legend.map(function (e) { return { name: named(e), itemStyle: { color: colour(e) } }; }) },
      tooltip: { trigger: "item", formatter: function (q) {
        var c = curves[q.seriesIndex];
        return "trial " + esc(c.trial) + " (" + esc(named(c.ending)) + ")<br>" + (c.detail ? esc(c.detail) + "<br>" : "") +
          "iteration " + esc(fmt(q.value[0])) + ": " + esc(data.metric) + " = " + esc(fmt(q.value[1]));
      } },
      grid: { left: 70, right: 30, top: 40, bottom: 45 },
      xAxis: { type: "value", name: "training_iteration", nameLocation: "middle", nameGap: 26, minInterval: 1 },
      yAxis: { type: "value", name: data.metric, scale: true },
      series: curves.map(function (c) {
        return {
          type: "line", name: named(c.ending), showSymbol: c.y.length < 2, symbolSize: 5, connectNulls: false,
          lineStyle: { width: 1.5, color: colour(c.ending), opacity: 0.8 }, itemStyle: { color: colour(c.ending) },
          emphasis: { focus: "series" },
          data: c.x.map(function (x, i) { return [x, c.y[i] === null ? "-" : c.y[i]]; })
        };
      })
    };
  }

  function parallelChart() {
    var par = data.parallel, dims = par.dimensions, rows = par.rows;
    var scores = rows.map(function (r) { return r.values[dims.length - 1]; }).filter(function (v) { return v !== null; });
    if (!rows.length || dims.length < 2) return empty("no hyperparameters to compare");
    var option = {
      parallel: { left: 70, right: 150, top: 50, bottom: 30 },
      parallelAxis: dims.map(function (d, i) {
        var axis = { dim: i, name: d.name, type: d.type, nameTextStyle: { fontSize: 12 },
          axisLabel: { width: 90, overflow: "truncate" } };
        if (d.type === "category") axis.data = d.categories;
        if (d.type !== "category" && i < dims.length - 1) { axis.min = d.min; axis.max = d.max; }
        if (i === dims.length - 1) axis.scale = true;
        return axis;
      }),
      tooltip: { trigger: "item", formatter: function (q) {
        var r = rows[q.dataIndex];
        return "trial " + esc(r.trial) + " (" + esc(named(r.ending)) + ")<br>" + dims.map(function (d, i) {
          return esc(d.name) + ": " + esc(fmt(r.values[i]));
        }).join("<br>");
      } },
      series: [{ type: "parallel", smooth: false, lineStyle: { width: 2, opacity: 0.7 },
        data: rows.map(function (r) { return r.values.map(function (v) { return v === null ? "-" : v; }); }) }]
    };
    if (scores.length) {
      option.visualMap = { type: "continuous", dimension: dims.length - 1, min: Math.min.apply(null, scores),
        max: Math.max.apply(null, scores), calculable: true, right: 5, top: "middle", itemHeight: 120,
        text: [data.metric, ""], inRange: { color: ["#d73027", "#fee08b", "#1a9850"] } };
      if (data.mode === "min") option.visualMap.inRange.color = ["#1a9850", "#fee08b", "#d73027"];
    }
    return option;
  }

  function importanceChart() {
    var imp = data.importance;
    if (!imp.params.length) return empty(imp.note || "no importance to show");
    var ps = imp.params.slice().reverse();
    return {
      tooltip: { trigger: "item", formatter: function (q) { return esc(q.name) + ": " + esc(fmt(q.value)); } },
      grid: { left: 120, right: 40, top: 20, bottom: 40 },
      xAxis: { type: "value", name: "importance (PED-ANOVA, " + imp.trials + " finished trials)", nameLocation: "middle", nameGap: 26, max: 1 },
      yAxis: { type: "category", data: ps.map(function (p) { return p[0]; }), axisLabel: { width: 110, overflow: "truncate" } },
      series: [{ type: "bar", data: ps.map(function (p) { return p[1]; }), itemStyle: { color: "#1565c0" },
        label: { show: true, position: "right", formatter: function (q) { return fmt(q.value); } } }]
    };
  }

  function reasonsChart() {
    var keys = Object.keys(endings).filter(function (e) { return data.reasons[e]; });
    if (!keys.length) return empty("no trial ended");
    return {
      tooltip: { trigger: "item", formatter: function (q) { return esc(q.name) + ": " + esc(q.value) + " trials"; } },
      grid: { left: 50, right: 20, top: 20, bottom: 40 },
      xAxis: { type: "category", data: keys.map(named) },
      yAxis: { type: "value", minInterval: 1, name: "trials" },
      series: [{ type: "bar", label: { show: true, position: "top" },
        data: keys.map(function (e) { return { value: data.reasons[e], itemStyle: { color: colour(e) } }; }) }]
    };
  }

  function paretoChart() {
    var p = data.pareto;
    if (!p.points.length) return empty("no trial reported " + p.x.name + " and " + p.y.name);
    function series(front) {
      var points = p.points.filter(function (q) { return q.front === front; });
      return { type: "scatter", name: front ? "Pareto front" : "dominated", symbolSize: front ? 10 : 7,
        itemStyle: { color: front ? "#c62828" : "#9e9e9e", opacity: front ? 1 : 0.7 }, z: front ? 3 : 2,
        data: points.map(function (q) { return { value: [q.x, q.y], trial: q.trial }; }) };
    }
    var arrows = function (axis) { return axis.name + (axis.mode === "max" ? " (max \u2192 better)" : " (min \u2190 better)"); };
    var all = [series(false), series(true)];
    // the boundary of what the front dominates: vertical first where a larger x is better, else horizontal
    if (p.line.length > 1) {
      all.push({ type: "line", name: "Pareto front", step: p.x.mode === "max" ? "start" : "end", data: p.line,
        showSymbol: false, silent: true, lineStyle: { color: "#c62828", width: 1.5, type: "dashed" }, z: 1 });
    }
    return {
      legend: { top: 0, data: ["Pareto front", "dominated"] },
      tooltip: { trigger: "item", formatter: function (q) {
        return "trial " + esc(q.data.trial) + "<br>" + esc(p.x.name) + ": " + esc(fmt(q.value[0])) + "<br>" +
          esc(p.y.name) + ": " + esc(fmt(q.value[1]));
      } },
      grid: { left: 70, right: 40, top: 40, bottom: 45 },
      xAxis: { type: "value", name: arrows(p.x), nameLocation: "middle", nameGap: 26, scale: true },
      yAxis: { type: "value", name: arrows(p.y), scale: true },
      series: all
    };
  }

  if (data.pareto) draw("chart-pareto", paretoChart());
  draw("chart-progress", progressChart());
  draw("chart-curves", curvesChart());
  draw("chart-parallel", parallelChart());
  draw("chart-importance", importanceChart());
  draw("chart-reasons", reasonsChart());
  window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
})();
