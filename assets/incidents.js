/* Incident queue: bilingual cell labels and SLA countdowns that tick every second in the browser
   (the server sends each incident's deadline once per refresh, not a countdown). */
(function () {
    "use strict";
    const lang = () => (document.documentElement.dataset.lang === "en" ? 0 : 1);
    const pick = (pair, fallback) => (Array.isArray(pair) ? pair[lang()] : fallback);
    const fns = (window.dashAgGridFunctions = window.dashAgGridFunctions || {});

    fns.kindLabel = (p) => pick(p.context && p.context.kinds[p.value], p.value);
    fns.statusLabel = (p) => pick(p.context && p.context.statuses[p.value], p.value);
    fns.crewLabel = (p) => pick(p.context && p.context.crews[p.value], p.value);
    fns.severityLabel = (p) => (p.value ? `${p.value} · ${pick(p.context && p.context.severities[p.value - 1], "")}` : "");
    fns.ageMinutes = (p) => (p.data ? Math.floor((Date.now() / 1000 - p.data.reported_at) / 60) : null);
    fns.slaLeft = (p) => (p.data && p.data.due_at != null ? Math.round(p.data.due_at - Date.now() / 1000) : null);

    setInterval(function () {
        const grid = document.getElementById("inc-grid");
        if (!grid || !window.dash_ag_grid || !window.dash_ag_grid.getApi) return;
        try {
            window.dash_ag_grid.getApi("inc-grid").refreshCells({columns: ["age", "sla"]});
        } catch (e) {
            /* the grid is not ready yet */
        }
    }, 1000);
})();

window.dash_clientside = Object.assign({}, window.dash_clientside);
window.dash_clientside.incidents = {
    printPage: function (n) {
        if (n) window.print();
        return "";
    },
};
