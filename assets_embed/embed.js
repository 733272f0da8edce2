/*
 * Browser side of the public embeds (dash-leaflet functions: Namespace("cbembed", "map")).
 *
 * The same idea as the operator map, with the same shared functions (cbmap.js): geometry comes once
 * by URL; each live refresh delivers only public value arrays (dcc.Store "em-live"), and `apply`
 * restyles the features already on the map. Nothing is re-created, so the viewer's zoom and pan survive.
 */
window.cbembed = window.cbembed || {};
(function (cb) {
    const state = cb.state = {values: null, map: null, meta: null, group: null, markers: {}, refreshes: 0,
        registry: {traffic: {}, parking: {}, air_quality: {}}};
    const {STALE, esc, fmt, band, row} = window.cbmap;
    function values(name) { return state.values ? state.values[name] : null; }
    function stale(name, i) { const v = values(name); return !v || (v._stale && v._stale.has(i)); }
    function remember(context, name, feature, layer) {
        if (context && context.map) { state.map = context.map; }
        state.registry[name][feature.properties.i] = layer;
    }
    function popup(title, rows, note) { return window.cbmap.popup("em", title, rows, note); }
    function simNote(L, isStale) { return isStale ? L.stale : L.simulated; }

    // --- traffic: congestion by road segment ------------------------------------------------------
    function roadStyle(feature, context) {
        const h = context.hideout, i = feature.properties.i, v = values("traffic"), s = stale("traffic", i);
        return window.cbmap.roadStyle(band(h.bands, v ? v.ci[i] : null), s, feature.properties.cls);
    }
    function roadPopup(feature, h) {
        const i = feature.properties.i, v = values("traffic"), ci = v ? v.ci[i] : null, b = band(h.bands, ci);
        return popup(feature.properties.name, [row(h.labels.index, fmt(ci) + (b ? " · " + esc(b.name) : ""))],
            simNote(h.labels, stale("traffic", i)));
    }
    function onEachRoad(feature, layer, context) {
        remember(context, "traffic", feature, layer);
        const h = context.hideout;
        window.cbmap.livePopup(layer, () => roadPopup(feature, h));
    }

    // --- parking: free spaces by car park ---------------------------------------------------------
    function lotStyle(i, h) {
        const v = values("parking");
        return window.cbmap.lotStyle(band(h.bands, v ? v.occ[i] : null), stale("parking", i), 5);
    }
    function lotPopup(feature, h) {
        const p = feature.properties, i = p.i, v = values("parking"), L = h.labels;
        const occ = v ? v.occ[i] : null, b = band(h.bands, occ);
        return popup(p.name, [
            row(L.free, fmt(v ? v.free[i] : null) + " / " + fmt(p.capacity)),
            row(L.occupancy, fmt(occ, "%") + (b ? " · " + esc(b.name) : "")),
        ], simNote(L, stale("parking", i)));
    }
    function lotToLayer(feature, latlng, context) {
        const h = context.hideout, i = feature.properties.i;
        const marker = L.circleMarker(latlng, lotStyle(i, h));
        remember(context, "parking", feature, marker);
        window.cbmap.livePopup(marker, () => lotPopup(feature, h));
        marker._cbRestyle = () => marker.setStyle(lotStyle(i, h));
        return marker;
    }

    // --- air quality: AQI by station with the HJ 633-2012 advice -----------------------------------
    function stationLevel(i, h) {
        const v = values("air_quality");
        return v && v.level[i] ? h.levels[v.level[i] - 1] : null;
    }
    function stationIcon(i, h) {
        const v = values("air_quality");
        return window.cbmap.aqiIcon("em", stationLevel(i, h), v ? v.aqi[i] : null, stale("air_quality", i));
    }
    function stationPopup(feature, h) {
        const p = feature.properties, i = p.i, v = values("air_quality"), level = stationLevel(i, h), L = h.labels;
        const primary = v && v.primary[i] && v.primary[i].length ? v.primary[i].map(k => esc(h.pollutant_labels[k] || k)).join(", ") : "—";
        const name = (state.meta && state.meta.lang === "en" && p.name_en) ? p.name_en : p.name_zh;
        const rows = [row("AQI", fmt(v ? v.aqi[i] : null) + (level ? " · " + esc(level.name) : "")), row(L.primary, primary)];
        if (level) { rows.push(row(L.advice, esc(level.advice))); }
        const note = stale("air_quality", i) ? L.stale : [p.simulated ? L.simulated_station : "", L.simulated].filter(Boolean).join(" · ");
        return popup(name + " (" + p.code + ")", rows, note);
    }
    function stationToLayer(feature, latlng, context) {
        const h = context.hideout, i = feature.properties.i;
        const marker = L.marker(latlng, {icon: stationIcon(i, h), keyboard: false, zIndexOffset: 20000});  // above notice groups
        remember(context, "air_quality", feature, marker);
        window.cbmap.livePopup(marker, () => stationPopup(feature, h));
        marker._cbRestyle = () => marker.setIcon(stationIcon(i, h));
        return marker;
    }

    // --- incidents: public notices, a marker group diffed by public id ------------------------------
    function localTime(t, m) {
        return new Date((t + m.cst_offset) * 1000).toISOString().slice(11, 16) + " " + m.labels.cst;
    }
    function noticeIcon(r, m) {
        return L.divIcon({className: "em-notice", iconSize: [24, 24], iconAnchor: [12, 12],
            html: "<div style='border-color:" + (m.colors[r.status] || STALE) + "'><img alt='' src='" +
                m.icon_base + encodeURIComponent(r.kind) + ".svg'></div>"});
    }
    function noticePopup(r, m) {
        return popup(m.kinds[r.kind] || r.kind, [
            row(m.labels.status, esc(m.statuses[r.status] || r.status)),
            row(m.labels.reported, esc(localTime(r.reported, m))),
        ], [m.labels.approx, m.labels.simulated].filter(Boolean).join(" · "));
    }
    function syncNotices(rows) {
        const m = state.meta, map = state.map;
        if (!m || !map || !rows) { return; }
        if (!state.group) { state.group = L.layerGroup().addTo(map); state.markers = {}; state.drawn = new Map(); }
        if (state.drawHooked !== map) { map.on("zoomend moveend resize", drawNotices); state.drawHooked = map; }
        const seen = new Set();
        for (const v of rows) {
            const r = {id: v[0], kind: v[1], status: v[2], lon: v[3], lat: v[4], reported: v[5]};
            seen.add(r.id);
            let marker = state.markers[r.id];
            if (!marker) {
                marker = L.marker([r.lat, r.lon], {icon: noticeIcon(r, m), keyboard: false});
                window.cbmap.livePopup(marker, () => noticePopup(marker._emRow, m));
                state.markers[r.id] = marker;
            } else if (marker._emRow.status !== r.status) {
                marker.setIcon(noticeIcon(r, m));
                marker._emRev = (marker._emRev || 0) + 1;
            }
            marker._emRow = r;
            window.cbmap.refreshPopup(marker);
        }
        for (const id of Object.keys(state.markers)) {
            if (!seen.has(id)) { delete state.markers[id]; }
        }
        state.noticeCount = seen.size;
        drawNotices();
    }
    // Grouped below street zoom as on the operator map (cbmap.js), a group coloured by its most
    // urgent status: notices carry no severity.
    const GROUP_PX = 60, STREET_ZOOM = 15, RANK = {new: 4, dispatched: 3, on_scene: 1};
    function drawNotices() {
        const map = state.map, group = state.group;
        if (!map || !group) { return; }
        const zoom = map.getZoom(), grouping = zoom < STREET_ZOOM, wanted = new Map();
        const cells = window.cbmap.gridCells(map, Object.values(state.markers), grouping ? GROUP_PX : 1, map.getBounds().pad(0.2));
        for (const [key, members] of cells) {
            if (!grouping || members.length === 1) {
                for (const mk of members) { wanted.set("i" + mk._emRow.id, () => mk); }
                continue;
            }
            let rank = 1, rev = 0;
            for (const mk of members) { rank = Math.max(rank, RANK[mk._emRow.status] || 1); rev += mk._emRev || 0; }
            const id = "c" + zoom + ":" + key + ":" + members.map(mk => mk._emRow.id).join(",") + ":" + rev;
            wanted.set(id, () => window.cbmap.clusterMarker(map, members, rank, "em-group", 0));
        }
        state.drawn = window.cbmap.syncGroup(group, state.drawn || new Map(), wanted);
    }
    function districtStyle(feature, context) {
        if (context && context.map && state.map !== context.map) {
            state.map = context.map;
            state.group = null;
            state.drawn = null;
            if (state.values && state.values.incidents) { setTimeout(() => syncNotices(state.values.incidents), 0); }
        }
        return context.hideout.style;
    }

    // --- live values ---------------------------------------------------------------------------------
    // Sensors registered since the view was drawn: the refresh's geometry version ("geo") moved, so the
    // sensor layers are fetched again, once, at the new version (public/embed.py geometry_config).
    function followGeometry(data, config) {
        if (!config || !config.geometry || !data.geo) { return; }
        if (!state.geo || state.geo.city !== config.city) { state.geo = {city: config.city, v: config.geo}; }
        if (state.geo.v === data.geo || !window.dash_clientside.set_props) { return; }
        state.geo.v = data.geo;
        for (const [id, url] of Object.entries(config.geometry)) {
            window.dash_clientside.set_props(id, {url: url + "?v=" + encodeURIComponent(data.geo)});
        }
    }
    function apply(data, config) {
        if (!data) { return window.dash_clientside.no_update; }
        followGeometry(data, config);
        for (const name of ["traffic", "parking", "air_quality"]) {
            if (data[name]) { data[name]._stale = new Set(data[name].stale); }
        }
        state.values = data;
        state.meta = config ? config.incidents : state.meta;
        window.cbmap.legend("em-legend-host");
        state.refreshes += 1;
        if (data.incidents) { syncNotices(data.incidents); }
        for (const name of Object.keys(state.registry)) {
            for (const layer of Object.values(state.registry[name])) { window.cbmap.restyle(layer); }
        }
        return data.at;
    }

    cb.map = {roadStyle, onEachRoad, lotToLayer, stationToLayer, districtStyle};
    window.dash_clientside = Object.assign({}, window.dash_clientside, {cbembed: {apply: apply, gate: window.cbmap.gate()}});
})(window.cbembed);
