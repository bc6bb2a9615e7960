// Registering a citizen's account (POST /public/v1/accounts, no sign-in): a refused resident ID
// number, username or password is explained beside its field, by the rule it breaks. An
// enterprise is registered afterwards by its legal representative, signed in (see account.js).

import { call } from "../common/api.js";
import * as auth from "../common/auth.js";
import { fill, h } from "../common/dom.js";
import { t } from "../common/i18n.js";
import { announce, href, notice } from "../common/shell.js";
import { clearErrors, field, showRefusal, values } from "./form.js";

export async function registerView(main) {
  const form = h(
    "form",
    { class: "panel search", novalidate: true, "aria-labelledby": "register-heading" },
    h("h2", { id: "register-heading", text: t("public.register.citizen") }),
    field("register", "username", "public.register.username", {
      hintKey: "public.register.username.hint",
      autocomplete: "username",
      required: true,
      maxlength: "64",
      spellcheck: "false",
      autocapitalize: "none",
    }),
    field("register", "password", "public.register.password", {
      hintKey: "public.register.password.hint",
      type: "password",
      autocomplete: "new-password",
      required: true,
      maxlength: "256",
    }),
    field("register", "resident_id_number", "public.register.residentId", {
      hintKey: "public.register.residentId.hint",
      autocomplete: "off",
      required: true,
      maxlength: "18",
      spellcheck: "false",
      autocapitalize: "characters",
    }),
    field("register", "display_name", "public.register.name", {
      autocomplete: "name",
      required: true,
      maxlength: "100",
    }),
    field("register", "phone", "public.register.phone", {
      hintKey: "public.register.phone.hint",
      type: "tel",
      autocomplete: "tel",
      maxlength: "20",
    }),
    h("div", { class: "actions" }, h("button", { type: "submit", text: t("public.register.submit") })),
  );
  const outcome = h("div", { id: "register-outcome", tabindex: "-1" });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const body = values(form);
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const account = await call("/public/v1/accounts", { method: "POST", body });
      form.hidden = true;
      fill(
        outcome,
        notice(t("public.register.done", { username: account.username })),
        h(
          "p",
          { class: "actions" },
          h("button", {
            type: "button",
            id: "register-sign-in",
            text: t("public.register.signInNow"),
            onclick: () => auth.signIn(href("account"), { loginHint: account.username }),
          }),
        ),
      );
      announce(t("public.register.done", { username: account.username }));
      outcome.focus();
    } catch (error) {
      showRefusal(form, outcome, error);
    } finally {
      button.disabled = false;
    }
  });
  fill(
    main,
    h("h1", { text: t("public.register.title") }),
    h("p", { text: t("public.register.intro") }),
    form,
    outcome,
    h(
      "section",
      { class: "panel", "aria-labelledby": "register-enterprise-heading" },
      h("h2", { id: "register-enterprise-heading", text: t("public.register.enterprise") }),
      h("p", { text: t("public.register.enterprise.how") }),
      h("p", {}, h("a", { href: href("account"), text: t("public.register.enterprise.link") })),
    ),
  );
}
