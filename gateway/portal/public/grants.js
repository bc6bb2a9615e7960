// My use grants (用证授权) and who used my licences: the holder lets one department or partner
// read chosen claims of one licence, for a purpose and a window (POST
// /public/v1/licences/grants), sees and withdraws their grants (GET .../grants, POST
// .../grants/{id}/withdraw), and reads their licences' use log (GET /public/v1/licences/uses):
// every verification and every retrieval under a grant, by whom, when, and what they saw.

import { call } from "../common/api.js";
import * as auth from "../common/auth.js";
import { departmentList, departmentName } from "../common/departments.js";
import { fill, h } from "../common/dom.js";
import { t, tOr } from "../common/i18n.js";
import { pageSize } from "../common/prefs.js";
import { announce, notice } from "../common/shell.js";
import { clearErrors, errorText, field, showRefusal, signInFirst, when } from "./form.js";
import { claimLabel, licenceTypes, typeName } from "./licence_types.js";

const LICENCES = "/public/v1/licences";
const DEFAULT_DAYS = 30; // the API's default window
const MAX_DAYS = 90;
const DAY_MS = 86_400_000;

function isoDay(date) {
  const local = new Date(date.getTime() - date.getTimezoneOffset() * 60_000);
  return local.toISOString().slice(0, 10);
}

/** "department:psb" as 市公安局, "partner:x" as the partner x, and the log's other users. */
function whoIs(user, departments) {
  const [kind, id = ""] = user.split(":");
  if (kind === "department") return departmentName(id, departments);
  if (kind === "partner") return t("public.grants.partnerNamed", { id });
  return tOr(`public.uses.user.${kind}`, user);
}

function licenceName(licence, types) {
  const type = types[licence.licence_type];
  const label = licence.fields?.name || licence.fields?.plate_number || licence.fields?.enterprise_name || "";
  return [typeName(type, licence.licence_type), label].filter(Boolean).join(" · ");
}

function grantForm(licences, types, departments, preselected, onGranted) {
  const licenceSelect = h(
    "select",
    { id: "grant-licence_id", name: "licence_id", "aria-describedby": "grant-licence_id-error" },
    licences.map((licence) =>
      h("option", { value: licence.id, selected: licence.id === preselected, text: licenceName(licence, types) }),
    ),
  );
  const claims = h("fieldset", { class: "choices", id: "grant-claims" });
  function showClaims() {
    const licence = licences.find((l) => l.id === licenceSelect.value);
    const type = types[licence?.licence_type];
    fill(
      claims,
      h("legend", { text: t("public.grants.claims") }),
      (licence?.claim_names || []).map((name) =>
        h("label", { class: "choice" }, h("input", { type: "checkbox", name: "claims", value: name }), claimLabel(type, name)),
      ),
      h("p", { class: "field-error", id: "grant-claims-error" }),
    );
  }
  licenceSelect.addEventListener("change", showClaims);
  showClaims();
  const kindName = "grantee_kind";
  const departmentSelect = h(
    "select",
    { id: "grant-department", name: "department" },
    departments.map((d) => h("option", { value: d.code, text: departmentName(d.code, departments) })),
  );
  const partnerInput = h("input", {
    id: "grant-partner",
    name: "partner",
    maxlength: "64",
    spellcheck: "false",
    autocomplete: "off",
    "aria-describedby": "grant-partner-hint",
  });
  const partnerField = h(
    "div",
    { class: "field", hidden: true },
    h("label", { for: "grant-partner", text: t("public.grants.partner") }),
    h("p", { id: "grant-partner-hint", class: "hint", text: t("public.grants.partner.hint") }),
    partnerInput,
  );
  const departmentField = h("div", { class: "field" }, h("label", { for: "grant-department", text: t("public.grants.department") }), departmentSelect);
  const kinds = h(
    "fieldset",
    { class: "choices" },
    h("legend", { text: t("public.grants.grantee") }),
    ["department", "partner"].map((kind) =>
      h(
        "label",
        { class: "choice" },
        h("input", {
          type: "radio",
          name: kindName,
          value: kind,
          checked: kind === "department",
          onchange: () => {
            departmentField.hidden = kind !== "department";
            partnerField.hidden = kind !== "partner";
          },
        }),
        t(`public.grants.grantee.${kind}`),
      ),
    ),
    h("p", { class: "field-error", id: "grant-grantee-error" }),
  );
  // the grantee's errors are shown under the choice of grantee
  const granteeMarker = h("input", { type: "hidden", name: "grantee", id: "grant-grantee" });
  const today = new Date();
  const form = h(
    "form",
    { novalidate: true, "aria-labelledby": "grant-new-heading", id: "grant-form" },
    h("h2", { id: "grant-new-heading", text: t("public.grants.new") }),
    h(
      "div",
      { class: "field" },
      h("label", { for: "grant-licence_id", text: t("public.grants.licence") }),
      licenceSelect,
      h("p", { class: "field-error", id: "grant-licence_id-error" }),
    ),
    kinds,
    granteeMarker,
    departmentField,
    partnerField,
    field("grant", "purpose", "public.grants.purpose", {
      tag: "textarea",
      hintKey: "public.grants.purpose.hint",
      required: true,
      maxlength: "200",
      rows: "2",
    }),
    claims,
    field("grant", "not_before", "public.grants.from", {
      type: "date",
      hintKey: "public.grants.from.hint",
      value: isoDay(today),
      min: isoDay(today),
    }),
    field("grant", "not_after", "public.grants.until", {
      type: "date",
      hintKey: "public.grants.until.hint",
      value: isoDay(new Date(today.getTime() + DEFAULT_DAYS * DAY_MS)),
      min: isoDay(today),
      max: isoDay(new Date(today.getTime() + MAX_DAYS * DAY_MS)),
      required: true,
    }),
    h("div", { class: "actions" }, h("button", { type: "submit", id: "grant-submit", text: t("public.grants.submit") })),
  );
  const outcome = h("div", { id: "grant-outcome" });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const kind = form.querySelector(`input[name=${kindName}]:checked`).value;
    const start = form.querySelector("#grant-not_before").value;
    const end = form.querySelector("#grant-not_after").value;
    const body = {
      licence_id: licenceSelect.value,
      grantee: kind === "department" ? `department:${departmentSelect.value}` : `partner:${partnerInput.value.trim()}`,
      purpose: form.querySelector("#grant-purpose").value.trim(),
      claims: Array.from(claims.querySelectorAll("input:checked"), (box) => box.value),
      // a day chosen means from its start (now, if today) until its end, in the reader's time
      ...(start && start !== isoDay(new Date()) ? { not_before: new Date(`${start}T00:00:00`).toISOString() } : {}),
      ...(end ? { not_after: new Date(`${end}T23:59:59`).toISOString() } : {}),
    };
    try {
      const grant = await call(`${LICENCES}/grants`, { method: "POST", body, token: await auth.accessToken() });
      form.reset();
      showClaims();
      fill(outcome, notice(t("public.grants.done", { who: whoIs(grant.grantee, departments) })));
      announce(t("public.grants.done", { who: whoIs(grant.grantee, departments) }));
      await onGranted();
    } catch (error) {
      showRefusal(form, outcome, error);
    }
  });
  return [form, outcome];
}

function grantItem(grant, types, departments, onWithdrawn) {
  const type = types[grant.licence_type];
  const live = grant.state === "active" || grant.state === "pending";
  const actions = h("p", { class: "actions" });
  if (live) {
    const withdraw = h("button", { type: "button", class: "secondary withdraw", text: t("public.grants.withdraw") });
    withdraw.addEventListener("click", () => {
      // asked once more: a withdrawal takes effect at once
      fill(
        actions,
        h("span", { text: t("public.grants.withdraw.sure") }),
        h("button", {
          type: "button",
          class: "confirm-withdraw",
          text: t("public.grants.withdraw.yes"),
          onclick: async () => {
            try {
              await call(`${LICENCES}/grants/${encodeURIComponent(grant.id)}/withdraw`, {
                method: "POST",
                token: await auth.accessToken(),
              });
              announce(t("public.grants.withdrawn"));
              await onWithdrawn();
            } catch (error) {
              fill(actions, notice(errorText(error), { error: true }));
            }
          },
        }),
        h("button", { type: "button", class: "secondary", text: t("public.grants.withdraw.no"), onclick: () => fill(actions, withdraw) }),
      );
      actions.querySelector(".confirm-withdraw").focus();
    });
    actions.append(withdraw);
  }
  return h(
    "li",
    { class: "panel result grant", "data-grant": grant.id, "data-state": grant.state },
    h("h3", { text: `${whoIs(grant.grantee, departments)} · ${typeName(type, grant.licence_type)}` }),
    h(
      "ul",
      { class: "tags", "aria-label": t("public.grants.facts") },
      h("li", { class: live ? "badge ok" : "badge bad", text: tOr(`public.grants.state.${grant.state}`, grant.state) }),
      h("li", { text: `${when(grant.not_before)} – ${when(grant.not_after)}` }),
    ),
    h("p", { text: `${t("public.grants.purpose")}: ${grant.purpose}` }),
    h("p", { text: `${t("public.grants.claims")}: ${(grant.claims || []).map((name) => claimLabel(type, name)).join("、") || "—"}` }),
    actions,
  );
}

function useItem(use, types, departments) {
  const type = types[use.licence_type];
  return h(
    "li",
    { class: "panel result use", "data-kind": use.kind, "data-user": use.user },
    h("h3", { text: `${whoIs(use.user, departments)} · ${tOr(`public.uses.kind.${use.kind}`, use.kind)}` }),
    h(
      "ul",
      { class: "tags", "aria-label": t("public.grants.facts") },
      h("li", { text: when(use.use_time) }),
      h("li", { text: typeName(type, use.licence_type) }),
    ),
    use.purpose ? h("p", { text: `${t("public.grants.purpose")}: ${use.purpose}` }) : null,
    h("p", { text: `${t("public.uses.saw")}: ${(use.claims || []).map((name) => claimLabel(type, name)).join("、") || t("public.uses.sawStatus")}` }),
  );
}

export async function grantsView(main, route) {
  fill(main, h("h1", { text: t("public.grants.title") }), h("p", { text: t("public.grants.intro") }));
  if (!auth.signedIn()) {
    main.append(await signInFirst("public.grants.signInFirst"));
    return;
  }
  const token = await auth.accessToken();
  const [mine, types, departments] = await Promise.all([
    call(`${LICENCES}/mine`, { token }),
    licenceTypes(),
    departmentList(),
  ]);
  const grantsList = h("ul", { class: "results", "aria-labelledby": "grants-heading", id: "grants" });
  const usesList = h("ul", { class: "results", "aria-labelledby": "uses-heading", id: "uses" });
  async function load() {
    const now = await auth.accessToken();
    const [grants, uses] = await Promise.all([
      call(`${LICENCES}/grants`, { token: now, query: { page_size: pageSize() * 2 } }),
      call(`${LICENCES}/uses`, { token: now, query: { page_size: pageSize() * 2 } }),
    ]);
    fill(
      grantsList,
      grants.use_grants.length ? grants.use_grants.map((g) => grantItem(g, types, departments, load)) : h("li", { text: t("public.grants.none") }),
    );
    fill(usesList, uses.uses.length ? uses.uses.map((u) => useItem(u, types, departments)) : h("li", { text: t("public.uses.none") }));
  }
  const licences = (mine.licences || []).filter((licence) => licence.status === "valid");
  main.append(
    licences.length
      ? h("section", { class: "panel" }, grantForm(licences, types, departments, route.query.get("licence") || "", load))
      : notice(t("licences.none")),
    h("h2", { id: "grants-heading", text: t("public.grants.mine") }),
    grantsList,
    h("h2", { id: "uses-heading", text: t("public.uses.title") }),
    h("p", { class: "hint", text: t("public.uses.intro") }),
    usesList,
  );
  await load();
}
