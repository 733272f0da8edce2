/* The remembered theme and language before anything is drawn (no light flash on a dark wall); the
   header's dcc.Store callbacks keep them afterwards. Also loaded by the server-rendered sign-in pages. */
(function () {
    let theme = "light", lang = "zh";
    try {
        theme = JSON.parse(localStorage.getItem("app-theme") || '"light"');
        lang = JSON.parse(localStorage.getItem("app-lang") || '"zh"');
    } catch (e) { /* storage blocked or garbled: the defaults */ }
    const root = document.documentElement;
    root.dataset.theme = theme === "dark" ? "dark" : "light";
    root.dataset.lang = lang === "en" ? "en" : "zh";
    root.dataset.agThemeMode = root.dataset.theme;  // AG Grid's built-in themes follow this attribute
})();
