/*
 * The map's browser functions shared by the operator's command centre (assets/citybrain.js) and the
 * public embeds (assets_embed/embed.js): band lookup, escaping, popup tables, the sensor layers' styles,
 * the AQI label, restyling a feature in place and the refresh gate. Pure functions of what they are
 * given; no data of either map lives here.
 *
 * This file is the embed's own asset and reaches the operator app through the link assets/cbmap.js.
 * Dash loads a folder's scripts in name order, so it runs before citybrain.js and embed.js.
 */
window.cbmap = (function () {
    const STALE = "#9e9e9e";
    const WEIGHT = {motorway: 5, primary: 4, secondary: 3, local: 2};

    function esc(s) {
        return String(s === null || s === undefined ? "" : s).replace(/[&<>"']/g,
            c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
    }
    function fmt(v, unit) { return (v === null || v === undefined) ? "—" : esc(v) + (unit ? " " + esc(unit) : ""); }
    // A text as the browser shows it: a [en, zh] pair in the page's language, a plain string as it is.
    function tr(lang, text) { return Array.isArray(text) ? (lang === "en" ? text[0] : text[1]) : text; }
    // The band holding value v (bands ascending by their exclusive upper bound; null = no bound); null without a value.
    function band(bands, v) {
        if (v === null || v === undefined) { return null; }
        for (const b of bands) { if (b.high === null || v < b.high) { return b; } }
        return bands[bands.length - 1];
    }
    function row(label, value) { return "<tr><th>" + esc(label) + "</th><td>" + value + "</td></tr>"; }
    // prefix: the stylesheet's ("cb" operator, "em" embed)
    function popup(prefix, title, rows, note) {
        return "<div class='" + prefix + "-popup'><div class='" + prefix + "-popup-title'>" + esc(title) + "</div><table>" +
            rows.join("") + "</table>" + (note ? "<div class='" + prefix + "-popup-note'>" + esc(note) + "</div>" : "") + "</div>";
    }
    function roadStyle(b, stale, roadClass) {
        return {color: stale || !b ? STALE : b.color, weight: WEIGHT[roadClass] || 2,
            opacity: stale ? 0.6 : 0.9, dashArray: stale ? "4 4" : null};
    }
    function lotStyle(b, stale, radius) {
        return {radius: radius, color: "#263238", weight: 1, fillOpacity: stale ? 0.45 : 0.9,
            fillColor: stale || !b ? STALE : b.color};
    }
    function aqiIcon(prefix, level, aqi, stale) {
        const bg = stale || !level ? STALE : level.color, fg = level && level.level <= 3 ? "#111" : "#fff";
        return L.divIcon({className: prefix + "-aqi", iconSize: [34, 22], iconAnchor: [17, 11],
            html: "<div style='background:" + bg + ";color:" + fg + "'>" + (aqi === null || aqi === undefined ? "—" : esc(aqi)) + "</div>"});
    }
    // A feature already on the map takes its new style (markers through their own _cbRestyle) and its open popup new values.
    function refreshPopup(layer) {
        if (layer._map && layer.isPopupOpen && layer.isPopupOpen() && layer._cbPopup) { layer.setPopupContent(layer._cbPopup()); }
    }
    function restyle(layer) {
        if (!layer._map) { return; }
        if (layer._cbRestyle) { layer._cbRestyle(); }
        else if (layer.setStyle && layer.feature) {
            const parent = layer._eventParents && Object.values(layer._eventParents)[0];
            if (parent && parent.options.style) { layer.setStyle(parent.options.style(layer.feature)); }
        }
        refreshPopup(layer);
    }
    // Skip a refresh tick while the previous refresh still runs (Dash would drop its result), but
    // not forever: a request lost to a network error never clears its busy flag.
    // A popup built when it opens and rebuilt in place (refreshPopup) when the live values change.
    // Bound on the first click: bindPopup makes a Leaflet Popup per feature at once (100,000 road
    // segments at Shanghai scale, ~10 ms of each page open at the default scale).
    function livePopup(layer, make) {
        layer._cbPopup = make;
        layer.once("click", openLivePopup);
        return layer;
    }
    function openLivePopup(e) {
        const layer = e.target;
        if (!layer.getPopup()) { layer.bindPopup(layer._cbPopup); }
        layer.openPopup(e.latlng);
    }
    function gate() {
        let busySince = null;
        return (n, busy) => {
            const now = Date.now();
            if (busy) {
                busySince = busySince || now;
                if (now - busySince < 30000) { return window.dash_clientside.no_update; }
            }
            busySince = null;
            return n;
        };
    }
    // --- point groups (incidents on the operator map, notices on the embeds) ----------------------
    // Markers that live in the browser (diffed by id on each refresh) are grouped here rather than by
    // dash-leaflet's supercluster, which only sees GeoJSON it fetched itself and, with a filter, draws
    // nothing (dash-leaflet issue #274). Points are binned on a pixel grid of the current zoom, only
    // within `view`; each point lands in exactly one cell, so the counts add up to what is in view.
    function gridCells(map, markers, px, view) {
        const zoom = map.getZoom(), cells = new Map();
        for (const m of markers) {
            const ll = m.getLatLng();
            if (view && !view.contains(ll)) { continue; }
            const p = map.project(ll, zoom), key = Math.floor(p.x / px) + ":" + Math.floor(p.y / px);
            const cell = cells.get(key);
            if (cell) { cell.push(m); } else { cells.set(key, [m]); }
        }
        return cells;
    }
    function clusterMarker(map, members, rank, cls, needs) {
        // rank: 1..4, the worst member's; needs: how many members need an operator (badge, no animation)
        const n = members.length, bounds = L.latLngBounds(members.map(m => m.getLatLng()));
        const size = n < 10 ? 32 : n < 50 ? 38 : n < 200 ? 44 : 50;
        // the badge is drawn by CSS from data-needs, so the element's text stays the count alone
        const icon = L.divIcon({html: "<div" + (needs ? " data-needs='" + needs + "'" : "") + "><span>" + n + "</span></div>",
            iconSize: L.point(size, size),
            className: cls + " cb-rank-" + rank + (needs ? " cb-has-needs" : "")});
        const marker = L.marker(bounds.getCenter(), {icon: icon, zIndexOffset: 1000 * rank, keyboard: false});
        marker.on("click", () => map.fitBounds(bounds.pad(0.1)));
        marker._cbCount = n;
        marker._cbMembers = members;
        return marker;
    }
    // Density view: one canvas circle per cell, its opacity and colour by the cell's share of the busiest.
    const DENSITY = ["#fee391", "#fec44f", "#fe9929", "#ec7014", "#cc4c02", "#8c2d04"];
    function densityCircle(members, most, px) {
        let lat = 0, lng = 0;
        for (const m of members) { const ll = m.getLatLng(); lat += ll.lat; lng += ll.lng; }
        const share = members.length / most, k = Math.min(DENSITY.length - 1, Math.floor(share * DENSITY.length));
        return L.circleMarker([lat / members.length, lng / members.length], {radius: px * 0.62, stroke: false,
            fillColor: DENSITY[k], fillOpacity: 0.25 + 0.5 * share, interactive: false});
    }
    // Puts exactly `wanted` (key -> layer factory) on `group`, keeping layers whose key is unchanged:
    // a refresh that changes nothing touches no DOM.
    function syncGroup(group, drawn, wanted) {
        for (const [key, layer] of drawn) {
            if (!wanted.has(key)) { group.removeLayer(layer); drawn.delete(key); }
        }
        for (const [key, make] of wanted) {
            if (!drawn.has(key)) { const layer = make(); drawn.set(key, layer); group.addLayer(layer); }
        }
        return drawn;
    }
    // --- the map legend (components/legend.py) -------------------------------------------------------
    // Drawn once from its host's data-legend: static content as plain DOM rather than hundreds of Dash
    // components the renderer would re-check on every store update. A text is a string, or an [en, zh]
    // pair shown through the page's language classes, as components/i18n.py `tp` does.
    function el(tag, cls, parent) {
        const e = document.createElement(tag);
        if (cls) { e.className = cls; }
        if (parent) { parent.appendChild(e); }
        return e;
    }
    function legendText(parent, text) {
        if (!Array.isArray(text)) { parent.appendChild(document.createTextNode(text)); return; }
        el("span", "lang-en", parent).textContent = text[0];
        el("span", "lang-zh", parent).textContent = text[1];
    }
    function legendRow(parent, r, look) {
        if (r.note !== undefined) { legendText(el("div", look.note, parent), r.note); return; }
        const line = el("div", look.row, parent);
        if (r.hint !== undefined) {  // a tooltip is plain text: in the page's language when hovered
            line.addEventListener("mouseenter", () => { line.title = tr(document.documentElement.dataset.lang, r.hint); });
        }
        if (r.swatch) {
            const sw = el("span", look.swatch + "swatch " + look.swatch + r.shape, line);
            if (r.shape === "ring") { sw.style.borderColor = r.swatch; } else { sw.style.background = r.swatch; }
        } else if (r.icon) {
            const img = el("img", look.icon, line);
            img.alt = "";
            img.src = r.icon;
        } else if (r.group) {
            el("span", null, el("span", look.swatch + "group " + r.group, line)).textContent = "12";
        } else if (r.needs) {
            el("span", look.swatch + "needs", line);
        } else if (r.density) {  // the density view's ramp, light (few) to dark (the busiest cell)
            el("span", look.swatch + "swatch " + look.swatch + "ramp", line).style.background =
                "linear-gradient(90deg, " + DENSITY.join(", ") + ")";
        }
        legendText(line, r.text);
        if (r.range !== undefined) { el("span", look.range, line).textContent = r.range; }
    }
    function legend(hostId) {
        const host = document.getElementById(hostId);
        if (!host || host.dataset.built === "1" || !host.dataset.legend) { return null; }
        const spec = JSON.parse(host.dataset.legend), look = spec.look;
        const details = el("details", look.legend);
        details.id = spec.id;
        details.open = true;
        legendText(el("summary", null, details), spec.summary);
        const body = el("div", look.body, details);
        for (const b of spec.blocks) {
            const block = el("div", look.block, body);
            if (look.block) { block.id = "legend-" + b.layer; }
            legendText(el("div", look.title, block), b.title);
            for (const r of b.rows) { legendRow(block, r, look); }
        }
        for (const r of spec.stale) { legendRow(body, r, look); }
        for (const n of spec.notes) { legendText(el("div", look.note, body), n); }
        host.appendChild(details);
        host.dataset.built = "1";
        foldLegend(details, host.closest(".em-map-wrap, .map-panel") || host.parentElement);
        return details;
    }
    // Open or folded as this browser last left it; the first time, open unless it would hide much of a
    // small map (an embed in a narrow iframe, a phone). A person's choice is kept; our own is not.
    function foldLegend(details, wrap) {
        const key = "cb-legend-open:" + details.id;
        let kept = null;
        try { kept = localStorage.getItem(key); } catch (e) { /* storage blocked: decide by size */ }
        if (kept === "0" || kept === "1") {
            details.open = kept === "1";
        } else if (wrap) {
            // measured at the next frame, when the page lays itself out anyway: measuring now forced a
            // layout of the half-built page (~15 ms of a page open); the check runs before that paint
            requestAnimationFrame(() => {
                if (details.offsetHeight > 0.6 * wrap.offsetHeight || details.offsetWidth > 0.45 * wrap.offsetWidth) {
                    details.open = false;
                }
            });
        }
        details.querySelector("summary").addEventListener("click", () => {
            // the click toggles `open` after this handler: remember the state it is going to
            try { localStorage.setItem(key, details.open ? "0" : "1"); } catch (e) { /* not kept */ }
        });
    }
    return {STALE, esc, fmt, tr, band, row, popup, roadStyle, lotStyle, aqiIcon, restyle, refreshPopup, livePopup, gate,
        gridCells, clusterMarker, densityCircle, syncGroup, DENSITY, legend};
})();
