// Licences (电子证照) for the department's licence issuers: issue a licence of a type the
// department issues (the form is built from the licence type's published fields), and suspend,
// resume or revoke one, each with its reason. The licences service checks every field and that
// the issuer's department issues that type.

import { call } from "../common/api.js";
import { h } from "../common/dom.js";
import { t } from "../common/i18n.js";
import { pageSize } from "../common/prefs.js";
import { href, notice } from "../common/shell.js";
import { actionForm, badge, facts, label, office, table } from "./ui.js";

const LICENCES = "/office/v1/licences";
// what each status allows: [action, message key, button tone]
const STEPS = {
  valid: [
    ["suspend", "office.licence.suspend", "secondary"],
    ["revoke", "office.licence.revoke", "secondary"],
  ],
  suspended: [
    ["resume", "office.licence.resume", ""],
    ["revoke", "office.licence.revoke", "secondary"],
  ],
};

let types = null;

function licenceTypes() {
  types ??= call("/public/v1/licences/types").then((answer) => answer.licence_types);
  return types;
}

function statusBadge(status) {
  return badge(label("licence_status", status), status === "valid" ? "ok" : "bad");
}

function issueForm(type) {
  const fields = type.fields.map((f) => ({
    name: f.name,
    label: f.label,
    kind: f.kind === "choice" ? "select" : "text",
    options: f.kind === "choice" ? [["", "—"], ...f.choices.map((c) => [c, c])] : undefined,
    required: f.required,
    maxlength: String(f.max_length || ""),
    hint: f.kind === "date" ? t("office.licence.dateHint") : undefined,
  }));
  return actionForm({
    name: "issue",
    legend: t("office.licence.issueType", { type: type.name }),
    fields,
    submit: t("office.licence.issue"),
    send: async (body) => {
      const filled = Object.fromEntries(Object.entries(body).filter(([, value]) => value !== ""));
      const licence = await office(LICENCES, {
        method: "POST",
        body: { licence_type: type.key, fields: filled },
        idempotencyKey: crypto.randomUUID(),
      });
      window.location.hash = href("licences", { id: licence.id, query: { issued: "1" } });
    },
  });
}

function typePicker(mine, chosen) {
  const form = h(
    "form",
    { class: "panel", "data-action": "choose-type", "aria-label": t("office.licence.issue") },
    h("h3", { text: t("office.licence.issue") }),
    h(
      "div",
      { class: "field" },
      h("label", { for: "licence-type", text: t("office.licence.type") }),
      h(
        "select",
        { id: "licence-type", name: "type" },
        mine.map((type) => h("option", { value: type.key, selected: type.key === chosen, text: type.name })),
      ),
    ),
    h("div", { class: "actions" }, h("button", { type: "submit", text: t("office.licence.fill") })),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    window.location.hash = href("licences", { query: { issue: form.elements.type.value } });
  });
  return form;
}

export async function licences(work, context) {
  if (context.route.id) return licencePage(work, context);
  const all = await licenceTypes();
  const mine = all.filter((type) => type.issuer_department === context.officer.department);
  const chosen = context.route.query.get("issue");
  const typeNames = Object.fromEntries(all.map((type) => [type.key, type.name]));
  const status = context.route.query.get("status") || "";
  const page = await office(LICENCES, { query: { status, page_size: pageSize() * 2 } });
  work.append(h("h2", { text: t("office.licence.issue") }));
  if (!mine.length) work.append(h("p", { text: t("office.licence.noTypes") }));
  else {
    work.append(typePicker(mine, chosen));
    const type = mine.find((candidate) => candidate.key === chosen);
    if (type) work.append(issueForm(type));
  }
  work.append(
    h("h2", { text: t("office.licence.issued.list") }),
    page.licences.length
      ? table(t("office.licence.issued.list"), [
          ["office.licence.id", (l) => h("a", { href: href("licences", { id: l.id }), text: l.id }), { header: true }],
          ["office.licence.type", (l) => typeNames[l.licence_type] || l.licence_type],
          ["office.queue.state", (l) => statusBadge(l.status)],
          ["office.licence.validFrom", (l) => l.valid_from || "—"],
          ["office.licence.validUntil", (l) => l.valid_until || t("office.licence.longTerm")],
        ], page.licences)
      : h("p", { text: t("office.licence.none") }),
  );
}

async function licencePage(work, { route, reload }) {
  const [licence, all] = await Promise.all([
    office(`${LICENCES}/${encodeURIComponent(route.id)}`),
    licenceTypes(),
  ]);
  const type = all.find((candidate) => candidate.key === licence.licence_type);
  if (route.query.get("issued")) work.append(notice(t("office.licence.issued")));
  work.append(
    h("p", {}, h("a", { href: href("licences"), text: t("office.back") })),
    h("h2", { text: type ? type.name : licence.licence_type }),
    facts([
      ["office.licence.id", h("code", { text: licence.id })],
      ["office.queue.state", h("span", { class: "licence-status" }, statusBadge(licence.status))],
      ["office.licence.reason", licence.status_reason],
      ["field.version", String(licence.version)],
      ["office.licence.validFrom", licence.valid_from],
      ["office.licence.validUntil", licence.valid_until || t("office.licence.longTerm")],
    ]),
  );
  const steps = STEPS[licence.status] || [];
  if (!steps.length) return;
  work.append(
    actionForm({
      name: "licence-status",
      legend: t("office.licence.change"),
      fields: [{ name: "reason", label: t("office.licence.reason"), kind: "textarea", required: true, maxlength: "500" }],
      submit: steps.map(([action, key, tone]) => [t(key), action, tone]),
      send: async (body, action) => {
        const changed = await office(`${LICENCES}/${encodeURIComponent(licence.id)}/${action}`, {
          method: "POST",
          body: { reason: body.reason },
        });
        await reload(t("office.licence.changed", { status: label("licence_status", changed.status) }));
      },
    }),
  );
}
