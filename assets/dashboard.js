// Keeps the global filters (period, offices, channel) in the address bar so a view can be
// shared or bookmarked. Served from assets/ (no inline script, so a strict CSP holds).
// pushState (not a Dash Location update) so the page is not re-rendered: the page's callbacks
// already react to the controls. The back button restores the previous view through Dash's
// page router, which re-reads the query string.
// ``search`` with the filter bar's default period filled in where it names none.
function withDefaultPeriod(search) {
  var bar = document.getElementById("filter-bar");
  var params = new URLSearchParams(search);
  if (!bar || !bar.dataset.defaultFrom) { return search; }
  var filled = new URLSearchParams();
  if (!params.has("from")) { filled.set("from", bar.dataset.defaultFrom); }
  if (!params.has("to")) { filled.set("to", bar.dataset.defaultTo); }
  params.forEach(function (value, key) { filled.set(key, value); });
  var text = filled.toString().replace(/%2C/g, ",");
  return text ? "?" + text : "";
}

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
      // A link without from/to shows the default period: the same view, no new entry.
      if (next !== window.location.search && next !== withDefaultPeriod(window.location.search)) {
        window.history.pushState({}, "", window.location.pathname + next);
      }
      return next;
    },
    // A page's own view choice (dashboard/filters.py sync_view_param) into the URL's key.
    syncParam: function (value, spec) {
      var noUpdate = window.dash_clientside.no_update;
      if (!spec || !spec.key) { return noUpdate; }
      var params = new URLSearchParams(window.location.search);
      var text = null;
      if (value !== null && value !== undefined && value !== "" &&
          !(Array.isArray(value) && value.length === 0)) {
        if (Array.isArray(value) && value.every(function (v) { return typeof v !== "object"; })) {
          text = value.join(",");
        } else if (typeof value === "object") {
          text = Object.keys(value).length ? JSON.stringify(value) : null;
        } else {
          text = String(value);
        }
      }
      var fallback = spec["default"];
      if (text === null || (fallback !== null && fallback !== undefined &&
                            text === String(fallback))) {
        params.delete(spec.key);
      } else {
        params.set(spec.key, text);
      }
      var search = params.toString().replace(/%2C/g, ",");
      var next = search ? "?" + search : "";
      if (next !== window.location.search) {
        window.history.pushState({}, "", window.location.pathname + next);
      }
      return noUpdate;
    },
    // A grid's sort (from its columnState) as "col:asc,col2:desc" into the URL's key.
    syncGridSort: function (state, spec) {
      var sorted = (state || []).filter(function (c) { return c.sort; });
      sorted.sort(function (a, b) { return (a.sortIndex || 0) - (b.sortIndex || 0); });
      var text = sorted.map(function (c) { return c.colId + ":" + c.sort; }).join(",");
      return window.dash_clientside.customsKpi.syncParam(text, spec);
    },
    // Cross-filtering (dashboard/filters.py cross_filter_id): the clicked office or lane
    // becomes the filter; values the filter bar does not offer are ignored.
    crossFilter: function (clicks, officeOptions) {
      var noUpdate = window.dash_clientside.no_update;
      var ctx = window.dash_clientside.callback_context;
      var fired = ctx && ctx.triggered && ctx.triggered[0];
      if (!fired || !fired.value || !fired.value.points || !fired.value.points.length) {
        return [noUpdate, noUpdate];
      }
      var id = JSON.parse(fired.prop_id.slice(0, fired.prop_id.lastIndexOf(".")));
      var point = fired.value.points[0];
      var value = point[id.field];
      if (Array.isArray(value)) { value = value[0]; }
      if (value === null || value === undefined) { return [noUpdate, noUpdate]; }
      value = String(value);
      if (id.dim === "office") {
        var offered = (officeOptions || []).some(function (o) { return o.value === value; });
        return offered ? [[value], noUpdate] : [noUpdate, noUpdate];
      }
      if (id.dim === "channel" && ["green", "yellow", "red", "blue"].indexOf(value) >= 0) {
        return [noUpdate, value];
      }
      return [noUpdate, noUpdate];
    },
    // Period presets (dashboard/filters.py preset_period): n months ending with the latest
    // month of data. The To picker's options are the months with data, latest first.
    applyPreset: function (clicks, options) {
      var ctx = window.dash_clientside.callback_context;
      var fired = ctx && ctx.triggered && ctx.triggered[0];
      if (!fired || !fired.value || !options || !options.length) {
        return [window.dash_clientside.no_update, window.dash_clientside.no_update];
      }
      var n = JSON.parse(fired.prop_id.split(".")[0]).months;
      var latest = options[0].value, first = options[options.length - 1].value;
      var year = parseInt(latest.slice(0, 4), 10), month = parseInt(latest.slice(5, 7), 10);
      var index = year * 12 + (month - 1) - (n - 1);
      var start = String(Math.floor(index / 12)).padStart(4, "0") + "-" +
        String(index % 12 + 1).padStart(2, "0");
      return [start < first ? first : start, latest];
    },
    currentLink: function (n) {
      if (!n) { return window.dash_clientside.no_update; }
      return {url: window.location.pathname + window.location.search, n: n};
    },
    markPreset: function (start, end, options, ids) {
      var months = (options || []).map(function (o) { return o.value; });
      var latest = months[0], first = months[months.length - 1];
      return (ids || []).map(function (id) {
        var year = parseInt(latest.slice(0, 4), 10), month = parseInt(latest.slice(5, 7), 10);
        var index = year * 12 + (month - 1) - (id.months - 1);
        var from = String(Math.floor(index / 12)).padStart(4, "0") + "-" +
          String(index % 12 + 1).padStart(2, "0");
        if (from < first) { from = first; }
        var on = latest && end === latest && start === from;
        return "preset-button" + (on ? " preset-active" : "");
      });
    }
  }
});

// Moving to another page keeps the global filters: an in-app link gets the current filter keys it
// does not set itself. Done like dcc.Link navigates (pushState + Dash's private event), so
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
    if (url.origin !== window.location.origin || url.hash ||
        /^\/(login|logout|auth|_dash)/.test(url.pathname)) {
      return;
    }
    // A link with a query of its own (a what-if of a profile, a cross-filter) keeps it and
    // gets the filter keys it does not set.
    var current = new URLSearchParams(window.location.search);
    var carried = new URLSearchParams(url.search);
    var added = false;
    KEYS.forEach(function (key) {
      if (current.has(key) && !carried.has(key)) {
        carried.set(key, current.get(key));
        added = true;
      }
    });
    var query = carried.toString().replace(/%2C/g, ",");
    if (!added) {
      return;
    }
    event.preventDefault();
    event.stopPropagation();
    window.history.pushState({}, "", url.pathname + "?" + query);
    window.dispatchEvent(new CustomEvent("_dashprivate_pushstate"));
    window.scrollTo(0, 0);
  }, true);
})();

// The back and forward buttons between two views of the same page. The filters and view
// choices reach the address bar by pushState (no re-render), so the page router, which only
// knows the address it rendered, may see no change: the filter controls are set from the
// address instead (dash_clientside.set_props), which redraws the content as a user's change
// would; a page's own view choices (grid sort, trend KPI…) changed too → the page reloads.
(function () {
  var FILTER_KEYS = ["from", "to", "office", "channel"];
  var shown = { path: window.location.pathname, search: window.location.search };
  var remember = function () {
    shown = { path: window.location.pathname, search: window.location.search };
  };
  ["pushState", "replaceState"].forEach(function (name) {
    var original = window.history[name];
    window.history[name] = function () {
      var out = original.apply(this, arguments);
      remember();
      return out;
    };
  });
  var others = function (search) {
    var params = new URLSearchParams(search);
    FILTER_KEYS.forEach(function (key) { params.delete(key); });
    params.sort();
    return params.toString();
  };
  window.addEventListener("popstate", function () {
    var before = shown;
    remember();
    if (before.path !== window.location.pathname) {
      return; // another page: the router renders it from the address
    }
    if (others(before.search) !== others(window.location.search)) {
      window.location.reload();
      return;
    }
    var bar = document.getElementById("filter-bar");
    var setProps = window.dash_clientside && window.dash_clientside.set_props;
    if (!bar || !setProps) {
      return;
    }
    var params = new URLSearchParams(window.location.search);
    var office = params.get("office");
    setProps("filter-from", { value: params.get("from") || bar.dataset.defaultFrom });
    setProps("filter-to", { value: params.get("to") || bar.dataset.defaultTo });
    setProps("filter-offices", { value: office ? office.split(",") : [] });
    setProps("filter-channel", { value: params.get("channel") || "all" });
  });
})();
