/* Qingling console: charts, the map, confirmations. No inline script is allowed (CSP): data comes in
   <script type="application/json"> blocks and data-* attributes. */
(function () {
  "use strict";

  function data(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function charts() {
    if (typeof Chart === "undefined") { return; }
    Chart.defaults.animation = false;
    var d = data("dashboard-data");
    var age = document.getElementById("age-chart");
    if (age && d) {
      new Chart(age, {type: "bar", data: {labels: d.age.labels, datasets: [
        {label: d.names.age, data: d.age.values, backgroundColor: ["#68d391", "#f6e05e", "#f6ad55", "#fc8181", "#c53030"]}]},
        options: {maintainAspectRatio: false, plugins: {legend: {display: false}}}});
    }
    var trend = document.getElementById("trend-chart");
    if (trend && d) {
      new Chart(trend, {data: {labels: d.trend.labels, datasets: [
        {type: "bar", label: d.names.reported, data: d.trend.reported, backgroundColor: "#f6ad55"},
        {type: "bar", label: d.names.closed, data: d.trend.closed, backgroundColor: "#68d391"},
        {type: "line", label: d.names.open, data: d.trend.open, borderColor: "#0b5cab", backgroundColor: "#0b5cab", yAxisID: "y"}]},
        options: {maintainAspectRatio: false}});
    }
    var credit = document.getElementById("credit-chart");
    var c = data("credit-data");
    if (credit && c) {
      new Chart(credit, {type: "line", data: {labels: c.labels, datasets: [
        {label: c.name, data: c.values, borderColor: "#0b5cab", backgroundColor: "#0b5cab", stepped: true}]},
        options: {maintainAspectRatio: false, scales: {y: {suggestedMin: c.min, suggestedMax: c.max}}}});
    }
  }

  function confirmations() {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
      });
    });
    document.querySelectorAll("input[data-check-all]").forEach(function (box) {
      box.addEventListener("change", function () {
        document.querySelectorAll("input[name='" + box.getAttribute("data-check-all") + "']").forEach(function (other) {
          other.checked = box.checked;
        });
      });
    });
  }

  function map() {
    var node = document.getElementById("map");
    var cfg = data("map-config");
    if (!node || !cfg || typeof L === "undefined") { return; }
    var m = L.map(node, {preferCanvas: true}).setView(cfg.center, cfg.zoom);
    if (cfg.tile_url) {
      L.tileLayer(cfg.tile_url, {subdomains: cfg.subdomains, maxZoom: cfg.max_zoom, attribution: cfg.attribution}).addTo(m);
    }
    var colours = {major: "#9b2c2c", general: "#dd6b20", subject: "#3182ce"};
    var layers = {};
    fetch(cfg.outlines_url, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (geo) {
      var outlines = L.geoJSON(geo, {style: {color: "#4a5568", weight: 1.5, fill: true, fillOpacity: 0.04},
        onEachFeature: function (f, layer) { layer.bindTooltip(f.properties.name); }});
      outlines.addTo(m);
      node.setAttribute("data-outlines", String(geo.features.length));
      layers[cfg.names.outlines] = outlines;
      if (!cfg.tile_url && outlines.getBounds().isValid() && !cfg.fit_points) { m.fitBounds(outlines.getBounds()); }
      return fetch(cfg.points_url, {credentials: "same-origin"});
    }).then(function (r) { return r.json(); }).then(function (points) {
      var hazards = L.layerGroup(), subjects = L.layerGroup(), bounds = [];
      points.hazards.forEach(function (p) {
        var marker = L.circleMarker([p.lat, p.lon], {radius: p.severity === "major" ? 7 : 5, color: colours[p.severity],
          fillColor: colours[p.severity], fillOpacity: 0.8, weight: 1});
        marker.bindPopup(popup(p));
        marker.addTo(hazards);
        bounds.push([p.lat, p.lon]);
      });
      points.subjects.forEach(function (p) {
        var marker = L.circleMarker([p.lat, p.lon], {radius: 3, color: colours.subject, fillOpacity: 0.5, weight: 1});
        marker.bindPopup(popup(p));
        marker.addTo(subjects);
      });
      hazards.addTo(m);
      if (cfg.show_subjects) { subjects.addTo(m); }
      layers[cfg.names.hazards] = hazards;
      layers[cfg.names.subjects] = subjects;
      L.control.layers(null, layers).addTo(m);
      node.setAttribute("data-hazard-points", String(points.hazards.length));
      node.setAttribute("data-subject-points", String(points.subjects.length));
      if (cfg.fit_points && bounds.length) { m.fitBounds(bounds, {maxZoom: 15}); }
      var note = document.getElementById("map-note");
      if (note && points.truncated) { note.hidden = false; }
    });
  }

  function popup(p) {
    var box = document.createElement("div");
    var link = document.createElement("a");
    link.href = p.url;
    link.textContent = p.title;
    box.appendChild(link);
    if (p.detail) {
      var line = document.createElement("div");
      line.textContent = p.detail;
      box.appendChild(line);
    }
    return box;
  }

  document.addEventListener("DOMContentLoaded", function () {
    confirmations();
    charts();
    map();
  });
}());
