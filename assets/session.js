// Session handling in the browser (served from assets/: no inline script, so the CSP holds).
//
// * Any request to this server answered 401 (session timed out, ended by an admin, or the user
//   was disabled) sends the browser to the sign-in page, which says the session has ended and
//   brings the user back to the same view afterwards. Without this, Dash would just stop
//   updating and the page would look broken.
// * Same-origin state-changing requests carry the session's CSRF token as a header. Dash's
//   renderer does this itself for callbacks (Dash(csrf_token_name=...)); this covers the rest.
// * A refused callback (403) says why in a notice instead of leaving the page silently
//   unchanged; a refused CSRF token (the session was replaced, e.g. by signing in again in
//   another tab) reloads the page once to pick up the current token.
// * The remaining session time is polled (without counting as activity); shortly before an
//   idle time-out a banner offers to stay signed in, and at the time-out the browser goes to
//   the sign-in page even if the user has not clicked anything.
(function () {
  "use strict";

  var LOGIN_PATH = "/login";
  var STATUS_PATH = "/auth/session";
  var KEEPALIVE_PATH = "/auth/keepalive";
  var CSRF_COOKIE = "_csrf_token";
  var CSRF_HEADER = "X-CSRFToken";
  var WARN_BEFORE_SECONDS = 120;
  var MAX_POLL_SECONDS = 60;
  var MIN_POLL_SECONDS = 5;
  var NOTICE_SECONDS = 10;
  var CSRF_RELOAD_KEY = "customsKpiCsrfReloadAt";

  if (window.__customsKpiSession) {
    return; // loaded twice (hot reload): keep one wrapper
  }
  window.__customsKpiSession = true;

  var redirecting = false;
  var pollTimer = null;
  var originalFetch = window.fetch.bind(window);

  function readCookie(name) {
    var parts = document.cookie ? document.cookie.split("; ") : [];
    for (var i = 0; i < parts.length; i++) {
      var eq = parts[i].indexOf("=");
      if (parts[i].slice(0, eq) === name) {
        return decodeURIComponent(parts[i].slice(eq + 1));
      }
    }
    return null;
  }

  function sameOrigin(url) {
    try {
      return new URL(url, window.location.href).origin === window.location.origin;
    } catch (e) {
      return false;
    }
  }

  function toLogin() {
    if (redirecting) {
      return;
    }
    redirecting = true;
    var here = window.location.pathname + window.location.search;
    var params = new URLSearchParams({ expired: "1" });
    if (here && here !== "/") {
      params.set("next", here);
    }
    window.location.assign(LOGIN_PATH + "?" + params.toString());
  }

  // An administrator set this user's password: the server answers 403 with the page where it
  // must be replaced, and nothing else works until it is.
  function toPasswordPage(body) {
    var path = body && body.password;
    if (redirecting || typeof path !== "string" || path.charAt(0) !== "/" || path.charAt(1) === "/") {
      return false;
    }
    redirecting = true;
    window.location.assign(path);
    return true;
  }

  function requestUrl(input) {
    if (typeof input === "string") {
      return input;
    }
    if (input && typeof input.url === "string") {
      return input.url;
    }
    return String(input);
  }

  window.fetch = function (input, init) {
    var url = requestUrl(input);
    var own = sameOrigin(url);
    var method = ((init && init.method) || (input && input.method) || "GET").toUpperCase();
    if (own && method !== "GET" && method !== "HEAD" && method !== "OPTIONS") {
      var token = readCookie(CSRF_COOKIE);
      if (token) {
        init = Object.assign({}, init || {});
        var headers = new Headers(init.headers || (input && input.headers) || {});
        if (!headers.has(CSRF_HEADER)) {
          headers.set(CSRF_HEADER, token);
        }
        init.headers = headers;
      }
    }
    return originalFetch(input, init).then(function (response) {
      if (own && response.status === 401) {
        toLogin();
      } else if (own && response.status === 403) {
        explainRefusal(response.clone());
      }
      return response;
    });
  };

  function explainRefusal(response) {
    response.json().then(function (body) {
      if (!body || typeof body.error !== "string") {
        return;
      }
      if (toPasswordPage(body)) {
        return;
      }
      if (body.error === "missing or invalid CSRF token") {
        // Reload once (not in a loop) to get the session's current token.
        var last = Number(window.sessionStorage.getItem(CSRF_RELOAD_KEY) || 0);
        if (Date.now() - last > 60000) {
          window.sessionStorage.setItem(CSRF_RELOAD_KEY, String(Date.now()));
          window.location.reload();
          return;
        }
        showNotice("This page is out of date. Reload it to continue.");
        return;
      }
      if (body.required) {
        showNotice("Your role does not allow this (it needs " + body.required + ").");
      }
    }, function () { /* not JSON: nothing to explain */ });
  }

  var notice = null;
  var noticeTimer = null;

  // A banner at the top of the page: a message (its first child) and one button.
  function addBanner(className, buttonText, onClick) {
    var element = document.createElement("div");
    element.className = className;
    element.setAttribute("role", "alert");
    var message = document.createElement("span");
    var button = document.createElement("button");
    button.type = "button";
    button.textContent = buttonText;
    button.addEventListener("click", onClick);
    element.appendChild(message);
    element.appendChild(button);
    document.body.appendChild(element);
    return element;
  }

  function showNotice(text) {
    if (!notice) {
      notice = addBanner("ck-session-banner ck-notice", "Close", hideNotice);
    }
    notice.firstChild.textContent = text;
    if (noticeTimer) {
      window.clearTimeout(noticeTimer);
    }
    noticeTimer = window.setTimeout(hideNotice, NOTICE_SECONDS * 1000);
  }

  function hideNotice() {
    if (notice) {
      notice.remove();
      notice = null;
    }
  }

  // --- Expiry poll and warning banner ---------------------------------------------------------
  var banner = null;

  function hideBanner() {
    if (banner) {
      banner.remove();
      banner = null;
    }
  }

  function showBanner(secondsLeft) {
    var minutes = Math.max(1, Math.ceil(secondsLeft / 60));
    var text = "Your session ends in " + minutes + " minute" + (minutes === 1 ? "" : "s") +
      " without activity.";
    if (!banner) {
      banner = addBanner("ck-session-banner", "Stay signed in", function () {
        hideBanner();
        window.fetch(KEEPALIVE_PATH, { method: "POST", credentials: "same-origin" })
          .then(handleStatus, function () { schedule(MIN_POLL_SECONDS); });
      });
    }
    banner.firstChild.textContent = text;
  }

  function schedule(seconds) {
    if (pollTimer) {
      window.clearTimeout(pollTimer);
    }
    var wait = Math.max(MIN_POLL_SECONDS, Math.min(MAX_POLL_SECONDS, seconds));
    pollTimer = window.setTimeout(poll, wait * 1000);
  }

  function handleStatus(response) {
    if (response.status === 401) {
      toLogin();
      return;
    }
    if (response.status === 403) {
      response.json().then(toPasswordPage, function () { /* not JSON */ });
      schedule(MAX_POLL_SECONDS);
      return;
    }
    if (!response.ok) {
      schedule(MAX_POLL_SECONDS);
      return;
    }
    return response.json().then(function (status) {
      var left = Math.min(status.idle_seconds_left, status.absolute_seconds_left);
      if (left <= 0) {
        // The next request ends the session on the server and answers 401.
        schedule(MIN_POLL_SECONDS);
        return;
      }
      if (status.idle_seconds_left <= WARN_BEFORE_SECONDS) {
        showBanner(status.idle_seconds_left);
      } else {
        hideBanner();
      }
      // Wake up at the next point of interest: the warning, the time-out, or a regular check.
      var nextCheck = left > WARN_BEFORE_SECONDS ? left - WARN_BEFORE_SECONDS : left + 1;
      schedule(nextCheck);
    });
  }

  function poll() {
    window.fetch(STATUS_PATH, { credentials: "same-origin", cache: "no-store" })
      .then(handleStatus, function () { schedule(MAX_POLL_SECONDS); });
  }

  // Timers sleep with the laptop or a background tab: check again as soon as the user is back.
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") {
      poll();
    }
  });
  window.addEventListener("focus", poll);

  // The sign-in page is server-rendered without this script, so everything here runs on pages
  // of a signed-in user.
  schedule(MIN_POLL_SECONDS);
})();
