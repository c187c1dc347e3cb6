// haul's dashboard, live: when the ledger records something this page
// shows, the page's main part is fetched again and put in place, so a
// deployment's hosts move through their phases without a reload. Pages
// work the same without this script (a reload shows the same).
(function () {
  "use strict";
  var main = document.querySelector("main");
  if (!main || !window.EventSource || !window.fetch || !window.DOMParser) return;
  var scope = main.querySelector("[data-live]");
  var query = scope ? scope.getAttribute("data-live") : "";
  // The ledger's head when the page was read: the stream starts there, so
  // what was recorded while the page loaded, or while the stream was
  // down, still reaches it.
  var after = scope ? scope.getAttribute("data-after") : "";
  var waiting = false;

  // A form someone is filling in is never replaced under them.
  function busy() {
    var a = document.activeElement;
    if (a && main.contains(a) && /^(INPUT|TEXTAREA|SELECT)$/.test(a.tagName)) return true;
    var fields = main.querySelectorAll("input[type=text], textarea");
    for (var i = 0; i < fields.length; i++) if (fields[i].value) return true;
    return false;
  }

  function refresh() {
    if (waiting) return;
    waiting = true;
    setTimeout(function () {
      if (busy()) { waiting = false; setTimeout(refresh, 2000); return; }
      fetch(location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          waiting = false;
          if (!html || busy()) return;
          var next = new DOMParser().parseFromString(html, "text/html").querySelector("main");
          if (next) {
            main.innerHTML = next.innerHTML;
            main.setAttribute("data-updated", String(Date.now()));
          }
        })
        .catch(function () { waiting = false; });
    }, 250);
  }

  // One stream while the page is shown; closed when it is left (a page
  // kept for the back button must not hold a connection: browsers allow
  // few per server), opened again when it is shown once more.
  var events = null;
  function listen() {
    if (events) return;
    var q = [];
    if (query) q.push(query);
    if (after) q.push("after=" + encodeURIComponent(after));
    events = new EventSource("/live" + (q.length ? "?" + q.join("&") : ""));
    events.onmessage = function (e) {
      if (e.lastEventId) after = e.lastEventId;
      refresh();
    };
    events.onerror = closed;
  }

  // The browser gives up on a stream it cannot reopen (the session has
  // expired and the server answers with its sign-in page, or the server
  // is gone): the page asks for itself, and is sent to sign in when that
  // is what the server says, or listens again once the server is back.
  // A page that has stopped updating never pretends to be live.
  function closed() {
    if (!events || events.readyState !== EventSource.CLOSED) return;
    events = null;
    setTimeout(function check() {
      fetch(location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) {
          if (r.ok && !r.redirected) { listen(); refresh(); return; }
          if (busy()) { setTimeout(check, 5000); return; }
          location.reload();
        })
        .catch(function () { setTimeout(check, 5000); });
    }, 1000);
  }
  window.addEventListener("pagehide", function () {
    if (events) { events.close(); events = null; }
  });
  window.addEventListener("pageshow", function (e) {
    if (e.persisted) { listen(); refresh(); }
  });
  listen();
})();
