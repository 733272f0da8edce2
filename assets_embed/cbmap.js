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
    return {STALE, esc, fmt, tr, band, row, popup, roadStyle, lotStyle, aqiIcon, restyle, refreshPopup, gate};
})();
