// The licence types (GET /public/v1/licences/types, fetched once a page): their names and the
// words for their claims in the reader's language. The API labels fields in Chinese; English
// labels and the derived claims' words (age_over_18, ...) are the portal's own.

import { call } from "../common/api.js";
import { t, tOr } from "../common/i18n.js";
import { preferences } from "../common/prefs.js";

let types = null;

/** {key: LicenceType}, or {} when the gateway cannot say. */
export function licenceTypes() {
  types ??= call("/public/v1/licences/types")
    .then((answer) => Object.fromEntries(answer.licence_types.map((type) => [type.key, type])))
    .catch(() => ({}));
  return types;
}

/** A licence type's name: 居民身份证, or "ID card" in English. */
export function typeName(type, key = "") {
  if (!type) return key || "—";
  if (preferences.lang !== "en" || !type.english_name) return type.name;
  return type.english_name[0].toUpperCase() + type.english_name.slice(1);
}

/** A claim's label: the type's field label in Chinese, the portal's words otherwise. */
export function claimLabel(type, name) {
  const label = (type?.fields || []).find((field) => field.name === name)?.label;
  if (preferences.lang !== "en" && label) return label;
  return tOr(`public.claim.${name}`, label || name);
}

/** A claim's value as a reader reads it: derived claims are yes or no. */
export function claimValue(value) {
  if (value === "true") return t("yes");
  if (value === "false") return t("no");
  return value;
}
