// The catalog's work: a department's drafts and returned resources (edit, submit), and the Big
// Data Bureau's review (the version diff, confirm, return, publish, withdraw). A resource's page
// is the same for both; the actions offered follow its state and the officer's roles, and the
// catalog service still decides each step (its lifecycle and department rules).

import { departmentList, departmentName } from "../common/departments.js";
import { h } from "../common/dom.js";
import { t } from "../common/i18n.js";
import { pageSize } from "../common/prefs.js";
import { href } from "../common/shell.js";
import { actionForm, badge, facts, label, office, table, when } from "./ui.js";

const RESOURCES = "/office/v1/catalog/resources";
// the queues of each view, by state: [heading key, states]
const QUEUES = {
  drafts: [
    ["office.queue.drafts", ["draft", "returned"]],
    ["office.queue.inReview", ["submitted", "confirmed"]],
  ],
  review: [
    ["office.queue.toReview", ["submitted"]],
    ["office.queue.toPublish", ["confirmed"]],
    ["office.queue.published", ["published"]],
  ],
};
const MAX_PAGES = 10; // a queue shows its newest; a department with more has bigger problems

async function resourcesIn(state, department) {
  const found = [];
  let token = "";
  for (let page = 0; page < MAX_PAGES; page++) {
    const answer = await office(RESOURCES, {
      query: { state, provider_department: department, page_size: 100, page_token: token },
    });
    found.push(...answer.resources);
    token = answer.next_page_token;
    if (!token) break;
  }
  return found;
}

async function queue(view, headingKey, states, department) {
  const pages = await Promise.all(states.map((state) => resourcesIn(state, department)));
  const resources = pages
    .flat()
    .sort((a, b) => String(b.update_time).localeCompare(String(a.update_time)))
    .slice(0, pageSize() * 2);
  const list = await departmentList();
  const section = h("section", { class: "queue", "data-queue": states.join(" ") }, h("h2", { text: t(headingKey) }));
  if (!resources.length) {
    section.append(h("p", { text: t("office.queue.empty") }));
    return section;
  }
  section.append(
    table(t(headingKey), [
      ["field.code", (r) => r.code],
      ["item.name", (r) => h("a", { href: href(view, { id: r.id }), text: r.name }), { header: true }],
      ["office.queue.department", (r) => departmentName(r.provider_department, list)],
      ["office.queue.state", (r) => label("state", r.state)],
      ["field.version", (r) => String(r.version)],
      ["office.queue.updated", (r) => when(r.update_time)],
    ], resources),
  );
  return section;
}

async function queues(view, work, context) {
  if (context.route.id) return resourcePage(view, work, context);
  // a department's officers see their own department's; the Bureau's review sees every one
  const department = view === "drafts" ? context.officer.department : "";
  const sections = await Promise.all(QUEUES[view].map(([key, states]) => queue(view, key, states, department)));
  work.append(...sections);
}

export function drafts(work, context) {
  return queues("drafts", work, context);
}

export function review(work, context) {
  return queues("review", work, context);
}

function history(transitions, list) {
  if (!transitions.length) return h("p", { text: t("office.resource.noHistory") });
  return table(t("office.resource.history"), [
    ["office.queue.updated", (s) => when(s.time)],
    ["field.version", (s) => String(s.version)],
    ["office.resource.step", (s) => `${label("state", s.from_state)} → ${label("state", s.to_state)}`],
    ["office.queue.department", (s) => departmentName(s.actor_department, list)],
    ["office.resource.comment", (s) => s.comment || "—", { wrap: true }],
  ], [...transitions].reverse());
}

async function diff(resource) {
  const section = h("section", { class: "diff", "aria-labelledby": "diff-heading" });
  if (Number(resource.version) < 2) {
    section.append(
      h("h2", { id: "diff-heading", text: t("office.diff.title") }),
      h("p", { text: t("office.diff.first") }),
    );
    return section;
  }
  const answer = await office(`${RESOURCES}/${encodeURIComponent(resource.id)}/diff`);
  section.append(
    h("h2", {
      id: "diff-heading",
      text: t("office.diff.between", { from: answer.from_version, to: answer.to_version }),
    }),
  );
  if (!answer.changes.length) {
    section.append(h("p", { text: t("office.diff.none") }));
    return section;
  }
  section.append(
    table(t("office.diff.title"), [
      ["office.diff.field", (c) => c.field, { header: true }],
      ["office.diff.change", (c) => badge(label("office.change", c.change), c.change === "removed" ? "bad" : "ok")],
      ["office.diff.before", (c) => (c.before ? h("del", { text: c.before }) : "—")],
      ["office.diff.after", (c) => (c.after ? h("ins", { text: c.after }) : "—")],
    ], answer.changes),
  );
  return section;
}

function editForm(resource, reload) {
  return actionForm({
    name: "edit",
    legend: t("office.resource.edit"),
    fields: [
      { name: "name", label: t("item.name"), value: resource.name, required: true, maxlength: "200" },
      { name: "summary", label: t("office.resource.summary"), kind: "textarea", value: resource.summary, required: true, maxlength: "2000" },
      {
        name: "keywords",
        label: t("field.keywords"),
        hint: t("office.resource.keywordsHint"),
        value: (resource.keywords || []).join("，"),
      },
    ],
    submit: t("office.resource.save"),
    send: async (body) => {
      const keywords = body.keywords.split(/[,，、\s]+/).filter(Boolean);
      const changed = await office(`${RESOURCES}/${encodeURIComponent(resource.id)}`, {
        method: "PATCH",
        body: { name: body.name, summary: body.summary, keywords },
      });
      await reload(t("office.resource.saved", { version: changed.version, state: label("state", changed.state) }));
    },
  });
}

function step(resource, action, reload, { legend, fields = [], words, makeBody = (b) => b }) {
  return actionForm({
    name: action,
    legend,
    fields,
    submit: words,
    send: async (body) => {
      const changed = await office(`${RESOURCES}/${encodeURIComponent(resource.id)}/${action}`, {
        method: "POST",
        body: makeBody(body),
      });
      await reload(t("office.resource.done", { state: label("state", changed.state) }));
    },
  });
}

function actions(resource, { officer, roles, reload }, view) {
  const forms = [];
  const own = resource.provider_department === officer.department;
  const state = resource.state;
  if (view === "drafts" && own && roles.includes("catalog_officer")) {
    if (["draft", "returned", "confirmed", "published"].includes(state)) forms.push(editForm(resource, reload));
    if (["draft", "returned"].includes(state)) {
      forms.push(step(resource, "submit", reload, { legend: t("office.action.submit"), words: t("office.action.submit"), makeBody: () => ({}) }));
    }
  }
  if (view === "review" && roles.includes("bdb_admin")) {
    if (state === "submitted") {
      forms.push(
        actionForm({
          name: "decide",
          legend: t("office.action.review"),
          fields: [
            {
              name: "comment",
              label: t("office.resource.comment"),
              kind: "textarea",
              maxlength: "2000",
              hint: t("office.action.commentHint"),
              requiredFor: "return",
            },
          ],
          submit: [
            [t("office.action.confirm"), "confirm"],
            [t("office.action.return"), "return", "secondary"],
          ],
          send: async (body, action) => {
            const changed = await office(`${RESOURCES}/${encodeURIComponent(resource.id)}/${action}`, {
              method: "POST",
              body: { comment: body.comment },
            });
            await reload(t("office.resource.done", { state: label("state", changed.state) }));
          },
        }),
      );
    }
    if (["confirmed", "published"].includes(state)) {
      const openable = resource.open_type !== "not_open";
      forms.push(
        step(resource, "publish", reload, {
          legend: t("office.action.publish"),
          words: t("office.action.publish"),
          fields: [
            { name: "share_catalog", label: t("office.publish.share"), kind: "checkbox", value: true },
            { name: "open_catalog", label: t("office.publish.open"), kind: "checkbox", value: openable },
          ],
        }),
      );
    }
    if (["confirmed", "published"].includes(state) || resource.in_share_catalog || resource.in_open_catalog) {
      forms.push(
        step(resource, "withdraw", reload, {
          legend: t("office.action.withdraw"),
          words: t("office.action.withdraw"),
          fields: [{ name: "reason", label: t("office.resource.reason"), kind: "textarea", required: true, maxlength: "2000" }],
        }),
      );
    }
  }
  return forms;
}

async function resourcePage(view, work, context) {
  const id = context.route.id;
  const path = `${RESOURCES}/${encodeURIComponent(id)}`;
  const [resource, steps, list] = await Promise.all([
    office(path),
    office(`${path}/history`),
    departmentList(),
  ]);
  const listed = [
    resource.in_share_catalog ? badge(t("office.resource.inShare"), "ok") : null,
    resource.in_open_catalog ? badge(t("office.resource.inOpen"), "ok") : null,
  ].filter(Boolean);
  work.append(
    h("p", {}, h("a", { href: href(view), text: t("office.back") })),
    h("h2", { class: "resource-name", text: resource.name }),
    facts([
      ["field.code", resource.code],
      ["office.queue.state", h("span", { class: "resource-state" }, label("state", resource.state), " ", ...listed)],
      ["field.version", String(resource.version)],
      ["field.provider", departmentName(resource.provider_department, list)],
      ["office.resource.summary", resource.summary],
      ["field.open_type", label("open_type", resource.open_type)],
      ["office.resource.shareType", label("share_type", resource.share_type)],
      ["field.data_grade", label("data_grade", resource.data_grade)],
      ["field.update_cycle", label("update_cycle", resource.update_cycle)],
      ["field.keywords", (resource.keywords || []).join("，")],
    ]),
    await diff(resource),
    h(
      "section",
      { class: "steps", "aria-labelledby": "steps-heading" },
      h("h2", { id: "steps-heading", text: t("office.resource.history") }),
      history(steps.transitions || [], list),
    ),
  );
  const forms = actions(resource, context, view);
  if (forms.length) work.append(h("h2", { text: t("office.resource.actions") }), ...forms);
}
