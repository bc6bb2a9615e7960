// The public's demands for open data (Art. 16): the Big Data Bureau routes a new demand to the
// department that holds the data, with the days it has to answer; that department's catalog
// officers answer it (opened, planned or declined), and the answer is public. Overdue demands
// wear a badge. Who may route and answer is the catalog service's to decide.

import { departmentList, departmentName } from "../common/departments.js";
import { h } from "../common/dom.js";
import { t } from "../common/i18n.js";
import { pageSize } from "../common/prefs.js";
import { actionForm, badge, facts, label, office, when } from "./ui.js";

const DEMANDS = "/office/v1/catalog/demands";

function routeForm(demand, list, reload) {
  return actionForm({
    name: "route",
    legend: t("office.demand.route"),
    fields: [
      {
        name: "department",
        label: t("office.queue.department"),
        kind: "select",
        value: demand.suggested_department,
        options: list.map((d) => [d.code, departmentName(d.code, list)]),
      },
      { name: "due_days", label: t("office.demand.dueDays"), kind: "number", min: "1", max: "60", value: "15", inputmode: "numeric" },
    ],
    submit: t("office.demand.route"),
    send: async (body) => {
      await office(`${DEMANDS}/${encodeURIComponent(demand.id)}/route`, {
        method: "POST",
        body: { department: body.department, due_days: Number(body.due_days || 0) },
      });
      await reload(t("office.demand.routed", { department: departmentName(body.department, list) }));
    },
  });
}

function answerForm(demand, reload) {
  return actionForm({
    name: "answer",
    legend: t("office.demand.answer"),
    fields: [
      {
        name: "outcome",
        label: t("office.demand.outcome"),
        kind: "select",
        options: ["planned", "opened", "declined"].map((o) => [o, label("office.outcome", o)]),
      },
      { name: "answer", label: t("demand.answer"), kind: "textarea", required: true, maxlength: "2000", hint: t("office.demand.public") },
      { name: "resource_id", label: t("office.demand.resource"), hint: t("office.demand.resourceHint"), maxlength: "64" },
    ],
    submit: t("office.demand.answer"),
    send: async (body) => {
      await office(`${DEMANDS}/${encodeURIComponent(demand.id)}/answer`, { method: "POST", body });
      await reload(t("office.demand.answered"));
    },
  });
}

function demandPanel(demand, list, { officer, roles, reload }) {
  const late = demand.overdue ? badge(t("office.share.overdue"), "bad overdue") : null;
  const panel = h(
    "li",
    { class: "panel demand", "data-demand": demand.id },
    h("h3", { text: demand.title }),
    facts([
      ["office.queue.state", h("span", {}, label("demand_state", demand.state), " ", late)],
      ["demand.description", demand.description],
      ["demand.department", demand.suggested_department ? departmentName(demand.suggested_department, list) : ""],
      ["office.demand.routedTo", demand.department ? departmentName(demand.department, list) : ""],
      ["office.share.due", demand.due_time ? when(demand.due_time) : ""],
      ["office.demand.outcome", demand.outcome ? label("office.outcome", demand.outcome) : ""],
      ["demand.answer", demand.answer],
      ["office.share.submitted", when(demand.create_time)],
    ]),
  );
  if (demand.state === "submitted" && roles.includes("bdb_admin")) panel.append(routeForm(demand, list, reload));
  if (demand.state === "routed" && demand.department === officer.department && roles.includes("catalog_officer")) {
    panel.append(answerForm(demand, reload));
  }
  return panel;
}

async function section(headingKey, query, list, context) {
  const page = await office(DEMANDS, { query: { ...query, page_size: pageSize() * 2 } });
  return h(
    "section",
    { "data-queue": query.state },
    h("h2", { text: t(headingKey) }),
    page.demands.length
      ? h("ul", { class: "results" }, page.demands.map((d) => demandPanel(d, list, context)))
      : h("p", { text: t("demands.none") }),
  );
}

export async function demands(work, context) {
  const list = await departmentList();
  const bureau = context.roles.includes("bdb_admin");
  const sections = [];
  if (bureau) sections.push(section("office.demand.toRoute", { state: "submitted" }, list, context));
  sections.push(
    section("office.demand.toAnswer", { state: "routed", department: bureau ? "" : context.officer.department }, list, context),
  );
  work.append(...(await Promise.all(sections)));
}
