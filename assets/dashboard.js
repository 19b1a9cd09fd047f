// Keeps the global filters (period, offices, channel) in the address bar so a view can be
// shared or bookmarked. Served from assets/ (no inline script, so a strict CSP holds).
// pushState (not a Dash Location update) so the page is not re-rendered: the page's callbacks
// already react to the controls. The back button restores the previous view through Dash's
// page router, which re-reads the query string.
window.dash_clientside = Object.assign({}, window.dash_clientside, {
  customsKpi: {
    syncFilters: function (start, end, offices, channel) {
      var params = new URLSearchParams(window.location.search);
      var set = function (key, value) {
        if (value === null || value === undefined || value === "" ||
            (Array.isArray(value) && value.length === 0)) {
          params.delete(key);
        } else {
          params.set(key, Array.isArray(value) ? value.join(",") : String(value));
        }
      };
      set("from", start);
      set("to", end);
      set("office", offices);
      set("channel", channel === "all" ? null : channel);
      var search = params.toString().replace(/%2C/g, ",");
      var next = search ? "?" + search : "";
      if (next !== window.location.search) {
        window.history.pushState({}, "", window.location.pathname + next);
      }
      return next;
    }
  }
});

// Moving to another page keeps the global filters: an in-app link without a query string gets
// the current filter keys. Done like dcc.Link navigates (pushState + Dash's private event), so
// the page router renders the target page with the filters in its layout(**query).
(function () {
  var KEYS = ["from", "to", "office", "channel"];
  document.addEventListener("click", function (event) {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey ||
        event.shiftKey || event.altKey) {
      return;
    }
    var link = event.target && event.target.closest ? event.target.closest("a[href]") : null;
    if (!link || link.target || link.hasAttribute("download")) {
      return;
    }
    var url = new URL(link.getAttribute("href"), window.location.href);
    if (url.origin !== window.location.origin || url.search || url.hash ||
        /^\/(login|logout|auth|_dash)/.test(url.pathname)) {
      return;
    }
    var current = new URLSearchParams(window.location.search);
    var carried = new URLSearchParams();
    KEYS.forEach(function (key) {
      if (current.has(key)) { carried.set(key, current.get(key)); }
    });
    var query = carried.toString().replace(/%2C/g, ",");
    if (!query) {
      return;
    }
    event.preventDefault();
    event.stopPropagation();
    window.history.pushState({}, "", url.pathname + "?" + query);
    window.dispatchEvent(new CustomEvent("_dashprivate_pushstate"));
    window.scrollTo(0, 0);
  }, true);
})();
