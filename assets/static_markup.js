/* Fixed text sent as HTML (components/markup.py): each element with a data-html attribute gets it as
   its content when it appears, or when a callback changes the attribute. React holds no children for
   these elements, so it never rewrites what is written here. The HTML is made and escaped by the
   server; nothing a visitor types reaches it. */
(function () {
    function fill(el) {
        const markup = el.getAttribute("data-html");
        if (markup !== null && el.__staticMarkup !== markup) {
            el.innerHTML = markup;
            el.__staticMarkup = markup;
        }
    }
    function fillWithin(node) {
        if (node.nodeType !== 1) { return; }
        if (node.hasAttribute("data-html")) { fill(node); }
        // (a leaf such as a map marker has no element children: nothing to search)
        if (node.firstElementChild) { node.querySelectorAll("[data-html]").forEach(fill); }
    }
    const observer = new MutationObserver((records) => {
        for (const record of records) {
            if (record.type === "attributes") { fill(record.target); continue; }
            record.addedNodes.forEach(fillWithin);
        }
    });
    observer.observe(document.documentElement, {
        childList: true, subtree: true, attributes: true, attributeFilter: ["data-html"],
    });
    fillWithin(document.documentElement);
    // for a script that needs written HTML now, before the observer's turn (citybrain.js applyPanels)
    window.cbStaticMarkup = {fillWithin: fillWithin};
})();
