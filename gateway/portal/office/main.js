// The office console: sign-in (OpenID Connect, the office client), then the work menu of the
// signed-in officer's roles. The menu is one table: each entry names the roles that see it.

import { call } from "../common/api.js";
import * as auth from "../common/auth.js";
import { departmentList, departmentName } from "../common/departments.js";
import { fill, h } from "../common/dom.js";
import { t, tOr } from "../common/i18n.js";
import { pageSize, preferences } from "../common/prefs.js";
import { href, notice, start } from "../common/shell.js";

// [view, message key, roles that see it (empty: every member of staff)]
const MENU = [
  ["drafts", "office.drafts", ["catalog_officer"]],
  ["review", "office.review", ["bdb_admin"]],
  ["demands", "office.demands", ["catalog_officer", "bdb_admin"]],
  ["share-requests", "office.shareRequests", ["share_approver"]],
  ["licences", "office.licences", ["licence_issuer"]],
  ["partners", "office.partners", ["bdb_admin"]],
  ["audit", "office.audit", ["auditor", "security_officer"]],
  ["incidents", "office.incidents", ["security_officer"]],
  ["scorecards", "office.scorecards", []],
];
// the queues of catalog resources each view lists, by state
const QUEUES = { drafts: ["draft", "returned"], review: ["submitted", "confirmed"] };

let account = null; // GET /office/v1/me of the signed-in officer

async function me() {
  account ??= await call("/office/v1/me", { token: await auth.accessToken() });
  return account;
}

function roleName(role) {
  return tOr(`role.${role}`, role);
}

function menuFor(roles, current) {
  const entries = MENU.filter(([, , needs]) => !needs.length || needs.some((r) => roles.includes(r)));
  return h(
    "nav",
    { class: "panel menu", "aria-label": t("office.menu") },
    h(
      "ul",
      {},
      entries.map(([view, key, needs]) =>
        h(
          "li",
          {},
          h(
            "a",
            { href: href(view), "aria-current": view === current ? "page" : false },
            t(key),
            h("span", { class: "roles", text: needs.map(roleName).join(", ") }),
          ),
        ),
      ),
    ),
  );
}

async function signInPanel(main) {
  const available = await auth.provider().catch(() => null);
  fill(
    main,
    h("h1", { text: t("office.title") }),
    h(
      "div",
      { class: "panel" },
      h("p", { text: t("office.intro") }),
      h("p", { text: t(available ? "office.signInFirst" : "office.unavailable") }),
      available ? h("button", { type: "button", text: t("signIn"), onclick: () => auth.signIn() }) : null,
    ),
  );
}

function when(timestamp) {
  const date = new Date(timestamp);
  return timestamp && !Number.isNaN(date.getTime()) ? date.toLocaleString(preferences.lang) : "—";
}

async function queue(states) {
  const token = await auth.accessToken();
  const pages = await Promise.all(
    states.map((state) =>
      call("/office/v1/catalog/resources", { token, query: { state, page_size: pageSize() * 2 } }),
    ),
  );
  const resources = pages.flatMap((page) => page.resources);
  const list = await departmentList();
  if (!resources.length) return h("p", { text: t("office.queue.empty") });
  return h(
    "div",
    { class: "table-wrap", tabindex: "0", role: "region", "aria-label": t("office.queue.state") },
    h(
      "table",
      {},
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["field.code", "item.name", "office.queue.department", "office.queue.state", "office.queue.updated"].map(
            (key) => h("th", { scope: "col", text: t(key) }),
          ),
        ),
      ),
      h(
        "tbody",
        {},
        resources.map((r) =>
          h(
            "tr",
            {},
            h("td", { text: r.code }),
            h("th", { scope: "row", text: r.name }),
            h("td", { text: departmentName(r.provider_department, list) }),
            h("td", { text: tOr(`state.${r.state}`, r.state) }),
            h("td", { text: when(r.update_time) }),
          ),
        ),
      ),
    ),
  );
}

function view(name) {
  return async (main) => {
    if (!auth.signedIn()) {
      await signInPanel(main);
      return;
    }
    const officer = await me();
    const roles = officer.roles || [];
    const entry = MENU.find(([view]) => view === name);
    const work = h("div", { class: "work" });
    fill(
      main,
      h("h1", { text: entry ? t(entry[1]) : t("office.welcome", { name: officer.display_name || officer.username }) }),
      h(
        "div",
        { class: "console" },
        menuFor(roles, name),
        h(
          "section",
          { class: "panel", "aria-labelledby": "work-heading" },
          h("h2", { id: "work-heading", class: "visually-hidden", text: t("office.title") }),
          work,
        ),
      ),
    );
    if (!entry) {
      work.append(
        h("p", { text: `${t("office.roles")}: ${roles.map(roleName).join(", ") || "—"}` }),
        h("p", { text: `${t("office.queue.department")}: ${departmentName(officer.department, await departmentList())}` }),
      );
      if (!roles.length) work.append(notice(t("office.noRole")));
    } else if (QUEUES[name]) {
      work.append(await queue(QUEUES[name]));
    } else {
      work.append(h("p", { text: t("office.soon") }));
    }
  };
}

auth.onChange((signedIn) => {
  if (!signedIn) account = null;
});

start({
  client: { clientId: "smartcity-office", redirectPath: "/office/" },
  titleKey: "site.office",
  unavailableKey: "office.unavailable",
  fallback: "home",
  views: Object.fromEntries([["home", view("home")], ...MENU.map(([name]) => [name, view(name)])]),
});
