// The office console: sign-in (OpenID Connect, the office client), then the work menu of the
// signed-in officer's roles. The menu is one table: each entry names the roles that see it and
// the view that does the work. The gateway still decides what each call may do (the role
// table, runtime/roles.py): the menu only spares an officer the pages they cannot use.

import { call } from "../common/api.js";
import * as auth from "../common/auth.js";
import { departmentList, departmentName } from "../common/departments.js";
import { fill, h } from "../common/dom.js";
import { t, tOr } from "../common/i18n.js";
import { href, notice, start } from "../common/shell.js";
import * as catalog from "./catalog.js";
import * as demands from "./demands.js";
import * as enrolment from "./enrolment.js";
import * as licences from "./licences.js";
import * as oversight from "./oversight.js";
import * as shares from "./shares.js";

// [view, message key, roles that see it (empty: every member of staff), the work]
const MENU = [
  ["drafts", "office.drafts", ["catalog_officer"], catalog.drafts],
  ["review", "office.review", ["bdb_admin"], catalog.review],
  ["demands", "office.demands", ["catalog_officer", "bdb_admin"], demands.demands],
  ["share-requests", "office.shareRequests", ["share_approver"], shares.shareRequests],
  ["licences", "office.licences", ["licence_issuer"], licences.licences],
  ["partners", "office.partners", ["bdb_admin"], oversight.partners],
  ["audit", "office.audit", ["auditor", "security_officer"], oversight.audit],
  ["incidents", "office.incidents", ["security_officer"], oversight.incidents],
  ["applications", "office.applications", ["bdb_admin", "security_officer", "auditor"], oversight.applications],
  ["scorecards", "office.scorecards", [], oversight.scorecards],
  ["security", "office.security", [], enrolment.security],
];

let account = null; // GET /office/v1/me of the signed-in officer

async function me() {
  account ??= await call("/office/v1/me", { token: await auth.accessToken() });
  return account;
}

function roleName(role) {
  return tOr(`role.${role}`, role);
}

function menuFor(roles, current) {
  // a sign-in without the second factor is good for enrolling it, and for nothing else
  const entries = enrolment.enrolmentOnly()
    ? MENU.filter(([view]) => view === "security")
    : MENU.filter(([, , needs]) => !needs.length || needs.some((r) => roles.includes(r)));
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
            needs.length ? h("span", { class: "roles", text: needs.map(roleName).join(", ") }) : null,
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

async function home(work, { officer, roles }) {
  work.append(
    h("p", { text: `${t("office.roles")}: ${roles.map(roleName).join(", ") || "—"}` }),
    h("p", { text: `${t("office.queue.department")}: ${departmentName(officer.department, await departmentList())}` }),
  );
  if (!roles.length) work.append(notice(t("office.noRole")));
  if (!officer.totp_enrolled) work.append(notice(t("office.totp.missing")));
}

function view(name) {
  return async (main, route) => {
    if (!auth.signedIn()) {
      await signInPanel(main);
      return;
    }
    const officer = await me();
    const roles = officer.roles || [];
    const enrolling = enrolment.enrolmentOnly();
    const entry = MENU.find(([view]) => view === (enrolling ? "security" : name));
    const allowed = !entry || !entry[2].length || entry[2].some((r) => roles.includes(r));
    const work = h("div", { class: "work" });
    const heading = h("h1", {
      text: entry ? t(entry[1]) : t("office.welcome", { name: officer.display_name || officer.username }),
    });
    fill(
      main,
      heading,
      h(
        "div",
        { class: "console" },
        menuFor(roles, entry ? entry[0] : name),
        h(
          "section",
          { class: "panel", "aria-labelledby": "work-heading" },
          h("h2", { id: "work-heading", class: "visually-hidden", text: t("office.title") }),
          work,
        ),
      ),
    );
    const context = {
      officer,
      roles,
      route,
      // Show the view again (after an action), with what happened said first.
      async reload(message) {
        const fresh = h("div", { class: "work" });
        await (entry ? entry[3] : home)(fresh, context);
        work.replaceChildren(...fresh.childNodes);
        if (message) {
          const said = notice(message);
          said.setAttribute("tabindex", "-1");
          work.prepend(said);
          said.focus();
        }
      },
    };
    if (enrolling && !officer.totp_enrolled) work.append(notice(t("office.enrolFirst")));
    if (!allowed) work.append(notice(t("office.notYours"), { error: true }));
    else await (entry ? entry[3] : home)(work, context);
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

