// Renders this host's OpenAPI document with the vendored Redoc, in the palette of
// /assets/mobieus.css (read from its custom properties, so the colours live in one place).
(function () {
  var css = getComputedStyle(document.documentElement);
  function v(name) { return css.getPropertyValue(name).trim(); }
  var font = v("--font");
  Redoc.init("/api/openapi.json", {
    expandResponses: "200,201",
    jsonSampleExpandLevel: 3,
    hideHostname: true,
    sortPropsAlphabetically: false,
    theme: {
      colors: {
        primary: { main: v("--primary") },
        success: { main: v("--ok") },
        error: { main: v("--danger") },
        warning: { main: v("--warn") },
        text: { primary: v("--ink"), secondary: v("--muted") },
        border: { dark: v("--line"), light: v("--canvas") }
      },
      typography: {
        fontFamily: font,
        fontSize: "15px",
        headings: { fontFamily: font, fontWeight: "700" },
        code: { fontFamily: v("--mono"), color: v("--primary-strong"), backgroundColor: v("--primary-soft") },
        links: { color: v("--primary") }
      },
      sidebar: { backgroundColor: v("--canvas"), textColor: v("--ink"), activeTextColor: v("--primary") },
      rightPanel: { backgroundColor: v("--code-panel"), textColor: "#ffffff" }
    }
  }, document.getElementById("redoc"));
})();
