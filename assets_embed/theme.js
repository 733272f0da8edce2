/* An embed's theme from its own address: ?theme=dark, ?theme=light (the default) or ?theme=auto (the
   visitor's system setting, followed while the page is open). Sets <html data-theme> for embed.css. */
(function () {
    const root = document.documentElement;
    let asked = "light";
    try { asked = new URLSearchParams(location.search).get("theme") || "light"; } catch (e) { /* light */ }
    const system = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
    function set() {
        const dark = asked === "dark" || (asked === "auto" && system !== null && system.matches);
        root.dataset.theme = dark ? "dark" : "light";
    }
    set();
    if (asked === "auto" && system && system.addEventListener) { system.addEventListener("change", set); }
})();
