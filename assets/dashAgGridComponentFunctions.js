// Cell renderers for dash-ag-grid grids (columnDefs name them in "cellRenderer"). Served from
// assets/ like dashboard.js (no inline script, so a strict CSP holds).
var dagcomponentfuncs = (window.dashAgGridComponentFunctions =
  window.dashAgGridComponentFunctions || {});

// A link to a profile page; the row holds the address in "<field>_href". A plain click moves
// inside the app like dcc.Link (pushState + Dash's private event, no reload); dashboard.js,
// listening first, does the same carrying the filters when the address has some. A modified
// click (Ctrl, Shift, middle button) or the small "open in a new tab" link beside it (a real
// target=_blank anchor) leaves it to the browser, and never reaches the grid, so the row
// selection does not also move this tab. Enter on the focused cell follows the link
// too (the grid keeps keyboard focus on cells, not links). React escapes the id's text.
dagcomponentfuncs.ProfileLink = function (props) {
  var href = props.data ? props.data[props.colDef.field + "_href"] : null;
  var anchor = React.useRef(null);
  var tab = React.useRef(null);
  var cell = props.eGridCell;
  React.useEffect(function () {
    if (!cell || !href) {
      return undefined;
    }
    var onKey = function (event) {
      if (event.key === "Enter" && anchor.current) {
        event.preventDefault();
        anchor.current.click();
      }
    };
    // A click the browser opens elsewhere (the new-tab link, or Ctrl/Shift/Cmd on the id)
    // stops here: the grid's row selection would otherwise move this tab as well. A plain
    // click on the id goes on to dashboard.js and React (in-app navigation).
    var keep = function (event) {
      if (event.currentTarget === tab.current || event.metaKey || event.ctrlKey ||
          event.shiftKey) {
        event.stopPropagation();
      }
    };
    var links = [anchor.current, tab.current].filter(Boolean);
    cell.addEventListener("keydown", onKey);
    links.forEach(function (link) {
      link.addEventListener("click", keep);
    });
    return function () {
      cell.removeEventListener("keydown", onKey);
      links.forEach(function (link) {
        link.removeEventListener("click", keep);
      });
    };
  }, [cell, href]);
  if (!href) {
    return props.value;
  }
  return React.createElement(
    "span",
    { className: "profile-link" },
    React.createElement(
      "a",
      {
        href: href,
        ref: anchor,
        onClick: function (event) {
          if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey ||
              event.shiftKey || event.altKey) {
            return;
          }
          event.preventDefault();
          window.history.pushState({}, "", href);
          window.dispatchEvent(new CustomEvent("_dashprivate_pushstate"));
          window.scrollTo(0, 0);
        },
      },
      props.value
    ),
    React.createElement("a", {
      href: href,
      ref: tab,
      target: "_blank",
      rel: "noopener",
      className: "new-tab-link icon-new-tab",
      title: "Open " + props.value + " in a new tab",
      "aria-label": "Open " + props.value + " in a new tab",
      tabIndex: -1,
    })
  );
};

// Value functions for dash-ag-grid ({"function": "name"} in columnDefs).
var dagfuncs = (window.dashAgGridFunctions = window.dashAgGridFunctions || {});

// Sort comparator: empty values (null, undefined, "") last whether the sort is ascending or
// descending (the grid reverses the comparator's answer when descending); numbers as
// numbers, text by locale.
dagfuncs.emptyLast = function (a, b, nodeA, nodeB, isDescending) {
  var emptyA = a === null || a === undefined || a === "";
  var emptyB = b === null || b === undefined || b === "";
  if (emptyA || emptyB) {
    if (emptyA && emptyB) {
      return 0;
    }
    return (emptyA ? 1 : -1) * (isDescending ? -1 : 1);
  }
  if (typeof a === "number" && typeof b === "number") {
    return a - b;
  }
  return String(a).localeCompare(String(b), undefined, { numeric: true });
};

// Review queue: after a profile is picked the cursor goes to the rationale (the analyst
// writes it, chooses the decision and records: no click spent on focusing a field).
window.dash_clientside = window.dash_clientside || {};
window.dash_clientside.review = Object.assign(window.dash_clientside.review || {}, {
  focusRationale: function (picked) {
    var field = document.getElementById("review-rationale");
    if (picked && field) {
      window.setTimeout(function () {
        field.focus();
      }, 0);
    }
    return window.dash_clientside.no_update;
  },
});
