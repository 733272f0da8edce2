/*
 * Browser side of the command-centre map (dash-leaflet functions referenced through
 * dash_extensions.javascript.Namespace("citybrain", "map")).
 *
 * Geometry is fetched once by URL; live refreshes only deliver value arrays (dcc.Store "cc-live"),
 * and `applyLive` restyles the features already on the map in place. Nothing is re-created, so
 * the operator's zoom, pan, open popup and layer choices survive every refresh. Functions shared
 * with the public embeds come from cbmap.js (loaded first).
 */
window.citybrain = window.citybrain || {};
(function (cb) {
    const state = cb.state = cb.state || {values: null, lang: document.documentElement.lang || "zh",
        registry: {traffic: {}, parking: {}, air_quality: {}}, map: null, refreshes: 0};
    const {esc, fmt, band, row, restyle, refreshPopup} = window.cbmap;

    function tr(text) { return window.cbmap.tr(state.lang, text); }
    function layerValues(name) { return state.values ? state.values[name] : null; }
    function isStale(name, i) {
        const v = layerValues(name);
        return !v || (v._staleSet && v._staleSet.has(i));
    }
    // The first layer of a new map (another city, or the page opened again) to draw adopts it:
    // its features are registered anew, and the incidents the browser already holds go on it.
    // Whichever layer draws first, whether or not the live values arrived before it.
    function adoptMap(map) {
        if (!map || state.map === map) { return; }
        state.map = map;
        state.incidentGroup = null;
        state.registry = {traffic: {}, parking: {}, air_quality: {}};
        if (state.values) { setTimeout(() => syncIncidents(state.values.incidents), 0); }
    }
    function remember(context, name, feature, layer) {
        if (context) { adoptMap(context.map); }
        state.registry[name][feature.properties.i] = layer;
    }
    function table(title, rows, note) { return window.cbmap.popup("cb", title, rows, note); }

    // --- traffic -----------------------------------------------------------------------------
    function roadStyle(feature, context) {
        const h = context.hideout, i = feature.properties.i, v = layerValues("traffic");
        return window.cbmap.roadStyle(band(h.bands, v ? v.ci[i] : null), isStale("traffic", i), feature.properties.cls);
    }
    function roadPopup(feature, h) {
        const i = feature.properties.i, v = layerValues("traffic") || {ci: [], speed: []}, L = h.labels;
        return table(feature.properties.name, [
            row(tr(L.index), fmt(v.ci[i])),
            row(tr(L.speed), fmt(v.speed[i], "km/h")),
            row(tr(L.free_flow), fmt(feature.properties.ff, "km/h")),
            row(tr(L.district), fmt(feature.properties.district)),
        ], isStale("traffic", i) ? tr(L.stale) : tr(L.synthetic));
    }
    function onEachRoad(feature, layer, context) {
        remember(context, "traffic", feature, layer);
        const h = context.hideout;
        layer.bindPopup(() => roadPopup(feature, h));
        layer._cbPopup = () => roadPopup(feature, h);
    }

    // --- parking -----------------------------------------------------------------------------
    function lotStyle(i, h) {
        const v = layerValues("parking");
        return window.cbmap.lotStyle(band(h.bands, v ? v.occ[i] : null), isStale("parking", i), 7);
    }
    function lotPopup(feature, h) {
        const i = feature.properties.i, p = feature.properties, L = h.labels;
        const v = layerValues("parking") || {occ: [], free: [], turnover: [], forecast_free: []};
        return table(p.name, [
            row(tr(L.capacity), fmt(p.capacity)),
            row(tr(L.free), fmt(v.free[i])),
            row(tr(L.occupancy), fmt(v.occ[i], "%")),
            row(tr(L.turnover), fmt(v.turnover[i], tr(L.turnover_unit))),
            row(tr(L.forecast), fmt(v.forecast_free[i])),
            row(tr(L.tariff), fmt(p.tariff, tr(L.tariff_unit))),
            row(tr(L.kind), tr(L.kinds[p.kind])),
        ], isStale("parking", i) ? tr(L.stale) : tr(L.simulated));
    }
    function lotToLayer(feature, latlng, context) {
        const h = context.hideout;
        const marker = L.circleMarker(latlng, lotStyle(feature.properties.i, h));
        remember(context, "parking", feature, marker);
        marker.bindPopup(() => lotPopup(feature, h));
        marker._cbPopup = () => lotPopup(feature, h);
        marker._cbRestyle = () => marker.setStyle(lotStyle(feature.properties.i, h));
        return marker;
    }
    function lotCluster(feature, latlng, index, context) {
        const count = feature.properties.point_count;
        const size = count < 20 ? 30 : count < 100 ? 38 : 46;
        const icon = L.divIcon({html: "<div><span>" + feature.properties.point_count_abbreviated + "</span></div>",
            className: "marker-cluster cb-cluster", iconSize: L.point(size, size)});
        return L.marker(latlng, {icon: icon});
    }

    // --- air quality -------------------------------------------------------------------------
    function stationIcon(i, h) {
        const v = layerValues("air_quality"), s = v ? v.stations[i] : null;
        const level = s && s.level ? h.levels[s.level - 1] : null;
        return window.cbmap.aqiIcon("cb", level, s ? s.aqi : null, isStale("air_quality", i));
    }
    function stationPopup(feature, h) {
        const i = feature.properties.i, p = feature.properties, L = h.labels;
        const v = layerValues("air_quality"), s = v ? v.stations[i] : null;
        const level = s && s.level ? h.levels[s.level - 1] : null;
        const rows = [row("AQI", fmt(s ? s.aqi : null) + (level ? " · " + esc(tr(level.name)) : ""))];
        for (const key of h.pollutants) {
            rows.push(row(tr(h.pollutant_labels[key]), "IAQI " + fmt(s ? s.iaqi[key] : null) + " <span class='cb-muted'>(" +
                fmt(s ? s.conc[key] : null, h.units[key]) + ")</span>"));
        }
        rows.push(row(tr(L.primary), s && s.primary.length ? s.primary.map(k => esc(tr(h.pollutant_labels[k]))).join(", ") : "—"));
        const name = state.lang === "en" && p.name_en ? p.name_en : p.name_zh;
        const advice = level ? tr(level.advice) : "";
        return table(name + " (" + p.code + ")", rows, (p.simulated ? tr(L.simulated_station) : tr(L.real_station)) +
            (advice ? " — " + advice : ""));
    }
    function stationToLayer(feature, latlng, context) {
        const h = context.hideout;
        const marker = L.marker(latlng, {icon: stationIcon(feature.properties.i, h)});
        remember(context, "air_quality", feature, marker);
        marker.bindPopup(() => stationPopup(feature, h));
        marker._cbPopup = () => stationPopup(feature, h);
        marker._cbRestyle = () => marker.setIcon(stationIcon(feature.properties.i, h));
        return marker;
    }

    // --- incidents: a marker group owned here, diffed by id on every refresh ---------------------
    function incidentIcon(r, h) {
        return L.divIcon({className: "cb-incident cb-sev-" + r.sev + " cb-status-" + r.status + (r.breach ? " cb-breach" : ""),
            iconSize: [26, 26],
            iconAnchor: [13, 13], html: "<img alt='' src='" + h.icon_base + r.kind + ".svg'>"});
    }
    function incidentPopup(r, h) {
        const L_ = h.labels, at = state.values ? state.values.at : Date.now() / 1000;
        const age = Math.max(0, Math.round((at - r.reported) / 60));
        return table(tr(h.kinds[r.kind]) + " #" + r.id, [
            row(tr(L_.severity), esc(tr(h.severities[r.sev - 1]))),
            row(tr(L_.status), esc(tr(h.statuses[r.status]))),
            row(tr(L_.age), age + " min"),
            row(tr(L_.district), fmt(r.district)),
            row(tr(L_.sla), slaText(r.dueAt, L_)),
        ], r.sim ? tr(L_.simulated) : "");
    }
    function slaText(dueAt, L_) {  // the next SLA deadline, counted from the browser's clock
        if (dueAt === null || dueAt === undefined) { return "—"; }
        const left = Math.round(dueAt - Date.now() / 1000);
        return left >= 0 ? left + " s" : esc(tr(L_.overdue)) + " " + Math.ceil(-left / 60) + " min";
    }
    function syncIncidents(data) {
        const h = state.incidentHideout, map = state.map;
        if (!h || !map || !data) { return; }
        if (!state.incidentGroup) { state.incidentGroup = L.layerGroup(); state.incidentMarkers = {}; }
        const group = state.incidentGroup, markers = state.incidentMarkers, seen = new Set();
        const at = state.values ? state.values.at : Date.now() / 1000;
        for (let k = 0; k < data.id.length; k++) {
            const r = {id: data.id[k], kind: data.kinds[data.kind[k]], sev: data.sev[k], status: data.statuses[data.status[k]],
                lon: data.lon[k], lat: data.lat[k], reported: at - data.age[k], district: data.districts[data.district[k]],
                sim: data.sim[k] === 1, breach: data.breach ? data.breach[k] === 1 : false,
                dueAt: data.due_at ? data.due_at[k] : null};
            seen.add(r.id);
            let m = markers[r.id];
            if (!m) {
                m = L.marker([r.lat, r.lon], {icon: incidentIcon(r, h), riseOnHover: true});
                m.bindPopup(() => incidentPopup(m._cbRow, h));
                markers[r.id] = m;
                if (!h.cluster) { group.addLayer(m); }
            } else if (m._cbRow.status !== r.status || m._cbRow.sev !== r.sev || m._cbRow.breach !== r.breach) {
                m.setIcon(incidentIcon(r, h));
            }
            m._cbRow = r;
            if (m.isPopupOpen()) { m.setPopupContent(incidentPopup(r, h)); }
        }
        for (const id of Object.keys(markers)) {
            if (!seen.has(Number(id))) { group.removeLayer(markers[id]); delete markers[id]; }
        }
        if (h.cluster) {
            if (state.clusterHooked !== map) { map.on("zoomend moveend", clusterIncidents); state.clusterHooked = map; }
            clusterIncidents();
        }
        showIncidents(state.incidentsVisible !== false);
        state.incidentCount = seen.size;
    }
    // At scale (SIM_SCALE, incident meta `cluster`) thousands of open incidents are grouped on a 60-px
    // grid below zoom 15, only within the view: a few dozen DOM markers instead of thousands.
    const CLUSTER_PX = 60, CLUSTER_MAX_ZOOM = 15;
    function clusterIncidents() {
        const map = state.map, group = state.incidentGroup;
        if (!map || !group || !state.incidentMarkers) { return; }
        const zoom = map.getZoom(), view = map.getBounds().pad(0.2), cells = new Map();
        for (const m of Object.values(state.incidentMarkers)) {
            const ll = m.getLatLng();
            if (!view.contains(ll)) { continue; }
            let key = m._cbRow.id;
            if (zoom < CLUSTER_MAX_ZOOM) {
                const p = map.project(ll, zoom);
                key = Math.floor(p.x / CLUSTER_PX) + ":" + Math.floor(p.y / CLUSTER_PX);
            }
            const cell = cells.get(key);
            if (cell) { cell.push(m); } else { cells.set(key, [m]); }
        }
        group.clearLayers();
        for (const members of cells.values()) {
            if (members.length === 1) { group.addLayer(members[0]); continue; }
            const bounds = L.latLngBounds(members.map(m => m.getLatLng())), n = members.length;
            const size = n < 20 ? 30 : n < 100 ? 38 : 46;
            const icon = L.divIcon({html: "<div><span>" + n + "</span></div>", iconSize: L.point(size, size),
                className: "marker-cluster cb-cluster cb-incident-cluster"});
            const marker = L.marker(bounds.getCenter(), {icon: icon});
            marker.on("click", () => map.fitBounds(bounds.pad(0.1)));
            group.addLayer(marker);
        }
    }
    function showIncidents(visible) {
        state.incidentsVisible = visible;
        if (!state.map || !state.incidentGroup) { return; }
        if (visible && !state.map.hasLayer(state.incidentGroup)) { state.incidentGroup.addTo(state.map); }
        if (!visible && state.map.hasLayer(state.incidentGroup)) { state.map.removeLayer(state.incidentGroup); }
    }
    function districtStyle(feature, context) {
        if (context) { adoptMap(context.map); }
        return context.hideout.style;
    }

    // --- live values -------------------------------------------------------------------------
    // A refresh brings each layer in full, or as a delta against the version ("v") the browser sent
    // back in cc-have: {base, changes: {field: [indices, values]}, stale_add, stale_del}. Only the
    // features whose values changed are restyled.
    function mergeArrays(old, incoming) {
        if (incoming.base === undefined) {
            incoming._staleSet = new Set(incoming.stale);
            return {values: incoming, changed: null};
        }
        if (!old || old.v !== incoming.base) { return null; }
        const changed = new Set();
        for (const field of Object.keys(incoming.changes)) {
            const arr = old[field], idx = incoming.changes[field][0], vals = incoming.changes[field][1];
            for (let k = 0; k < idx.length; k++) { arr[idx[k]] = vals[k]; changed.add(idx[k]); }
        }
        const stale = old._staleSet || new Set(old.stale);
        for (const i of incoming.stale_del) { stale.delete(i); changed.add(i); }
        for (const i of incoming.stale_add) { stale.add(i); changed.add(i); }
        old._staleSet = stale;
        old.stale = Array.from(stale);
        old.v = incoming.v;
        return {values: old, changed: Array.from(changed)};
    }
    function mergeIncidents(old, incoming) {
        if (incoming.base === undefined) { return incoming; }
        if (!old || old.v !== incoming.base) { return null; }
        const rows = new Map(), gone = new Set(incoming.remove), cols = ["kind", "sev", "status", "lon", "lat", "district", "sim",
            "ops", "breach", "due_at"];
        const lookups = {kind: "kinds", status: "statuses", district: "districts"};
        const named = (src, data, k) => {
            const r = {id: data.id[k], age: data.age[k]};
            for (const c of cols) { r[c] = lookups[c] ? src[lookups[c]][data[c][k]] : data[c][k]; }
            return r;
        };
        for (let k = 0; k < old.id.length; k++) {
            if (gone.has(old.id[k])) { continue; }
            const r = named(old, old, k);
            r.age += incoming.age_shift;
            rows.set(r.id, r);
        }
        for (let k = 0; k < incoming.rows.id.length; k++) { const r = named(incoming, incoming.rows, k); rows.set(r.id, r); }
        const out = {v: incoming.v, kinds: [], statuses: incoming.statuses || old.statuses, districts: [], id: [], age: []};
        for (const c of cols) { out[c] = []; }
        const index = {kind: new Map(), district: new Map(), status: new Map(out.statuses.map((s, i) => [s, i]))};
        for (const r of rows.values()) {
            out.id.push(r.id); out.age.push(r.age);
            for (const c of cols) {
                if (!lookups[c]) { out[c].push(r[c]); continue; }
                let i = index[c].get(r[c]);
                if (i === undefined) { i = out[lookups[c]].length; out[lookups[c]].push(r[c]); index[c].set(r[c], i); }
                out[c].push(i);
            }
        }
        return out;
    }
    function applyLive(data, incidentMeta) {
        const noUpdate = window.dash_clientside.no_update;
        if (!data) { return noUpdate; }
        const prev = state.values || {};
        const next = {at: data.at}, changed = {}, have = state.have = {};
        for (const name of ["traffic", "parking", "air_quality"]) {
            const merged = data[name] ? mergeArrays(prev[name], data[name]) : {values: prev[name], changed: []};
            next[name] = merged ? merged.values : prev[name];  // cannot apply: keep, and ask for it in full
            changed[name] = merged ? merged.changed : [];
            have[name] = merged && next[name] ? next[name].v : null;
        }
        const inc = data.incidents ? mergeIncidents(prev.incidents, data.incidents) : prev.incidents;
        next.incidents = inc || prev.incidents;
        have.incidents = inc ? inc.v : null;
        state.values = next;
        state.refreshes += 1;
        if (incidentMeta) { state.incidentHideout = incidentMeta; }
        syncIncidents(next.incidents);
        for (const name of Object.keys(state.registry)) {
            const registry = state.registry[name], only = changed[name];
            const layers = only ? only.map(i => registry[i]).filter(Boolean) : Object.values(registry);
            for (const layer of layers) { restyle(layer); }
        }
        // The open popup shows values that may have changed whether or not its feature's colour did.
        const popup = state.map && state.map._popup;
        if (popup && popup._source) { refreshPopup(popup._source); }
        return data.at;
    }
    // Dash renderer hook (app.py): the map refresh request carries the versions the browser holds,
    // as an extra key (pages/command_centre.py `_have`), so the server answers with only what changed.
    function requestPre(payload) {
        if (payload && typeof payload.output === "string" && /(^|\.)(cc|wall)-live\.data/.test(payload.output) && state.have) {
            payload.cb_have = state.have;
        }
    }

    function setLang(lang) {
        lang = lang === "en" ? "en" : "zh";
        state.lang = lang;
        document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
        document.documentElement.dataset.lang = lang;
        return lang;
    }
    function setTheme(theme) {
        theme = theme === "dark" ? "dark" : "light";
        document.documentElement.dataset.theme = theme;
        document.documentElement.dataset.agThemeMode = theme;  // dash-ag-grid's themes read data-ag-theme-mode
        return theme;
    }

    cb.requestPre = requestPre;
    cb.map = {roadStyle, onEachRoad, lotToLayer, lotCluster, stationToLayer, districtStyle};
    window.dash_clientside = Object.assign({}, window.dash_clientside, {
        citybrain: {
            applyLive: applyLive,
            gateMap: window.cbmap.gate(),
            gatePanels: window.cbmap.gate(),
            applyLang: (lang) => setLang(lang),
            applyOverlays: (overlays, name) => { showIncidents((overlays || []).includes(name)); return (overlays || []).length; },
            applyTheme: (theme) => setTheme(theme),
            toggleLang: (n, lang) => (n ? (lang === "en" ? "zh" : "en") : window.dash_clientside.no_update),
            toggleTheme: (n, theme) => (n ? (theme === "dark" ? "light" : "dark") : window.dash_clientside.no_update),
        },
    });
})(window.citybrain);
