// Share requests (共享申请): those asked of the officer's department to decide, with their
// deadlines and an overdue badge once the deadline has passed (the exchange then escalates them
// to the Big Data Bureau), and those it asked of others. Deciding grants all or some of the
// data items asked for, for the days asked or fewer, or refuses with a reason.

import { departmentList, departmentName } from "../common/departments.js";
import { h } from "../common/dom.js";
import { t } from "../common/i18n.js";
import { href } from "../common/shell.js";
import { actionForm, badge, facts, label, office, table, when } from "./ui.js";

const REQUESTS = "/office/v1/exchange/share-requests";
const DAY_MS = 86_400_000;
const MAX_PAGES = 10;

async function everyRequest() {
  const found = [];
  let token = "";
  for (let page = 0; page < MAX_PAGES; page++) {
    const answer = await office(REQUESTS, { query: { page_size: 100, page_token: token } });
    found.push(...answer.share_requests);
    token = answer.next_page_token;
    if (!token) break;
  }
  return found;
}

/** The resources' names, by id (an id stays an id when the resource cannot be read). */
async function resourceNames(ids) {
  const unique = [...new Set(ids)];
  const names = await Promise.all(
    unique.map((id) =>
      office(`/office/v1/catalog/resources/${encodeURIComponent(id)}`)
        .then((r) => r.name)
        .catch(() => id),
    ),
  );
  return Object.fromEntries(unique.map((id, i) => [id, names[i]]));
}

/** "department:psb" or "partner:demo.partner" in words. */
function party(consumer, list) {
  const [kind, name] = String(consumer).split(":");
  if (kind === "department") return departmentName(name, list);
  if (kind === "partner") return t("office.share.partner", { name });
  return consumer || "—";
}

/** The deadline's badge: overdue (red), due within a day, or how many days are left. */
export function deadline(request) {
  if (request.state !== "pending") return badge(label("office.share_state", request.state), request.state === "granted" ? "ok" : "");
  const due = new Date(request.due_time).getTime();
  const left = due - Date.now();
  if (request.overdue || left < 0) return badge(t("office.share.overdue"), "bad overdue");
  const days = Math.floor(left / DAY_MS);
  return badge(days < 1 ? t("office.share.dueToday") : t("office.share.daysLeft", { days }), days < 1 ? "bad" : "");
}

function requestTable(caption, requests, names, list) {
  return table(caption, [
    ["office.share.resource", (r) => h("a", { href: href("share-requests", { id: r.id }), text: names[r.resource_id] }), { header: true }],
    ["office.share.consumer", (r) => party(r.consumer, list)],
    ["office.share.submitted", (r) => when(r.submit_time)],
    ["office.share.due", (r) => when(r.due_time)],
    ["office.queue.state", (r) => deadline(r)],
  ], requests);
}

export async function shareRequests(work, context) {
  if (context.route.id) return requestPage(work, context);
  const [requests, list] = await Promise.all([everyRequest(), departmentList()]);
  const mine = context.officer.department;
  const names = await resourceNames(requests.map((r) => r.resource_id));
  const pendingFirst = (a, b) =>
    (a.state === "pending" ? 0 : 1) - (b.state === "pending" ? 0 : 1) ||
    String(a.due_time).localeCompare(String(b.due_time));
  const toDecide = requests.filter((r) => r.provider_department === mine).sort(pendingFirst);
  const asked = requests.filter((r) => r.consumer === `department:${mine}`).sort(pendingFirst);
  const overdue = toDecide.filter((r) => r.state === "pending" && r.overdue).length;
  work.append(
    h("section", { "data-queue": "to-decide" },
      h("h2", { text: t("office.share.toDecide") }),
      overdue ? h("p", {}, badge(t("office.share.overdueCount", { count: overdue }), "bad")) : null,
      toDecide.length ? requestTable(t("office.share.toDecide"), toDecide, names, list) : h("p", { text: t("office.share.none") }),
    ),
    h("section", { "data-queue": "asked" },
      h("h2", { text: t("office.share.asked") }),
      asked.length ? requestTable(t("office.share.asked"), asked, names, list) : h("p", { text: t("office.share.none") }),
    ),
  );
}

function decideForm(request, reload) {
  const asked = request.fields || [];
  return actionForm({
    name: "decide",
    legend: t("office.share.decide"),
    fields: [
      ...asked.map((field, i) => ({ name: `field-${i}`, label: field, kind: "checkbox", value: true })),
      {
        name: "duration_days",
        label: t("office.share.days"),
        kind: "number",
        min: "1",
        max: "365",
        inputmode: "numeric",
        value: String(request.duration_days),
      },
      { name: "reason", label: t("office.share.reason"), kind: "textarea", maxlength: "1000", requiredFor: "refuse", hint: t("office.share.reasonHint") },
    ],
    submit: [
      [t("office.share.grant"), "grant"],
      [t("office.share.refuse"), "refuse", "secondary"],
    ],
    send: async (body, action) => {
      const grant = action === "grant";
      const decision = { grant, reason: body.reason };
      if (grant) {
        decision.fields = asked.filter((_, i) => body[`field-${i}`]);
        decision.duration_days = Number(body.duration_days || 0);
      }
      const decided = await office(`${REQUESTS}/${encodeURIComponent(request.id)}/decide`, { method: "POST", body: decision });
      await reload(t("office.share.decided", { state: label("office.share_state", decided.state) }));
    },
  });
}

async function requestPage(work, { route, officer, roles, reload }) {
  const [request, list] = await Promise.all([
    office(`${REQUESTS}/${encodeURIComponent(route.id)}`),
    departmentList(),
  ]);
  const names = await resourceNames([request.resource_id]);
  work.append(
    h("p", {}, h("a", { href: href("share-requests"), text: t("office.back") })),
    h("h2", { text: names[request.resource_id] }),
    facts([
      [
        "office.queue.state",
        h(
          "span",
          { class: "request-state" },
          // a decided request's badge names its state; a pending one's names its deadline
          request.state === "pending" ? [label("office.share_state", request.state), " "] : null,
          deadline(request),
        ),
      ],
      ["office.share.consumer", party(request.consumer, list)],
      ["field.provider", departmentName(request.provider_department, list)],
      ["office.share.purpose", request.purpose],
      ["office.share.basis", request.legal_basis],
      ["office.share.fields", (request.fields || []).join("，")],
      ["office.share.days", String(request.duration_days)],
      ["office.share.submitted", when(request.submit_time)],
      ["office.share.due", when(request.due_time)],
      ["office.share.decidedAt", request.decide_time ? when(request.decide_time) : ""],
      ["office.share.reason", request.reason],
      ["office.share.granted", request.grant ? `${(request.grant.fields || []).join("，")} · ${t("office.share.until", { time: when(request.grant.expire_time) })}` : ""],
    ]),
  );
  if (request.state === "pending" && request.provider_department === officer.department && roles.includes("share_approver")) {
    work.append(decideForm(request, reload));
  }
}
