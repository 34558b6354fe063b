import StrataCore

/// The colours of the map's markers and legend: one table, read by the legend's template, the
/// style sheet and (through the legend's `data-color`) the map's script.
enum WebPalette {
    static let conditions: [(value: String, color: String)] = [
        ("good", "#2e7d32"), ("fair", "#9e9d24"), ("poor", "#ef6c00"), ("very-bad", "#c62828"),
        ("destroyed", "#212121"), ("unknown", "#757575"),
    ]
    static let states: [(value: String, color: String)] = [
        ("in-situ", "#1565c0"), ("moved-for-safekeeping", "#00838f"), ("missing", "#6a1b9a"), ("looted", "#ad1457"),
        ("damaged", "#ef6c00"), ("destroyed", "#212121"), ("recovered", "#2e7d32"), ("unknown", "#757575"),
    ]
    /// A record with a location but neither a condition nor a state.
    static let none = (cssClass: "condition-none", color: "#9e9e9e")

    /// The marker class and colour of a located record: a site by its condition, an artefact by
    /// its state (else its condition).
    static func marker(kind: String?, state: String?, condition: String?) -> (cssClass: String, color: String) {
        if kind == "artefact", let s = state, let c = states.first(where: { $0.value == s }) { return ("state-\(s)", c.color) }
        if let s = condition, let c = conditions.first(where: { $0.value == s }) { return ("condition-\(s)", c.color) }
        return none
    }
}

/// The style sheet and the map's script, served under `/web/static/`.
enum WebAssets {
    static let styleSheet: String = {
        var css = """
            :root { color-scheme: light; --ink: #1d1d1b; --muted: #5f5f5a; --line: #d8d6cf; --accent: #8a3b12; }
            * { box-sizing: border-box; }
            body { margin: 0; font: 16px/1.5 system-ui, sans-serif; color: var(--ink); background: #fbfaf7; }
            header.top { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; padding: .6rem 1rem;
              border-bottom: 1px solid var(--line); background: #f1efe8; }
            header.top nav { display: flex; flex-wrap: wrap; gap: .75rem; }
            header.top .brand { font-weight: 700; color: var(--accent); text-decoration: none; }
            form.signout { margin-left: auto; }
            main { max-width: 60rem; margin: 0 auto; padding: 1rem; }
            footer { max-width: 60rem; margin: 0 auto; padding: 1rem; font-size: .85rem; color: var(--muted); }
            h1 { font-size: 1.6rem; overflow-wrap: anywhere; }
            a { color: #0b5394; }
            dl div { display: grid; grid-template-columns: minmax(8rem, 14rem) 1fr; gap: .5rem; padding: .25rem 0;
              border-bottom: 1px solid var(--line); }
            dt { font-weight: 600; color: var(--muted); }
            dd { margin: 0; overflow-wrap: anywhere; }
            dd.long { white-space: pre-wrap; }
            table { border-collapse: collapse; width: 100%; }
            td, th { text-align: left; padding: .3rem .4rem; border-bottom: 1px solid var(--line); vertical-align: top; }
            .kind, .short, .media-type, .size { color: var(--muted); font-size: .85rem; }
            .tag { display: inline-block; padding: 0 .4rem; border-radius: .6rem; background: #e8e4d8; font-size: .85rem; }
            .conflict-mark { color: #b00020; font-weight: 700; }
            section.conflicts { border: 2px solid #b00020; border-radius: .4rem; padding: .5rem 1rem; background: #fff5f5; }
            .conflict-value { font-weight: 600; white-space: pre-wrap; overflow-wrap: anywhere; }
            .problem { color: #b00020; font-weight: 600; }
            ul.records { list-style: none; padding: 0; }
            ul.records li { padding: .35rem 0; border-bottom: 1px solid var(--line); overflow-wrap: anywhere; }
            form.filters, form.signin { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: end; margin-bottom: 1rem; }
            form.signin { flex-direction: column; align-items: stretch; max-width: 24rem; }
            label { display: flex; flex-direction: column; font-size: .9rem; color: var(--muted); }
            input, select, button { font: inherit; padding: .3rem .5rem; }
            figure.attachment { margin: .5rem 0; }
            img.thumbnail { display: block; max-width: 12rem; max-height: 9rem; width: auto; height: auto; object-fit: contain;
              border: 1px solid var(--line); }
            ol.timeline { padding-left: 1.2rem; font-size: .9rem; }
            ol.timeline li { overflow-wrap: anywhere; }
            .map { height: 60vh; min-height: 18rem; border: 1px solid var(--line); background: #eef1f3; }
            .legend ul { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: .3rem 1rem; }
            .swatch { display: inline-block; width: .9rem; height: .9rem; border-radius: 50%; margin-right: .3rem;
              vertical-align: middle; border: 1px solid #0006; }
            path.strata-graticule { stroke: #9aa5ad; }
            @media (max-width: 40rem) {
              dl div { grid-template-columns: 1fr; gap: 0; }
              main { padding: .6rem; }
              h1 { font-size: 1.3rem; }
            }

            """
        for (value, color) in WebPalette.conditions {
            css += ".swatch.condition-\(value), path.strata-marker.condition-\(value) { background: \(color); fill: \(color); }\n"
        }
        for (value, color) in WebPalette.states {
            css += ".swatch.state-\(value), path.strata-marker.state-\(value) { background: \(color); fill: \(color); }\n"
        }
        css += ".swatch.\(WebPalette.none.cssClass), path.strata-marker.\(WebPalette.none.cssClass) { background: \(WebPalette.none.color); fill: \(WebPalette.none.color); }\n"
        return css
    }()

    /// The map page's own script (the page has no inline script): markers from the page's
    /// GeoJSON twin, coloured from the legend, with a popup linking to each record; a tile
    /// layer only when the server was given one, else a graticule so the points still show.
    static let mapScript = """
        (function () {
          "use strict";
          var el = document.getElementById("map");
          if (!el || typeof L === "undefined") { return; }
          var colours = {};
          document.querySelectorAll(".legend-item").forEach(function (li) {
            colours[li.getAttribute("data-class")] = li.getAttribute("data-color");
          });
          var map = L.map(el, { zoomSnap: 0.25 });
          var tiles = el.getAttribute("data-tiles");
          if (tiles) { L.tileLayer(tiles, { maxZoom: 19 }).addTo(map); }
          function markerClass(p) {
            if (p.kind === "artefact" && p.state && colours["state-" + p.state]) { return "state-" + p.state; }
            if (p.condition && colours["condition-" + p.condition]) { return "condition-" + p.condition; }
            return "condition-none";
          }
          function graticule(bounds) {
            var span = Math.max(bounds.getNorth() - bounds.getSouth(), bounds.getEast() - bounds.getWest(), 0.01);
            var step = Math.pow(10, Math.floor(Math.log10(span)));
            if (span / step < 3) { step = step / 5; }
            var south = Math.floor((bounds.getSouth() - span) / step) * step;
            var north = Math.ceil((bounds.getNorth() + span) / step) * step;
            var west = Math.floor((bounds.getWest() - span) / step) * step;
            var east = Math.ceil((bounds.getEast() + span) / step) * step;
            var style = { className: "strata-graticule", weight: 1, opacity: 0.6, interactive: false };
            for (var lat = south; lat <= north + step / 2 && lat <= 90; lat += step) {
              L.polyline([[lat, west], [lat, east]], style).addTo(map);
            }
            for (var lon = west; lon <= east + step / 2; lon += step) {
              L.polyline([[Math.max(south, -90), lon], [Math.min(north, 90), lon]], style).addTo(map);
            }
          }
          fetch(el.getAttribute("data-geojson"), { credentials: "same-origin", headers: { "Accept": "application/geo+json" } })
            .then(function (r) { if (!r.ok) { throw new Error("map data: HTTP " + r.status); } return r.json(); })
            .then(function (data) {
              var points = [];
              (data.features || []).forEach(function (f) {
                if (!f.geometry || f.geometry.type !== "Point") { return; }
                var c = f.geometry.coordinates, p = f.properties || {};
                var cls = markerClass(p);
                var marker = L.circleMarker([c[1], c[0]], {
                  radius: 9, weight: 2, color: "#222", fillOpacity: 0.9,
                  fillColor: colours[cls] || "#9e9e9e", className: "strata-marker " + cls
                }).addTo(map);
                var box = document.createElement("div");
                var link = document.createElement("a");
                link.href = el.getAttribute("data-records") + encodeURIComponent(p.id || f.id);
                link.textContent = p.title || p.id;
                box.appendChild(link);
                var what = document.createElement("div");
                what.textContent = [p.kind, p.kind === "artefact" ? p.state : p.condition].filter(Boolean).join(" · ");
                box.appendChild(what);
                marker.bindPopup(box);
                points.push([c[1], c[0]]);
              });
              if (points.length === 0) { map.setView([20, 0], 2); } else { map.fitBounds(L.latLngBounds(points).pad(0.3), { maxZoom: 16 }); }
              if (!tiles) { graticule(points.length ? L.latLngBounds(points) : map.getBounds()); }
              el.setAttribute("data-markers", String(points.length));
            })
            .catch(function (e) {
              var p = document.createElement("p");
              p.className = "problem";
              p.textContent = String(e.message || e);
              el.parentNode.insertBefore(p, el);
            });
        })();
        """
}
