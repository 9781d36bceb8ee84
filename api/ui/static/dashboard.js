// Counts on the page refresh without a reload: the element holding `data-refresh` names a JSON
// fragment {"counts": {KEY: TEXT}}; every element with `data-count="KEY"` shows TEXT.
(function () {
  "use strict";
  var holder = document.querySelector("[data-refresh]");
  if (!holder || !window.fetch) {
    return;
  }
  var url = holder.getAttribute("data-refresh");
  var every = Number(holder.getAttribute("data-refresh-every")) || 3000;

  function apply(counts) {
    document.querySelectorAll("[data-count]").forEach(function (element) {
      var key = element.getAttribute("data-count");
      if (Object.prototype.hasOwnProperty.call(counts, key) && element.textContent !== counts[key]) {
        element.textContent = counts[key];
        element.classList.add("changed");
        window.setTimeout(function () { element.classList.remove("changed"); }, 1500);
      }
    });
  }

  function refresh() {
    if (document.hidden) {
      window.setTimeout(refresh, every);
      return;
    }
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (answer) { return answer.ok ? answer.json() : null; })
      .then(function (data) { if (data && data.counts) { apply(data.counts); } })
      .catch(function () { /* offline for a moment: try again on the next tick */ })
      .then(function () { window.setTimeout(refresh, every); });
  }

  window.setTimeout(refresh, every);
})();

// Jumps in a flow (if_else branches, a goal's goto) drawn as arrows beside the steps, from the
// step that jumps to the step it names. The links stay the accessible way to follow them.
(function () {
  "use strict";
  var flow = document.querySelector("ol.flow");
  if (!flow) {
    return;
  }
  var SVG = "http://www.w3.org/2000/svg";

  function draw() {
    var old = flow.querySelector("svg.jumps-drawn");
    if (old) {
      old.remove();
    }
    var links = flow.querySelectorAll("a[data-jump-from]");
    if (!links.length || window.getComputedStyle(flow).getPropertyValue("--arrows").trim() === "none") {
      return;
    }
    var box = flow.getBoundingClientRect();
    var svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("class", "jumps-drawn");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("width", String(box.width + 160));
    svg.setAttribute("height", String(box.height));
    svg.innerHTML = '<defs><marker id="arrowhead" viewBox="0 0 10 10" refX="9" refY="5" ' +
      'markerWidth="7" markerHeight="7" orient="auto-start-reverse">' +
      '<path d="M0,0 L10,5 L0,10 z"></path></marker></defs>';
    links.forEach(function (link, index) {
      var from = document.getElementById(link.getAttribute("data-jump-from"));
      var to = document.getElementById(link.getAttribute("href").slice(1));
      if (!from || !to) {
        return;
      }
      var a = from.getBoundingClientRect();
      var b = to.getBoundingClientRect();
      var x = a.right - box.left;
      var y1 = a.top - box.top + a.height / 2 + (index % 3) * 8;
      var y2 = b.top - box.top + Math.min(24 + (index % 3) * 8, b.height / 2);
      var reach = 40 + (index % 4) * 22;
      var path = document.createElementNS(SVG, "path");
      path.setAttribute("d", "M" + x + "," + y1 + " C" + (x + reach) + "," + y1 + " " +
        (x + reach) + "," + y2 + " " + (b.right - box.left + 2) + "," + y2);
      path.setAttribute("marker-end", "url(#arrowhead)");
      if (link.hasAttribute("data-jump-goal")) {
        path.setAttribute("class", "goal-jump");
      }
      svg.appendChild(path);
    });
    flow.appendChild(svg);
  }

  draw();
  window.addEventListener("resize", draw);
})();
