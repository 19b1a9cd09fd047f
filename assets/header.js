// The header's burger menu under 768 px (issue 13.6): the button's aria-expanded is the one
// state, and the style sheet shows the menu that follows an expanded button. Enter and Space
// work as on any button; Escape closes the menu and gives the focus back to the button;
// following a link closes it. Delegated on the document: Dash draws the header after this runs.
(function () {
  function burger() { return document.querySelector(".ck-burger"); }
  function setOpen(button, open) {
    if (button) { button.setAttribute("aria-expanded", open ? "true" : "false"); }
  }
  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!target || !target.closest) { return; }
    var button = target.closest(".ck-burger");
    if (button) {
      setOpen(button, button.getAttribute("aria-expanded") !== "true");
      return;
    }
    if (target.closest(".ck-header-menu a")) { setOpen(burger(), false); }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") { return; }
    var button = burger();
    if (button && button.getAttribute("aria-expanded") === "true") {
      setOpen(button, false);
      button.focus();
    }
  });
})();

// The skip link moves the focus to the main content (not only the scroll position).
document.addEventListener("click", function (event) {
  var link = event.target && event.target.closest ? event.target.closest(".ck-skip-link") : null;
  if (!link) { return; }
  var main = document.getElementById("shell-main");
  if (main) {
    event.preventDefault();
    main.focus();
    main.scrollIntoView();
  }
});

// Labels and roles of Dash's own controls (issue 13.6). Dash draws a dropdown as a hidden
// focus input plus a button named by its value only, and radio items / checklists as a
// "listbox" of "option" labels holding inputs: a screen reader hears no label, axe reports
// unnamed fields and nested controls. Each control inside a <label> (the filter bar's and
// pages' labelled() items) gets aria-labelledby pointing at the label's text; the radio and
// checkbox groups become radiogroup / group; a scrolling table becomes a focusable region.
(function () {
  var counter = 0;
  function idOf(element, prefix) {
    if (!element.id) { counter += 1; element.id = prefix + "-" + counter; }
    return element.id;
  }
  function addLabelledBy(control, id) {
    var current = (control.getAttribute("aria-labelledby") || "").split(/\s+/).filter(Boolean);
    if (current.indexOf(id) === 0) { return; }
    current = current.filter(function (x) { return x !== id; });
    control.setAttribute("aria-labelledby", [id].concat(current).join(" "));
  }
  function labelText(label) {
    return label.querySelector(":scope > .filter-label, :scope > span:first-child");
  }
  function patch(root) {
    root.querySelectorAll("label:not([for])").forEach(function (label) {
      if (label.classList.contains("dash-options-list-option")) { return; }
      var text = labelText(label);
      if (!text || !text.textContent.trim()) { return; }
      var id = idOf(text, "ck-label");
      label.querySelectorAll(
        "input:not([type=hidden]):not([type=radio]):not([type=checkbox]), select, textarea, " +
        "button.dash-dropdown, [role=listbox], [role=radiogroup], [role=group]"
      ).forEach(function (control) { addLabelledBy(control, id); });
    });
    // <label for=…> naming a dropdown: Dash puts the id on its button, which the label does
    // not name (a button's name is its content), so it is tied with aria-labelledby.
    root.querySelectorAll("label[for]").forEach(function (label) {
      var target = document.getElementById(label.htmlFor);
      if (target && target.matches("button.dash-dropdown") && label.textContent.trim()) {
        addLabelledBy(target, idOf(label, "ck-label"));
      }
    });
    // aria-expanded on an element of no role (Dash's date picker wrapper) is not allowed.
    root.querySelectorAll("div[aria-expanded]:not([role])").forEach(function (element) {
      element.removeAttribute("aria-expanded");
    });
    // The dropdown's focus stand-in is what the keyboard reaches: it must not be aria-hidden,
    // and it reads as the label and the value.
    root.querySelectorAll("input.dash-dropdown-focus-target").forEach(function (input) {
      var button = input.parentElement && input.parentElement.querySelector("button.dash-dropdown");
      if (input.hasAttribute("aria-hidden")) { input.removeAttribute("aria-hidden"); }
      var names = button && button.getAttribute("aria-labelledby");
      if (names && input.getAttribute("aria-labelledby") !== names) {
        input.setAttribute("aria-labelledby", names);
      }
    });
    root.querySelectorAll(".dash-radioitems[role=listbox], .dash-checklist[role=listbox]").forEach(function (list) {
      var radio = list.classList.contains("dash-radioitems");
      list.setAttribute("role", radio ? "radiogroup" : "group");
      list.querySelectorAll("[role=option]").forEach(function (option) {
        option.removeAttribute("role");
        option.removeAttribute("aria-selected");
      });
    });
    // A control named by nothing else is named by its placeholder (a textarea's hint).
    root.querySelectorAll("textarea[placeholder], input[placeholder]").forEach(function (c) {
      if (!c.getAttribute("aria-label") && !c.getAttribute("aria-labelledby") &&
          !c.closest("label")) {
        c.setAttribute("aria-label", c.getAttribute("placeholder"));
      }
    });
    root.querySelectorAll(".table-scroll:not([tabindex])").forEach(function (region) {
      region.setAttribute("tabindex", "0");
      region.setAttribute("role", "region");
      var caption = region.closest("section");
      var title = caption && caption.querySelector(".section-title");
      region.setAttribute("aria-label", title ? title.textContent.trim() : "Table");
    });
  }
  var scheduled = false;
  function schedule() {
    if (scheduled) { return; }
    scheduled = true;
    window.requestAnimationFrame(function () { scheduled = false; patch(document); });
  }
  function start() {
    patch(document);
    new MutationObserver(schedule).observe(document.body, {
      childList: true, subtree: true, attributes: true,
      attributeFilter: ["role", "aria-hidden", "aria-labelledby", "aria-expanded"]
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
