// Showing a licence to a verifier (亮证): the holder chooses the claims to reveal and how long
// the presentation lives, POST /public/v1/licences/mine/{id}/presentations makes it, and the
// page shows it as a QR code with a live countdown to its expiry, and as text to copy. The
// presentation lives in this page only (never stored); a new one is made on request.

import { call } from "../common/api.js";
import * as auth from "../common/auth.js";
import { fill, h } from "../common/dom.js";
import { t } from "../common/i18n.js";
import { capacity, qrCanvas } from "../common/qr.js";
import { announce, href, notice } from "../common/shell.js";
import { showRefusal, signInFirst } from "./form.js";
import { claimLabel, licenceTypes, typeName } from "./licence_types.js";

const LIFETIMES = [60, 120, 300]; // seconds, within the API's 30 to 300
// A QR code a phone reads at arm's length off another phone's screen: at most version 25
// (117 modules). Medium error correction when the text fits it there, else low.
const COMFORTABLE_VERSION = 25;

/** The error correction level for a text: M when it fits a comfortable version, else L. */
export function errorCorrectionFor(text) {
  const bytes = new TextEncoder().encode(text).length;
  return capacity(COMFORTABLE_VERSION, "M") >= bytes ? "M" : "L";
}

function claimChoices(licence, type) {
  return h(
    "fieldset",
    { class: "choices", "aria-describedby": "present-claims-hint" },
    h("legend", { text: t("public.present.claims") }),
    h("p", { id: "present-claims-hint", class: "hint", text: t("public.present.claims.hint") }),
    (licence.claim_names || []).map((name) =>
      h(
        "label",
        { class: "choice" },
        h("input", { type: "checkbox", name: "disclose", value: name }),
        claimLabel(type, name),
      ),
    ),
  );
}

function lifetimeChoice() {
  return h(
    "div",
    { class: "field" },
    h("label", { for: "present-ttl", text: t("public.present.ttl") }),
    h(
      "select",
      { id: "present-ttl", name: "ttl_seconds" },
      LIFETIMES.map((seconds) =>
        h("option", {
          value: String(seconds),
          selected: seconds === 120,
          text:
            seconds < 120
              ? t("public.present.ttl.seconds", { count: seconds })
              : t("public.present.ttl.minutes", { count: seconds / 60 }),
        }),
      ),
    ),
  );
}

/** The countdown of `seconds` in `place`, until `onEnd`; stops when the view is gone. */
function countdown(place, seconds, onEnd) {
  const deadline = Date.now() + seconds * 1000;
  let warned = false;
  function tick() {
    const left = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
    place.textContent = t("public.present.remaining", { seconds: left });
    place.dataset.seconds = String(left);
    if (!warned && left <= 30 && left > 0) {
      warned = true;
      announce(t("public.present.soon"));
    }
    if (left === 0) {
      window.clearInterval(timer);
      onEnd();
    }
  }
  const timer = window.setInterval(() => {
    if (!place.isConnected) window.clearInterval(timer);
    else tick();
  }, 1000);
  tick();
}

function shownClaims(presentation, type) {
  if (!presentation.disclosed?.length) return h("p", { text: t("public.present.nothing") });
  return h(
    "ul",
    { class: "tags", id: "presentation-claims" },
    presentation.disclosed.map((name) => h("li", { text: claimLabel(type, name) })),
  );
}

function presentationPanel(presentation, ttl, licence, type, again) {
  const text = presentation.presentation;
  const canvas = qrCanvas(text, { ecc: errorCorrectionFor(text), moduleSize: 4, label: t("public.present.qr") });
  canvas.id = "presentation-qr";
  const timer = h("p", { class: "countdown", id: "presentation-countdown", role: "timer", "aria-live": "off" });
  const copyStatus = h("p", { class: "hint", role: "status" });
  const textarea = h("textarea", {
    id: "presentation-text",
    class: "copyable",
    readonly: true,
    rows: "4",
    spellcheck: "false",
    onfocus: (event) => event.target.select(),
  });
  textarea.value = text;
  const panel = h(
    "section",
    { class: "panel presentation", "aria-labelledby": "presentation-heading" },
    h("h2", { id: "presentation-heading", text: typeName(type, licence.licence_type) }),
    h("div", { class: "qr-frame" }, canvas),
    timer,
    h("h3", { text: t("public.present.shows") }),
    shownClaims(presentation, type),
    h("label", { for: "presentation-text", text: t("public.present.text") }),
    textarea,
    h(
      "p",
      { class: "actions" },
      h("button", {
        type: "button",
        class: "secondary",
        text: t("public.present.copy"),
        onclick: async () => {
          try {
            await navigator.clipboard.writeText(text);
          } catch {
            textarea.focus(); // selected: the reader copies it with their keys
            return;
          }
          copyStatus.textContent = t("public.present.copied");
        },
      }),
      h("button", { type: "button", id: "presentation-again", text: t("public.present.again"), onclick: again }),
    ),
    copyStatus,
  );
  countdown(timer, ttl, () => {
    panel.classList.add("expired");
    canvas.hidden = true; // an expired code must not be scanned by mistake
    textarea.value = "";
    fill(timer, notice(t("public.present.expired"), { error: true }));
    announce(t("public.present.expired"));
  });
  return panel;
}

export async function presentView(main, route) {
  fill(main, h("p", {}, h("a", { href: href("licences"), text: t("public.present.back") })), h("h1", { text: t("public.present.title") }));
  if (!auth.signedIn()) {
    main.append(await signInFirst("licences.signInFirst"));
    return;
  }
  const [licence, types] = await Promise.all([
    call(`/public/v1/licences/mine/${encodeURIComponent(route.id)}`, { token: await auth.accessToken() }),
    licenceTypes(),
  ]);
  const type = types[licence.licence_type];
  main.append(h("p", { class: "lead", text: `${typeName(type, licence.licence_type)} · ${t("public.present.intro")}` }));
  if (licence.status !== "valid") {
    main.append(notice(t("public.present.notValid"), { error: true }));
    return;
  }
  const outcome = h("div", { id: "presentation" });
  const form = h(
    "form",
    { class: "panel", novalidate: true, "aria-label": t("public.present.title") },
    claimChoices(licence, type),
    lifetimeChoice(),
    h("div", { class: "actions" }, h("button", { type: "submit", id: "present-make", text: t("public.present.make") })),
  );
  async function make() {
    const disclose = Array.from(form.querySelectorAll("input[name=disclose]:checked"), (box) => box.value);
    const ttl = Number(form.querySelector("#present-ttl").value);
    try {
      const presentation = await call(`/public/v1/licences/mine/${encodeURIComponent(licence.id)}/presentations`, {
        method: "POST",
        body: { disclose, ttl_seconds: ttl },
        token: await auth.accessToken(),
      });
      fill(outcome, presentationPanel(presentation, ttl, licence, type, make));
      outcome.querySelector("h2").setAttribute("tabindex", "-1");
      outcome.querySelector("h2").focus();
    } catch (error) {
      showRefusal(form, outcome, error);
    }
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    make();
  });
  main.append(form, outcome);
}
