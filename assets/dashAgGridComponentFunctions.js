// Cell renderers for dash-ag-grid grids (columnDefs name them in "cellRenderer"). Served from
// assets/ like dashboard.js (no inline script, so a strict CSP holds).
var dagcomponentfuncs = (window.dashAgGridComponentFunctions =
  window.dashAgGridComponentFunctions || {});

// A link to a profile page; the row holds the address in "<field>_href". A plain click moves
// inside the app like dcc.Link (pushState + Dash's private event, no reload); dashboard.js,
// listening first, does the same carrying the filters when the address has some. Enter on
// the focused cell follows the link too (the grid keeps keyboard focus on cells, not links).
dagcomponentfuncs.ProfileLink = function (props) {
  var href = props.data ? props.data[props.colDef.field + "_href"] : null;
  var anchor = React.useRef(null);
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
    cell.addEventListener("keydown", onKey);
    return function () {
      cell.removeEventListener("keydown", onKey);
    };
  }, [cell, href]);
  if (!href) {
    return props.value;
  }
  return React.createElement(
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
  );
};
