// Account security: a member of staff's first-time TOTP enrolment. An account without a second
// factor signs in with its password only and gets a token good for nothing but enrolling
// (`enrol_2fa`, no roles, not refreshable): the console then opens this page. The secret is
// shown as a QR code of its otpauth:// URI (drawn in the page, nothing sent elsewhere) and as
// text; a code from the authenticator confirms it, and the officer signs in again with it.

import * as auth from "../common/auth.js";
import { h } from "../common/dom.js";
import { t } from "../common/i18n.js";
import { qrCanvas } from "../common/qr.js";
import { notice } from "../common/shell.js";
import { actionForm, badge, office } from "./ui.js";

/** True while the signed-in officer's token is only good for enrolling a second factor. */
export function enrolmentOnly() {
  return Boolean(auth.accessClaims()?.enrol_2fa);
}

/** The secret in groups of four, easier to type into an authenticator by hand. */
function grouped(secret) {
  return secret.match(/.{1,4}/g).join(" ");
}

function confirmForm(reload) {
  return actionForm({
    name: "confirm-totp",
    legend: t("office.totp.confirm"),
    fields: [
      {
        name: "totp_code",
        label: t("office.totp.code"),
        hint: t("office.totp.codeHint"),
        required: true,
        maxlength: "6",
        inputmode: "numeric",
        autocomplete: "one-time-code",
      },
    ],
    submit: t("office.totp.confirm"),
    send: async (body) => {
      await office("/office/v1/me/totp/confirm", { method: "POST", body: { totp_code: body.totp_code } });
      await reload(t("office.totp.enrolled"));
    },
  });
}

export async function security(work, { officer, reload }) {
  // the account as it is now (enrolled a moment ago, say), not as it was at sign-in
  const account = await office("/office/v1/me");
  Object.assign(officer, { totp_enrolled: account.totp_enrolled });
  work.append(h("h2", { text: t("office.totp.title") }));
  if (account.totp_enrolled) {
    work.append(h("p", {}, badge(t("office.totp.on"), "ok")));
    if (enrolmentOnly()) {
      // the token in hand still only enrols: the roles come with a sign-in that uses the code
      work.append(
        notice(t("office.totp.signInAgain")),
        h("button", { type: "button", id: "sign-in-again", text: t("office.totp.signInAgainButton"), onclick: () => signInAgain() }),
      );
    } else {
      work.append(h("p", { text: t("office.totp.resetHint") }));
    }
    return;
  }
  const area = h("div", { class: "enrolment" });
  work.append(
    h("p", {}, badge(t("office.totp.off"), "bad")),
    h("p", { text: t("office.totp.intro") }),
    actionForm({
      name: "begin-totp",
      submit: t("office.totp.begin"),
      send: async () => {
        const begun = await office("/office/v1/me/totp", { method: "POST", body: {} });
        const canvas = qrCanvas(begun.provisioning_uri, { label: t("office.totp.qrLabel") });
        canvas.classList.add("qr-code");
        area.replaceChildren(
          h("h3", { text: t("office.totp.scan") }),
          canvas,
          h("p", { text: t("office.totp.orType") }),
          h("p", {}, h("code", { class: "totp-secret", text: grouped(begun.secret) })),
          confirmForm(reload),
        );
        area.querySelector("input")?.focus();
        return t("office.totp.begun");
      },
    }),
    area,
  );
}

/** Sign out (this token only enrols), then in again with the authenticator's code. */
async function signInAgain() {
  await auth.signOut();
}
