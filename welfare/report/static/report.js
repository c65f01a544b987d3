// welfare report: sortable tables, transcript and example filters, print expansion. No eval, no network.
(function () {
  "use strict";

  function cellValue(cell) {
    var raw = cell.getAttribute("data-sort");
    var text = raw !== null ? raw : cell.textContent.trim();
    var num = parseFloat(text.replace(/,/g, "").replace(/^\[/, ""));
    return isNaN(num) || !/^[\[\-+.\d]/.test(text) ? { n: null, t: text.toLowerCase() }
                                                   : { n: num, t: text };
  }

  function sortTable(table, column, th) {
    var body = table.tBodies[0];
    if (!body) { return; }
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    var headers = table.tHead ? table.tHead.rows[0].cells : [];
    for (var h = 0; h < headers.length; h++) { headers[h].removeAttribute("aria-sort"); }
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var rows = Array.prototype.slice.call(body.rows);
    var keyed = rows.map(function (row, i) {
      var cell = row.cells[column];
      return { row: row, i: i, v: cell ? cellValue(cell) : { n: null, t: "" } };
    });
    keyed.sort(function (a, b) {
      var r;
      if (a.v.n !== null && b.v.n !== null) { r = a.v.n - b.v.n; }
      else if (a.v.n !== null) { r = -1; }
      else if (b.v.n !== null) { r = 1; }
      else { r = a.v.t < b.v.t ? -1 : a.v.t > b.v.t ? 1 : 0; }
      if (!ascending) { r = -r; }
      return r !== 0 ? r : a.i - b.i;
    });
    keyed.forEach(function (k) { body.appendChild(k.row); });
  }

  function setupSortable() {
    var tables = document.querySelectorAll("table.sortable");
    Array.prototype.forEach.call(tables, function (table) {
      if (!table.tHead) { return; }
      var headers = table.tHead.rows[0].cells;
      Array.prototype.forEach.call(headers, function (th, column) {
        th.setAttribute("tabindex", "0");
        th.setAttribute("title", "Sort by this column");
        th.addEventListener("click", function () { sortTable(table, column, th); });
        th.addEventListener("keydown", function (e) {
          if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortTable(table, column, th); }
        });
      });
    });
  }

  function setupTranscriptFilter() {
    var box = document.getElementById("transcript-filters");
    if (!box) { return; }
    var selects = box.querySelectorAll("select");
    var items = document.querySelectorAll("#transcript-list .transcript");
    var counter = document.getElementById("transcript-count");
    function apply() {
      var want = {};
      Array.prototype.forEach.call(selects, function (s) { want[s.name] = s.value; });
      var shown = 0;
      Array.prototype.forEach.call(items, function (item) {
        var ok = true;
        Object.keys(want).forEach(function (key) {
          var value = want[key];
          if (!ok || value === "") { return; }
          if (key === "label") {
            var labels = (item.getAttribute("data-labels") || "").split(" ");
            ok = labels.indexOf(value) !== -1;
          } else {
            ok = item.getAttribute("data-" + key) === value;
          }
        });
        item.hidden = !ok;
        if (ok) { shown += 1; }
      });
      if (counter) { counter.textContent = String(shown); }
    }
    Array.prototype.forEach.call(selects, function (s) { s.addEventListener("change", apply); });
    var reset = document.getElementById("transcript-reset");
    if (reset) {
      reset.addEventListener("click", function () {
        Array.prototype.forEach.call(selects, function (s) { s.value = ""; });
        apply();
      });
    }
    apply();
  }

  function setupExampleFilter() {
    var box = document.getElementById("example-filters");
    if (!box) { return; }
    var select = box.querySelector("select");
    var items = document.querySelectorAll("#example-list .example");
    var counter = document.getElementById("example-count");
    function apply() {
      var shown = 0;
      Array.prototype.forEach.call(items, function (item) {
        var ok = select.value === "" || item.getAttribute("data-label") === select.value;
        item.hidden = !ok;
        if (ok) { shown += 1; }
      });
      if (counter) { counter.textContent = String(shown); }
    }
    select.addEventListener("change", apply);
    apply();
  }

  function setupPrint() {
    var opened = [];
    window.addEventListener("beforeprint", function () {
      Array.prototype.forEach.call(document.querySelectorAll("details:not([open])"), function (d) {
        if (!d.classList.contains("transcript")) { d.open = true; opened.push(d); }
      });
    });
    window.addEventListener("afterprint", function () {
      opened.forEach(function (d) { d.open = false; });
      opened = [];
    });
  }

  function ready() {
    setupSortable();
    setupTranscriptFilter();
    setupExampleFilter();
    setupPrint();
    document.documentElement.setAttribute("data-js", "ready");
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
}());
