// The console's building blocks: tables, facts, badges and forms whose every refusal shows the
// gateway's problem+json (title, detail and each broken rule) in the reader's language, since
// every call sends Accept-Language.

import { call } from "../common/api.js";
import * as auth from "../common/auth.js";
import { fill, h } from "../common/dom.js";
import { t, tOr } from "../common/i18n.js";
import { preferences } from "../common/prefs.js";
import { announce, notice } from "../common/shell.js";

/** A signed-in call to the office API. */
export async function office(path, options = {}) {
  return call(path, { ...options, token: await auth.accessToken() });
}

/** A timestamp in the reader's language, or "—". */
export function when(timestamp) {
  const date = new Date(timestamp);
  return timestamp && !Number.isNaN(date.getTime()) ? date.toLocaleString(preferences.lang) : "—";
}

/** A code from the API (`state.draft`, `licence_status.valid`) in words, else the code. */
export function label(prefix, code) {
  return code ? tOr(`${prefix}.${code}`, code) : "—";
}

/** The words of a refusal: the problem's title, then each rule it names or else its detail. */
export function problemText(error) {
  if (error.status === 0) return t("error.network");
  const rules = (error.errors || []).map((e) => `${e.field}: ${e.detail}`).join("；");
  const title = error.title || "";
  if (rules) return title ? `${title}：${rules}` : rules;
  const detail = error.detail || error.message;
  return title && !detail.startsWith(title) ? `${title}：${detail}` : detail || title;
}

/** A refusal shown in the page (role=alert: screen readers hear it at once). */
export function problemNotice(error) {
  const box = notice(problemText(error), { error: true });
  box.classList.add("problem");
  return box;
}

/** A badge: tone "ok", "bad" or "" (neutral). */
export function badge(text, tone = "") {
  return h("span", { class: tone ? `badge ${tone}` : "badge", text });
}

/** A table of `rows`; `columns` are [message key, (row) => cell content, {header, wrap}?]. */
export function table(caption, columns, rows) {
  return h(
    "div",
    { class: "table-wrap", tabindex: "0", role: "region", "aria-label": caption },
    h(
      "table",
      {},
      h("caption", { class: "visually-hidden", text: caption }),
      h("thead", {}, h("tr", {}, columns.map(([key]) => h("th", { scope: "col", text: t(key) })))),
      h(
        "tbody",
        {},
        rows.map((row) =>
          h(
            "tr",
            {},
            columns.map(([, cell, options]) => {
              const content = cell(row);
              // `wrap`: a column of sentences (a comment, a note) wraps; codes and times do not
              const attrs = { scope: options?.header ? "row" : false, class: options?.wrap ? "wrap" : false };
              return h(options?.header ? "th" : "td", attrs, content ?? "—");
            }),
          ),
        ),
      ),
    ),
  );
}

/** Facts as a definition list: [[message key, value], ...] (empty values left out). */
export function facts(pairs) {
  return h(
    "dl",
    { class: "meta" },
    pairs
      .filter(([, value]) => value !== "" && value !== null && value !== undefined)
      .map(([key, value]) => [h("dt", { text: t(key) }), h("dd", {}, value)]),
  );
}

let formCount = 0;

function control(prefix, field) {
  const id = `${prefix}-${field.name}`;
  const describedBy = [field.hint ? `${id}-hint` : "", `${id}-error`].filter(Boolean).join(" ");
  const common = { id, name: field.name, "aria-describedby": describedBy, required: field.required };
  if (field.kind === "checkbox") {
    return h(
      "div",
      { class: "field check" },
      h("input", { type: "checkbox", ...common, checked: Boolean(field.value), value: field.checkValue ?? "on" }),
      h("label", { for: id, text: field.label }),
      h("p", { class: "field-error", id: `${id}-error` }),
    );
  }
  let input;
  if (field.kind === "textarea") {
    input = h("textarea", { ...common, maxlength: field.maxlength, rows: "3" });
    input.value = field.value ?? "";
  } else if (field.kind === "select") {
    input = h(
      "select",
      common,
      field.options.map(([value, text]) => h("option", { value, selected: value === field.value, text })),
    );
  } else {
    input = h("input", {
      ...common,
      type: field.kind || "text",
      maxlength: field.maxlength,
      min: field.min,
      max: field.max,
      inputmode: field.inputmode,
      autocomplete: field.autocomplete || "off",
      value: field.value ?? "",
    });
  }
  return h(
    "div",
    { class: "field" },
    h("label", { for: id, text: field.label }),
    field.hint ? h("p", { class: "hint", id: `${id}-hint`, text: field.hint }) : null,
    input,
    h("p", { class: "field-error", id: `${id}-error` }),
  );
}

function values(form, fields) {
  const data = new FormData(form);
  const body = {};
  for (const field of fields) {
    if (field.kind === "checkbox") body[field.name] = data.get(field.name) !== null;
    else body[field.name] = String(data.get(field.name) ?? "").trim();
  }
  return body;
}

function markInvalid(form, prefix, field, message) {
  // a rule names the field as the API knows it (`share_request.purpose`, `fields.name`)
  const parts = field.split(/[.[\]]/).filter(Boolean);
  const name = parts.reverse().find((part) => form.querySelector(`#${CSS.escape(`${prefix}-${part}`)}`));
  if (!name) return false;
  const input = form.querySelector(`#${CSS.escape(`${prefix}-${name}`)}`);
  input.setAttribute("aria-invalid", "true");
  form.querySelector(`#${CSS.escape(`${prefix}-${name}-error`)}`).textContent = message;
  return true;
}

/**
 * A form that calls the API: `fields` as {name, label, kind, required, value, options, hint},
 * `submit` the button's words (or [[words, action name], ...] for several buttons), `send(body,
 * action)` makes the call and returns what to say when it worked. A refusal stays in the form.
 */
export function actionForm({ name, legend, fields = [], submit, send, className = "" }) {
  const prefix = `${name}-${++formCount}`;
  const buttons = Array.isArray(submit) ? submit : [[submit, ""]];
  const outcome = h("div", { class: "outcome" });
  const form = h(
    "form",
    { class: `panel action ${className}`.trim(), novalidate: true, "data-action": name, "aria-label": legend },
    legend ? h("h3", { text: legend }) : null,
    fields.map((field) => control(prefix, field)),
    h(
      "div",
      { class: "actions" },
      buttons.map(([words, action, tone]) =>
        h("button", { type: "submit", value: action, "data-do": action || name, class: tone || false, text: words }),
      ),
    ),
    outcome,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const action = event.submitter?.value || "";
    for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
    for (const el of form.querySelectorAll(".field-error")) el.textContent = "";
    outcome.replaceChildren();
    const body = values(form, fields);
    // `requiredFor`: required by one of the form's buttons only (a return needs a comment)
    const missing = fields.filter(
      (f) => f.kind !== "checkbox" && !body[f.name] && (f.requiredFor ? f.requiredFor === action : f.required),
    );
    if (missing.length) {
      for (const f of missing) markInvalid(form, prefix, f.name, t("demand.required"));
      form.querySelector("[aria-invalid]").focus();
      return;
    }
    for (const button of form.querySelectorAll("button")) button.disabled = true;
    try {
      const said = await send(body, action);
      if (said) {
        fill(outcome, notice(said));
        announce(said);
      }
    } catch (error) {
      if (!(error instanceof Error) || error.status === undefined) throw error;
      for (const e of error.errors || []) markInvalid(form, prefix, e.field, e.detail);
      const box = problemNotice(error);
      box.setAttribute("tabindex", "-1");
      fill(outcome, box);
      box.focus();
    } finally {
      for (const button of form.querySelectorAll("button")) button.disabled = false;
    }
  });
  return form;
}

/** A link inside the console. */
export function link(text, hash) {
  return h("a", { href: hash, text });
}
