// Dashboard charts: ECharts (installed by `make install` from npm) over the data the page
// carries in #chart-data. Without the library the tables below each chart stay the report.
(function () {
  "use strict";

  function data() {
    var el = document.getElementById("chart-data");
    return el ? JSON.parse(el.textContent) : null;
  }

  function drill(base, extra) {
    window.location.href = base + (base.indexOf("?") < 0 ? "?" : "&") + extra;
  }

  function volume(el, d) {
    var s = d.series;
    var chart = window.echarts.init(el);
    chart.setOption({
      tooltip: { trigger: "axis" },
      legend: { top: 0 },
      grid: { left: 48, right: 56, top: 36, bottom: 64 },
      dataZoom: [{ type: "inside" }, { type: "slider", height: 18, bottom: 8 }],
      xAxis: { type: "category", data: s.labels },
      yAxis: [{ type: "value", minInterval: 1 }, { type: "value", name: "min", splitLine: { show: false } }],
      series: [
        { name: el.dataset.labelCreated, type: "bar", data: s.created },
        { name: el.dataset.labelResolved, type: "bar", data: s.resolved },
        { name: el.dataset.labelBacklog, type: "line", data: s.backlog, smooth: true },
        { name: el.dataset.labelFrt, type: "line", yAxisIndex: 1, data: s.frt_median, connectNulls: true }
      ]
    });
    chart.on("click", function (p) {
      var metric = p.seriesIndex === 1 ? "resolved" : "created";
      drill(d.drill, "metric=" + metric + "&bucket=" + encodeURIComponent(s.labels[p.dataIndex]));
    });
    return chart;
  }

  function pareto(el, d) {
    var p = d.pareto;
    if (!p || !p.x || !p.x.length) { el.hidden = true; return null; }
    var chart = window.echarts.init(el);
    chart.setOption({
      tooltip: { trigger: "axis", valueFormatter: function (v) { return v + "%"; } },
      legend: { top: 0 },
      grid: { left: 48, right: 24, top: 36, bottom: 40 },
      xAxis: { type: "category", name: el.dataset.labelX, nameLocation: "middle", nameGap: 26,
               data: p.x.map(function (x) { return x + "%"; }) },
      yAxis: { type: "value", max: 100, axisLabel: { formatter: "{value}%" } },
      series: [
        { name: el.dataset.labelValue, type: "line", areaStyle: { opacity: 0.15 }, data: p.value_share,
          markLine: { silent: true, symbol: "none", data: [{ yAxis: 80 }] } },
        { name: el.dataset.labelContacts, type: "line", data: p.contact_share }
      ]
    });
    return chart;
  }

  function start() {
    var d = data();
    if (!d || !window.echarts) { return; }
    document.body.classList.add("has-charts");
    var made = [];
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      var kind = el.dataset.chart;
      var chart = kind === "volume" ? volume(el, d) : kind === "pareto" ? pareto(el, d) : null;
      if (chart) { made.push(chart); }
    });
    window.addEventListener("resize", function () { made.forEach(function (c) { c.resize(); }); });
  }

  // Filters apply as soon as one changes; the URL carries them (bookmark, share, back button).
  function filters() {
    var form = document.getElementById("rep-filters");
    if (!form) { return; }
    form.addEventListener("change", function (e) {
      if (e.target.name === "from" || e.target.name === "to") { form.elements.period.value = "custom"; }
      form.submit();
    });
  }

  document.addEventListener("DOMContentLoaded", function () { filters(); start(); });
})();
