// Oversight work: partner systems' event entitlements (the Bureau grants and removes them),
// the audit chain's check and records, security incidents through their stages to the report,
// the registered applications, and the departments' scorecards. Reading is for the oversight
// roles; each write is the role table's to allow (runtime/roles.py).

import { ApiError } from "../common/api.js";
import * as auth from "../common/auth.js";
import { departmentList, departmentName } from "../common/departments.js";
import { h } from "../common/dom.js";
import { t } from "../common/i18n.js";
import { pageSize, preferences } from "../common/prefs.js";
import { href } from "../common/shell.js";
import { actionForm, badge, facts, label, office, table, when } from "./ui.js";

// --- partner entitlements ---------------------------------------------------------------------

async function partnerClients() {
  const found = [];
  let token = "";
  for (let page = 0; page < 10; page++) {
    const answer = await office("/office/v1/accounts", { query: { page_size: 100, page_token: token } });
    found.push(...answer.accounts.filter((a) => a.kind === "partner"));
    token = answer.next_page_token;
    if (!token) break;
  }
  return found;
}

export async function partners(work, { route, roles, reload }) {
  const [clients, catalogue] = await Promise.all([partnerClients(), office("/office/v1/partners/event-types")]);
  if (!clients.length) {
    work.append(h("p", { text: t("office.partner.none") }));
    return;
  }
  const chosen = route.query.get("client") || clients[0].username;
  work.append(
    h(
      "nav",
      { "aria-label": t("office.partner.clients") },
      h("ul", { class: "tags" }, clients.map((c) =>
        h("li", {}, h("a", {
          href: href("partners", { query: { client: c.username } }),
          "aria-current": c.username === chosen ? "true" : false,
          text: c.username,
        })),
      )),
    ),
  );
  const base = `/office/v1/partners/${encodeURIComponent(chosen)}/entitlements`;
  const held = (await office(base)).entitlements || [];
  const summaries = Object.fromEntries(catalogue.event_types.map((e) => [e.event_type, e.summary]));
  const canGrant = roles.includes("bdb_admin");
  work.append(h("h2", { text: t("office.partner.entitlements", { client: chosen }) }));
  work.append(
    held.length
      ? table(t("office.partner.entitlements", { client: chosen }), [
          ["office.partner.event", (e) => h("code", { text: e.event_type }), { header: true }],
          ["office.partner.scope", (e) => label("office.scope", e.scope)],
          ["office.partner.summary", (e) => summaries[e.event_type] || "—", { wrap: true }],
          ["office.partner.granted", (e) => when(e.grant_time)],
          ["office.resource.actions", (e) => canGrant
            ? actionForm({
                name: "remove",
                className: "inline",
                submit: [[t("office.partner.remove"), "remove", "secondary"]],
                send: async () => {
                  await office(`${base}/${encodeURIComponent(e.event_type)}`, { method: "DELETE" });
                  await reload(t("office.partner.removed", { event: e.event_type }));
                },
              })
            : "—"],
        ], held)
      : h("p", { text: t("office.partner.nothing") }),
  );
  const grantable = catalogue.event_types.filter((e) => !held.some((x) => x.event_type === e.event_type));
  if (canGrant && grantable.length) {
    work.append(
      actionForm({
        name: "grant",
        legend: t("office.partner.grant"),
        fields: [{
          name: "event_type",
          label: t("office.partner.event"),
          kind: "select",
          options: grantable.map((e) => [e.event_type, `${e.event_type} — ${e.summary}`]),
        }],
        submit: t("office.partner.grant"),
        send: async (body) => {
          await office(base, { method: "POST", body: { event_type: body.event_type } });
          await reload(t("office.partner.granted.done", { event: body.event_type }));
        },
      }),
    );
  }
}

// --- the audit chain --------------------------------------------------------------------------

export async function audit(work, { route }) {
  const pageToken = route.query.get("page") || "";
  const result = h("div", { class: "audit-result", "aria-live": "polite" });
  work.append(
    h("h2", { text: t("office.audit.check") }),
    h("p", { text: t("office.audit.intro") }),
    actionForm({
      name: "verify",
      submit: t("office.audit.verify"),
      send: async () => {
        const answer = await office("/office/v1/audit/verify", { method: "POST", body: {} });
        result.replaceChildren(
          h("p", {}, answer.intact
            ? badge(t("office.audit.intact"), "ok")
            : badge(t("office.audit.broken", { sequence: answer.first_broken_sequence }), "bad")),
          facts([
            ["office.audit.records", String(answer.records)],
            ["office.audit.checkpoints", String(answer.checkpoints)],
            ["office.audit.problem", answer.problem],
          ]),
        );
        return answer.intact ? t("office.audit.intact") : t("office.audit.broken", { sequence: answer.first_broken_sequence });
      },
    }),
    result,
  );
  const page = await office("/office/v1/audit/records", { query: { page_size: pageSize() * 2, page_token: pageToken } });
  work.append(
    h("h2", { text: t("office.audit.list") }),
    table(t("office.audit.list"), [
      ["office.audit.sequence", (r) => String(r.sequence), { header: true }],
      ["office.queue.updated", (r) => when(r.record.time)],
      ["office.audit.service", (r) => r.record.service],
      ["office.audit.action", (r) => r.record.action],
      ["office.audit.actor", (r) => r.record.actor_department ? `${r.record.actor_type} · ${r.record.actor_department}` : r.record.actor_type],
      ["office.audit.resource", (r) => `${r.record.resource_type} ${r.record.resource_id}`],
      ["office.audit.outcome", (r) => r.record.outcome],
      ["office.audit.hash", (r) => h("code", { title: r.hash, text: `${r.hash.slice(0, 12)}…` })],
    ], page.records),
    page.next_page_token
      ? h("p", {}, h("a", { href: href("audit", { query: { page: page.next_page_token } }), text: t("office.audit.next") }))
      : null,
  );
}

// --- incidents --------------------------------------------------------------------------------

const INCIDENTS = "/office/v1/incidents";
const STAGES = ["reported", "contained", "users_notified", "authority_reported", "closed"];
const SEVERITIES = ["low", "medium", "high", "critical"];

export async function incidents(work, context) {
  if (context.route.id) return incidentPage(work, context);
  const page = await office(INCIDENTS, { query: { page_size: pageSize() * 2 } });
  work.append(
    actionForm({
      name: "report-incident",
      legend: t("office.incident.new"),
      fields: [
        { name: "title", label: t("office.incident.title"), required: true, maxlength: "200" },
        { name: "description", label: t("office.incident.description"), kind: "textarea", maxlength: "20000" },
        {
          name: "severity",
          label: t("office.incident.severity"),
          kind: "select",
          options: [["", "—"], ...SEVERITIES.map((s) => [s, label("office.severity", s)])],
          required: true,
        },
        { name: "affected_subjects", label: t("office.incident.subjects"), kind: "number", min: "0", inputmode: "numeric", value: "0" },
      ],
      submit: t("office.incident.report"),
      send: async (body) => {
        const made = await office(INCIDENTS, {
          method: "POST",
          body: { ...body, affected_subjects: Number(body.affected_subjects || 0) },
        });
        window.location.hash = href("incidents", { id: made.id });
      },
    }),
    h("h2", { text: t("office.incident.list") }),
    page.incidents.length
      ? table(t("office.incident.list"), [
          ["office.incident.title", (i) => h("a", { href: href("incidents", { id: i.id }), text: i.title }), { header: true }],
          ["office.incident.severity", (i) => badge(label("office.severity", i.severity), ["high", "critical"].includes(i.severity) ? "bad" : "")],
          ["office.incident.stage", (i) => label("office.stage", i.stage)],
          ["office.queue.updated", (i) => when(i.create_time)],
        ], page.incidents)
      : h("p", { text: t("office.incident.none") }),
  );
}

/** The report is Markdown (not JSON), its SM3 digest in a header. */
async function incidentReport(path) {
  const response = await fetch(`${path}/report`, {
    headers: {
      Accept: "text/markdown, application/problem+json",
      "Accept-Language": preferences.lang,
      Authorization: `Bearer ${await auth.accessToken()}`,
    },
    credentials: "omit",
    cache: "no-store",
  });
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => ({})));
  return { text: await response.text(), sm3: response.headers.get("Digest-SM3") || "" };
}

async function incidentPage(work, { route, reload }) {
  const path = `${INCIDENTS}/${encodeURIComponent(route.id)}`;
  const incident = await office(path);
  const later = STAGES.slice(STAGES.indexOf(incident.stage) + 1);
  work.append(
    h("p", {}, h("a", { href: href("incidents"), text: t("office.back") })),
    h("h2", { class: "incident-title", text: incident.title }),
    facts([
      ["office.incident.stage", h("span", { class: "incident-stage" }, label("office.stage", incident.stage))],
      ["office.incident.severity", label("office.severity", incident.severity)],
      ["office.incident.description", incident.description],
      ["office.incident.subjects", String(incident.affected_subjects || 0)],
      ["office.queue.updated", when(incident.create_time)],
    ]),
    h("h2", { text: t("office.incident.timeline") }),
    table(t("office.incident.timeline"), [
      ["office.queue.updated", (s) => when(s.time)],
      ["office.incident.stage", (s) => label("office.stage", s.stage), { header: true }],
      ["office.incident.note", (s) => s.note || "—", { wrap: true }],
    ], incident.timeline || []),
  );
  if (later.length) {
    work.append(
      actionForm({
        name: "advance",
        legend: t("office.incident.advance"),
        fields: [
          { name: "stage", label: t("office.incident.next"), kind: "select", options: later.map((s) => [s, label("office.stage", s)]) },
          { name: "note", label: t("office.incident.note"), kind: "textarea", required: true, maxlength: "5000", hint: t("office.incident.noteHint") },
        ],
        submit: t("office.incident.advance"),
        send: async (body) => {
          const moved = await office(`${path}/advance`, { method: "POST", body });
          await reload(t("office.incident.moved", { stage: label("office.stage", moved.stage) }));
        },
      }),
    );
  }
  const report = h("div", { class: "incident-report" });
  work.append(
    actionForm({
      name: "incident-report",
      legend: t("office.incident.reportTitle"),
      submit: t("office.incident.makeReport"),
      send: async () => {
        const { text, sm3 } = await incidentReport(path);
        report.replaceChildren(
          h("p", {}, "SM3: ", h("code", { class: "digest", text: sm3 })),
          h("pre", { class: "report", tabindex: "0", "aria-label": t("office.incident.reportTitle"), text }),
        );
        return t("office.incident.reportReady");
      },
    }),
    report,
  );
}

// --- applications and scorecards --------------------------------------------------------------

export async function applications(work) {
  const answer = await office("/office/v1/applications");
  const list = await departmentList();
  work.append(
    table(t("office.applications"), [
      ["office.app.client", (a) => h("code", { text: a.client_id }), { header: true }],
      ["item.name", (a) => a.name],
      ["office.app.entry", (a) => a.entry_point],
      ["office.app.kind", (a) => [a.first_party ? t("office.app.firstParty") : t("office.app.thirdParty"), a.confidential ? t("office.app.confidential") : t("office.app.public")].join(" · ")],
      ["office.app.redirects", (a) => (a.redirect_uris || []).join(" ")],
      ["office.queue.department", (a) => departmentName(a.department, list)],
      ["office.app.created", (a) => when(a.created_at)],
    ], answer.applications || []),
  );
}

function percent(ratio) {
  return `${Math.round(Number(ratio || 0) * 100)}%`;
}

export async function scorecards(work) {
  const [answer, list] = await Promise.all([office("/office/v1/catalog/scorecards"), departmentList()]);
  const cards = [...(answer.scorecards || [])].sort((a, b) => a.rank - b.rank);
  if (!cards.length) {
    work.append(h("p", { text: t("office.score.none") }));
    return;
  }
  work.append(
    h("p", { class: "hint", text: t("office.score.computed", { time: when(cards[0].compute_time) }) }),
    table(t("office.scorecards"), [
      ["office.score.rank", (c) => String(c.rank)],
      ["office.queue.department", (c) => departmentName(c.department, list), { header: true }],
      ["office.score.score", (c) => String(c.score)],
      ["office.score.published", (c) => `${c.resources_published} / ${c.resources_registered}`],
      ["office.score.completeness", (c) => percent(c.metadata_completeness)],
      ["office.score.freshness", (c) => percent(c.freshness)],
      ["office.score.requests", (c) => `${c.share_requests_answered} / ${c.share_requests_received}`],
      ["office.score.late", (c) => String(c.share_requests_late)],
      ["office.score.demands", (c) => `${c.demands_on_time} / ${c.demands_routed}`],
    ], cards),
  );
}
