// Feature counter of bench/minimal_app.py (and the naive app): how many features each layer drew.
window.minimal = {drawn: {}, map: {
    count: function (feature, layer, context) {
        const name = context.hideout || "layer";
        window.minimal.drawn[name] = (window.minimal.drawn[name] || 0) + 1;
    },
}};
