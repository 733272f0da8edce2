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
        const style = window.cbmap.roadStyle(band(h.bands, v ? v.ci[i] : null), isStale("traffic", i), feature.properties.cls);
        return forecasting() ? Object.assign(style, {dashArray: "10 6"}) : style;  // forecast steps: dashed
    }
    // Forecast steps of the time slider (issue 19): values carry an 80 % interval beside them.
    function forecasting() { return !!(state.values && state.values.forecast); }
    const INTERVAL = ["80 % interval", "80% 区间"], FORECAST_NOTE = ["FORECAST", "预测"];
    function intervalRow(v, i, lowKey, highKey, unit) {
        return v && v[lowKey] ? [row(tr(INTERVAL), fmt(v[lowKey][i]) + " – " + fmt(v[highKey][i], unit))] : [];
    }
    function roadPopup(feature, h) {
        const i = feature.properties.i, v = layerValues("traffic") || {ci: [], speed: []}, L = h.labels;
        return table(feature.properties.name, [
            row(tr(L.index), fmt(v.ci[i])),
            ...intervalRow(v, i, "ci_low", "ci_high"),
            row(tr(L.speed), fmt(v.speed[i], "km/h")),
            row(tr(L.free_flow), fmt(feature.properties.ff, "km/h")),
            row(tr(L.district), fmt(feature.properties.district)),
        ], forecasting() ? tr(FORECAST_NOTE) : isStale("traffic", i) ? tr(L.stale) : tr(L.synthetic));
    }
    function onEachRoad(feature, layer, context) {
        remember(context, "traffic", feature, layer);
        const h = context.hideout;
        window.cbmap.livePopup(layer, () => roadPopup(feature, h));
    }

    // --- parking -----------------------------------------------------------------------------
    function lotStyle(i, h) {
        const v = layerValues("parking");
        const style = window.cbmap.lotStyle(band(h.bands, v ? v.occ[i] : null), isStale("parking", i), 7);
        // (setStyle merges: the live style must clear the forecast's dashes itself)
        return Object.assign(style, forecasting() ? {dashArray: "3 3", weight: 2, color: "#1c7ed6"} : {dashArray: null});
    }
    function lotPopup(feature, h) {
        const i = feature.properties.i, p = feature.properties, L = h.labels;
        const v = layerValues("parking") || {occ: [], free: [], turnover: [], forecast_free: []};
        return table(p.name, [
            row(tr(L.capacity), fmt(p.capacity)),
            row(tr(L.free), fmt(v.free[i])),
            ...intervalRow(v, i, "free_low", "free_high"),
            row(tr(L.occupancy), fmt(v.occ[i], "%")),
            row(tr(L.turnover), fmt(v.turnover[i], tr(L.turnover_unit))),
            row(tr(L.forecast), fmt(v.forecast_free[i])),
            row(tr(L.tariff), fmt(p.tariff, tr(L.tariff_unit))),
            row(tr(L.kind), tr(L.kinds[p.kind])),
        ], forecasting() ? tr(FORECAST_NOTE) : isStale("parking", i) ? tr(L.stale) : tr(L.simulated));
    }
    function lotToLayer(feature, latlng, context) {
        const h = context.hideout;
        const marker = L.circleMarker(latlng, lotStyle(feature.properties.i, h));
        remember(context, "parking", feature, marker);
        window.cbmap.livePopup(marker, () => lotPopup(feature, h));
        marker._cbRestyle = () => marker.setStyle(lotStyle(feature.properties.i, h));
        return marker;
    }
    function lotCluster(feature, latlng, index, context) {
        const count = feature.properties.point_count;
        const size = count < 20 ? 24 : count < 100 ? 30 : 36;
        const icon = L.divIcon({html: "<div><span>" + feature.properties.point_count_abbreviated + "</span></div>",
            className: "marker-cluster cb-cluster", iconSize: L.point(size, size)});
        return L.marker(latlng, {icon: icon, zIndexOffset: -20000});  // under the incidents and stations
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
        if (s && s.low !== undefined) { rows.push(row(tr(INTERVAL), fmt(s.low) + " – " + fmt(s.high))); }
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
        // Few and small: kept above the incident markers and groups so their AQI stays readable.
        const marker = L.marker(latlng, {icon: stationIcon(feature.properties.i, h), zIndexOffset: 20000});
        remember(context, "air_quality", feature, marker);
        window.cbmap.livePopup(marker, () => stationPopup(feature, h));
        marker._cbRestyle = () => marker.setIcon(stationIcon(feature.properties.i, h));
        return marker;
    }

    // --- incidents: a marker group owned here, diffed by id on every refresh ---------------------
    // Only what needs an operator pulses: new, past its SLA deadline, or severity 3 and above.
    function needsAction(r) { return r.status === "new" || r.breach || r.sev >= 3; }
    function incidentIcon(r, h) {
        return L.divIcon({className: "cb-incident cb-sev-" + r.sev + " cb-status-" + r.status + (r.breach ? " cb-breach" : "") +
            (needsAction(r) ? " cb-needs" : ""), iconSize: [26, 26],
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
        if (!state.incidentGroup) { state.incidentGroup = L.layerGroup(); state.incidentMarkers = {}; state.drawn = new Map(); }
        const markers = state.incidentMarkers, seen = new Set();
        const at = state.values ? state.values.at : Date.now() / 1000;
        for (let k = 0; k < data.id.length; k++) {
            const r = {id: data.id[k], kind: data.kinds[data.kind[k]], sev: data.sev[k], status: data.statuses[data.status[k]],
                lon: data.lon[k], lat: data.lat[k], reported: at - data.age[k], district: data.districts[data.district[k]],
                sim: data.sim[k] === 1, breach: data.breach ? data.breach[k] === 1 : false,
                dueAt: data.due_at ? data.due_at[k] : null, ops: data.ops ? data.ops[k] === 1 : false};
            seen.add(r.id);
            let m = markers[r.id];
            if (!m) {
                m = L.marker([r.lat, r.lon], {icon: incidentIcon(r, h), riseOnHover: true});
                window.cbmap.livePopup(m, () => incidentPopup(m._cbRow, h));
                markers[r.id] = m;
            } else if (m._cbRow.status !== r.status || m._cbRow.sev !== r.sev || m._cbRow.breach !== r.breach) {
                m.setIcon(incidentIcon(r, h));
                m._cbRev = (m._cbRev || 0) + 1;  // a group holding it is redrawn (its colour or badge may change)
            }
            m._cbRow = r;
            refreshPopup(m);
        }
        for (const id of Object.keys(markers)) {
            if (!seen.has(Number(id))) { delete markers[id]; }
        }
        if (state.drawHooked !== map) { map.on("zoomend moveend resize", drawIncidents); state.drawHooked = map; }
        drawIncidents();
        showIncidents(state.incidentsVisible !== false);
        state.incidentCount = seen.size;
    }

    // --- what is drawn: groups below street zoom, single markers above it, or a density view -------
    // Grouping is on unless INCIDENT_CLUSTER=0 (incident meta `cluster`). Only incidents within the
    // view (padded by 20 %) are drawn, and only those passing the map's filters.
    const GROUP_PX = 60, STREET_ZOOM = 15, DENSITY_PX = 24;
    function passes(r, f) {
        if (!f) { return true; }
        if (f.kind && f.kind.length && !f.kind.includes(r.kind)) { return false; }
        if (f.sev && !f.sev.includes(r.sev)) { return false; }
        if (f.status && !f.status.includes(r.status)) { return false; }
        return (!f.act || needsAction(r)) && (!f.mine || r.ops);
    }
    function drawIncidents() {
        const map = state.map, group = state.incidentGroup, h = state.incidentHideout;
        if (!map || !group || !state.incidentMarkers || !h) { return; }
        currentFilter(h);
        const view = map.getBounds().pad(0.2), zoom = map.getZoom(), f = state.filter;
        const shown = Object.values(state.incidentMarkers).filter(m => passes(m._cbRow, f));
        const wanted = new Map(), drawn = {clusters: 0, inClusters: 0, single: 0, density: 0};
        if (state.incidentView === "density") {
            const cells = window.cbmap.gridCells(map, shown, DENSITY_PX, view);
            let most = 1;
            for (const members of cells.values()) { most = Math.max(most, members.length); }
            for (const [key, members] of cells) {
                wanted.set("d" + zoom + ":" + key + ":" + members.length + ":" + most,
                    () => window.cbmap.densityCircle(members, most, DENSITY_PX));
                drawn.density += members.length;
            }
        } else {
            const grouping = h.cluster !== false && zoom < STREET_ZOOM;
            const cells = window.cbmap.gridCells(map, shown, grouping ? GROUP_PX : 1, view);
            for (const [key, members] of cells) {
                if (!grouping || members.length === 1) {
                    for (const m of members) { wanted.set("i" + m._cbRow.id, () => m); drawn.single += 1; }
                    continue;
                }
                let worst = 1, needs = 0, rev = 0;
                for (const m of members) {
                    worst = Math.max(worst, m._cbRow.sev);
                    needs += needsAction(m._cbRow) ? 1 : 0;
                    rev += m._cbRev || 0;
                }
                const id = "c" + zoom + ":" + key + ":" + members.map(m => m._cbRow.id).join(",") + ":" + rev;
                wanted.set(id, () => window.cbmap.clusterMarker(map, members, worst, "cb-incident-cluster", needs));
                drawn.clusters += 1;
                drawn.inClusters += members.length;
            }
        }
        state.drawn = window.cbmap.syncGroup(group, state.drawn || new Map(), wanted);
        state.incidentDrawn = drawn;
        state.drawnView = view;
        state.incidentShown = shown.filter(m => view.contains(m.getLatLng())).length;
    }
    function showIncidents(visible) {
        state.incidentsVisible = visible;
        if (!state.map || !state.incidentGroup) { return; }
        if (visible && !state.map.hasLayer(state.incidentGroup)) { state.incidentGroup.addTo(state.map); }
        if (!visible && state.map.hasLayer(state.incidentGroup)) { state.map.removeLayer(state.incidentGroup); }
    }
    // The map's filters (written HTML over the map, components/map_filters.py: native boxes, read here
    // on change) and the view are kept in the address with replaceState (no reload, no history entry):
    // a reload or a shared link opens the same view with the same filters.
    function setFilter(f) {
        state.filter = {kind: f.kind || [], sev: (f.sev || []).map(Number), status: f.status || [],
            act: !!f.act, mine: !!f.mine};
        state.incidentView = f.view === "density" ? "density" : "groups";
    }
    function readFilters(form) {
        const ticked = (name) => Array.from(form.querySelectorAll("input[name='" + name + "']:checked"), (i) => i.value);
        const flags = ticked("flags");
        setFilter({kind: ticked("kind"), sev: ticked("sev"), status: ticked("status"),
            act: flags.includes("act"), mine: flags.includes("mine"), view: ticked("view")[0]});
    }
    function currentFilter(h) {
        // the boxes once written (a new page has new ones); until then what the page opened with
        const form = document.getElementById("cc-filters");
        if (form && form !== state.filterForm && form.querySelector("input")) {
            state.filterForm = form;
            readFilters(form);
        } else if (form !== state.filterForm && h.filter && state.filterMeta !== h) {
            state.filterMeta = h;
            setFilter(h.filter);
        }
    }
    document.addEventListener("change", (e) => {
        const form = e.target instanceof Element ? e.target.closest("#cc-filters") : null;
        if (!form) { return; }
        state.filterForm = form;
        readFilters(form);
        drawIncidents();
        writeUrl();
    });
    // The city menu (pages/command_centre.py) folds when a click lands elsewhere, or on Escape.
    function foldMenus(keep) {
        document.querySelectorAll("details.city-menu[open]").forEach((menu) => {
            if (!keep || !menu.contains(keep)) { menu.open = false; }
        });
    }
    document.addEventListener("click", (e) => foldMenus(e.target instanceof Node ? e.target : null));
    document.addEventListener("keydown", (e) => { if (e.key === "Escape") { foldMenus(null); } });
    let urlTimer = null;
    function writeUrl() {
        clearTimeout(urlTimer);
        urlTimer = setTimeout(() => {
            const map = state.map, f = state.filter, h = state.incidentHideout, defaults = h && h.filter_defaults;
            if (!map || !map._container || !map._container.isConnected || !f || !defaults) { return; }
            const q = new URLSearchParams(window.location.search), c = map.getCenter();
            const put = (key, value, dflt) => { if (value === dflt) { q.delete(key); } else { q.set(key, value); } };
            q.set("z", String(map.getZoom()));
            q.set("lat", c.lat.toFixed(5));
            q.set("lon", c.lng.toFixed(5));
            put("type", f.kind.join(","), "");
            put("sev", f.sev.join(","), defaults.sev.join(","));
            put("status", f.status.join(","), defaults.status.join(","));
            put("act", [f.act ? "act" : "", f.mine ? "mine" : ""].filter(Boolean).join(","), "");
            put("view", state.incidentView, "groups");
            const next = window.location.pathname + "?" + q.toString().replace(/%2C/g, ",") + window.location.hash;
            if (next !== window.location.pathname + window.location.search + window.location.hash) {
                window.history.replaceState(window.history.state, "", next);
            }
        }, 250);
    }
    function districtStyle(feature, context) {
        if (context && context.map && !context.map._cbViewHooked) {
            context.map._cbViewHooked = true;
            context.map.on("moveend", writeUrl);
        }
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
        next.forecast = data.forecast || null;
        state.values = next;
        state.refreshes += 1;
        window.cbmap.legend("cc-legend-host");
        document.body.classList.toggle("cb-forecast", !!data.forecast);
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
        // Nothing for Dash to store: an output that changed would cost the renderer a re-check of every
        // component on the page, once per refresh (bench/page_cost.py).
        return window.dash_clientside.no_update;
    }
    // Dash renderer hook (app.py): the map refresh request carries the versions the browser holds,
    // as an extra key (pages/command_centre.py `_have`), so the server answers with only what changed.
    function requestPre(payload) {
        if (payload && typeof payload.output === "string" && /(^|\.)(cc|wall)-live\.data/.test(payload.output) && state.have) {
            payload.cb_have = state.have;
        }
    }

    // --- KPI and alert panels (pages/_live.py) --------------------------------------------------
    // Drawn once by the page; a refresh brings their values as data and only what changed is written
    // into the DOM: returning new components instead cost Dash ~200 component updates per refresh.
    function setText(el, text) { if (el && el.textContent !== text) { el.textContent = text; } }
    function setClass(el, name) { if (el && el.className !== name) { el.className = name; } }
    function setHidden(el, hidden) { if (el && el.hidden !== hidden) { el.hidden = hidden; } }
    function setPair(el, pair) {
        if (!el) { return; }
        setText(el.querySelector(".lang-en"), pair[0]);
        setText(el.querySelector(".lang-zh"), pair[1]);
    }
    function setTextOrPair(el, value) {  // a KPI's detail: a plain text, or [en, zh] (a station's name)
        if (!el) { return; }
        if (!Array.isArray(value)) { setText(el, value); return; }
        if (!el.querySelector(".lang-en")) { el.replaceChildren(...pairNode(value).childNodes); }
        setPair(el, value);
    }
    // A sparkline (components/trend.py): one inline <svg><path> per line, made once; a refresh rewrites
    // the path's `d`. (CSS mask images from data: URLs made every changed line a new SVG document that
    // the browser kept: the soak's growing "Documents" and nodes outside the page.)
    const SVG_NS = "http://www.w3.org/2000/svg";
    function setLine(el, d, viewBox) {  // viewBox: the card's data-viewbox (trend.py WIDTH x HEIGHT)
        if (!el || !viewBox) { return; }
        setHidden(el, !d);
        if (!d) { return; }
        let path = el._cbPath;
        if (!path) {
            const svg = document.createElementNS(SVG_NS, "svg");
            svg.setAttribute("viewBox", viewBox);
            svg.setAttribute("preserveAspectRatio", "none");
            svg.setAttribute("aria-hidden", "true");
            path = el._cbPath = document.createElementNS(SVG_NS, "path");
            path.setAttribute("vector-effect", "non-scaling-stroke");
            svg.appendChild(path);
            el.appendChild(svg);
        }
        if (path.getAttribute("d") !== d) { path.setAttribute("d", d); }
    }
    function applyCard(card, v) {
        setText(card.querySelector(".kpi-value"), v.value);
        setClass(card.querySelector(".kpi-main"), v.main);
        const detail = card.querySelector(".kpi-detail");
        setTextOrPair(detail, v.detail);
        setHidden(detail, !v.detail);
        const spark = card.querySelector(".kpi-spark"), box = spark && spark.dataset.viewbox;
        setHidden(spark, !v.spark);
        setLine(card.querySelector(".spark-yesterday"), v.spark && v.spark.yesterday, box);
        setLine(card.querySelector(".spark-today"), v.spark && v.spark.today, box);
        const fc = card.querySelector(".kpi-forecast");
        setHidden(fc, !v.fc);
        if (v.fc) { setPair(fc, v.fc); }
        card.classList.toggle("is-forecast", !!v.fc);
        setHidden(card.querySelector(".kpi-change"), v.change === null);
        const change = card.querySelector(".kpi-change > span");
        if (v.change !== null) { setText(change, v.change); setClass(change, v.trend); }
        setPair(card.querySelector(".kpi-age-text"), v.age);
        setHidden(card.querySelector(".kpi-stale-mark"), !v.stale);
        setClass(card.querySelector(".kpi-age"), v.stale ? "kpi-age kpi-stale" : "kpi-age");
        card.classList.toggle("is-stale", !!v.stale);
    }
    // The cards are made here once, from the grid's data-cards (components/kpi.py kpi_grid): drawn as Dash
    // components they were ~270 of them, which cost the renderer ~220 ms of every page open.
    function node(tag, cls, children) {
        const el = document.createElement(tag);
        if (cls) { el.className = cls; }
        for (const child of children || []) { el.appendChild(child); }
        return el;
    }
    function pairNode(pair, cls) {  // components/i18n.py t(): both languages, CSS shows one
        const en = node("span", "lang-en"), zh = node("span", "lang-zh");
        en.textContent = pair[0];
        zh.textContent = pair[1];
        return node("span", cls, [en, zh]);
    }
    function hiddenNode(el) { el.hidden = true; return el; }
    let picks = 0;
    function makeCards(grid) {
        if (!grid.dataset.cards || grid.querySelector(".kpi-card")) { return; }
        const spec = JSON.parse(grid.dataset.cards), pick = grid.dataset.pick;
        for (const c of spec.cards) {
            const spark = hiddenNode(node("div", "kpi-spark", [
                node("div", "spark-line spark-yesterday"), node("div", "spark-line spark-today")]));
            spark.dataset.viewbox = spec.spark.viewbox;
            spark.title = spec.spark.title;
            const card = node("div", "kpi-card", [
                node("div", "kpi-label", [pairNode(c.label)]),
                node("div", "kpi-main", [node("span", "kpi-value"), pairNode(c.unit, "kpi-unit")]),
                hiddenNode(node("div", "kpi-detail")),
                hiddenNode(pairNode(["", ""], "kpi-forecast")),
                spark,
                node("div", "kpi-change", [node("span", "kpi-flat"), pairNode(spec.vs)]),
                node("div", "kpi-age", [pairNode(spec.no_data, "kpi-age-text"), hiddenNode(pairNode(spec.stale, "kpi-stale-mark"))]),
            ]);
            card.dataset.kpi = c.key;
            card.querySelector(".kpi-value").textContent = "—";
            if (pick) {  // the page's dcc.Store: its callback opens the card's chart
                const choose = () => window.dash_clientside.set_props(pick, {data: {key: c.key, n: ++picks}});
                card.setAttribute("role", "button");
                card.tabIndex = 0;
                card.title = spec.title;
                card.addEventListener("click", choose);
                card.addEventListener("keydown", (e) => {
                    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); choose(); }
                });
            }
            grid.appendChild(card);
        }
    }
    function applyKpis(grid, data) {
        if (!grid) { return; }
        makeCards(grid);
        if (!data) { return; }
        const failed = !!data.error;
        grid.classList.remove("is-loading");
        grid.classList.toggle("has-error", failed);
        setHidden(grid.querySelector(".panel-error-slot"), !failed);
        for (const v of data.cards || []) {
            const card = grid.querySelector('.kpi-card[data-kpi="' + v.key + '"]');
            if (card) { applyCard(card, v); }
        }
        grid.dataset.refreshes = String(Number(grid.dataset.refreshes || 0) + 1);
    }
    function applyAlerts(panel, rows) {
        if (!panel || !rows) { return; }
        const failed = !Array.isArray(rows), list = panel.querySelector(".alert-list");
        setHidden(panel.querySelector(".panel-error-slot"), !failed);
        setHidden(panel.querySelector(".alert-empty"), failed || rows.length > 0);
        const text = failed ? "" : JSON.stringify(rows);
        if (!list || list._cbRows === text) { return; }
        list._cbRows = text;
        list.replaceChildren(...(failed ? [] : rows).map(([cls, en, zh]) => node("li", cls, [pairNode([en, zh])])));
    }
    function panelHost(id) {
        // a panel inside written HTML (pages/command_centre.py) exists once static_markup.js wrote it
        let host = document.getElementById(id);
        if (!host && window.cbStaticMarkup) { window.cbStaticMarkup.fillWithin(document.body); host = document.getElementById(id); }
        return host;
    }
    function applyPanels(prefix, kpis, alerts) {
        applyKpis(panelHost(prefix + "-kpis"), kpis);
        applyAlerts(panelHost(prefix + "-alerts"), alerts);
        return window.dash_clientside.no_update;
    }
    cb.applyPanels = applyPanels;

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

    // The history slider's tooltip: the moment a step stands for (as data/access.py resolve_at reads it:
    // the end of the step's 15 minutes, at most now), in China Standard Time, not the step's number.
    function stepTime(step) {
        const el = document.querySelector(".time-slider[data-bucket]");
        if (!el) { return String(step); }
        const bucket = Number(el.dataset.bucket), span = Number(el.dataset.span), offset = Number(el.dataset.offset);
        const now = Date.now() / 1000, last = Math.floor(now / bucket) * bucket, first = last - span;
        // Past now (forecast steps): quarter hours up to data-quarters, then whole hours (air quality to +72 h).
        const ahead = Number(step) - span / bucket, quarters = Number(el.dataset.quarters || 0);
        const at = ahead <= 0 ? Math.min(now, first + Number(step) * bucket + bucket - 1)
            : last + Math.min(ahead, quarters) * bucket + Math.max(0, ahead - quarters) * 3600;
        return new Date((at + offset) * 1000).toISOString().slice(5, 16).replace("T", " ");
    }
    window.dccFunctions = Object.assign(window.dccFunctions || {}, {stepTime: stepTime});

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
