/*
 * Wall mode (pages/wall.py): while the server cannot be reached (a network drop, a restart) the wall
 * keeps its last picture and shows "reconnecting"; once /healthz answers again it reloads itself, so it
 * comes back with a fresh page (and the server's new code) and never needs a mouse. Idle elsewhere.
 */
window.cbwall = (function () {
    const PERIOD_MS = 5000, TIMEOUT_MS = 4000;
    let failing = false, probes = 0;

    function banner(show) {
        const el = document.getElementById("wall-reconnecting");
        if (el) { el.hidden = !show; }
    }
    async function probe() {
        if (!document.querySelector(".wall-page")) { return; }
        let ok = false;
        const abort = new AbortController();
        const timer = setTimeout(() => abort.abort(), TIMEOUT_MS);
        try {
            const answer = await fetch("/healthz", {cache: "no-store", signal: abort.signal});
            ok = answer.status === 200;
        } catch (e) {
            ok = false;
        } finally {
            clearTimeout(timer);
        }
        if (!ok) {
            failing = true;
            banner(true);
        } else if (failing) {
            window.location.reload();
        } else if (++probes % 12 === 0) {
            signedIn();
        }
    }
    // A session that ended (SESSION_HOURS, signed out elsewhere) would freeze the wall on its last
    // picture: once a minute ask for the page itself, and reload into the sign-in page if refused.
    async function signedIn() {
        try {
            const answer = await fetch(window.location.href, {method: "HEAD", redirect: "manual", cache: "no-store"});
            if (answer.type === "opaqueredirect" || answer.status === 401 || answer.status === 403) {
                window.location.reload();
            }
        } catch (e) { /* the next probe sees an outage */ }
    }
    setInterval(probe, PERIOD_MS);
    window.addEventListener("offline", () => { if (document.querySelector(".wall-page")) { failing = true; banner(true); } });
    window.addEventListener("online", probe);
    return {ok: () => !failing, probe: probe, signedIn: signedIn};
})();
