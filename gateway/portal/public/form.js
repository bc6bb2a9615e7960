// The public portal's forms: every field labelled, with its hint and its error tied to it for
// screen readers; a refusal from the API (problem+json) shown beside each field it names, in the
// reader's words: the portal's own sentence for a rule it knows (`public.rule.<rule>`), else
// the gateway's detail, which is already in the reader's language (Accept-Language).

import * as auth from "../common/auth.js";
import { fill, h } from "../common/dom.js";
import { t, tOr } from "../common/i18n.js";
import { preferences } from "../common/prefs.js";
import { notice } from "../common/shell.js";

/**
 * A labelled field of the form `form` (the id prefix): `<label>`, a hint, the input and the
 * place of its error. Options: tag ("input", "textarea" or "select"), hintKey, and any
 * attribute of the input (type, autocomplete, required, maxlength, value, ...).
 */
export function field(form, name, labelKey, { tag = "input", hintKey = "", children = [], ...attrs } = {}) {
  const id = `${form}-${name}`;
  const describedBy = [hintKey ? `${id}-hint` : "", `${id}-error`].filter(Boolean).join(" ");
  return h(
    "div",
    { class: "field" },
    h("label", { for: id, text: t(labelKey) }),
    hintKey ? h("p", { id: `${id}-hint`, class: "hint", text: t(hintKey) }) : null,
    h(tag, { id, name, "aria-describedby": describedBy, ...attrs }, children),
    h("p", { class: "field-error", id: `${id}-error` }),
  );
}

/** A problem as one sentence: its detail (or title) and each named field's rule. */
export function errorText(error) {
  if (error.status === 0) return t("error.network");
  const fields = error.errors.map((e) => `${e.field}: ${ruleText(e)}`).join("; ");
  return [error.detail || error.title, fields].filter(Boolean).join(" — ");
}

/** One violation in the reader's words: the portal's sentence for its rule, or the detail. */
export function ruleText(violation) {
  return violation.rule ? tOr(`public.rule.${violation.rule}`, violation.detail) : violation.detail;
}

export function clearErrors(form) {
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  for (const el of form.querySelectorAll(".field-error")) el.textContent = "";
}

/**
 * Show the API's refusal `error` on `form`: each violation beside its field (marked invalid),
 * a summary in `outcome` (role=alert), and the focus on the first field to fix.
 */
export function showRefusal(form, outcome, error) {
  clearErrors(form);
  const invalid = [];
  const elsewhere = [];
  for (const violation of error.errors) {
    const name = violation.field.split(".").pop().replace(/\[\d+\]$/, "");
    const input = form.querySelector(`[name="${CSS.escape(name)}"]`);
    const place = input && form.querySelector(`#${CSS.escape(input.id)}-error`);
    if (!place) {
      elsewhere.push(violation);
      continue;
    }
    input.setAttribute("aria-invalid", "true");
    place.textContent = [place.textContent, ruleText(violation)].filter(Boolean).join(" ");
    invalid.push(input);
  }
  const summary = invalid.length
    ? [t("public.form.fix", { count: invalid.length }), ...elsewhere.map((v) => `${v.field}: ${ruleText(v)}`)].join(" ")
    : errorText(error);
  fill(outcome, notice(summary, { error: true }));
  if (invalid.length) invalid[0].focus();
}

/** The form's values, trimmed (passwords as typed). */
export function values(form) {
  const data = {};
  for (const [name, value] of new FormData(form).entries()) {
    const input = form.elements.namedItem(name);
    data[name] = input?.type === "password" ? String(value) : String(value).trim();
  }
  return data;
}

/** "Sign in to ..." and the button, or the notice that sign-in is not offered yet. */
export async function signInFirst(messageKey) {
  const available = await auth.provider().catch(() => null);
  return h(
    "div",
    { class: "panel" },
    h("p", { text: t(available ? messageKey : "signIn.unavailable") }),
    available ? h("button", { type: "button", text: t("signIn"), onclick: () => auth.signIn() }) : null,
  );
}

/** A date and time in the reader's language, or "—". */
export function when(timestamp, { time = true } = {}) {
  if (!timestamp) return "—";
  const date = new Date(timestamp);
  if (Number.isNaN(date.getTime())) return timestamp;
  return time
    ? date.toLocaleString(preferences.lang, { dateStyle: "medium", timeStyle: "short" })
    : date.toLocaleDateString(preferences.lang);
}
