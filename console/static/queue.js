// The dashboard's live queue: every 5 s, /console/queue.json (the same JSON as GET /api/queue, on the
// session's cookie) redraws the queue's tables. No framework; values go in as text, never as HTML.
(function () {
  "use strict";
  var POLL_MS = 5000;
  var STATUSES = [["available", "Available"], ["ringing", "Ringing"], ["busy", "On a call"],
                  ["wrap-up", "Wrap-up"], ["paused", "Paused"], ["offline", "Offline"]];
  var DASH = "\u2014";

  function wait(seconds) {
    if (seconds === null || seconds === undefined) { return DASH; }
    var s = Math.max(0, Math.floor(seconds)), m = Math.floor(s / 60);
    s = s % 60;
    return m ? m + " min " + (s < 10 ? "0" : "") + s + " s" : s + " s";
  }

  function cell(row, text, className) {
    var td = document.createElement("td");
    if (className) { td.className = className; }
    if (text instanceof Node) { td.appendChild(text); } else { td.textContent = text; }
    row.appendChild(td);
    return td;
  }

  function emptyRow(body, text, columns) {
    var tr = document.createElement("tr");
    tr.className = "empty";
    cell(tr, text).colSpan = columns;
    body.appendChild(tr);
  }

  function render(section, data) {
    var together = section.getAttribute("data-together") === "1";
    var callers = section.querySelector("[data-queue-callers]");
    var agents = section.querySelector("[data-queue-agents]");
    var at = Date.parse(data.at);
    var counts = {callers: 0};
    STATUSES.forEach(function (s) { counts[s[0]] = 0; });
    var callerRows = document.createDocumentFragment(), agentRows = document.createDocumentFragment();
    data.practices.forEach(function (p) {
      p.callers.forEach(function (c) {
        var tr = document.createElement("tr");
        tr.setAttribute("data-call-sid", c.call_sid);
        if (together) { cell(tr, p.practice.name); }
        cell(tr, c.position ? String(c.position) : DASH);
        cell(tr, c.state);
        cell(tr, wait(c.wait_seconds), "num");
        cell(tr, c.urgent ? "Urgent" : "");
        cell(tr, c.language || DASH);
        cell(tr, c.number || DASH);
        callerRows.appendChild(tr);
        counts.callers += 1;
      });
      STATUSES.forEach(function (s) {
        (p.agents[s[0]] || []).forEach(function (a) {
          var tr = document.createElement("tr");
          tr.setAttribute("data-agent-id", String(a.id));
          if (together) { cell(tr, p.practice.name); }
          cell(tr, a.name || DASH);
          var badge = document.createElement("span");
          badge.className = "status status-" + s[0];
          badge.setAttribute("data-agent-status", "");
          badge.textContent = s[1];
          cell(tr, badge);
          cell(tr, a.reason || "");
          cell(tr, a.idle_since ? wait((at - Date.parse(a.idle_since)) / 1000) : DASH, "num");
          agentRows.appendChild(tr);
          counts[s[0]] += 1;
        });
      });
    });
    callers.replaceChildren(callerRows);
    agents.replaceChildren(agentRows);
    if (!counts.callers) { emptyRow(callers, "Nobody is waiting.", 7); }
    if (!agents.children.length) { emptyRow(agents, "No agents answer for this practice.", 5); }
    Object.keys(counts).forEach(function (key) {
      var el = section.querySelector('[data-queue-count="' + key + '"]');
      if (el) { el.textContent = String(counts[key]); }
    });
    section.querySelector("[data-queue-state]").textContent =
      "Updated " + data.at.slice(11, 19) + " UTC \u00b7 refreshes every 5 s";
  }

  function poll(section) {
    var state = section.querySelector("[data-queue-state]");
    // A refresh is the page's own work, not the person's: it must not keep the session alive (X-Careline-Background).
    fetch(section.getAttribute("data-queue-url"),
          {credentials: "same-origin", headers: {"Accept": "application/json", "X-Careline-Background": "1"}})
      .then(function (response) {
        if (response.status === 401) { state.textContent = "Signed out: reload the page to sign in again."; return null; }
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (data) {
        if (data) { render(section, data); section.setAttribute("data-queue-updated", data.at); }
        if (data !== null) { window.setTimeout(function () { poll(section); }, POLL_MS); }
      })
      .catch(function () {
        state.textContent = "The live queue is unavailable right now; trying again.";
        window.setTimeout(function () { poll(section); }, POLL_MS);
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var section = document.querySelector("[data-queue]");
    if (section) { window.setTimeout(function () { poll(section); }, POLL_MS); }
  });
}());
