// The public portal: the open catalog (search, a dataset's page, exports), the public's
// demands for open data, and, signed in, my licences. Every call is a documented route.

import { call } from "../common/api.js";
import * as auth from "../common/auth.js";
import { departmentList, departmentName } from "../common/departments.js";
import { fill, h } from "../common/dom.js";
import { t, tOr } from "../common/i18n.js";
import { pageSize, preferences } from "../common/prefs.js";
import { announce, href, notice, start } from "../common/shell.js";
import { accountView } from "./account.js";
import { grantsView } from "./grants.js";
import { myDemandsSection } from "./my_demands.js";
import { presentView } from "./present.js";
import { registerView } from "./register.js";
import { verifyView } from "./verify.js";

const CATALOG = "/public/v1/catalog";
const UPDATE_CYCLES = ["real_time", "daily", "weekly", "monthly", "quarterly", "yearly", "irregular"];
const OPEN_TYPES = ["open", "conditional"];
const CATEGORIES = ["1", "2", "3"];
const FILTERS = ["q", "provider_department", "classification", "update_cycle", "open_type"];

function enumLabel(kind, value) {
  return tOr(`${kind}.${value}`, value || "—");
}

function classificationCode(c) {
  return c ? `${c.category}${c.item}${c.sub_item}` : "";
}

function when(timestamp) {
  if (!timestamp) return "—";
  const date = new Date(timestamp);
  return Number.isNaN(date.getTime()) ? timestamp : date.toLocaleDateString(preferences.lang);
}

function select(name, labelKey, options, value, prefix = "filter") {
  const id = `${prefix}-${name}`;
  return h(
    "div",
    { class: "field" },
    h("label", { for: id, text: t(labelKey) }),
    h(
      "select",
      { id, name },
      h("option", { value: "", text: t("filter.any") }),
      options.map(([optionValue, label]) =>
        h("option", { value: optionValue, selected: optionValue === value, text: label }),
      ),
    ),
  );
}

function exportLinks(query) {
  const params = new URLSearchParams(
    ["q", "provider_department", "classification"]
      .filter((name) => query[name])
      .map((name) => [name, query[name]]),
  ).toString();
  const suffix = params ? `?${params}` : "";
  return h(
    "p",
    { class: "actions" },
    h("a", { class: "button secondary", href: `${CATALOG}/open.jsonld${suffix}`, text: t("export.dcat") }),
    h("a", { class: "button secondary", href: `${CATALOG}/open.csv${suffix}`, text: t("export.csv") }),
  );
}

function resultItem(resource, list) {
  return h(
    "li",
    { class: "panel result" },
    h("h2", {}, h("a", { href: href("dataset", { id: resource.id }), text: resource.name })),
    h("p", { class: "summary", text: resource.summary }),
    h(
      "ul",
      { class: "tags", "aria-label": t("result.facts") },
      h("li", { text: departmentName(resource.provider_department, list) }),
      h("li", { text: `${t("field.update_cycle")}: ${enumLabel("update_cycle", resource.update_cycle)}` }),
      h("li", { text: enumLabel("open_type", resource.open_type) }),
      h("li", { text: enumLabel("format", resource.format) }),
    ),
  );
}

async function searchView(main, route) {
  const query = Object.fromEntries(FILTERS.map((name) => [name, route.query.get(name) || ""]));
  const list = await departmentList();
  const form = h(
    "form",
    { class: "panel search", role: "search", "aria-label": t("search.label") },
    h(
      "div",
      { class: "field" },
      h("label", { for: "filter-q", text: t("search.q") }),
      h("input", {
        id: "filter-q",
        name: "q",
        type: "search",
        maxlength: "100",
        value: query.q,
        "aria-describedby": "q-hint",
        autocomplete: "off",
      }),
      h("p", { id: "q-hint", class: "hint", text: t("search.hint") }),
    ),
    h(
      "details",
      // fewer things on one screen in the elder-friendly mode: the filters stay folded
      { class: "more-filters", open: !preferences.elder || FILTERS.slice(1).some((n) => query[n]) },
      h("summary", { text: t("search.filters") }),
      h(
        "div",
        { class: "filters" },
        select(
          "provider_department",
          "field.provider",
          list.map((d) => [d.code, departmentName(d.code, list)]),
          query.provider_department,
        ),
        select(
          "classification",
          "field.classification",
          CATEGORIES.map((c) => [c, enumLabel("category", c)]),
          query.classification,
        ),
        select(
          "update_cycle",
          "field.update_cycle",
          UPDATE_CYCLES.map((c) => [c, enumLabel("update_cycle", c)]),
          query.update_cycle,
        ),
        select(
          "open_type",
          "field.open_type",
          OPEN_TYPES.map((c) => [c, enumLabel("open_type", c)]),
          query.open_type,
        ),
      ),
    ),
    h("div", { class: "actions" }, h("button", { type: "submit", text: t("search.submit") })),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    window.location.hash = href("search", {
      query: Object.fromEntries(FILTERS.map((name) => [name, String(data.get(name) || "").trim()])),
    });
  });
  const status = h("p", { class: "status", role: "status", id: "result-status" });
  const results = h("ul", { class: "results", "aria-labelledby": "results-heading" });
  const more = h("button", { type: "button", class: "secondary", hidden: true, text: t("search.more") });
  fill(
    main,
    h("h1", { text: t("catalog.title") }),
    h("p", { text: t("catalog.intro") }),
    form,
    h("h2", { id: "results-heading", text: t("search.results") }),
    status,
    results,
    h("p", {}, more),
    exportLinks(query),
  );

  let pageToken = "";
  let shown = 0;
  async function load() {
    more.disabled = true;
    try {
      const answer = await call(`${CATALOG}/open`, {
        query: { ...query, page_size: pageSize(), page_token: pageToken },
      });
      for (const resource of answer.resources) results.append(resultItem(resource, list));
      shown += answer.resources.length;
      pageToken = answer.next_page_token || "";
      status.textContent = shown ? t("search.count", { count: shown }) : t("search.none");
      more.hidden = !pageToken;
    } catch (error) {
      status.replaceChildren(notice(errorText(error), { error: true }));
    } finally {
      more.disabled = false;
    }
  }
  more.addEventListener("click", async () => {
    const before = shown;
    await load();
    results.children[before]?.querySelector("a")?.focus(); // the first new result
  });
  await load();
}

function metaRow(labelKey, value) {
  return [h("dt", { text: t(labelKey) }), h("dd", {}, value || "—")];
}

async function datasetView(main, route) {
  const resource = await call(`${CATALOG}/open/${encodeURIComponent(route.id)}`);
  const list = await departmentList();
  const classification = classificationCode(resource.classification);
  const scope = { classification, provider_department: resource.provider_department };
  const openType = enumLabel("open_type", resource.open_type);
  fill(
    main,
    h("p", {}, h("a", { href: "#/", text: t("dataset.back") })),
    h("h1", { text: resource.name }),
    h("p", { text: resource.summary }),
    h(
      "section",
      { class: "panel", "aria-labelledby": "meta-heading" },
      h("h2", { id: "meta-heading", text: t("dataset.metadata") }),
      h(
        "dl",
        { class: "meta" },
        metaRow("field.code", resource.code),
        metaRow("field.classification", `${classification} ${enumLabel("category", resource.classification?.category)}`),
        metaRow(
          "field.provider",
          `${departmentName(resource.provider_department, list)} (${resource.provider_code})`,
        ),
        metaRow("field.update_cycle", enumLabel("update_cycle", resource.update_cycle)),
        metaRow("field.open_type", resource.open_conditions ? `${openType}: ${resource.open_conditions}` : openType),
        metaRow("field.format", enumLabel("format", resource.format)),
        metaRow("field.data_grade", enumLabel("data_grade", resource.data_grade)),
        metaRow("field.keywords", (resource.keywords || []).join(", ")),
        metaRow("field.published", when(resource.publish_time)),
        metaRow("field.version", String(resource.published_version || resource.version || "")),
      ),
    ),
    h(
      "section",
      { class: "panel", "aria-labelledby": "items-heading" },
      h("h2", { id: "items-heading", text: t("dataset.items") }),
      dataItems(resource.data_items || []),
    ),
    h(
      "section",
      { class: "panel", "aria-labelledby": "export-heading" },
      h("h2", { id: "export-heading", text: t("dataset.exports") }),
      h("p", { class: "hint", text: t("dataset.exports.hint") }),
      exportLinks(scope),
    ),
    h(
      "p",
      {},
      h("a", {
        href: href("demands", { query: { title: resource.name, department: resource.provider_department } }),
        text: t("dataset.ask"),
      }),
    ),
  );
}

function dataItems(items) {
  if (!items.length) return h("p", { text: t("dataset.noItems") });
  return h(
    "div",
    { class: "table-wrap", tabindex: "0", role: "region", "aria-labelledby": "items-heading" },
    h(
      "table",
      {},
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["item.name", "item.type", "item.description", "item.personal"].map((key) =>
            h("th", { scope: "col", text: t(key) }),
          ),
        ),
      ),
      h(
        "tbody",
        {},
        items.map((item) =>
          h(
            "tr",
            {},
            h("th", { scope: "row", text: item.name }),
            h("td", { text: enumLabel("item_type", item.type) }),
            h("td", { text: item.description || "—" }),
            h("td", { text: item.personal ? t("yes") : t("no") }),
          ),
        ),
      ),
    ),
  );
}

function errorText(error) {
  if (error.status === 0) return t("error.network");
  const fields = error.errors.map((e) => `${e.field}: ${e.detail}`).join("; ");
  return [error.detail || error.title, fields].filter(Boolean).join(" — ");
}

function demandItem(demand, list) {
  const state = enumLabel("demand_state", demand.state);
  return h(
    "li",
    { class: "panel result" },
    h("h3", { text: demand.title }),
    h(
      "ul",
      { class: "tags", "aria-label": t("result.facts") },
      h("li", { text: state }),
      demand.department ? h("li", { text: departmentName(demand.department, list) }) : null,
      demand.overdue ? h("li", { text: t("demand.overdue") }) : null,
      h("li", { text: when(demand.create_time) }),
    ),
    demand.answer ? h("p", { text: `${t("demand.answer")}: ${demand.answer}` }) : null,
  );
}

function demandForm(list, route) {
  const fields = [
    ["title", "demand.title", "input", { maxlength: "200", required: true, value: route.query.get("title") || "" }],
    ["description", "demand.description", "textarea", { maxlength: "2000", required: true }],
  ];
  const form = h("form", { class: "panel search", novalidate: true });
  for (const [name, labelKey, tag, attrs] of fields) {
    form.append(
      h(
        "div",
        { class: "field" },
        h("label", { for: `demand-${name}`, text: t(labelKey) }),
        h(tag, { id: `demand-${name}`, name, "aria-describedby": `demand-${name}-error`, ...attrs }),
        h("p", { class: "field-error", id: `demand-${name}-error` }),
      ),
    );
  }
  form.append(
    select(
      "suggested_department",
      "demand.department",
      list.map((d) => [d.code, departmentName(d.code, list)]),
      route.query.get("department") || "",
      "demand",
    ),
    h("div", { class: "actions" }, h("button", { type: "submit", text: t("demand.submit") })),
  );
  const outcome = h("div");
  form.append(outcome);
  let idempotencyKey = crypto.randomUUID(); // the same key while the same demand is retried
  form.addEventListener("input", () => {
    idempotencyKey = crypto.randomUUID();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
    for (const el of form.querySelectorAll(".field-error")) el.textContent = "";
    const data = new FormData(form);
    const body = {
      title: String(data.get("title")).trim(),
      description: String(data.get("description")).trim(),
      suggested_department: String(data.get("suggested_department") || ""),
    };
    const missing = ["title", "description"].filter((name) => !body[name]);
    if (missing.length) {
      for (const name of missing) markInvalid(form, name, t("demand.required"));
      form.querySelector("[aria-invalid]").focus();
      return;
    }
    try {
      const demand = await call(`${CATALOG}/demands`, {
        method: "POST",
        body,
        token: await auth.accessToken(),
        idempotencyKey,
      });
      form.reset();
      form.dispatchEvent(new CustomEvent("demand-sent", { bubbles: true }));
      fill(outcome, notice(t("demand.sent", { state: enumLabel("demand_state", demand.state) })));
      announce(t("demand.sent", { state: enumLabel("demand_state", demand.state) }));
    } catch (error) {
      for (const e of error.errors) markInvalid(form, e.field, e.detail);
      fill(outcome, notice(errorText(error), { error: true }));
    }
  });
  return form;
}

function markInvalid(form, field, message) {
  const input = form.querySelector(`[name="${field.split(".").pop()}"]`);
  if (!input) return;
  input.setAttribute("aria-invalid", "true");
  const error = form.querySelector(`#demand-${input.name}-error`);
  if (error) error.textContent = message;
}

async function demandsView(main, route) {
  const list = await departmentList();
  const signIn = h("button", { type: "button", text: t("signIn"), onclick: () => auth.signIn() });
  const available = await auth.provider().catch(() => null);
  fill(
    main,
    h("h1", { text: t("demands.title") }),
    h("p", { text: t("demands.intro") }),
    h("h2", { text: t("demands.ask") }),
    auth.signedIn()
      ? demandForm(list, route)
      : h(
          "div",
          { class: "panel" },
          h("p", { text: t(available ? "demands.signInFirst" : "signIn.unavailable") }),
          available ? signIn : null,
        ),
  );
  if (auth.signedIn()) {
    const mine = myDemandsSection(list);
    main.append(mine.section);
    // the form stays; the view's container does not (the shell moves its children to the page)
    main.querySelector("form")?.addEventListener("demand-sent", () => mine.load());
    await mine.load();
  }
  main.append(h("h2", { id: "public-demands", text: t("demands.public") }));
  const answer = await call(`${CATALOG}/demands`, { query: { page_size: pageSize() } });
  main.append(
    answer.demands.length
      ? h("ul", { class: "results", "aria-labelledby": "public-demands" }, answer.demands.map((d) => demandItem(d, list)))
      : h("p", { text: t("demands.none") }),
  );
}

const LICENCE_SUMMARY_FIELDS = ["name", "plate_number", "enterprise_name", "card_number", "vehicle_type", "valid_until"];

async function licencesView(main) {
  fill(main, h("h1", { text: t("licences.title") }));
  if (!auth.signedIn()) {
    const available = await auth.provider().catch(() => null);
    main.append(
      h(
        "div",
        { class: "panel" },
        h("p", { text: t(available ? "licences.signInFirst" : "signIn.unavailable") }),
        available ? h("button", { type: "button", text: t("signIn"), onclick: () => auth.signIn() }) : null,
      ),
    );
    return;
  }
  const token = await auth.accessToken();
  const [mine, types, list] = await Promise.all([
    call("/public/v1/licences/mine", { token }),
    call("/public/v1/licences/types"),
    departmentList(),
  ]);
  const typeOf = Object.fromEntries(types.licence_types.map((type) => [type.key, type]));
  if (!mine.licences.length) {
    main.append(h("p", { text: t("licences.none") }));
    return;
  }
  main.append(
    h(
      "ul",
      { class: "cards" },
      mine.licences.map((licence) => {
        const type = typeOf[licence.licence_type];
        const english = type?.english_name ? type.english_name[0].toUpperCase() + type.english_name.slice(1) : "";
        const title = type ? (preferences.lang === "en" ? english : type.name) : licence.licence_type;
        const labels = Object.fromEntries((type?.fields || []).map((f) => [f.name, f.label]));
        const valid = licence.status === "valid";
        return h(
          "li",
          { class: "card" },
          h("h2", { text: title }),
          h("p", {}, h("span", { class: valid ? "badge ok" : "badge bad", text: enumLabel("licence_status", licence.status) })),
          h(
            "dl",
            { class: "meta" },
            LICENCE_SUMMARY_FIELDS.filter((name) => licence.fields?.[name]).map((name) => [
              h("dt", { text: labels[name] || name }),
              h("dd", { text: licence.fields[name] }),
            ]),
            metaRow("licences.issuer", departmentName(licence.issuer_department, list)),
          ),
          valid
            ? h(
                "p",
                { class: "actions" },
                h("a", {
                  class: "button",
                  href: href("present", { id: licence.id }),
                  "data-licence": licence.licence_type,
                  text: t("public.present.button"),
                }),
                h("a", {
                  class: "button secondary",
                  href: href("grants", { query: { licence: licence.id } }),
                  text: t("public.grants.give"),
                }),
              )
            : null,
        );
      }),
    ),
  );
}

start({
  client: { clientId: "smartcity-portal", redirectPath: "/" },
  titleKey: "site.public",
  fallback: "search",
  views: {
    search: searchView,
    dataset: datasetView,
    demands: demandsView,
    licences: licencesView,
    register: registerView,
    account: accountView,
    present: presentView,
    verify: verifyView,
    grants: grantsView,
  },
});
