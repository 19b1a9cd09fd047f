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
