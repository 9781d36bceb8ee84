// The automation builder (/ui/automations/new, /ui/automations/{id}/edit): forms for the
// automation's settings, triggers and steps, kept in one definition object that is saved as the
// draft on every change (debounced) and with "Save draft", and published with "Save and activate".
// Every word it shows comes from the page's data (`text`: the `builder.*` messages of
// api/i18n, in the page's language); each problem of
// the draft is shown beside the field its `loc` names, with role="alert".
(function () {
  "use strict";
  var form = document.getElementById("builder");
  var source = document.getElementById("builder-data");
  if (!form || !source) {
    return;
  }
  var data = JSON.parse(source.textContent);
  var T = data.text;
  var def = data.definition;
  var automationId = data.automation_id || "";
  var isNew = !data.automation_id;
  var problems = data.problems || [];
  var saveTimer = null;
  var saving = null;
  var statusText = "";
  var notice = null; // {message, stale}
  def.settings = def.settings || {};
  def.triggers = def.triggers || [];
  def.steps = def.steps || [];

  function t(key) {
    return Object.prototype.hasOwnProperty.call(T, key) ? T[key] : key;
  }

  // --- small DOM helpers -----------------------------------------------------------------

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (value === null || value === undefined || value === false) {
        return;
      }
      if (name === "text") {
        node.textContent = value;
      } else if (name.slice(0, 2) === "on") {
        node.addEventListener(name.slice(2), value);
      } else {
        node.setAttribute(name, value === true ? "" : value);
      }
    });
    (children || []).forEach(function (child) {
      if (child) {
        node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
      }
    });
    return node;
  }

  function idOf(path) {
    return "f-" + path.join("-").replace(/[^A-Za-z0-9_-]/g, "_");
  }

  function locOf(path) {
    return path.join(".");
  }

  // A labelled field: `control` gets the id its label points at; the wrapper carries the loc.
  function field(path, label, control, extra) {
    control.id = control.id || idOf(path);
    var wrap = el("div", { "class": "field", "data-loc": locOf(path) }, [
      el("label", { "for": control.id, text: label }),
      control,
    ]);
    (extra || []).forEach(function (node) { wrap.appendChild(node); });
    return wrap;
  }

  function changed(structural) {
    if (structural) {
      render();
    }
    scheduleSave();
  }

  // Text input bound to obj[key]; empty removes the key when `optional`.
  function text(obj, key, path, label, options) {
    options = options || {};
    var control = el(options.multiline ? "textarea" : "input", {
      type: options.multiline ? null : (options.type || "text"),
      rows: options.multiline ? (options.rows || 4) : null,
      list: options.list || null,
      inputmode: options.inputmode || null,
      placeholder: options.placeholder || null,
    });
    var shown = options.show ? options.show(obj[key]) : obj[key];
    control.value = shown === undefined || shown === null ? "" : String(shown);
    control.addEventListener("input", function () {
      var value = options.read ? options.read(control.value) : control.value;
      if ((value === "" || value === undefined) && options.optional) {
        delete obj[key];
      } else {
        obj[key] = value === undefined ? "" : value;
      }
      changed(false);
    });
    if (options.onchange) {
      control.addEventListener("change", options.onchange);
    }
    return field(path, label, control);
  }

  function select(obj, key, path, label, choices, onpick) {
    var control = el("select", {}, choices.map(function (choice) {
      return el("option", { value: choice[0], text: choice[1] });
    }));
    var current = obj[key] === undefined || obj[key] === null ? "" : String(obj[key]);
    var known = choices.some(function (choice) { return choice[0] === current; });
    // An absent value shows the first choice, which is the definition's default.
    control.value = known || !choices.length ? current : choices[0][0];
    control.addEventListener("change", function () {
      if (onpick) {
        onpick(control.value);
      } else {
        obj[key] = control.value;
      }
      changed(true);
    });
    return field(path, label, control);
  }

  function checkbox(checked, path, label, onflip) {
    var control = el("input", { type: "checkbox", id: idOf(path) });
    control.checked = !!checked;
    control.addEventListener("change", function () {
      onflip(control.checked);
      changed(true);
    });
    return el("div", { "class": "field check", "data-loc": locOf(path) }, [
      control,
      el("label", { "for": control.id, text: label }),
    ]);
  }

  // Checkboxes for a list of values (days, statuses), in a fieldset with a legend.
  function checklist(obj, key, path, legend, values, labelOf) {
    var chosen = Array.isArray(obj[key]) ? obj[key] : [];
    var boxes = values.map(function (value) {
      var control = el("input", { type: "checkbox", id: idOf(path.concat([value])), value: value });
      control.checked = chosen.indexOf(value) >= 0;
      control.addEventListener("change", function () {
        var picked = values.filter(function (v) {
          return document.getElementById(idOf(path.concat([v]))).checked;
        });
        if (picked.length) {
          obj[key] = picked;
        } else {
          delete obj[key];
        }
        changed(false);
      });
      return el("span", { "class": "choice" }, [
        control, el("label", { "for": control.id, text: labelOf(value) }),
      ]);
    });
    return el("fieldset", { "class": "field", "data-loc": locOf(path) }, [
      el("legend", { text: legend }),
    ].concat(boxes));
  }

  function button(label, onclick, attrs) {
    var node = el("button", Object.assign({ type: "button", text: label }, attrs || {}));
    node.addEventListener("click", onclick);
    return node;
  }

  // --- values typed as text --------------------------------------------------------------

  var UNITS = [["M", "unit_minutes"], ["H", "unit_hours"], ["D", "unit_days"], ["W", "unit_weeks"]];

  function splitDuration(value) {
    var found = /^P(?:(\d+)([DW])|T(\d+)([HM]))$/.exec(value || "");
    if (!value) {
      return { amount: "", unit: "D" };
    }
    if (!found) {
      return { amount: value, unit: "iso" };
    }
    return found[1] ? { amount: found[1], unit: found[2] } : { amount: found[3], unit: found[4] };
  }

  function joinDuration(amount, unit) {
    amount = amount.trim();
    if (!amount) {
      return undefined;
    }
    if (unit === "iso" || !/^\d+$/.test(amount)) {
      return amount;
    }
    return unit === "H" || unit === "M" ? "PT" + amount + unit : "P" + amount + unit;
  }

  // A duration as an amount and a unit; an empty amount removes the key.
  function duration(obj, key, path, label) {
    var parts = splitDuration(obj[key]);
    var amount = el("input", { type: "text", inputmode: "numeric", id: idOf(path) });
    amount.value = parts.amount;
    var units = UNITS.map(function (u) { return el("option", { value: u[0], text: t(u[1]) }); });
    units.push(el("option", { value: "iso", text: t("unit_iso") }));
    var unit = el("select", { id: idOf(path.concat(["unit"])) }, units);
    unit.value = parts.unit;
    function update() {
      var value = joinDuration(amount.value, unit.value);
      if (value === undefined) {
        delete obj[key];
      } else {
        obj[key] = value;
      }
      changed(false);
    }
    amount.addEventListener("input", update);
    unit.addEventListener("change", update);
    return el("div", { "class": "field duration", "data-loc": locOf(path) }, [
      el("label", { "for": amount.id, text: label }),
      el("div", { "class": "pair" }, [
        amount,
        el("label", { "for": unit.id, "class": "sr-only", text: t("unit") }),
        unit,
      ]),
    ]);
  }

  function scalar(textValue) {
    var trimmed = textValue.trim();
    if (/^-?\d+(\.\d+)?$/.test(trimmed)) {
      return Number(trimmed);
    }
    if (trimmed === "true" || trimmed === "false") {
      return trimmed === "true";
    }
    return textValue;
  }

  function pairs(separator) {
    return {
      show: function (value) {
        return Object.keys(value || {}).map(function (k) {
          var v = value[k];
          return k + separator + (typeof v === "string" ? v : JSON.stringify(v));
        }).join("\n");
      },
      read: function (textValue) {
        var found = {};
        textValue.split("\n").forEach(function (line) {
          var at = line.indexOf(separator.trim());
          if (at > 0) {
            var value = line.slice(at + separator.trim().length).trim();
            found[line.slice(0, at).trim()] = separator === "=" ? scalar(value) : value;
          }
        });
        return Object.keys(found).length ? found : undefined;
      },
      multiline: true,
      optional: true,
    };
  }

  function stepChoices(except, blank) {
    var choices = blank ? [["", t("none")]] : [];
    def.steps.forEach(function (step, i) {
      if (step.id !== except) {
        choices.push([step.id, (i + 1) + ". " + (step.name || step.id)]);
      }
    });
    return choices;
  }

  // --- criteria (goal events and triggers) -------------------------------------------------

  function criterionFields(criterion, path, forGoal) {
    var nodes = [];
    var event = criterion.event || "";
    if (event.indexOf("email.") === 0) {
      var emails = [["", t("email_step_any")]];
      def.steps.forEach(function (step, i) {
        if (step.type === "send_email") {
          emails.push([step.id, (i + 1) + ". " + (step.name || step.subject || step.id)]);
        }
      });
      nodes.push(select(criterion, "email_step", path.concat(["email_step"]), t("email_step"),
        emails, function (value) {
          if (value) { criterion.email_step = value; } else { delete criterion.email_step; }
        }));
      if (event === "email.clicked") {
        nodes.push(text(criterion, "url", path.concat(["url"]), t("link"), { optional: true }));
      }
    } else if (event === "trigger_link.clicked") {
      nodes.push(text(criterion, "link_id", path.concat(["link_id"]), t("trigger_link"),
        { optional: true, list: "known-trigger-links" }));
    } else if (event === "contact.tag_added" || event === "contact.tag_removed") {
      nodes.push(text(criterion, "tag", path.concat(["tag"]), t("tag"), { optional: true }));
    } else if (event === "appointment.status_changed") {
      nodes.push(checklist(criterion, "status", path.concat(["status"]), t("status"),
        data.statuses, function (s) { return t("status_" + s); }));
      nodes.push(text(criterion, "calendar_id", path.concat(["calendar_id"]), t("calendar_id"),
        { optional: true }));
    } else if (event === "custom") {
      nodes.push(text(criterion, "name", path.concat(["name"]), t("custom_name"),
        { optional: true }));
      nodes.push(text(criterion, "where", path.concat(["where"]), t("where"), pairs("=")));
    } else if (event === "sms.received") {
      nodes.push(text(criterion, "body_matches", path.concat(["body_matches"]),
        t("body_matches"), { optional: true }));
    } else if (/^(payment|subscription|order)\./.test(event)) {
      // Payments and orders (from Stripe, Shopify, HighLevel): product, smallest amount, currency.
      nodes.push(text(criterion, "product", path.concat(["product"]), t("product"),
        { optional: true }));
      nodes.push(text(criterion, "amount_at_least", path.concat(["amount_at_least"]),
        t("amount_at_least"), { optional: true, inputmode: "numeric", read: scalar }));
      if (event.indexOf("order.") !== 0) {
        nodes.push(text(criterion, "currency", path.concat(["currency"]), t("currency"),
          { optional: true }));
      }
    } else if (event === "contact.updated") {
      nodes.push(text(criterion, "field", path.concat(["field"]), t("changed_field"),
        { optional: true }));
    }
    if (forGoal) {
      nodes.push(text(criterion, "match_context", path.concat(["match_context"]),
        t("match_context"), {
          optional: true,
          show: function (v) { return (v || []).join(", "); },
          read: function (v) {
            var keys = v.split(",").map(function (k) { return k.trim(); }).filter(Boolean);
            return keys.length ? keys : undefined;
          },
        }));
      nodes.push(text(criterion, "lookback", path.concat(["lookback"]), t("lookback"),
        { optional: true }));
      nodes.push(text(criterion, "min_count", path.concat(["min_count"]), t("min_count"),
        { optional: true, type: "number", inputmode: "numeric", read: whole }));
    }
    return nodes;
  }

  function criterionBox(list, index, path, events, forGoal, removeLabel) {
    var criterion = list[index];
    var eventChoices = events.map(function (e) { return [e, t("event_" + e)]; });
    var children = [];
    if (!forGoal) {
      children.push(text(criterion, "id", path.concat(["id"]), t("trigger_id"), { optional: true }));
    }
    children.push(select(criterion, "event", path.concat(["event"]), t("event"), eventChoices,
      function (value) {
        var kept = {};
        if (criterion.id) { kept.id = criterion.id; }
        kept.event = value;
        list[index] = kept;
      }));
    children = children.concat(criterionFields(criterion, path, forGoal));
    if (!forGoal || list.length > 1) {
      children.push(button(removeLabel, function () {
        list.splice(index, 1);
        changed(true);
      }, { "class": "warn small" }));
    }
    return el("div", { "class": "criterion", "data-loc": locOf(path) }, children);
  }

  // --- steps -------------------------------------------------------------------------------

  var DEFAULTS = {
    send_email: function () { return { subject: "", html: "" }; },
    send_sms: function () { return { body: "" }; },
    wait: function () { return { duration: "P1D" }; },
    add_tag: function () { return { tag: "" }; },
    remove_tag: function () { return { tag: "" }; },
    update_contact: function () { return { fields: {} }; },
    webhook: function () { return { url: "", method: "POST" }; },
    if_else: function () { return { "if": { has_tag: "" }, then: "", "else": "" }; },
    goal: function () {
      return {
        any_of: [{ event: "appointment.status_changed" }],
        on_met: { action: "continue" },
        if_unmet: { action: "continue" },
      };
    },
    split: function () {
      return { paths: [{ id: "a", weight: 50, next: "" }, { id: "b", weight: 50, next: "" }] };
    },
    end: function () { return {}; },
  };

  function freshId(type) {
    var base = type.replace(/_/g, "-");
    var n = 1;
    var taken = {};
    def.steps.forEach(function (s) { taken[s.id] = true; });
    while (taken[base + "-" + n]) {
      n += 1;
    }
    return base + "-" + n;
  }

  function renameStep(from, to) {
    if (!from || from === to) {
      return;
    }
    function fix(criterion) {
      if (criterion && criterion.email_step === from) {
        criterion.email_step = to;
      }
    }
    def.steps.forEach(function (step) {
      if (step.then === from) { step.then = to; }
      if (step["else"] === from) { step["else"] = to; }
      if (step.on_met && step.on_met.step === from) { step.on_met.step = to; }
      (step.paths || []).forEach(function (p) { if (p.next === from) { p.next = to; } });
      GOAL_KINDS.forEach(function (kind) { (step[kind] || []).forEach(fix); });
    });
    def.triggers.forEach(fix);
  }

  function sendWindow(step, path) {
    var choices = [["default", t("window_default")], ["none", t("window_none")]];
    var current = "default";
    if (Object.prototype.hasOwnProperty.call(step, "send_window")) {
      current = step.send_window === null ? "none" : "own";
      if (current === "own") {
        choices.push(["own", t("window_own")]);
      }
    }
    var holder = { value: current };
    return select(holder, "value", path.concat(["send_window"]), t("send_window"), choices,
      function (value) {
        if (value === "default") { delete step.send_window; }
        if (value === "none") { step.send_window = null; }
      });
  }

  function waitFields(step, path) {
    var kind = step.until ? "until" : (step.until_time ? "until_time" : "duration");
    var holder = { value: kind };
    var nodes = [select(holder, "value", path.concat(["kind"]), t("wait_kind"), [
      ["duration", t("wait_duration")], ["until", t("wait_until")],
      ["until_time", t("wait_until_time")],
    ], function (value) {
      delete step.duration; delete step.until; delete step.until_time; delete step.weekdays;
      if (value === "duration") { step.duration = "P1D"; }
      if (value === "until_time") { step.until_time = "09:00"; }
      if (value === "until") { step.until = ""; }
    })];
    if (kind === "duration") {
      nodes.push(duration(step, "duration", path.concat(["duration"]), t("amount")));
    } else if (kind === "until") {
      nodes.push(text(step, "until", path.concat(["until"]), t("until")));
    } else {
      nodes.push(text(step, "until_time", path.concat(["until_time"]), t("until_time"),
        { type: "time" }));
      nodes.push(checklist(step, "weekdays", path.concat(["weekdays"]), t("weekdays"),
        data.weekdays, function (d) { return t("day_" + d); }));
    }
    return nodes;
  }

  var CONDITIONS = ["has_tag", "lacks_tag", "equals", "not_equals", "exists", "gt", "lt"];

  function conditionFields(step, path) {
    var cond = step["if"] || {};
    var kind = "kept";
    if ("has_tag" in cond) { kind = "has_tag"; }
    else if ("lacks_tag" in cond) { kind = "lacks_tag"; }
    else if ("field" in cond) {
      CONDITIONS.slice(2).forEach(function (op) { if (op in cond) { kind = op; } });
    }
    var choices = CONDITIONS.map(function (c) { return [c, t("cond_" + c)]; });
    if (kind === "kept") { choices.push(["kept", t("cond_kept")]); }
    var holder = { value: kind };
    var ifPath = path.concat(["if"]);
    var nodes = [select(holder, "value", ifPath.concat(["kind"]), t("condition"), choices,
      function (value) {
        var next = {};
        if (value === "has_tag" || value === "lacks_tag") {
          next[value] = cond.has_tag || cond.lacks_tag || "";
        } else if (value !== "kept") {
          next.field = cond.field || "";
          next[value] = value === "exists" ? true : "";
        }
        step["if"] = value === "kept" ? cond : next;
      })];
    if (kind === "has_tag" || kind === "lacks_tag") {
      nodes.push(text(cond, kind, ifPath.concat([kind]), t("tag")));
    } else if (kind !== "kept") {
      nodes.push(text(cond, "field", ifPath.concat(["field"]), t("cond_field")));
      if (kind !== "exists") {
        nodes.push(text(cond, kind, ifPath.concat([kind]), t("cond_value"), {
          read: kind === "gt" || kind === "lt" ? scalar : null,
        }));
      }
    }
    nodes.push(select(step, "then", path.concat(["then"]), t("then"), stepChoices(step.id, true)));
    nodes.push(select(step, "else", path.concat(["else"]), t("else"), stepChoices(step.id, true)));
    return nodes;
  }

  // A number typed in a field (a weight, a percent); anything else is kept as typed, and the
  // draft's problems say what is wrong with it.
  function whole(textValue) {
    var trimmed = textValue.trim();
    return /^\d+$/.test(trimmed) ? Number(trimmed) : textValue;
  }

  var MIN_PATHS = 2;
  var MAX_PATHS = 5;

  // A split: 2 to 5 paths, each an id, a weight and the step it goes to.
  function splitFields(step, path) {
    step.paths = step.paths || [];
    var boxes = step.paths.map(function (p, j) {
      var at = path.concat(["paths", j]);
      return el("div", { "class": "criterion split-path", "data-loc": locOf(at) }, [
        text(p, "id", at.concat(["id"]), t("path_id"), {
          onchange: function () { changed(true); },
        }),
        text(p, "weight", at.concat(["weight"]), t("path_weight"),
          { type: "number", inputmode: "numeric", read: whole }),
        select(p, "next", at.concat(["next"]), t("path_next"), stepChoices(step.id, true)),
        button(t("remove_path"), function () {
          step.paths.splice(j, 1);
          changed(true);
        }, { "class": "warn small", disabled: step.paths.length <= MIN_PATHS }),
      ]);
    });
    return [el("fieldset", { "class": "field", "data-loc": locOf(path.concat(["paths"])) }, [
      el("legend", { text: t("split_paths") }),
    ].concat(boxes).concat([
      button(t("add_path"), function () {
        var taken = {};
        step.paths.forEach(function (p) { taken[p.id] = true; });
        var n = step.paths.length;
        while (taken["path-" + (n + 1)]) { n += 1; }
        step.paths.push({ id: "path-" + (n + 1), weight: 50, next: "" });
        changed(true);
      }, { disabled: step.paths.length >= MAX_PATHS }),
    ]))];
  }

  // How a goal's criteria combine: any one of them, all of them, all of them in order.
  var GOAL_KINDS = ["any_of", "all_of", "sequence"];

  function goalKind(step) {
    return GOAL_KINDS.filter(function (kind) { return step[kind] !== undefined; })[0] || "any_of";
  }

  function goalFields(step, i, path) {
    var nodes = [];
    var kind = goalKind(step);
    step[kind] = step[kind] || [];
    var list = step[kind];
    nodes.push(select({ kind: kind }, "kind", path.concat([kind]), t("goal_kind"),
      GOAL_KINDS.map(function (k) { return [k, t("goal_kind_" + k)]; }),
      function (value) {
        GOAL_KINDS.forEach(function (k) { delete step[k]; });
        step[value] = list;
        if (value !== "sequence") { delete step.within; }
      }));
    var criteria = list.map(function (c, j) {
      return criterionBox(list, j, path.concat([kind, j]), data.goal_events, true,
        t("remove_criterion"));
    });
    nodes.push(el("fieldset", { "class": "group", "data-loc": locOf(path.concat([kind])) }, [
      el("legend", { text: t("goal_events") }),
      el("p", { "class": "hint", text: t("goal_events_hint_" + kind) }),
    ].concat(criteria).concat([
      button(t("add_criterion"), function () {
        list.push({ event: "appointment.status_changed" });
        changed(true);
      }, { "class": "small" }),
    ])));
    if (kind === "sequence") {
      nodes.push(duration(step, "within", path.concat(["within"]), t("goal_within")));
    }

    step.on_met = step.on_met || { action: "continue" };
    var onMet = step.on_met;
    var below = stepChoices(step.id, false).filter(function (choice) {
      return def.steps.findIndex(function (s) { return s.id === choice[0]; }) > i;
    });
    nodes.push(select(onMet, "action", path.concat(["on_met", "action"]), t("on_met"), [
      ["continue", t("on_met_continue")], ["goto", t("on_met_goto")], ["end", t("on_met_end")],
    ], function (value) {
      step.on_met = { action: value };
      if (value === "goto") {
        step.on_met.step = below.length ? below[0][0] : "";
      }
    }));
    if (onMet.action === "goto") {
      var targets = stepChoices(step.id, true);
      nodes.push(select(onMet, "step", path.concat(["on_met", "step"]), t("goto_step"), targets));
    }

    step.if_unmet = step.if_unmet || { action: "continue" };
    var unmet = step.if_unmet;
    nodes.push(select(unmet, "action", path.concat(["if_unmet", "action"]), t("if_unmet"), [
      ["end", t("if_unmet_end")], ["continue", t("if_unmet_continue")],
      ["wait", t("if_unmet_wait")],
    ], function (value) { step.if_unmet = { action: value }; }));
    if (unmet.action === "wait") {
      nodes.push(duration(unmet, "timeout", path.concat(["if_unmet", "timeout"]), t("wait_limit")));
      nodes.push(select(unmet, "on_timeout", path.concat(["if_unmet", "on_timeout"]),
        t("on_timeout"), [["end", t("on_timeout_end")], ["continue", t("on_timeout_continue")]]));
    }
    nodes.push(select(step, "jump_from", path.concat(["jump_from"]), t("jump_from"), [
      ["above", t("jump_above")], ["anywhere", t("jump_anywhere")],
    ]));
    return nodes;
  }

  function stepFields(step, i, path) {
    switch (step.type) {
      case "send_email":
        return [
          text(step, "subject", path.concat(["subject"]), t("subject")),
          text(step, "html", path.concat(["html"]), t("html"), { multiline: true, rows: 6 }),
          text(step, "text", path.concat(["text"]), t("text"), { multiline: true, optional: true }),
          text(step, "from", path.concat(["from"]), t("from"), { optional: true }),
          sendWindow(step, path),
        ];
      case "send_sms":
        return [
          text(step, "body", path.concat(["body"]), t("sms_body"), { multiline: true, rows: 3 }),
          sendWindow(step, path),
        ];
      case "wait":
        return waitFields(step, path);
      case "add_tag":
      case "remove_tag":
        return [text(step, "tag", path.concat(["tag"]), t("tag"))];
      case "update_contact":
        return [text(step, "fields", path.concat(["fields"]), t("fields"), pairs("="))];
      case "webhook":
        return [
          text(step, "url", path.concat(["url"]), t("url"), { type: "url" }),
          select(step, "method", path.concat(["method"]), t("method"),
            ["POST", "GET", "PUT", "PATCH", "DELETE"].map(function (m) { return [m, m]; })),
          text(step, "headers", path.concat(["headers"]), t("headers"), pairs(": ")),
          text(step, "body", path.concat(["body"]), t("body"), {
            multiline: true,
            optional: true,
            show: function (v) {
              return v === undefined || typeof v === "string" ? v : JSON.stringify(v, null, 2);
            },
            read: function (v) {
              if (!v.trim()) { return undefined; }
              try { return JSON.parse(v); } catch (ignored) { return v; }
            },
          }),
        ];
      case "if_else":
        return conditionFields(step, path);
      case "goal":
        return goalFields(step, i, path);
      case "split":
        return splitFields(step, path);
      default:
        return [];
    }
  }

  function stepCard(step, i) {
    var path = ["steps", i];
    var title = (i + 1) + ". " + t("type_" + step.type);
    var nameLabel = step.type === "goal" ? t("goal_name") : t("step_name");
    var head = el("div", { "class": "step-head" }, [
      el("h3", { text: title }),
      el("div", { "class": "step-tools" }, [
        button(t("move_up"), function () {
          def.steps.splice(i - 1, 0, def.steps.splice(i, 1)[0]);
          changed(true);
        }, { disabled: i === 0, "class": "small" }),
        button(t("move_down"), function () {
          def.steps.splice(i + 1, 0, def.steps.splice(i, 1)[0]);
          changed(true);
        }, { disabled: i === def.steps.length - 1, "class": "small" }),
        button(t("remove_step"), function () {
          def.steps.splice(i, 1);
          changed(true);
        }, { "class": "warn small" }),
      ]),
    ]);
    // Every jump and email filter that names the step follows its id as it is typed.
    var previous = step.id;
    var idField = text(step, "id", path.concat(["id"]), t("step_id"), {
      onchange: function () { changed(true); },
    });
    idField.querySelector("input").addEventListener("input", function () {
      renameStep(previous, step.id);
      previous = step.id;
    });
    var children = [
      head,
      text(step, "name", path.concat(["name"]), nameLabel, { optional: true }),
      idField,
    ].concat(stepFields(step, i, path));
    return el("li", {
      "class": "step-card" + (step.type === "goal" ? " goal" : ""),
      id: "step-card-" + i,
      "data-loc": locOf(path),
    }, children);
  }

  // --- sections ----------------------------------------------------------------------------

  function automationSection() {
    var nodes = [el("h2", { text: t("automation") })];
    if (isNew) {
      var holder = { value: automationId };
      var idField = text(holder, "value", ["automation_id"], t("automation_id"), {});
      idField.querySelector("input").addEventListener("input", function (event) {
        automationId = event.target.value.trim();
      });
      idField.appendChild(el("p", { "class": "hint", text: t("automation_id_hint") }));
      nodes.push(idField);
    }
    nodes.push(text(def, "name", ["name"], t("name")));
    nodes.push(text(def, "description", ["description"], t("description"),
      { multiline: true, rows: 2, optional: true }));
    return el("section", { "class": "panel", "data-loc": "" }, nodes);
  }

  function settingsSection() {
    var settings = def.settings;
    var nodes = [
      el("h2", { text: t("settings") }),
      checkbox(settings.allow_reentry, ["settings", "allow_reentry"], t("allow_reentry"),
        function (on) { if (on) { settings.allow_reentry = true; } else { delete settings.allow_reentry; } }),
      text(settings, "timezone", ["settings", "timezone"], t("timezone"),
        { optional: true, placeholder: "UTC" }),
      select(settings, "priority", ["settings", "priority"], t("priority"), [
        ["normal", t("priority_normal")], ["transactional", t("priority_transactional")],
      ], function (value) {
        if (value === "normal") { delete settings.priority; } else { settings.priority = value; }
      }),
      select(settings, "when_capped", ["settings", "when_capped"], t("when_capped"), [
        ["defer", t("when_capped_defer")], ["skip", t("when_capped_skip")],
      ], function (value) {
        if (value === "defer") { delete settings.when_capped; } else { settings.when_capped = value; }
      }),
      checkbox(!!settings.send_window, ["settings", "send_window"], t("use_send_window"),
        function (on) {
          if (on) {
            settings.send_window = { days: ["mon", "tue", "wed", "thu", "fri"], start: "09:00", end: "18:00" };
          } else {
            delete settings.send_window;
          }
        }),
    ];
    nodes.push(checkbox(!!settings.holdout, ["settings", "holdout"], t("use_holdout"),
      function (on) {
        if (on) {
          settings.holdout = { percent: 10, window: "P14D" };
        } else {
          delete settings.holdout;
        }
      }));
    if (settings.holdout) {
      var h = settings.holdout;
      var hp = ["settings", "holdout"];
      nodes.push(el("div", { "class": "row" }, [
        text(h, "percent", hp.concat(["percent"]), t("holdout_percent"),
          { type: "number", inputmode: "numeric", read: whole }),
        duration(h, "window", hp.concat(["window"]), t("holdout_window")),
      ]));
    }
    if (settings.send_window) {
      var w = settings.send_window;
      var p = ["settings", "send_window"];
      nodes.push(el("div", { "class": "row" }, [
        checklist(w, "days", p.concat(["days"]), t("window_days"), data.weekdays,
          function (d) { return t("day_" + d); }),
        text(w, "start", p.concat(["start"]), t("window_start"), { type: "time" }),
        text(w, "end", p.concat(["end"]), t("window_end"), { type: "time" }),
      ]));
    }
    return el("section", { "class": "panel", "data-loc": "settings" }, nodes);
  }

  function triggersSection() {
    var boxes = def.triggers.map(function (trigger, i) {
      return criterionBox(def.triggers, i, ["triggers", i], data.trigger_events, false,
        t("remove_trigger"));
    });
    return el("section", { "class": "panel", "data-loc": "triggers" }, [
      el("h2", { text: t("triggers") }),
      el("p", { "class": "hint", text: t("triggers_hint") }),
    ].concat(boxes).concat([
      button(t("add_trigger"), function () {
        def.triggers.push({ event: "contact.tag_added" });
        changed(true);
      }),
    ]));
  }

  function stepsSection() {
    var picker = el("select", { id: "new-step-type" }, data.step_types.map(function (type) {
      return el("option", { value: type, text: t("type_" + type) });
    }));
    picker.value = stepsSection.lastType || "send_email";
    picker.addEventListener("change", function () { stepsSection.lastType = picker.value; });
    return el("section", { "class": "panel", "data-loc": "steps" }, [
      el("h2", { text: t("steps") }),
      el("ol", { "class": "step-cards" }, def.steps.map(stepCard)),
      el("div", { "class": "add-step" }, [
        el("label", { "for": "new-step-type", text: t("new_step_type") }),
        picker,
        button(t("add_step"), function () {
          var type = picker.value;
          var step = Object.assign({ id: freshId(type), type: type }, DEFAULTS[type]());
          def.steps.push(step);
          changed(true);
          var added = document.getElementById(idOf(["steps", def.steps.length - 1, "name"]));
          if (added) { added.focus(); }
        }, { "class": "primary", id: "add-step" }),
      ]),
    ]);
  }

  function actionsBar() {
    var nodes = [
      button(t("save_draft"), function () { save(false, false); }, { id: "save-draft" }),
      button(t("save_and_activate"), function () { save(true, false); },
        { "class": "primary", id: "save-activate" }),
      el("p", { id: "save-status", role: "status", "aria-live": "polite", text: statusText }),
    ];
    if (notice) {
      var box = el("div", { "class": "problem", role: "alert" }, [el("span", { text: notice.message })]);
      if (notice.stale) {
        box.appendChild(button(t("publish_anyway"), function () { save(true, true); },
          { "class": "warn small" }));
      }
      nodes.push(box);
    }
    return el("div", { "class": "actions" }, nodes);
  }

  // --- problems ----------------------------------------------------------------------------

  function placeProblems() {
    var general = [];
    problems.forEach(function (problem, n) {
      var loc = problem.loc.slice();
      var holder = null;
      while (!holder) {
        holder = form.querySelector('[data-loc="' + CSS.escape(loc.join(".")) + '"]');
        if (!holder && !loc.length) { break; }
        loc.pop();
      }
      var note = el("p", {
        "class": "problem " + problem.level,
        role: "alert",
        id: "problem-" + n,
        "data-code": problem.code,
      }, [el("strong", { text: problem.level === "error" ? "✖ " : "⚠ " }), problem.message]);
      if (!holder || holder.getAttribute("data-loc") === "") {
        general.push(note);
        return;
      }
      if (holder.classList.contains("field")) {
        holder.appendChild(note);
        var input = holder.querySelector("input, select, textarea");
        if (input) {
          input.setAttribute("aria-describedby", note.id);
          if (problem.level === "error") { input.setAttribute("aria-invalid", "true"); }
        }
      } else {
        holder.insertBefore(note, holder.children[1] || null);
      }
    });
    var summary = form.querySelector("#problems");
    general.forEach(function (note) { summary.appendChild(note); });
  }

  // --- rendering and saving ----------------------------------------------------------------

  function render() {
    var focused = document.activeElement && document.activeElement.id;
    var scroll = window.scrollY;
    form.textContent = "";
    var links = el("datalist", { id: "known-trigger-links" }, data.trigger_links.map(function (l) {
      return el("option", { value: l });
    }));
    form.appendChild(links);
    form.appendChild(el("div", { id: "problems", "class": "problems" }));
    form.appendChild(automationSection());
    form.appendChild(settingsSection());
    form.appendChild(triggersSection());
    form.appendChild(stepsSection());
    form.appendChild(actionsBar());
    placeProblems();
    if (focused && document.getElementById(focused)) {
      document.getElementById(focused).focus({ preventScroll: true });
    }
    window.scrollTo(0, scroll);
  }

  // After a save: the problems and the save bar anew, the fields untouched (typing goes on).
  function refresh() {
    var focused = document.activeElement && document.activeElement.id;
    form.querySelectorAll(".problem").forEach(function (node) { node.remove(); });
    form.querySelectorAll("[aria-invalid], [aria-describedby]").forEach(function (node) {
      node.removeAttribute("aria-invalid");
      node.removeAttribute("aria-describedby");
    });
    var bar = form.querySelector(".actions");
    if (bar) {
      bar.replaceWith(actionsBar());
    }
    placeProblems();
    var again = focused && document.getElementById(focused);
    if (again && again !== document.activeElement) {
      again.focus({ preventScroll: true });
    }
  }

  function setStatus(message) {
    statusText = message;
    var node = document.getElementById("save-status");
    if (node) { node.textContent = message; }
  }

  function scheduleSave() {
    if (isNew) {
      return; // a new automation is saved first with a button, once its id is chosen
    }
    window.clearTimeout(saveTimer);
    saveTimer = window.setTimeout(function () { save(false, false); }, 700);
  }

  function save(publish, force) {
    window.clearTimeout(saveTimer);
    if (!/^[a-z0-9][a-z0-9_-]{0,63}$/.test(automationId)) {
      problems = [{ level: "error", code: "automation_id", loc: ["automation_id"], message: t("needs_id") }];
      notice = null;
      refresh();
      return Promise.resolve();
    }
    var body = JSON.stringify({ definition: def, "new": isNew, publish: publish, force: force });
    var chain = saving || Promise.resolve();
    saving = chain.then(function () {
      setStatus(t("saving"));
      return fetch("/ui/automations/" + encodeURIComponent(automationId) + "/builder.json", {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "Content-Type": "application/json",
          Accept: "application/json",
          "X-CSRF-Token": form.getAttribute("data-csrf"),
        },
        body: body,
      }).then(function (answer) {
        return answer.json().catch(function () { return { detail: answer.statusText }; })
          .then(function (json) { return { ok: answer.ok, json: json }; });
      }).then(function (result) {
        var json = result.json;
        if (result.ok && json.location) {
          window.location.assign(json.location);
          return;
        }
        notice = json.message ? { message: json.message, stale: !!json.stale } : null;
        if (json.saved) {
          if (isNew) {
            isNew = false;
            window.history.replaceState(null, "", "/ui/automations/" +
              encodeURIComponent(automationId) + "/edit");
            var idInput = document.getElementById(idOf(["automation_id"]));
            if (idInput) {
              idInput.readOnly = true;
            }
            var heading = document.querySelector("h1");
            if (heading) {
              heading.textContent = t("edit_title") + " ";
              heading.appendChild(el("span", { "class": "id", text: automationId }));
            }
          }
          problems = json.problems || [];
          var errors = problems.filter(function (p) { return p.level === "error"; }).length;
          statusText = publish && errors ? t("saved") + " " + t("fix_to_activate") : t("saved");
        } else {
          var reason = json.message || (typeof json.detail === "string" ? json.detail : "");
          statusText = t("not_saved").replace("{reason}", reason);
          notice = { message: statusText, stale: false };
        }
        refresh();
      }).catch(function (error) {
        setStatus(t("not_saved").replace("{reason}", String(error)));
      });
    });
    return saving;
  }

  render();
})();
