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
