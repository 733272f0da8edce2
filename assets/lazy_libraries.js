/*
 * Stand-in for component libraries loaded on first use (components/page_speed.py takes their
 * <script> out of the page and lists their URLs in #citybrain-lazy-libraries).
 *
 * Dash's renderer finds a component as window[namespace][type]. Until the library is loaded,
 * window.dash_ag_grid holds a stand-in AgGrid that loads the real bundle when first rendered and
 * then renders the real component with the same props. The stand-in stays the component Dash
 * sees (so the grid is not re-mounted when the bundle arrives); the library's other exports
 * (getApi, ...) are copied next to it. Like Dash's own lazy components it exposes
 * `_dashprivate_isLazyComponentReady`, so Dash runs the grid's callbacks only once it is loaded.
 */
(function () {
    "use strict";
    const listing = document.getElementById("citybrain-lazy-libraries");
    if (!listing) { return; }  // the libraries were loaded the usual way
    const urls = JSON.parse(listing.textContent);
    const STATICS = ["propTypes", "defaultProps", "dashPersistence", "persistenceTransforms", "dashChildrenUpdate"];

    function standIn(namespace, type) {
        const state = {real: null, promise: null, listeners: new Set()};
        function load() {
            if (!state.promise) {
                state.promise = new Promise(function (resolve, reject) {
                    const script = document.createElement("script");
                    script.src = urls[namespace];
                    script.onload = resolve;
                    script.onerror = reject;
                    document.head.appendChild(script);
                }).then(function () {
                    const lib = window[namespace];  // the bundle replaced the stand-in's namespace
                    state.real = lib[type];
                    for (const key of STATICS) {
                        if (state.real[key] !== undefined) { Component[key] = state.real[key]; }
                    }
                    window[namespace] = Object.assign({}, lib, {[type]: Component});
                    state.listeners.forEach(function (f) { f(); });
                    return state.real._dashprivate_isLazyComponentReady || true;
                });
            }
            return state.promise;
        }
        function Component(props) {
            const React = window.React;
            const [, setLoaded] = React.useState(Boolean(state.real));
            React.useEffect(function () {
                if (state.real) { return undefined; }
                const done = function () { setLoaded(true); };
                state.listeners.add(done);
                load();
                return function () { state.listeners.delete(done); };
            }, []);
            if (!state.real) {
                return React.createElement("div", {id: typeof props.id === "string" ? props.id : undefined, className: props.className, style: props.style,
                    "data-lazy-library": namespace});
            }
            return React.createElement(state.real, props);
        }
        Object.defineProperty(Component, "_dashprivate_isLazyComponentReady", {
            configurable: true,
            get: function () {
                return state.real ? (state.real._dashprivate_isLazyComponentReady || true) : load();
            },
        });
        return Component;
    }

    for (const namespace of Object.keys(urls)) {
        if (window[namespace]) { continue; }  // already there (loaded the usual way)
        if (namespace === "dash_ag_grid") {
            window[namespace] = {AgGrid: standIn(namespace, "AgGrid")};
        }
    }
})();
