// The government departments (GET /public/v1/departments), named in the reader's language.

import { call } from "./api.js";
import { preferences } from "./prefs.js";

let departments = null;

/** [{code, name}], fetched once per page; empty when the gateway cannot say. */
export function departmentList() {
  departments ??= call("/public/v1/departments")
    .then((answer) => answer.departments)
    .catch(() => []);
  return departments;
}

/** "Public Security Bureau (市公安局)" as 市公安局 in Chinese, the rest in English. */
export function departmentName(code, list) {
  const found = list.find((d) => d.code === code);
  if (!found) return code || "—";
  const match = /^(.*?)\s*\((.*)\)$/.exec(found.name);
  if (!match) return found.name;
  return preferences.lang === "en" ? match[1] : match[2];
}
