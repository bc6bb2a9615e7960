// Messages in the reader's language: zh-CN by default, English on request (remembered).
// Static text in the HTML names its message with data-i18n="key" (text) or
// data-i18n-attr="attribute:key" (an attribute such as aria-label or placeholder).

import { preferences } from "./prefs.js";

export const LANGUAGES = ["zh-CN", "en"];
let messages = {};
let fallback = {};

async function load(lang) {
  const response = await fetch(`/portal/i18n/${lang}.json`, { headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`messages ${lang}: HTTP ${response.status}`);
  return response.json();
}

/** Load the messages of the preferred language (and zh-CN for anything it lacks). */
export async function loadMessages() {
  const lang = preferences.lang;
  fallback = await load("zh-CN");
  messages = lang === "zh-CN" ? fallback : await load(lang);
  document.documentElement.lang = lang;
}

/** The message `key` with `{name}` placeholders filled from `params`. */
export function t(key, params = {}) {
  const template = messages[key] ?? fallback[key] ?? key;
  return template.replace(/\{(\w+)\}/g, (_, name) => (name in params ? String(params[name]) : `{${name}}`));
}

/** t(key) when the key has a message, else `otherwise` (for codes from the API). */
export function tOr(key, otherwise) {
  return key in messages || key in fallback ? t(key) : otherwise;
}

/** Translate the static text of `root`. */
export function translate(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) {
    el.textContent = t(el.dataset.i18n);
  }
  for (const el of root.querySelectorAll("[data-i18n-attr]")) {
    for (const pair of el.dataset.i18nAttr.split(";")) {
      const [attr, key] = pair.split(":");
      el.setAttribute(attr.trim(), t(key.trim()));
    }
  }
}
