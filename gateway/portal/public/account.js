// My account: the profile (GET/PATCH /public/v1/me), the password, my sessions and signing out
// everywhere (/public/v1/me/sessions), and my enterprises: registering one as its legal
// representative, and acting for one, which is signing in again with its enterprise ID (the
// access token then carries it, and every call is made for the enterprise).

import { call } from "../common/api.js";
import * as auth from "../common/auth.js";
import { fill, h } from "../common/dom.js";
import { t, tOr } from "../common/i18n.js";
import { announce, href, notice } from "../common/shell.js";
import { clearErrors, field, showRefusal, signInFirst, values, when } from "./form.js";

const ME = "/public/v1/me";

function section(id, titleKey, ...children) {
  return h("section", { class: "panel", "aria-labelledby": id }, h("h2", { id, text: t(titleKey) }), children);
}

function submitting(form, outcome, action) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      await action(values(form));
    } catch (error) {
      showRefusal(form, outcome, error);
    } finally {
      button.disabled = false;
    }
  });
}

function done(outcome, message) {
  fill(outcome, notice(message));
  announce(message);
}

function profileSection(me) {
  const form = h(
    "form",
    { novalidate: true, "aria-label": t("public.account.profile.edit") },
    field("profile", "display_name", "public.register.name", {
      autocomplete: "name",
      maxlength: "100",
      value: me.display_name || "",
    }),
    field("profile", "phone", "public.register.phone", {
      type: "tel",
      autocomplete: "tel",
      maxlength: "20",
      value: me.phone || "",
    }),
    h("div", { class: "actions" }, h("button", { type: "submit", text: t("public.account.save") })),
  );
  const outcome = h("div");
  submitting(form, outcome, async (body) => {
    await call(ME, { method: "PATCH", body, token: await auth.accessToken() });
    done(outcome, t("public.account.saved"));
  });
  return section(
    "profile-heading",
    "public.account.profile",
    h(
      "dl",
      { class: "meta" },
      h("dt", { text: t("public.register.username") }),
      h("dd", { text: me.username }),
      h("dt", { text: t("public.account.kind") }),
      h("dd", { text: tOr(`public.account.kind.${me.subject_type || me.kind}`, me.subject_type || me.kind) }),
      me.resident_id_masked ? [h("dt", { text: t("public.register.residentId") }), h("dd", { text: me.resident_id_masked })] : null,
      h("dt", { text: t("public.account.since") }),
      h("dd", { text: when(me.create_time, { time: false }) }),
    ),
    form,
    outcome,
  );
}

function passwordSection() {
  const form = h(
    "form",
    { novalidate: true, "aria-labelledby": "password-heading" },
    field("password", "current_password", "public.account.password.current", {
      type: "password",
      autocomplete: "current-password",
      required: true,
      maxlength: "256",
    }),
    field("password", "new_password", "public.account.password.new", {
      hintKey: "public.register.password.hint",
      type: "password",
      autocomplete: "new-password",
      required: true,
      maxlength: "256",
    }),
    h("div", { class: "actions" }, h("button", { type: "submit", text: t("public.account.password.submit") })),
  );
  const outcome = h("div");
  submitting(form, outcome, async (body) => {
    await call(`${ME}/password`, { method: "POST", body, token: await auth.accessToken() });
    form.reset();
    done(outcome, t("public.account.password.done"));
  });
  return section("password-heading", "public.account.password", form, outcome);
}

async function sessionsSection() {
  const outcome = h("div");
  const list = h("ul", { class: "results", "aria-labelledby": "sessions-heading" });
  const everywhere = h("button", {
    type: "button",
    id: "sign-out-everywhere",
    text: t("public.account.sessions.everywhere"),
  });
  everywhere.addEventListener("click", async () => {
    everywhere.disabled = true;
    try {
      const answer = await call(`${ME}/sessions`, { method: "DELETE", token: await auth.accessToken() });
      announce(t("public.account.sessions.ended", { count: answer.ended || 0 }));
      await auth.signOut(); // this page's tokens stopped working too
    } catch (error) {
      fill(outcome, notice(error.message, { error: true }));
      everywhere.disabled = false;
    }
  });
  try {
    const answer = await call(`${ME}/sessions`, { token: await auth.accessToken() });
    for (const session of answer.sessions || []) {
      list.append(
        h(
          "li",
          { class: "panel result" },
          h(
            "p",
            {},
            h("strong", { text: tOr(`public.account.sessions.app.${session.client_id}`, session.client_id || t("public.account.sessions.api")) }),
            session.current ? h("span", { class: "badge ok", text: t("public.account.sessions.current") }) : null,
          ),
          h(
            "p",
            { class: "hint" },
            t("public.account.sessions.since", { time: when(session.create_time) }),
            session.enterprise_id ? ` · ${t("public.account.sessions.forEnterprise")}` : "",
          ),
        ),
      );
    }
  } catch (error) {
    list.replaceWith(notice(error.message, { error: true }));
  }
  return section(
    "sessions-heading",
    "public.account.sessions",
    h("p", { text: t("public.account.sessions.intro") }),
    list,
    h("p", { class: "actions" }, everywhere),
    outcome,
  );
}

function actingFor(enterprise, me) {
  return h(
    "div",
    { class: "act-for" },
    h("p", { text: t("public.account.actFor.how", { id: enterprise.id }) }),
    h("label", { for: `enterprise-id-${enterprise.id}`, text: t("public.account.enterprise.id") }),
    h("input", {
      id: `enterprise-id-${enterprise.id}`,
      class: "copyable",
      readonly: true,
      value: enterprise.id,
      onfocus: (event) => event.target.select(),
    }),
    h(
      "p",
      { class: "actions" },
      h("button", {
        type: "button",
        class: "act-for-button",
        "data-enterprise": enterprise.id,
        text: t("public.account.actFor", { name: enterprise.name }),
        onclick: () => auth.signIn(href("account"), { loginHint: me.username, prompt: "login" }),
      }),
    ),
  );
}

function enterprisesSection(me, enterprises, acting) {
  const outcome = h("div");
  const items = enterprises.map((enterprise) =>
    h(
      "li",
      { class: "panel result" },
      h("h3", { text: enterprise.name }),
      h(
        "ul",
        { class: "tags", "aria-label": t("result.facts") },
        h("li", { text: tOr(`public.account.relation.${enterprise.relation}`, enterprise.relation) }),
        h("li", { text: `${t("public.account.enterprise.creditCode")}: ${enterprise.credit_code}` }),
      ),
      acting === enterprise.id ? h("p", { class: "badge ok", text: t("public.account.actingNow") }) : actingFor(enterprise, me),
    ),
  );
  const form = h(
    "form",
    { novalidate: true, "aria-labelledby": "enterprise-register-heading" },
    h("h3", { id: "enterprise-register-heading", text: t("public.register.enterprise") }),
    h("p", { class: "hint", text: t("public.account.enterprise.representative") }),
    field("enterprise", "credit_code", "public.account.enterprise.creditCode", {
      hintKey: "public.account.enterprise.creditCode.hint",
      required: true,
      maxlength: "18",
      autocomplete: "off",
      spellcheck: "false",
      autocapitalize: "characters",
    }),
    field("enterprise", "name", "public.account.enterprise.name", {
      required: true,
      maxlength: "200",
      autocomplete: "organization",
    }),
    h("div", { class: "actions" }, h("button", { type: "submit", text: t("public.account.enterprise.submit") })),
  );
  submitting(form, outcome, async (body) => {
    const enterprise = await call("/public/v1/enterprises", {
      method: "POST",
      body,
      token: await auth.accessToken(),
    });
    form.reset();
    done(outcome, t("public.account.enterprise.done", { name: enterprise.name }));
  });
  return section(
    "enterprises-heading",
    "public.account.enterprises",
    items.length ? h("ul", { class: "results" }, items) : h("p", { text: t("public.account.enterprises.none") }),
    acting ? null : form,
    outcome,
  );
}

export async function accountView(main) {
  fill(main, h("h1", { text: t("public.account.title") }));
  if (!auth.signedIn()) {
    main.append(
      await signInFirst("public.account.signInFirst"),
      h("p", {}, h("a", { href: href("register"), text: t("public.account.noAccount") })),
    );
    return;
  }
  const token = await auth.accessToken();
  const me = await call(ME, { token });
  const acting = auth.accessClaims()?.ent || "";
  const enterprises = (await call(`${ME}/enterprises`, { token })).enterprises || [];
  if (acting) {
    const name = enterprises.find((e) => e.id === acting)?.name || acting;
    main.append(
      h(
        "div",
        { class: "notice", role: "status", id: "acting-for" },
        t("public.account.acting", { name }),
        " ",
        h("button", {
          type: "button",
          class: "secondary",
          text: t("public.account.actAsMyself"),
          onclick: () => auth.signIn(href("account"), { loginHint: me.username, prompt: "login" }),
        }),
      ),
    );
  }
  main.append(
    profileSection(me),
    enterprisesSection(me, enterprises, acting),
    passwordSection(),
    await sessionsSection(),
  );
}
